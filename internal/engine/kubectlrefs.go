package engine

import (
	"regexp"
	"strings"
	"sync"

	"github.com/sparkwing-dev/sparkwing/internal/deploy"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// kubectl commands that act on a workload that must exist: restart it,
// wait on it, set its image, patch or scale it.
var (
	kubectlRefs = sync.OnceValues(func() (*regexp.Regexp, *regexp.Regexp) {
		verb := regexp.MustCompile(`\bkubectl\b[^\n;&|]*?\b(?:rollout\s+(?:restart|status|undo|pause|resume)|set\s+(?:image|env|resources)|patch|scale|wait|annotate|label)\b[^\n;&|]*`)
		target := regexp.MustCompile(`\b(deployments?|deploy|statefulsets?|sts|daemonsets?|ds)(?:\.apps)?(?:/|\s+)([a-z0-9][a-z0-9.-]*)`)
		return verb, target
	})
	kindNames = map[string]string{
		"deployment": "Deployment", "deployments": "Deployment", "deploy": "Deployment",
		"statefulset": "StatefulSet", "statefulsets": "StatefulSet", "sts": "StatefulSet",
		"daemonset": "DaemonSet", "daemonsets": "DaemonSet", "ds": "DaemonSet",
	}
)

// expectedWorkloads are the workloads the jobs after deploy job d act on
// with kubectl (a `kubectl rollout restart deployment/api` that would
// otherwise fail with "not found"), and those d's `expects` names: the
// deploy checks that each exists in what it applies or in the cluster.
func expectedWorkloads(p *plan.Plan, d plan.Job) []deploy.Workload {
	var out []deploy.Workload
	for _, e := range d.Deploy.Expects {
		kind, name, _ := strings.Cut(e, "/")
		out = append(out, deploy.Workload{Kind: kindNames[strings.ToLower(kind)], Name: name, Source: "its `expects`"})
	}
	after := dependents(p, d.ID)
	verb, target := kubectlRefs()
	for _, j := range p.Jobs {
		if !after[j.ID] || j.Run == "" {
			continue
		}
		for _, cmd := range verb.FindAllString(j.Run, -1) {
			ns := namespaceFlag(cmd)
			for _, m := range target.FindAllStringSubmatch(cmd, -1) {
				out = append(out, deploy.Workload{Kind: kindNames[m[1]], Name: m[2], Namespace: ns,
					Source: "job " + j.ID + " runs " + strings.TrimSpace(cmd)})
			}
		}
	}
	return out
}

// dependents are the jobs that need id, directly or not.
func dependents(p *plan.Plan, id string) map[string]bool {
	after := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for _, j := range p.Jobs {
			if after[j.ID] {
				continue
			}
			for _, n := range j.Needs {
				if n == id || after[n] {
					after[j.ID], changed = true, true
					break
				}
			}
		}
	}
	return after
}

// namespaceFlag is the -n/--namespace a kubectl command line names, or "".
func namespaceFlag(cmd string) string {
	f := strings.Fields(cmd)
	for i, a := range f {
		switch {
		case (a == "-n" || a == "--namespace") && i+1 < len(f):
			return f[i+1]
		case strings.HasPrefix(a, "--namespace="):
			return strings.TrimPrefix(a, "--namespace=")
		case strings.HasPrefix(a, "-n") && len(a) > 2 && a[2] != '-':
			return a[2:]
		}
	}
	return ""
}
