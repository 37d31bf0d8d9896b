package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
)

// Restore makes the job's outputs in the tree equal to the entry's:
// files that already match are left alone, others are written (to a
// temporary file in the workspace, verified, then renamed into place),
// and files the job produced before that are not in the entry are removed
// (see Workspace). globs are the job's declared outputs; lock is the
// job's, held. It reports whether it changed anything.
func (w *Workspace) Restore(s *Store, e *Entry, globs []string, h *fileset.Hasher, lock *JobLock) (changed bool, err error) {
	outs := append([]Output(nil), e.Outputs...)
	sort.Slice(outs, func(a, b int) bool { return outs[a].Path < outs[b].Path })
	for _, o := range outs {
		if err := checkOutputPath(o.Path, globs); err != nil {
			return false, err
		}
	}
	written := map[string]fs.FileInfo{} // what each write left at its path
	for _, pass := range []func(Output) bool{isDir, isFile, isLink, isHardLink} {
		for _, o := range outs {
			if !pass(o) {
				continue
			}
			wrote, err := w.restoreOne(s, o, h)
			if escapes(err) {
				err = errors.New("a symlink on the way leaves the project, so nothing is written there")
			}
			if err != nil {
				return len(written) > 0, fmt.Errorf("restoring %s: %w", o.Path, err)
			}
			if wrote {
				if written[o.Path], err = w.root.Lstat(o.Path); err != nil {
					return true, err
				}
			}
		}
	}
	if len(written) > 0 {
		if err := w.verify(outs, written, h); err != nil {
			return true, err
		}
	}
	if lock.state.Key == e.Key {
		return len(written) > 0, nil // the tree held this entry already: nothing is stale
	}
	swept, err := w.sweep(outs, globs, h, lock)
	return len(written) > 0 || swept, err
}

// verify checks, after a restore that wrote, that every output is still
// what the entry says. Two outputs can be one file (a user replaced an
// output directory with a link to another), and then the later write
// undid the earlier: that is an error, not a restore. Written files are
// recognised by their inode, the others hashed again (through the stat
// cache, so unchanged ones are not read).
func (w *Workspace) verify(outs []Output, written map[string]fs.FileInfo, h *fileset.Hasher) error {
	for _, o := range outs {
		st, err := w.root.Lstat(o.Path)
		if err != nil {
			return fmt.Errorf("restored %s is gone: %w", o.Path, err)
		}
		was, wrote := written[o.Path]
		if wrote && !isDir(o) && !os.SameFile(st, was) {
			return fmt.Errorf("restored %s was overwritten by another output (a symlink makes two outputs one file)", o.Path)
		}
		switch {
		case isLink(o):
			if _, err := w.root.Stat(o.Path); err != nil {
				return fmt.Errorf("restored symlink %s -> %s does not resolve inside the project: %w", o.Path, o.Link, err)
			}
		case isFile(o) && !wrote:
			if files, err := h.Hash([]string{o.Path}); err != nil || files[0].Digest.String() != o.Digest {
				return fmt.Errorf("restored %s was overwritten by another output (a symlink makes two outputs one file)", o.Path)
			}
		}
	}
	return nil
}

func isDir(o Output) bool      { return fs.FileMode(o.Mode).IsDir() }
func isLink(o Output) bool     { return o.Link != "" }
func isHardLink(o Output) bool { return o.HardLink != "" }
func isFile(o Output) bool     { return !isDir(o) && !isLink(o) && !isHardLink(o) }

// restoreOne brings one output into place and says whether it wrote.
func (w *Workspace) restoreOne(s *Store, o Output, h *fileset.Hasher) (bool, error) {
	mode := fs.FileMode(o.Mode)
	switch {
	case mode.IsDir():
		// Checks that only read go through the kernel path, as the hasher's
		// do; every write below goes through the root.
		st, err := os.Lstat(w.abs(o.Path))
		if err == nil && st.IsDir() && st.Mode()&modeBits == mode&modeBits {
			return false, nil
		}
		if err := w.root.MkdirAll(o.Path, 0o755); err != nil {
			return false, err
		}
		return true, w.root.Chmod(o.Path, mode&modeBits)
	case o.Link != "":
		if cur, err := os.Readlink(w.abs(o.Path)); err == nil && cur == o.Link {
			return false, nil
		}
		return true, w.place(o.Path, func(tmp string) error { return w.root.Symlink(o.Link, tmp) })
	case o.HardLink != "":
		if same, _ := w.sameFile(o.Path, o.HardLink); same {
			return false, nil
		}
		return true, w.place(o.Path, func(tmp string) error { return w.root.Link(o.HardLink, tmp) })
	}
	if files, err := h.Hash([]string{o.Path}); err == nil {
		f := files[0]
		if f.Link == "" && f.Size == o.Size && uint32(f.Mode) == o.Mode && f.Digest.String() == o.Digest {
			return false, nil
		}
	}
	return true, w.place(o.Path, func(tmp string) error { return w.writeFile(s, tmp, o, mode&modeBits) })
}

