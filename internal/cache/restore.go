package cache

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
)

// Collect resolves a job's declared outputs after it succeeded and hashes
// them. Every glob must match at least one file, and every output must lie
// inside root: a symlink that points out of the project, or an output
// reached through a directory symlink that leaves it, is an error.
func Collect(root string, h *fileset.Hasher, globs []string) ([]fileset.File, error) {
	matched, err := fileset.MatchOutputs(root, globs)
	if err != nil {
		return nil, err
	}
	var paths []string
	seen := map[string]bool{}
	for _, g := range globs {
		ms := matched[path.Clean(g)]
		if len(ms) == 0 {
			return nil, fmt.Errorf("declared output %q was not produced (no file matches it)", g)
		}
		for _, m := range ms {
			if !seen[m] {
				seen[m] = true
				paths = append(paths, m)
			}
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		if err := checkInside(root, p); err != nil {
			return nil, err
		}
	}
	files, err := h.Hash(paths)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if f.Link != "" && !linkInside(f.Path, f.Link) {
			return nil, fmt.Errorf("output %s is a symlink to %s, outside the project; outputs must stay inside it", f.Path, f.Link)
		}
	}
	return files, nil
}

// OutputDigest identifies an output tree: what dependents' keys see.
func OutputDigest(files []fileset.File) fileset.Digest {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s %o %s\n", f.Path, uint32(f.Mode), f.Digest)
	}
	var d fileset.Digest
	h.Sum(d[:0])
	return d
}

// linkInside reports whether a symlink at rel with the given target points
// inside the project.
func linkInside(rel, target string) bool {
	if filepath.IsAbs(target) {
		return false
	}
	p := path.Join(path.Dir(rel), filepath.ToSlash(target))
	return p != ".." && !strings.HasPrefix(p, "../")
}

// checkInside makes sure rel is a clean relative path whose existing parent
// directories stay inside root: each component below root is lstat'ed, and
// only a symlink among them is resolved and checked.
func checkInside(root, rel string) error {
	if rel == "" || path.IsAbs(rel) || path.Clean(rel) != rel || rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("output path %q is not inside the project", rel)
	}
	dir := root
	for _, part := range strings.Split(path.Dir(rel), "/") {
		if part == "." {
			break
		}
		dir = filepath.Join(dir, part)
		st, err := os.Lstat(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // created by the restore, inside root
		}
		if err != nil {
			return err
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			return checkResolved(root, rel, dir)
		}
	}
	return nil
}

// checkResolved resolves a symlinked directory on the way to rel and
// requires it to stay inside root.
func checkResolved(root, rel, dir string) error {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("output %s: %w", rel, err)
	}
	if real != realRoot && !strings.HasPrefix(real, realRoot+string(filepath.Separator)) {
		return fmt.Errorf("output %s is reached through a symlink that leaves the project (%s)", rel, real)
	}
	return nil
}

// Restore makes the files matching the entry's declared output globs equal
// to its outputs: files that already match are left alone, others are
// written (to a temporary file, verified, then renamed into place), and
// stale files matching the globs are removed. It reports whether it
// changed anything.
func (s *Store) Restore(root string, e *Entry, globs []string, h *fileset.Hasher) (changed bool, err error) {
	want := map[string]bool{}
	checked := map[string]bool{} // parent directories known to be inside root
	for _, o := range e.Outputs {
		if dir := path.Dir(o.Path); !checked[dir] {
			if err := checkInside(root, o.Path); err != nil {
				return changed, err
			}
			checked[dir] = true
		}
		if o.Link != "" && !linkInside(o.Path, o.Link) {
			return changed, fmt.Errorf("entry output %s links outside the project", o.Path)
		}
		want[o.Path] = true
		wrote, err := s.restoreOne(root, o, h)
		if err != nil {
			return changed, fmt.Errorf("restoring %s: %w", o.Path, err)
		}
		changed = changed || wrote
	}
	existing, err := fileset.MatchOutputs(root, dirGlobs(root, globs))
	if err != nil {
		return changed, err
	}
	for _, files := range existing {
		for _, f := range files {
			if !want[f] {
				if err := os.Remove(filepath.Join(root, filepath.FromSlash(f))); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return changed, err
				}
				changed = true
			}
		}
	}
	return changed, nil
}

// dirGlobs keeps the globs that can match more than one file: only those
// can have stale files to remove.
func dirGlobs(root string, globs []string) []string {
	var out []string
	for _, g := range globs {
		if strings.ContainsAny(g, `*?[{\`) {
			out = append(out, g)
		} else if st, err := os.Stat(filepath.Join(root, g)); err == nil && st.IsDir() {
			out = append(out, g)
		}
	}
	return out
}

func (s *Store) restoreOne(root string, o Output, h *fileset.Hasher) (bool, error) {
	dest := filepath.Join(root, filepath.FromSlash(o.Path))
	if o.Link != "" {
		if cur, err := os.Readlink(dest); err == nil && cur == o.Link {
			return false, nil
		}
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return false, err
		}
		os.Remove(dest)
		return true, os.Symlink(o.Link, dest)
	}
	if files, err := h.Hash([]string{o.Path}); err == nil {
		f := files[0]
		if f.Link == "" && f.Size == o.Size && uint32(f.Mode) == o.Mode && f.Digest.String() == o.Digest {
			return false, nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return false, err
	}
	return true, s.writeBlob(dest, o.Digest, fs.FileMode(o.Mode)&fs.ModePerm)
}

// writeBlob writes a verified copy of a blob to dest with mode, replacing
// whatever was there (a symlink is replaced, never written through).
func (s *Store) writeBlob(dest, digest string, mode fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".sparkwing-restore-*")
	if err != nil {
		return err
	}
	_, err = s.CopyBlob(tmp, digest)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), mode)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dest)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// ReadLog returns the entry's log, verified. It is replayed from memory:
// creating a file per cached job would cost more than the whole no-op run.
func (s *Store) ReadLog(e *Entry) ([]byte, error) {
	var b bytes.Buffer
	if _, err := s.CopyBlob(&b, e.Log); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
