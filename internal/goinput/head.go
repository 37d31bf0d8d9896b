package goinput

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
)

// maxEdits is how many changed paths a kept resolution is checked
// against before it is listed again anyway.
const maxEdits = 64

// Head digests what `go list` reads of a Go file: everything up to the
// end of its imports (build constraints, the package clause, the cgo
// preamble, the imports) and its //go:embed lines. Two versions of a file
// with the same head list the same packages and files; an edit to a
// function body changes its content, not its head. ok is false for a file
// that does not parse as far as its imports (the go command will say why).
func Head(data []byte) (digest string, ok bool) {
	f, err := parser.ParseFile(token.NewFileSet(), "", data, parser.ImportsOnly|parser.ParseComments)
	if err != nil {
		return "", false
	}
	end := int(f.Name.End()) - 1 // positions are offsets + 1
	for _, d := range f.Decls {
		end = max(end, int(d.End())-1) // ImportsOnly: the decls are the imports
	}
	if end > len(data) {
		return "", false
	}
	h := sha256.New()
	h.Write(data[:end])
	for line := range bytes.Lines(data[end:]) {
		if t := bytes.TrimSpace(line); bytes.HasPrefix(t, []byte("//go:embed")) {
			h.Write([]byte{0})
			h.Write(t)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), true
}

// addHead records the head of the Go file at abs; one that cannot be
// read or parsed gets none, so any change to it lists again.
func (l *lister) addHead(abs string) {
	data, err := os.ReadFile(abs)
	if err != nil {
		return
	}
	if d, ok := Head(data); ok {
		l.heads[l.rel(abs)] = d
	}
}

// stillListed reports whether the listing holds although the paths in
// changed (relative to root) changed: each is a Go file whose head is
// the same, or a file whose content the listing does not read.
func (res *Resolution) stillListed(root string, changed []string) bool {
	if len(changed) > maxEdits {
		return false
	}
	for _, p := range changed {
		abs := filepath.Join(root, filepath.FromSlash(p))
		if want, ok := res.Heads[p]; ok {
			data, err := os.ReadFile(abs)
			if err != nil {
				return false
			}
			if got, ok := Head(data); !ok || got != want {
				return false
			}
			continue
		}
		if want := res.Dirs[p]; want != "" {
			if got, ok := names(abs); !ok || got != want {
				return false // a file added, removed or renamed
			}
			continue
		}
		if _, found := slices.BinarySearch(res.Free, p); !found {
			return false // a directory, go.mod, a C file, the go command...
		}
		if st, err := os.Lstat(abs); err != nil || !st.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// names digests a directory's entries: each one's name and type. A file
// added, removed, renamed or turned into a directory changes it; a file
// replaced by another of the same name (an editor's save) does not.
func names(abs string) (digest string, ok bool) {
	entries, err := os.ReadDir(abs)
	if err != nil {
		return "", false
	}
	h := sha256.New()
	for _, e := range entries {
		fmt.Fprintf(h, "%s\x00%d\x00", e.Name(), e.Type())
	}
	return hex.EncodeToString(h.Sum(nil)), true
}

// dirNames digests the entries of each directory in rels (relative to
// root) that can be read.
func dirNames(root string, rels []string) map[string]string {
	out := make(map[string]string, len(rels))
	for _, rel := range rels {
		if d, ok := names(filepath.Join(root, filepath.FromSlash(rel))); ok {
			out[rel] = d
		}
	}
	return out
}
