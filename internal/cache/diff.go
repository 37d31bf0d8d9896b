package cache

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Change is one difference between two manifests.
type Change struct {
	Kind string // file, env, tool, need, output, run, step, args, pipeline-source, platform, go-env, go-module, go-version, or an image setting
	Name string // the file, variable, tool or job; empty for the job itself
	What string // added, removed, changed
}

func (c Change) String() string {
	switch c.Kind {
	case "file":
		return fmt.Sprintf("input file %s %s", c.Name, c.What)
	case "env":
		return fmt.Sprintf("env var %s %s", c.Name, c.What)
	case "tool":
		return fmt.Sprintf("tool version changed: output of `%s` %s", c.Name, c.What)
	case "need":
		return fmt.Sprintf("upstream job %s: its output %s", c.Name, c.What)
	case "output":
		return fmt.Sprintf("declared output %s %s", c.Name, c.What)
	case "run":
		return "command changed"
	case "step", "args":
		return "Go step or its pipeline arguments changed"
	case "pipeline-source":
		return "Go pipeline source changed"
	case "platform":
		return "platform changed"
	case "go-env":
		return fmt.Sprintf("go env setting %s %s (as the go command reads it)", c.Name, c.What)
	case "go-module":
		return fmt.Sprintf("Go module %s %s (its version)", c.Name, c.What)
	case "go-version":
		return "Go toolchain version changed"
	case "go-test":
		return fmt.Sprintf("Go package %s %s (what its tests read)", c.Name, c.What)
	case "dockerfile":
		return fmt.Sprintf("Dockerfile %s %s", c.Name, c.What)
	case "build-arg":
		return fmt.Sprintf("build arg %s %s", c.Name, c.What)
	case "context":
		return fmt.Sprintf("named build context %s %s", c.Name, c.What)
	case "ignore-file":
		return fmt.Sprintf("ignore file %s %s", c.Name, c.What)
	case "context-scope":
		return "the part of the build context the Dockerfile reads changed"
	case "target", "platforms", "image-context":
		return fmt.Sprintf("image %s changed", c.Kind)
	}
	return fmt.Sprintf("%s %s %s", c.Kind, c.Name, c.What)
}

// Diff lists how manifest b differs from a, in a stable order.
func Diff(a, b string) []Change {
	old, cur := parseManifest(a), parseManifest(b)
	var changes []Change
	for id, v := range cur {
		switch ov, ok := old[id]; {
		case !ok:
			changes = append(changes, Change{id.kind, id.name, "added"})
		case ov != v:
			changes = append(changes, Change{id.kind, id.name, "changed"})
		}
	}
	for id := range old {
		if _, ok := cur[id]; !ok {
			changes = append(changes, Change{id.kind, id.name, "removed"})
		}
	}
	sort.Slice(changes, func(i, j int) bool {
		if changes[i].Kind != changes[j].Kind {
			return changes[i].Kind < changes[j].Kind
		}
		return changes[i].Name < changes[j].Name
	})
	return changes
}

type lineID struct{ kind, name string }

// named kinds have a quoted name after the kind; the rest is the value.
var named = map[string]bool{"file": true, "env": true, "tool": true, "need": true, "output": true,
	"dockerfile": true, "ignore-file": true, "context": true, "build-arg": true, "go-env": true, "go-module": true, "go-test": true}

func parseManifest(m string) map[lineID]string {
	out := map[lineID]string{}
	for _, line := range strings.Split(m, "\n") {
		kind, rest, _ := strings.Cut(line, " ")
		if line == "" || line == manifestHeader {
			continue
		}
		id := lineID{kind: kind}
		if named[kind] {
			if qn, err := strconv.QuotedPrefix(rest); err == nil {
				id.name, _ = strconv.Unquote(qn)
				rest = strings.TrimPrefix(rest[len(qn):], " ")
			}
		}
		out[id] = rest
	}
	return out
}

// ManifestValue is the value of a manifest's first line of an unnamed
// kind (such as context-scope), "" when it has none.
func ManifestValue(m, kind string) string {
	for line := range strings.Lines(m) {
		if v, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), kind+" "); ok {
			return v
		}
	}
	return ""
}
