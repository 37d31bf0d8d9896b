package kube

import (
	"context"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/sparkwing-dev/sparkwing/internal/deploy"
)

// Diff prints, object by object, how the live objects differ from what
// the deploy would apply (the API server's dry run of it), as unified
// diffs of their YAML: `sparkwing deploy diff`.
func Diff(ctx context.Context, req *deploy.Request, out io.Writer) deploy.Message {
	objs, c, key, err := prepare(ctx, req, false, io.Discard)
	if err != nil {
		return failed(err, "")
	}
	live, dry, err := c.dryRun(ctx, objs)
	if err != nil {
		return failed(err, key)
	}
	m := deploy.Message{OK: true, Key: key}
	for i, o := range objs {
		var before []string
		if live[i] != nil {
			before = yamlLines(live[i])
		}
		after := yamlLines(dry[i])
		hunks := unifiedDiff(before, after, 3)
		if hunks == "" {
			continue
		}
		m.Differs = true
		from := "live/" + objName(o)
		if live[i] == nil {
			from = "/dev/null (not in context " + c.context + ")"
		}
		fmt.Fprintf(out, "--- %s\n+++ %s/%s\n%s", from, req.Deploy.Overlay(req.Profile), objName(o), hunks)
	}
	if !m.Differs {
		fmt.Fprintf(out, "no difference: context %s runs what %s would apply\n", c.context, req.Deploy.Overlay(req.Profile))
	}
	return m
}

func yamlLines(o *unstructured.Unstructured) []string {
	data, err := yaml.Marshal(comparable(o))
	if err != nil {
		return []string{"# " + err.Error()}
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// unifiedDiff is a unified diff of a and b with n lines of context, from
// their longest common subsequence (manifests are small).
func unifiedDiff(a, b []string, n int) string {
	// lcs[i][j] is the length of the LCS of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		op   byte // ' ', '-', '+'
		text string
		ai   int // lines of a before it
		bi   int
	}
	var lines []line
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			lines = append(lines, line{' ', a[i], i, j})
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			lines = append(lines, line{'-', a[i], i, j})
			i++
		default:
			lines = append(lines, line{'+', b[j], i, j})
			j++
		}
	}
	var out strings.Builder
	for k := 0; k < len(lines); {
		if lines[k].op == ' ' {
			k++
			continue
		}
		// A hunk: from n lines before this change to n lines after the
		// last change that follows the one before it by at most 2n lines.
		start := max(0, k-n)
		end := k
		for e := k; e < len(lines) && e-end-1 <= 2*n; e++ {
			if lines[e].op != ' ' {
				end = e
			}
		}
		stop := min(len(lines), end+n+1)
		var aLen, bLen int
		for _, l := range lines[start:stop] {
			if l.op != '+' {
				aLen++
			}
			if l.op != '-' {
				bLen++
			}
		}
		fmt.Fprintf(&out, "@@ -%d,%d +%d,%d @@\n", lines[start].ai+1, aLen, lines[start].bi+1, bLen)
		for _, l := range lines[start:stop] {
			out.WriteByte(l.op)
			out.WriteString(l.text)
			out.WriteByte('\n')
		}
		k = stop
	}
	return out.String()
}
