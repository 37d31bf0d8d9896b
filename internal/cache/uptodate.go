package cache

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// What the engine's last-run record (engine/uptodate.go) needs of the
// cache: a digest of what keys read from the environment, whether an entry
// still exists, and a check that a job's outputs are its entry's, which
// tells a fileset.Seen the stat of each.

// EnvDigest is the digest of every environment variable a key of jobs
// reads, as Manifest reads it: equal digests, equal env lines.
func EnvDigest(jobs []plan.Job, lookup func(string) (string, bool)) fileset.Digest {
	var names []string
	for _, j := range jobs {
		names = append(names, hashedEnv(j)...)
	}
	h := sha256.New()
	seen := map[string]bool{}
	for _, n := range sorted(names) {
		if !seen[n] {
			seen[n] = true
			fmt.Fprintf(h, "%q %s\n", n, envDigest(lookup, n))
		}
	}
	var d fileset.Digest
	h.Sum(d[:0])
	return d
}

// Has reports whether the store has an entry for k, as Touch would find
// it (the entry is not read).
func (s *Store) Has(k Key) bool {
	st, err := os.Lstat(s.entryPath(k))
	if errors.Is(err, fs.ErrNotExist) && s.migrate(k) {
		st, err = os.Lstat(s.entryPath(k))
	}
	return err == nil && st.Mode().IsRegular()
}

// NoteOutputs checks that the tree holds outputs (what a job's entry
// says) and tells seen the stat of each: files through the hasher (which
// tells h.Seen), directories and symlinks by one lstat. Anything that
// differs spoils seen.
func (w *Workspace) NoteOutputs(outputs []Output, h *fileset.Hasher, seen *fileset.Seen) {
	for _, o := range outputs {
		mode := fs.FileMode(o.Mode)
		switch {
		case isHardLink(o):
			seen.Spoil(o.Path + " is a hard link to another output")
		case isDir(o), isLink(o):
			st, err := seen.Lstat(w.Dir, o.Path)
			if err != nil {
				continue
			}
			if isDir(o) && (!st.IsDir() || st.Mode()&modeBits != mode&modeBits) {
				seen.Spoil(o.Path + " is not the directory the job left")
			}
			if isLink(o) {
				if link, err := os.Readlink(w.abs(o.Path)); err != nil || link != o.Link {
					seen.Spoil(o.Path + " is not the symlink the job left")
				}
			}
		default:
			files, err := h.Hash([]string{o.Path})
			if err != nil || files[0].Link != "" || files[0].Digest.String() != o.Digest ||
				files[0].Size != o.Size || uint32(files[0].Mode) != o.Mode {
				seen.Spoil(o.Path + " is not the file the job left")
			}
		}
	}
}
