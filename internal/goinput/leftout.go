package goinput

import (
	"go/parser"
	"go/token"
	"slices"
	"strconv"
)

// leftOutImports returns the imports of files the build leaves out (for
// this platform, these tags, or `//go:build ignore`) that no listing has
// reached yet. A file that does not parse imports nothing we could follow:
// no build can include it as it is, and an edit to it is keyed anyway.
func (l *lister) leftOutImports() []string {
	var more []string
	fset := token.NewFileSet()
	for _, f := range l.leftOut {
		if l.parsed[f] {
			continue
		}
		l.parsed[f] = true
		file, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			continue
		}
		for _, spec := range file.Imports {
			ip, err := strconv.Unquote(spec.Path.Value)
			if err != nil || ip == "C" || l.listed[ip] || slices.Contains(more, ip) {
				continue
			}
			more = append(more, ip)
		}
	}
	slices.Sort(more)
	return more
}
