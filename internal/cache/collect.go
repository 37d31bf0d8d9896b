package cache

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"syscall"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// What an output tree holds, and how it comes back on a restore:
//
//   - regular files, with their permission bits and the setuid, setgid and
//     sticky bits; files hard-linked to each other within the outputs are
//     linked again (a link to a file outside the outputs comes back as a
//     copy);
//   - directories matched by an output glob, empty ones too, with their
//     modes (a `**` glob matches its base directory and all below it; a
//     literal directory output is itself and all below it);
//   - symlinks, as links: each must resolve, inside the project, to another
//     output of the job (a file, or a directory holding its outputs), since
//     only what the entry holds can be restored. A link to anything else is
//     an error that says what to declare.
//
// Owners, timestamps and extended attributes are not kept: a restored
// file belongs to whoever restores it and is as new as the restore.
// Anything else (a socket, a device, a FIFO) is an error.

// Collect resolves a job's declared outputs after it succeeded and hashes
// them. Every glob must match something, every path is reached inside the
// project, and .sparkwing/ and .git/ are never looked at.
func (w *Workspace) Collect(h *fileset.Hasher, globs []string) ([]Output, error) {
	found := map[string]fs.FileInfo{}
	for _, g := range globs {
		n, err := w.match(path.Clean(g), found)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, fmt.Errorf("declared output %q was not produced (no file matches it)", g)
		}
	}
	paths := make([]string, 0, len(found))
	for p := range found {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var regular []string
	for _, p := range paths {
		if found[p].Mode().IsRegular() {
			regular = append(regular, p)
		}
	}
	hashed, err := h.Hash(regular)
	if err != nil {
		return nil, err
	}
	digests := make(map[string]fileset.File, len(hashed))
	for _, f := range hashed {
		digests[f.Path] = f
	}
	outs := make([]Output, 0, len(paths))
	firstLink := map[[2]uint64]string{} // (device, inode) → the first output with it
	for _, p := range paths {
		o, err := w.describe(p, found[p], digests, firstLink)
		if err != nil {
			return nil, err
		}
		outs = append(outs, o)
	}
	return outs, w.checkLinks(outs)
}

// match adds what glob g matches to found and says how many paths matched.
func (w *Workspace) match(g string, found map[string]fs.FileInfo) (int, error) {
	if !plan.HasMeta(g) {
		st, err := w.root.Lstat(g)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return 0, nil
		case err != nil:
			return 0, outsideError(g, err)
		case !st.IsDir():
			found[g] = st
			return 1, nil
		}
		return w.walk(g, g, func(string) bool { return true }, found)
	}
	base := plan.LiteralBase(g)
	if base == "" {
		base = "."
	}
	return w.walk(base, g, func(p string) bool {
		ok, _ := doublestar.Match(g, p)
		return ok
	}, found)
}

// walk adds the paths below base (base too) that keep says to keep. A
// symlink is recorded, never followed (except base itself).
func (w *Workspace) walk(base, glob string, keep func(string) bool, found map[string]fs.FileInfo) (int, error) {
	n := 0
	err := fs.WalkDir(w.root.FS(), base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == base && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return outsideError(p, err)
		}
		if p == "." {
			return nil
		}
		if reserved(p) {
			return fs.SkipDir
		}
		if keep(p) {
			info, err := w.root.Lstat(p)
			if err != nil {
				return err
			}
			found[p] = info
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("output %q: %w", glob, err)
	}
	return n, nil
}

// outsideError explains a path the root refused.
func outsideError(p string, err error) error {
	if escapes(err) {
		return fmt.Errorf("output %s is reached through a symlink that leaves the project; outputs must stay inside it", p)
	}
	return err
}

// escapes reports whether err is os.Root refusing a path that leads out of
// it (the error has no exported value to compare with).
func escapes(err error) bool {
	return err != nil && strings.Contains(err.Error(), "path escapes from parent")
}

// describe turns one collected path into an output.
func (w *Workspace) describe(p string, st fs.FileInfo, digests map[string]fileset.File, firstLink map[[2]uint64]string) (Output, error) {
	mode := st.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky | fs.ModeDir | fs.ModeSymlink)
	o := Output{Path: p, Mode: uint32(mode)}
	switch {
	case st.IsDir():
	case st.Mode()&fs.ModeSymlink != 0:
		link, err := w.root.Readlink(p)
		if err != nil {
			return o, err
		}
		o.Link, o.Digest = link, fileset.Digest(sha256.Sum256([]byte("symlink\x00"+link))).String()
	case st.Mode().IsRegular():
		f := digests[p]
		o.Digest, o.Size = f.Digest.String(), f.Size
		if s, ok := st.Sys().(*syscall.Stat_t); ok && s.Nlink > 1 {
			id := [2]uint64{uint64(s.Dev), uint64(s.Ino)}
			if first, ok := firstLink[id]; ok {
				o.HardLink = first
			} else {
				firstLink[id] = p
			}
		}
	default:
		return o, fmt.Errorf("output %s is a %s; outputs are files, directories and symlinks", p, kind(st.Mode()))
	}
	return o, nil
}

func kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// checkLinks requires every symlink among outs to lead, inside the
// project, to another of outs or to a directory holding some of them.
func (w *Workspace) checkLinks(outs []Output) error {
	has := map[string]bool{}
	for _, o := range outs {
		for p := o.Path; p != "."; p = path.Dir(p) {
			has[p] = true
		}
	}
	for _, o := range outs {
		if o.Link == "" {
			continue
		}
		target, exists, err := fileset.Resolve(w.root, o.Path)
		var outside *fileset.OutsideError
		switch {
		case errors.As(err, &outside):
			return fmt.Errorf("output %s is a symlink to %s, which leads outside the project; outputs must stay inside it", o.Path, o.Link)
		case err != nil:
			return fmt.Errorf("output %s is a symlink to %s: %w", o.Path, o.Link, err)
		case !exists:
			return fmt.Errorf("output %s is a symlink to %s, which does not exist", o.Path, o.Link)
		case !has[target]:
			return fmt.Errorf("output %s is a symlink to %s, which is not an output of this job, so a restore could not bring it back: "+
				"declare %s as an output too, or make %s a real file or directory", o.Path, target, target, o.Path)
		}
	}
	return nil
}

// OutputDigest identifies an output tree: what dependents' keys see.
func OutputDigest(outs []Output) fileset.Digest {
	h := sha256.New()
	for _, o := range outs {
		fmt.Fprintf(h, "%s %o %s\n", o.Path, o.Mode, o.Digest)
	}
	var d fileset.Digest
	h.Sum(d[:0])
	return d
}