func (w *Workspace) abs(rel string) string { return filepath.Join(w.Dir, filepath.FromSlash(rel)) }

// modeBits are the bits of a mode a restore sets.
const modeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// place makes dest with create, atomically: create writes a temporary
// name in the workspace, which is renamed over dest. A rename across file systems
// (an output directory that is a mount point) falls back to replacing dest
// in place; a kill then can leave dest partial, which the next run sees by
// its digest and restores again.
func (w *Workspace) place(dest string, create func(name string) error) error {
	if err := w.prepare(); err != nil {
		return err
	}
	if err := w.root.MkdirAll(path.Dir(dest), 0o755); err != nil {
		return err
	}
	tmp := tempName()
	if err := create(tmp); err != nil {
		w.root.Remove(tmp)
		return err
	}
	err := w.root.Rename(tmp, dest)
	if errors.Is(err, syscall.EXDEV) {
		w.root.Remove(tmp)
		if err = w.root.Remove(dest); err == nil || errors.Is(err, fs.ErrNotExist) {
			err = create(dest)
		}
	}
	if err != nil {
		w.root.Remove(tmp)
	}
	return err
}

// writeFile writes a verified copy of file output o, from its entry or
// its blob, at name with mode.
func (w *Workspace) writeFile(s *Store, name string, o Output, mode fs.FileMode) error {
	if inline(o) {
		if !isContent(o, o.Data) {
			return &CorruptError{What: "entry's copy of " + o.Path, Err: fmt.Errorf("%d bytes, not its %d-byte content", len(o.Data), o.Size)}
		}
	}
	f, err := w.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if inline(o) {
		_, err = f.Write(o.Data)
	} else {
		_, err = s.CopyBlob(f, o.Digest, o.Size)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = w.root.Chmod(name, mode) // after writing, which clears setuid
	}
	return err
}

func (w *Workspace) sameFile(a, b string) (bool, error) {
	sa, err := w.root.Lstat(a)
	if err != nil {
		return false, err
	}
	sb, err := w.root.Lstat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(sa, sb), nil
}

// sweep removes what the job put in the tree before and the entry does
// not have, if it still matches a declared output and is unchanged since
// the job produced it: a file someone edited or made is never removed.
func (w *Workspace) sweep(outs []Output, globs []string, h *fileset.Hasher, lock *JobLock) (bool, error) {
	want := make(map[string]bool, len(outs))
	for _, o := range outs {
		want[o.Path] = true
	}
	var stale []Output
	for _, o := range lock.Ledger() {
		if !want[o.Path] && checkOutputPath(o.Path, globs) == nil {
			stale = append(stale, o)
		}
	}
	// Deepest first, so directories are empty by the time they come.
	sort.Slice(stale, func(a, b int) bool { return stale[a].Path > stale[b].Path })
	changed := false
	for _, o := range stale {
		if !w.unchanged(o, h) {
			continue
		}
		err := w.root.Remove(o.Path)
		if err == nil {
			changed = true
		} else if !errors.Is(err, fs.ErrNotExist) && !isDir(o) {
			return changed, err
		}
	}
	return changed, nil
}

// unchanged reports whether o is still in the tree as the job made it.
func (w *Workspace) unchanged(o Output, h *fileset.Hasher) bool {
	st, err := w.root.Lstat(o.Path)
	if err != nil {
		return false
	}
	switch {
	case isDir(o):
		return st.IsDir()
	case isLink(o):
		link, err := w.root.Readlink(o.Path)
		return err == nil && link == o.Link
	}
	files, err := h.Hash([]string{o.Path})
	return err == nil && st.Mode().IsRegular() && files[0].Digest.String() == o.Digest
}
