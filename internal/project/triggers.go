package project

import (
	"fmt"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/goccy/go-yaml/ast"
	"github.com/robfig/cron/v3"
)

// Triggers is a pipeline's `on:`: what makes the controller start it
// without anyone asking. Runs started this way go through the same queue
// as `sparkwing pipeline trigger`.
type Triggers struct {
	// Push runs the pipeline for a branch push that GitHub reports to the
	// controller's /webhooks/github, when the push passes the filter.
	Push *PushFilter `json:"push,omitempty"`
	// Schedule holds five-field cron expressions, in UTC, evaluated by
	// the controller against the default branch's project file.
	Schedule []string `json:"schedule,omitempty"`
}

// PushFilter is `on: push:`. Both lists are globs evaluated in order; a
// pattern starting with `!` excludes, and for each branch or path the
// last pattern that matches it decides (as in GitHub Actions). `*` does
// not cross a `/`, `**` does. An empty list lets everything through.
type PushFilter struct {
	Branches []string `json:"branches,omitempty"`
	Paths    []string `json:"paths,omitempty"`
}

var (
	onKeys   = []string{"push", "schedule"}
	pushKeys = []string{"branches", "paths"}
)

// CronParser reads the five-field expressions of `on: schedule:`
// (minute hour day-of-month month day-of-week, or @daily and the like).
var CronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func (d *decoder) triggers(n ast.Node) *Triggers {
	t := &Triggers{}
	for _, kv := range d.mapping(n, "`on`") {
		switch kv.key {
		case "push":
			t.Push = &PushFilter{}
			for _, f := range d.mapping(kv.value, "`on: push`") {
				what := "`on: push: " + f.key + "`"
				switch f.key {
				case "branches":
					t.Push.Branches, _ = d.strings(f.value, what)
					d.checkGlobs(f.value, what, t.Push.Branches)
				case "paths":
					t.Push.Paths, _ = d.strings(f.value, what)
					d.checkGlobs(f.value, what, t.Push.Paths)
				default:
					d.unknownKey(f, "in `on: push`", pushKeys)
				}
			}
		case "schedule":
			var at []Pos
			t.Schedule, at = d.strings(kv.value, "`on: schedule`")
			for i, expr := range t.Schedule {
				if _, err := CronParser.Parse(expr); err != nil {
					d.errorAt(at[i], "schedule %q is not a cron expression (%v): use five fields, minute hour day-of-month month day-of-week, such as \"0 3 * * *\" for 03:00 UTC daily", expr, err)
				}
			}
		default:
			d.unknownKey(kv, "in `on`", onKeys)
		}
	}
	return t
}

func (d *decoder) checkGlobs(n ast.Node, what string, globs []string) {
	for _, g := range globs {
		if !doublestar.ValidatePattern(strings.TrimPrefix(g, "!")) {
			d.errorf(n, "%s entry %q is not a valid glob (check its brackets and braces)", what, g)
		}
	}
}

// runsOn reads `runs_on:`, the labels a runner must have to take the
// pipeline's runs (`sparkwing runner --labels k=v,...`).
func (d *decoder) runsOn(n ast.Node) map[string]string {
	out := map[string]string{}
	for _, kv := range d.mapping(n, "`runs_on`") {
		out[kv.key] = d.str(kv.value, fmt.Sprintf("`runs_on: %s`", kv.key))
	}
	return out
}

// Match reports whether a push of branch that changed the files changed
// passes the filter, and when it does not, why. A nil changed list means
// the changed files are unknown, which passes any path filter: a run too
// many is better than a push that was never built.
func (f *PushFilter) Match(branch string, changed []string) (bool, string) {
	if len(f.Branches) > 0 && !included(f.Branches, branch) {
		return false, fmt.Sprintf("branch %s matches no pattern of on.push.branches", branch)
	}
	if len(f.Paths) == 0 || changed == nil {
		return true, ""
	}
	for _, p := range changed {
		if included(f.Paths, p) {
			return true, ""
		}
	}
	return false, fmt.Sprintf("none of the %d changed files matches on.push.paths", len(changed))
}

// included reports whether the last of patterns that matches s is not an
// exclusion.
func included(patterns []string, s string) bool {
	in := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		if ok, _ := doublestar.Match(strings.TrimPrefix(p, "!"), s); ok {
			in = !neg
		}
	}
	return in
}

// ParseLabels reads runner labels, the values runs_on is matched
// against, written KEY=VALUE,KEY=VALUE.
func ParseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if k = strings.TrimSpace(k); !ok || k == "" {
			return nil, fmt.Errorf("label %q: write labels as KEY=VALUE,KEY=VALUE", kv)
		}
		out[k] = strings.TrimSpace(v)
	}
	return out, nil
}
