package plan

import (
	"path"
	"strings"
	"testing"

	"github.com/bmatcuk/doublestar/v4"
)

func TestOverlap(t *testing.T) {
	for _, tc := range []struct {
		a, b       string
		dirA, dirB bool
		want       bool
	}{
		{"*.txt", "*.txt", false, false, true},
		{"**/*.go", "bin/server", false, false, false},
		{"**/*.go", "bin/server", false, true, true}, // bin/server as a directory may hold x.go
		{"src/**", "src/gen/**", false, false, true},
		{"src", "src/gen/x.go", true, false, true},
		{"src", "srcgen/x.go", true, false, false},
		{"api/**/*.yaml", "internal/gen/**", false, false, false},
		{"**", ".sparkwing/x", false, false, true},
		{"a/*/c", "a/b/*", false, false, true},
		{"a/*/c", "a/b/d", false, false, false},
		{"*.{go,mod}", "go.mod", false, false, true},
		{"*.{go,sum}", "go.mod", false, false, false},
		{"x[0-9].o", "x[a-z].o", false, false, false},
		{"x[0-9].o", "x[5-7].o", false, false, true},
		{"x[!0-9].o", "x5.o", false, false, false},
		{"x?.o", "xy.o", false, false, true},
		{"out/*.o", "out/*.a", false, false, false},
		{"out/**/*.o", "out/a/b/c.o", false, false, true},
		{"a*b", "*c", false, false, false},
		{"a*b", "*b", false, false, true},
		{"bin/x", "bin/x.sha256", true, true, false},
		{"dist", "dist/extra.txt", true, false, true},
	} {
		if got := Overlap(tc.a, tc.b, tc.dirA, tc.dirB); got != tc.want {
			t.Errorf("Overlap(%q, %q, %v, %v) = %v, want %v", tc.a, tc.b, tc.dirA, tc.dirB, got, tc.want)
		}
		if got := Overlap(tc.b, tc.a, tc.dirB, tc.dirA); got != tc.want {
			t.Errorf("Overlap(%q, %q) is not symmetric", tc.b, tc.a)
		}
	}
}

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		exclude, glob string
		want          bool
	}{
		{"internal/mocks/**", "internal/mocks/*.go", true},
		{"internal/mocks", "internal/mocks/sub/*.go", true},
		{"internal/mocks/**", "internal/mock/*.go", false},
		{"**", "anything/*.go", true},
		{"*.txt", "*.txt", true},
		{"**/*.txt", "a/*.txt", false}, // true, but not a form we recognise: the safe answer
	} {
		if got := Covers(tc.exclude, tc.glob); got != tc.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", tc.exclude, tc.glob, got, tc.want)
		}
	}
}

// FuzzOverlap checks Overlap against doublestar on concrete paths: a path
// both globs match means they overlap, so Overlap must say so (a missed
// overlap is a wrong cache hit).
func FuzzOverlap(f *testing.F) {
	f.Add("*.txt", "a*.txt", "ab.txt")
	f.Add("src/**", "src/*/x.go", "src/a/x.go")
	f.Add("{a,b}/c", "b/*", "b/c")
	f.Add("x[0-9]", "x?", "x5")
	f.Fuzz(func(t *testing.T, a, b, p string) {
		if !doublestar.ValidatePattern(a) || !doublestar.ValidatePattern(b) || !relative(p) {
			return
		}
		ma, _ := doublestar.Match(a, p)
		mb, _ := doublestar.Match(b, p)
		if ma && mb && !Overlap(a, b, false, false) {
			t.Fatalf("%q matches both %q and %q, but Overlap says no", p, a, b)
		}
	})
}

// relative reports whether p is a path a glob is matched against: clean,
// relative, inside the project.
func relative(p string) bool {
	return p != "" && p != "." && path.Clean(p) == p && !path.IsAbs(p) && p != ".." && !strings.HasPrefix(p, "../")
}

func TestPathRules(t *testing.T) {
	ok := [][]Job{
		{{ID: "server", Run: "x", Inputs: []string{"**/*.go", "go.mod"}, Outputs: []string{"bin/server"}}},
		{{ID: "mock", Run: "x", Inputs: []string{"internal/**/*.go", "!internal/mocks/**"}, Outputs: []string{"internal/mocks/*.go"}}},
		{{ID: "a", Run: "x", Outputs: []string{"out/a/**"}}, {ID: "b", Run: "x", Outputs: []string{"out/b/**"}}},
		{{ID: "all", Run: "x", Cache: new(bool), Outputs: []string{"**"}}},
	}
	for _, jobs := range ok {
		if _, err := New("p", jobs); err != nil {
			t.Errorf("%+v: %v", jobs, err)
		}
	}
	bad := map[string][]Job{
		`job "fmt" has output "*.txt" overlapping its input "*.txt"`: {{ID: "fmt", Run: "x", Inputs: []string{"*.txt"}, Outputs: []string{"*.txt"}}},
		`job "b" declares output "out/**", which job "a" also declares (as "out/x")`: {
			{ID: "a", Run: "x", Outputs: []string{"out/x"}}, {ID: "b", Run: "x", Outputs: []string{"out/**"}}},
		`job "b" declares output "out/x", which job "a" also declares (as "out/**")`: {
			{ID: "a", Run: "x", Outputs: []string{"out/**"}}, {ID: "b", Run: "x", Outputs: []string{"out/x"}}},
	}
	for want, jobs := range bad {
		if _, err := New("p", jobs); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %s", err, want)
		}
	}
}
