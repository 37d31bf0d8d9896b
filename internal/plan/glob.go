package plan

import (
	"path"
	"strings"
	"unicode/utf8"

	"github.com/bmatcuk/doublestar/v4"
)

// Globs are doublestar patterns relative to the project root: `*`, `?`,
// `[...]` and `{a,b}` within a segment, `**` as a whole segment. This file
// decides, without looking at the disk, whether two globs can match one
// path. The answer errs towards "yes": an overlap it reports that no path
// can have is a plan error the user can silence by an exclusion, while a
// missed overlap is a wrong cache hit.

// maxAlternatives bounds brace expansion; a glob with more alternatives is
// taken to overlap everything. maxPairs bounds the pairs of alternatives
// compared for two globs: past it they are taken to overlap, so a project
// file cannot make validating it take long.
const (
	maxAlternatives = 256
	maxPairs        = 1024
)

// Overlap reports whether some path can match both a and b. When dirA (or
// dirB) is set, a glob without wildcards also matches every path below it,
// as a directory does.
func Overlap(a, b string, dirA, dirB bool) bool {
	if slashInClass(a) || slashInClass(b) || !utf8.ValidString(a) || !utf8.ValidString(b) {
		// Not globs anyone writes (and not YAML): the safe answer. Bytes
		// that are not UTF-8 all decode to U+FFFD, so a class of one such
		// byte matches any other.
		return true
	}
	if !basesMeet(LiteralBase(a), LiteralBase(b)) {
		return false // the fixed parts already differ: the common case, decided cheaply
	}
	as, okA := alternatives(a)
	bs, okB := alternatives(b)
	if !okA || !okB || len(as)*len(bs) > maxPairs {
		return true
	}
	for _, x := range as {
		for _, y := range bs {
			if segmentsMeet(segments(x, dirA), segments(y, dirB)) {
				return true
			}
		}
	}
	return false
}

// basesMeet reports whether one fixed glob prefix is a path prefix of the
// other: only then can their globs match one path.
func basesMeet(x, y string) bool {
	if len(x) > len(y) {
		x, y = y, x
	}
	return x == "" || y == x || strings.HasPrefix(y, x+"/")
}

// Covers reports whether every path matching glob also matches exclude,
// for the forms an exclusion usually takes: the same glob, `DIR/**` or a
// directory DIR above the glob's fixed part, and `**`. Anything else is
// "no", which makes the caller report the overlap.
func Covers(exclude, glob string) bool {
	exclude, glob = path.Clean(exclude), path.Clean(glob)
	if exclude == glob || exclude == "**" {
		return true
	}
	dir := strings.TrimSuffix(exclude, "/**")
	if HasMeta(dir) {
		return false
	}
	base := LiteralBase(glob)
	return base == dir || strings.HasPrefix(base, dir+"/")
}

// LiteralBase is the part of a glob before its first segment with a
// wildcard ("" when the first one has).
func LiteralBase(glob string) string {
	var fixed []string
	for _, s := range strings.Split(path.Clean(glob), "/") {
		if HasMeta(s) || s == "." {
			break
		}
		fixed = append(fixed, s)
	}
	return strings.Join(fixed, "/")
}

