package dockerfile

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
)

// Fix applies the findings' mechanical fixes (cache mounts, the syntax
// line) to f's text. It returns the new text, a unified diff, and how many
// fixes it applied. Nothing is ever reordered. One pass is enough: a file
// given its first RUN --mount also gets the syntax line that flag needs.
func Fix(f *File, findings []Finding) (text, diff string, applied int) {
	var edits []*edit
	syntax, mounts := false, false
	for _, fd := range findings {
		if fd.edit != nil {
			edits = append(edits, fd.edit)
			syntax = syntax || fd.Rule == "syntax-directive"
			mounts = mounts || slices.ContainsFunc(fd.edit.text, func(l string) bool { return strings.Contains(l, "--mount=") })
		}
	}
	if mounts && !syntax && !f.HasSyntax {
		edits = append(edits, syntaxLine())
	}
	if len(edits) == 0 {
		return strings.Join(f.Lines, "\n"), "", 0
	}
	sort.SliceStable(edits, func(i, j int) bool { return edits[i].from < edits[j].from })
	var out []string
	var hunks strings.Builder
	next, shift := 1, 0 // the next source line to copy; lines added so far
	for _, e := range edits {
		if e.from < next {
			continue // overlaps an earlier fix: leave it for the next run
		}
		out = append(out, f.Lines[next-1:e.from-1]...)
		old := max(e.to-e.from+1, 0)
		fmt.Fprintf(&hunks, "@@ -%d,%d +%d,%d @@\n", e.from, old, e.from+shift, len(e.text))
		for _, l := range f.Lines[e.from-1 : e.from-1+old] {
			hunks.WriteString("-" + l + "\n")
		}
		for _, l := range e.text {
			hunks.WriteString("+" + l + "\n")
		}
		out = append(out, e.text...)
		next, shift = e.from+old, shift+len(e.text)-old
		applied++
	}
	out = append(out, f.Lines[next-1:]...)
	text = strings.Join(out, "\n")
	diff = fmt.Sprintf("--- %s\n+++ %s\n%s", f.Path, f.Path, hunks.String())
	return text, diff, applied
}

// Print writes findings as `path:line: [rule] message`, each followed by
// its fix, indented.
func Print(w io.Writer, findings []Finding) {
	for _, fd := range findings {
		fmt.Fprintf(w, "%s:%d: [%s] %s\n", fd.Path, fd.Line, fd.Rule, fd.Message)
		if fd.Severity == Info {
			fmt.Fprintf(w, "    (info)\n")
		}
		for i, l := range strings.Split(fd.Fix, "\n") {
			prefix := "    fix: "
			if i > 0 {
				prefix = "         "
			}
			fmt.Fprintf(w, "%s%s\n", prefix, l)
		}
	}
}
