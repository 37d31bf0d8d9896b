package sparks

import (
	"strings"
	"testing"

	"golang.org/x/mod/semver"
)

var published = []string{"v0.0.3", "v0.0.4", "v0.4.1", "v0.5.0", "v1.0.0", "v1.3.9", "v1.4.0", "v1.4.2", "v1.4.3-rc.1",
	"v1.5.0", "v1.10.0", "v2.0.0-beta.1", "v2.0.0", "v2.1.0"}

func TestPick(t *testing.T) {
	for _, c := range []struct{ constraint, want string }{
		{"latest", "v2.1.0"},
		{"", "v2.1.0"},
		{"v1.4.2", "v1.4.2"},
		{"1.4.2", "v1.4.2"},
		{"v1.4.3-rc.1", "v1.4.3-rc.1"},
		{"v1.4.4", ""},
		{"^1.4", "v1.10.0"},
		{"^1.4.2", "v1.10.0"},
		{"^1", "v1.10.0"},
		{"^0.4", "v0.4.1"},
		{"^0.0.3", "v0.0.3"},
		{"^0.0", "v0.0.4"},
		{"^0", "v0.5.0"},
		{"~1.4.2", "v1.4.2"}, // not the release candidate of 1.4.3
		{"~1.4", "v1.4.2"},
		{"~1", "v1.10.0"},
		{">=1.2 <2", "v1.10.0"},
		{">1.4.2 <=1.5", "v1.5.0"},
		{">=v1.4.3-rc.0 <1.4.3", "v1.4.3-rc.1"}, // a bound that is a pre-release admits them
		{"<1", "v0.5.0"},
		{">=2", "v2.1.0"},
		{">=3", ""},
		{"^2", "v2.1.0"}, // not v2.0.0-beta.1 over v2.1.0, nor either over it
	} {
		k, err := ParseConstraint(c.constraint)
		if err != nil {
			t.Errorf("%q: %v", c.constraint, err)
			continue
		}
		if got := k.Pick(published); got != c.want {
			t.Errorf("%q picks %q, want %q", c.constraint, got, c.want)
		}
	}
}

func TestConstraintErrors(t *testing.T) {
	for _, c := range []struct{ constraint, want string }{
		{"1.4", "names no single version: write v1.4.0 for one, ^1.4 for compatible releases, or ~1.4 for its patches"},
		{"v1", "names no single version"},
		{"1.x", "is not a version"},
		{"=1.2", "start each part of a range with >="},
		{">=1.2 latest", "start each part of a range"},
		{"^", "is not a version"},
		{">=", "is not a version"},
		{"v1.2.3+build", "is not a version"},
		{"^1.2-rc.1", "is not a version"},
	} {
		_, err := ParseConstraint(c.constraint)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.constraint, err, c.want)
		}
	}
}

// FuzzConstraint: whatever is written, parsing does not crash, and a
// constraint that parses picks the highest version it allows.
func FuzzConstraint(f *testing.F) {
	for _, s := range []string{"latest", "v1.4.2", "^1.4", "~1.4.2", ">=1.2 <2", "^0.0", ">v1.0.0-rc.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseConstraint(s)
		if err != nil {
			return
		}
		got := c.Pick(published)
		for _, v := range published {
			if c.Allows(v) && semver.Compare(v, got) > 0 {
				t.Fatalf("%q picks %q, but allows the higher %q", s, got, v)
			}
		}
		if got != "" && !c.Allows(got) {
			t.Fatalf("%q picks %q, which it does not allow", s, got)
		}
	})
}
