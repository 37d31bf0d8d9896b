// Package buildctx lists a Docker build context the way BuildKit receives
// it, so an image's content tag can be computed before anything is sent.
//
// The listing is not a reimplementation: a Lister walks the directory with
// the same filter BuildKit's client uses to send it (fsutil's FilterFS, in
// sparkwing-image: see internal/buildkit), fed with the exclude patterns
// BuildKit's Dockerfile frontend reads (the Dockerfile's own
// `<Dockerfile>.dockerignore`, else the context's
// `.dockerignore`, parsed by moby/patternmatcher). So `!` exceptions, `**`,
// leading slashes and comments mean exactly what they mean to BuildKit.
//
// The frontend narrows what it asks for to the paths the build's stages
// read (its FollowPaths). A Lister given a Scope narrows the same way: the
// helper runs BuildKit's own Dockerfile converter on the Dockerfile, takes
// the FollowPaths it puts on the context, and walks with them (see
// Narrowing). Where the narrowing is in doubt the listing is the whole
// filtered context, a superset: a change outside what BuildKit reads then
// gives a new tag (a needless build) but never the same tag for a
// different image.
package buildctx

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/patternmatcher/ignorefile"

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

// Scope is what decides which part of a main build context a build
// reads: the Dockerfile's content (as hashed into the key, so the
// narrowing and the key agree) and the build's settings.
type Scope struct {
	Dockerfile string // its path, for reasons: Dockerfile, docker/api.Dockerfile
	Content    []byte
	Target     string
	Args       map[string]string
	Platforms  []string // none: the builder's own
}

// Narrowing is the part of the main context a build reads.
type Narrowing struct {
	Whole  bool     // any file may be read
	Paths  []string // else the paths read, as BuildKit's FollowPaths (patterns allowed); none: no file
	Reason string   // why Whole: the instruction, e.g. `Dockerfile:7: COPY . .`
}

// Lister walks dir as BuildKit's client sends it with excludes applied:
// every entry's path, mode and link target, sorted by path, no digests.
// With a scope it walks only the paths the build reads, and says which.
type Lister func(ctx context.Context, dir string, excludes []string, scope *Scope) ([]Entry, *Narrowing, error)

// List lists dir with list and gives each entry its digest, hashing
// regular files with hash.
func List(ctx context.Context, list Lister, dir string, excludes []string, scope *Scope, hash Hasher) ([]Entry, *Narrowing, error) {
	out, narrowing, err := list(ctx, dir, excludes, scope)
	if err != nil {
		return nil, nil, err
	}
	for i := range out {
		e := &out[i]
		switch {
		case e.Mode&fs.ModeSymlink != 0:
			e.Digest = sha256.Sum256([]byte("symlink\x00" + e.Link))
		case e.Mode.IsDir():
			e.Digest = sha256.Sum256([]byte("dir"))
		case e.Mode.IsRegular():
			if e.Digest, err = hash(e.Path); err != nil {
				return nil, nil, err
			}
		default:
			return nil, nil, fmt.Errorf("%s: %s is neither a file, a directory nor a symlink; add it to .dockerignore", dir, e.Path)
		}
	}
	return out, narrowing, nil
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
