package project

import (
	"maps"
	"reflect"
	"strings"
	"testing"
)

const withTriggers = `
pipelines:
  - name: build
    runs_on: {arch: amd64, pool: fast}
    on:
      push:
        branches: [main, "release/**", "!release/old"]
        paths: ["src/**", "!src/**/*.md"]
      schedule: ["0 3 * * *", "@hourly"]
    jobs:
      a: {run: x}
  - name: everything
    on:
      push:
    entrypoint: Everything
`

func TestParseTriggers(t *testing.T) {
	f, err := Parse("f.yaml", []byte(withTriggers))
	if err != nil {
		t.Fatal(err)
	}
	b := f.Pipeline("build")
	if !reflect.DeepEqual(b.RunsOn, map[string]string{"arch": "amd64", "pool": "fast"}) {
		t.Errorf("runs_on = %v", b.RunsOn)
	}
	want := &Triggers{Push: &PushFilter{Branches: []string{"main", "release/**", "!release/old"}, Paths: []string{"src/**", "!src/**/*.md"}},
		Schedule: []string{"0 3 * * *", "@hourly"}}
	if !reflect.DeepEqual(b.On, want) {
		t.Errorf("on = %+v, want %+v", b.On, want)
	}
	if e := f.Pipeline("everything"); e.On == nil || e.On.Push == nil || len(e.On.Push.Branches) != 0 {
		t.Errorf("`push:` with nothing under it must be every push: %+v", e.On)
	}
	if f.Pipeline("everything").RunsOn != nil {
		t.Errorf("no runs_on must be nil")
	}
}

func TestParseTriggerErrors(t *testing.T) {
	for _, tc := range []struct{ name, on, want string }{
		{"cron", `{schedule: ["0 3 * *"]}`, `f.yaml:3:21: schedule "0 3 * *" is not a cron expression`},
		{"key", `{pushh: {}}`, `f.yaml:3:10: unknown key "pushh" in ` + "`on`" + ` (did you mean "push"?)`},
		{"push key", `{push: {branch: [main]}}`, `f.yaml:3:17: unknown key "branch" in ` + "`on: push`" + ` (did you mean "branches"?)`},
		{"glob", `{push: {paths: ["src/[a"]}}`, `f.yaml:3:24: ` + "`on: push: paths`" + ` entry "src/[a" is not a valid glob`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "pipelines:\n  - name: b\n    on: " + tc.on + "\n    jobs: {a: {run: x}}\n"
			_, err := Parse("f.yaml", []byte(src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestPushFilterMatch(t *testing.T) {
	f := &PushFilter{Branches: []string{"main", "release/**", "!release/old"}, Paths: []string{"src/**", "!src/**/*.md"}}
	for _, tc := range []struct {
		branch  string
		changed []string
		want    bool
	}{
		{"main", []string{"src/a.go"}, true},
		{"release/1.2", []string{"src/x/y.go"}, true},
		{"release/old", []string{"src/a.go"}, false}, // excluded after it matched
		{"feature/x", []string{"src/a.go"}, false},   // no pattern matches
		{"main", []string{"docs/a.go"}, false},       // no path matches
		{"main", []string{"src/doc/a.md"}, false},    // the only path is excluded
		{"main", []string{"src/doc/a.md", "src/b.go"}, true},
		{"main", nil, true},         // changed files unknown: run
		{"main", []string{}, false}, // known to change nothing
	} {
		if got, why := f.Match(tc.branch, tc.changed); got != tc.want || (!got && why == "") {
			t.Errorf("Match(%s, %v) = %v %q, want %v", tc.branch, tc.changed, got, why, tc.want)
		}
	}
	if ok, _ := (&PushFilter{}).Match("any/thing", []string{"x"}); !ok {
		t.Error("an empty filter must let every push through")
	}
	if ok, _ := (&PushFilter{Branches: []string{"*"}}).Match("a/b", nil); ok {
		t.Error("* must not cross a /")
	}
}

// Labels that parse are non-empty keys without separators, and written
// back out they parse to the same set.
func FuzzParseLabels(f *testing.F) {
	for _, s := range []string{"", "os=linux", "os=linux, gpu=yes", "a=", "=b", "a", ",,", "a=b=c", " k = v "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseLabels(s)
		if err != nil {
			return
		}
		var parts []string
		for k, v := range m {
			if k == "" || strings.ContainsAny(k, ",=") || strings.Contains(v, ",") {
				t.Fatalf("ParseLabels(%q) gave key %q value %q", s, k, v)
			}
			parts = append(parts, k+"="+v)
		}
		again, err := ParseLabels(strings.Join(parts, ","))
		if err != nil || !maps.Equal(again, m) {
			t.Fatalf("ParseLabels(%q) = %v; written back and parsed: %v, %v", s, m, again, err)
		}
	})
}