// HasMeta reports whether p has glob syntax.
func HasMeta(p string) bool { return strings.ContainsAny(p, `*?[{\`) }

// segments splits a clean glob; a literal directory gets a trailing `**`.
func segments(g string, dir bool) []string {
	s := strings.Split(path.Clean(g), "/")
	if dir && !HasMeta(g) {
		s = append(s, "**")
	}
	return s
}

// slashInClass reports whether a class of g holds a `/`, which would
// make splitting g into segments wrong.
func slashInClass(g string) bool {
	for i := 0; i < len(g); i = unitEnd(g, i) + 1 {
		if end := unitEnd(g, i); g[i] == '[' && end > i && strings.Contains(g[i:end], "/") {
			return true
		}
	}
	return false
}

// unitEnd returns the index of the last byte of the unit of g starting at
// i: an escaped character, a whole class, or the one byte. Scanning unit
// by unit sees braces, commas and slashes only where they have meaning.
func unitEnd(g string, i int) int {
	switch g[i] {
	case '\\':
		return min(i+1, len(g)-1)
	case '[':
		if end := classEnd(g, i+1); end >= 0 {
			return end
		}
	}
	return i
}

// segmentsMeet reports whether some path matches both segment lists.
func segmentsMeet(a, b []string) bool {
	return meet(len(a), len(b), func(i int) bool { return a[i] == "**" }, func(j int) bool { return b[j] == "**" },
		func(i, j int) bool { return segmentMeets(a[i], b[j]) })
}

// meet reports whether two patterns of na and nb elements can match one
// sequence. An element is either a star, matching any run of the other's
// elements (starA, starB), or one that matches a single element, which
// single(i, j) compares with the other's. Glob segments (`**` the star)
// and the characters of a segment (`*` the star) are both such patterns.
func meet(na, nb int, starA, starB func(int) bool, single func(i, j int) bool) bool {
	memo := map[[2]int]bool{}
	var at func(i, j int) bool
	at = func(i, j int) bool {
		k := [2]int{i, j}
		if v, ok := memo[k]; ok {
			return v
		}
		var r bool
		switch {
		case i < na && starA(i):
			r = at(i+1, j) || (j < nb && at(i, j+1))
		case j < nb && starB(j):
			r = at(i, j+1) || (i < na && at(i+1, j))
		case i == na || j == nb:
			r = i == na && j == nb
		default:
			r = single(i, j) && at(i+1, j+1)
		}
		memo[k] = r
		return r
	}
	return at(0, 0)
}

// token is one element of a segment pattern: a literal rune, `?`, a class
// or `*`.
type token struct {
	kind  byte // 'c' literal, '?' any one, '[' class, '*' any run
	r     rune
	class string // the class body, for '['
}

func tokens(seg string) ([]token, bool) {
	var out []token
	for i := 0; i < len(seg); {
		switch c := seg[i]; c {
		case '*', '?':
			out = append(out, token{kind: c})
			i++
		case '[':
			end := classEnd(seg, i+1)
			if end < 0 {
				return nil, false
			}
			out = append(out, token{kind: '[', class: seg[i+1 : end]})
			i = end + 1
		case '\\':
			if i+1 >= len(seg) {
				return nil, false
			}
			i++
			fallthrough
		default:
			r, n := utf8.DecodeRuneInString(seg[i:])
			out = append(out, token{kind: 'c', r: r})
			i += n
		}
	}
	return out, true
}

// classEnd returns the index of the `]` closing a class whose body starts
// at i, or -1.
func classEnd(seg string, i int) int {
	for ; i < len(seg); i++ {
		switch seg[i] {
		case '\\':
			i++
		case ']':
			return i
		}
	}
	return -1
}

// segmentMeets reports whether some name matches both segment patterns.
func segmentMeets(x, y string) bool {
	a, okA := tokens(x)
	b, okB := tokens(y)
	if !okA || !okB {
		return true
	}
	return meet(len(a), len(b), func(i int) bool { return a[i].kind == '*' }, func(j int) bool { return b[j].kind == '*' },
		func(i, j int) bool { return charsMeet(a[i], b[j]) })
}

// charsMeet reports whether one character matches both tokens. Classes
// are compared over ASCII and a few other runes; a class that excludes
// those may still be said to meet another (the safe answer).
func charsMeet(a, b token) bool {
	switch {
	case a.kind == '?' || b.kind == '?':
		return true
	case a.kind == 'c' && b.kind == 'c':
		return a.r == b.r
	case a.kind == 'c':
		return inClass(b.class, a.r)
	case b.kind == 'c':
		return inClass(a.class, b.r)
	}
	for r := rune(1); r < 128; r++ {
		if inClass(a.class, r) && inClass(b.class, r) {
			return true
		}
	}
	for _, r := range []rune{'é', 'ß', '中', '😀'} {
		if inClass(a.class, r) && inClass(b.class, r) {
			return true
		}
	}
	return false
}

// inClass reports whether r matches the class body (without brackets),
// by doublestar's own rules.
func inClass(class string, r rune) bool {
	ok, err := doublestar.Match("["+class+"]", string(r))
	return ok || err != nil
}

// firstBrace is the index of the first `{` outside a class, or -1.
func firstBrace(g string) int {
	for i := 0; i < len(g); i = unitEnd(g, i) + 1 {
		if g[i] == '{' {
			return i
		}
	}
	return -1
}

// alternatives expands `{a,b}` (nested too) into the globs it stands for.
func alternatives(g string) ([]string, bool) {
	open := firstBrace(g)
	if open < 0 {
		return []string{g}, true
	}
	depth, start := 0, open+1
	var parts []string
	for i := open; i < len(g); i = unitEnd(g, i) + 1 {
		switch g[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				parts = append(parts, g[start:i])
				var out []string
				for _, p := range parts {
					rest, ok := alternatives(g[:open] + p + g[i+1:])
					if !ok || len(out)+len(rest) > maxAlternatives {
						return nil, false
					}
					out = append(out, rest...)
				}
				return out, true
			}
		case ',':
			if depth == 1 {
				parts = append(parts, g[start:i])
				start = i + 1
			}
		}
	}
	return nil, false // unbalanced
}
