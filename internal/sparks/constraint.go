// Package sparks resolves spark libraries: Go modules of shared pipeline
// code that a project names in its `sparks:` block, by version or range,
// instead of pinning them in .sparkwing/go.mod. Resolution goes through
// the go command (so GOPROXY, GOPRIVATE, GONOSUMDB, GOFLAGS and .netrc
// apply as they do to any Go build), is remembered per user for a
// refresh interval, and falls back to the last version found when the
// proxy cannot be reached.
package sparks

import (
	"fmt"
	"strings"

	"golang.org/x/mod/semver"
)

// Constraint is a spark's `version:`: latest, one version, or a range of
// comparisons that must all hold.
type Constraint struct {
	Raw    string
	latest bool
	exact  string // a full version: v1.4.2
	cmps   []comparison
}

type comparison struct {
	op string // ">=", ">", "<=", "<"
	v  string // a full version
}

// ParseConstraint reads a version constraint:
//
//	latest          the highest release (the default)
//	v1.4.2          exactly that version ("1.4.2" too)
//	^1.4            compatible with 1.4: >=1.4.0 <2.0.0 (^0.4 is <0.5.0)
//	~1.4.2          patch releases of 1.4: >=1.4.2 <1.5.0
//	>=1.2 <2        every comparison holds (>=, >, <=, <, separated by spaces)
func ParseConstraint(s string) (Constraint, error) {
	c := Constraint{Raw: s}
	s = strings.TrimSpace(s)
	fields := strings.Fields(s)
	switch {
	case s == "" || s == "latest":
		c.latest = true
		return c, nil
	case len(fields) == 1 && !strings.ContainsAny(s[:1], "^~<>="):
		v, partial, err := version(s)
		if err != nil {
			return c, err
		}
		if partial {
			return c, fmt.Errorf("version %q names no single version: write v%s.0 for one, ^%s for compatible releases, or ~%s for its patches", s, strings.TrimPrefix(s, "v"), s, s)
		}
		c.exact = v
		return c, nil
	}
	for _, f := range fields {
		switch {
		case strings.HasPrefix(f, "^") || strings.HasPrefix(f, "~"):
			lo, hi, err := caretTilde(f)
			if err != nil {
				return c, err
			}
			c.cmps = append(c.cmps, comparison{">=", lo}, comparison{"<", hi})
		default:
			op := strings.TrimRight(f[:min(2, len(f))], "0123456789v.")
			if op != ">=" && op != ">" && op != "<=" && op != "<" {
				return c, fmt.Errorf("%q in version %q: start each part of a range with >=, >, <=, < (or ^ or ~), as in \">=1.2 <2\"", f, s)
			}
			v, _, err := version(f[len(op):])
			if err != nil {
				return c, err
			}
			c.cmps = append(c.cmps, comparison{op, v})
		}
	}
	return c, nil
}

// version reads "1", "1.4", "v1.4.2" or "1.4.2-rc.1" as a full semantic
// version (missing parts are 0) and says whether parts were missing.
func version(s string) (v string, partial bool, err error) {
	v = "v" + strings.TrimPrefix(s, "v")
	if !semver.IsValid(v) || semver.Build(v) != "" {
		return "", false, fmt.Errorf("%q is not a version (write it as 1.4.2 or v1.4.2)", s)
	}
	if n := strings.Count(v, "."); n < 2 { // semver has no pre-release of v1.2
		return v + strings.Repeat(".0", 2-n), true, nil
	}
	return v, false, nil
}

// caretTilde turns ^X.Y.Z or ~X.Y.Z into its bounds.
func caretTilde(f string) (lo, hi string, err error) {
	op, rest := f[:1], f[1:]
	lo, _, err = version(rest)
	if err != nil {
		return "", "", err
	}
	parts := strings.Split(strings.TrimPrefix(strings.TrimSuffix(lo, semver.Prerelease(lo)), "v"), ".")
	given := strings.Count(strings.TrimPrefix(rest, "v"), ".") + 1
	var major, minor, patch int
	fmt.Sscan(parts[0], &major)
	fmt.Sscan(parts[1], &minor)
	fmt.Sscan(parts[2], &patch)
	switch {
	case op == "~" && given == 1, op == "^" && (major > 0 || given == 1):
		hi = fmt.Sprintf("v%d.0.0", major+1)
	case op == "~", op == "^" && minor > 0, op == "^" && given == 2:
		hi = fmt.Sprintf("v%d.%d.0", major, minor+1)
	default: // ^0.0.3
		hi = fmt.Sprintf("v%d.%d.%d", major, minor, patch+1)
	}
	return lo, hi + "-0", nil // -0: no pre-release of the next version either
}

// Query is what `go list -m MODULE@QUERY` is asked, or "" for a range
// (whose versions are listed and picked from).
func (c Constraint) Query() string {
	switch {
	case c.latest:
		return "latest"
	case c.exact != "":
		return c.exact
	}
	return ""
}

// Exact reports whether the constraint names one version, which never
// needs checking again.
func (c Constraint) Exact() bool { return c.exact != "" }

// Allows reports whether version v satisfies the constraint. A range
// admits a pre-release only if one of its bounds is one.
func (c Constraint) Allows(v string) bool {
	switch {
	case !semver.IsValid(v):
		return false
	case c.latest:
		return true
	case c.exact != "":
		return semver.Compare(v, c.exact) == 0
	}
	if semver.Prerelease(v) != "" && !c.namesPrerelease() {
		return false
	}
	for _, cmp := range c.cmps {
		d := semver.Compare(v, cmp.v)
		ok := map[string]bool{">=": d >= 0, ">": d > 0, "<=": d <= 0, "<": d < 0}[cmp.op]
		if !ok {
			return false
		}
	}
	return true
}

func (c Constraint) namesPrerelease() bool {
	for _, cmp := range c.cmps {
		if p := semver.Prerelease(cmp.v); p != "" && p != "-0" {
			return true
		}
	}
	return false
}

// Pick returns the highest of versions the constraint allows, or "".
func (c Constraint) Pick(versions []string) string {
	best := ""
	for _, v := range versions {
		if c.Allows(v) && (best == "" || semver.Compare(v, best) > 0) {
			best = v
		}
	}
	return best
}
