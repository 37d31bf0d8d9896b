package fileset

import (
	"bufio"
	"bytes"
	"path"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// ignoreRule is one line of a .gitignore file.
type ignoreRule struct {
	base    string // directory of the .gitignore, relative to the root ("" for the root)
	pattern string // a doublestar pattern relative to base
	negate  bool
	dirOnly bool
}

// parseGitignore reads the rules of the .gitignore in directory base.
// Comments, blank lines and escapes follow gitignore(5); a pattern with no
// slash but at its end matches at any depth.
func parseGitignore(base string, data []byte) []ignoreRule {
	var rules []ignoreRule
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{base: base}
		if strings.HasPrefix(line, "!") {
			r.negate, line = true, line[1:]
		} else if strings.HasPrefix(line, `\`) {
			line = line[1:]
		}
		if strings.HasSuffix(line, "/") {
			r.dirOnly, line = true, strings.TrimRight(line, "/")
		}
		if line == "" {
			continue
		}
		if strings.Contains(line, "/") {
			line = strings.TrimPrefix(line, "/")
		} else {
			line = "**/" + line
		}
		r.pattern = line
		rules = append(rules, r)
	}
	return rules
}

// ignored reports whether rel (relative to the root) is ignored by rules,
// which are ordered from the root's .gitignore down; the last match wins.
func ignored(rules []ignoreRule, rel string, isDir bool) bool {
	result := false
	for _, r := range rules {
		if r.dirOnly && !isDir {
			continue
		}
		sub := rel
		if r.base != "" {
			if !strings.HasPrefix(rel, r.base+"/") {
				continue
			}
			sub = rel[len(r.base)+1:]
		}
		if ok, _ := doublestar.Match(r.pattern, sub); ok {
			result = !r.negate
		} else if strings.HasPrefix(r.pattern, "**/") && !strings.Contains(r.pattern[3:], "/") {
			// "**/x" must also match "x" at the top of base.
			if ok, _ := doublestar.Match(r.pattern[3:], path.Base(sub)); ok && !strings.Contains(sub, "/") {
				result = !r.negate
			}
		}
	}
	return result
}
