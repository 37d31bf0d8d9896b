// Package buildctx lists a Docker build context the way BuildKit receives
// it, so an image's content tag can be computed before anything is sent.
//
// The listing is not a reimplementation: it walks the directory with the
// same filter BuildKit's client uses to send it (fsutil's FilterFS), fed
// with the exclude patterns BuildKit's Dockerfile frontend reads (the
// Dockerfile's own `<Dockerfile>.dockerignore`, else the context's
// `.dockerignore`, parsed by moby/patternmatcher). So `!` exceptions, `**`,
// leading slashes and comments mean exactly what they mean to BuildKit.
//
// The frontend may narrow what it asks for to the paths a Dockerfile
// copies; the listing is the whole filtered context, a superset. A change
// outside what BuildKit reads can give a new tag (a needless build, which
// BuildKit's layer cache makes cheap) but never the same tag for a
// different image.
package buildctx

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/patternmatcher/ignorefile"
	"github.com/tonistiigi/fsutil"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
)

// Entry is one path BuildKit receives. Directories are entries too: COPY
// creates them, with their mode, even when empty.
type Entry struct {
	Path   string      // relative to the context, forward slashes
	Mode   fs.FileMode // permission bits and type (fs.ModeDir, fs.ModeSymlink)
	Digest fileset.Digest
	Link   string // a symlink's target; links are sent, never followed
}

// IgnoreFile returns the ignore file BuildKit applies to a build of
// dockerfile with context dir: `<Dockerfile>.dockerignore` beside the
// Dockerfile, else `.dockerignore` in the context, else "" (none). A named
// context has no Dockerfile (""): only its own .dockerignore counts.
func IgnoreFile(dir, dockerfile string) string {
	candidates := []string{filepath.Join(dir, ".dockerignore")}
	if dockerfile != "" {
		candidates = append([]string{dockerfile + ".dockerignore"}, candidates...)
	}
	for _, p := range candidates {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// Excludes reads the exclude patterns of an ignore file ("" for none).
func Excludes(ignoreFile string) ([]string, error) {
	if ignoreFile == "" {
		return nil, nil
	}
	data, err := fileset.ReadUserFile(ignoreFile, 16<<20)
	if err != nil {
		return nil, err
	}
	patterns, err := ignorefile.ReadAll(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ignoreFile, err)
	}
	return patterns, nil
}

// Hasher hashes a regular file of the context given its path relative to
// the context; fileset.Hasher's stat cache makes unchanged files cheap.
type Hasher func(rel string) (fileset.Digest, error)

// List walks dir as BuildKit's client sends it with excludes applied, and
// hashes each regular file with hash. Entries come sorted by path.
func List(ctx context.Context, dir string, excludes []string, hash Hasher) ([]Entry, error) {
	base, err := fsutil.NewFS(dir)
	if err != nil {
		return nil, err
	}
	filtered, err := fsutil.NewFilterFS(base, &fsutil.FilterOpt{ExcludePatterns: excludes})
	if err != nil {
		return nil, fmt.Errorf("ignore patterns: %w", err)
	}
	var out []Entry
	err = filtered.Walk(ctx, "", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := Entry{Path: filepath.ToSlash(p), Mode: info.Mode() & (fs.ModePerm | fs.ModeType | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			if e.Link, err = os.Readlink(filepath.Join(dir, p)); err != nil {
				return err
			}
			e.Digest = sha256.Sum256([]byte("symlink\x00" + e.Link))
		case info.IsDir():
			e.Digest = sha256.Sum256([]byte("dir"))
		case info.Mode().IsRegular():
			if e.Digest, err = hash(e.Path); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: %s is neither a file, a directory nor a symlink; add it to .dockerignore", dir, e.Path)
		}
		out = append(out, e)
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("build context %s: %w", dir, err)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Path < out[b].Path })
	return out, err
}

// Line is an entry as one canonical text line, the unit of every hash
// over a context.
func (e Entry) Line() string {
	s := fmt.Sprintf("%q %o %s", e.Path, uint32(e.Mode), e.Digest)
	if e.Link != "" {
		s += " -> " + fmt.Sprintf("%q", e.Link)
	}
	return s
}

// Digest hashes a listing: equal digests mean BuildKit receives the same
// paths, types, permission bits, contents and link targets.
func Digest(entries []Entry) fileset.Digest {
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(e.Line())
		b.WriteByte('\n')
	}
	return sha256.Sum256([]byte(b.String()))
}
