package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
)

// The source digest is part of the program's key, so it must change
// whenever anything the go command reads to build the program changes:
//
//   - every file of the pipeline module (except sparkwing's own runs/,
//     images/ and state/, .git, and go.work, which the compile does not
//     read), following symlinks wherever they
//     lead, since the go command does;
//   - every file of each directory a `replace` directive of its go.mod
//     points to (a module outside .sparkwing/, such as `replace
//     example.com/lib => ../lib`), and of each spark's local directory
//     (from a go.work).
//
// That is more than the go command reads (it reads the packages of the
// build graph and their embedded files, all of which live in these trees),
// never less. Modules from the module cache are immutable and pinned by
// go.sum, which is a file of the module. Files are hashed through a stat
// cache, so an unchanged tree costs one stat a file.

// ownDirs are the pipeline module's directories that sparkwing writes.
var ownDirs = map[string]bool{"runs": true, "images": true, "state": true}

// sourceDigest hashes the pipeline module in moduleDir and the local
// directories its go.mod replaces modules with.
func (b *Builder) sourceDigest(moduleDir string) (string, error) {
	h := sha256.New()
	hasher := fileset.NewHasher("/", filepath.Join(b.CacheDir, "pipelines", "stat"))
	defer hasher.Save()
	skip := func(rel string) bool { return ownDirs[rel] || notSources[rel] }
	if err := hashTree(h, hasher, "module", moduleDir, skip); err != nil {
		return "", err
	}
	dirs, err := replacedDirs(moduleDir)
	if err != nil {
		return "", err
	}
	hashed := map[string]bool{}
	for _, r := range dirs {
		if err := hashTree(h, hasher, "replace "+r.mod, r.dir, nil); err != nil {
			return "", fmt.Errorf("go.mod replaces %s with %s: %w", r.mod, r.dir, err)
		}
		hashed[r.mod] = true
	}
	for _, s := range b.Sparks {
		if s.Dir != "" && !hashed[s.Module] {
			if err := hashTree(h, hasher, "spark "+s.Module, s.Dir, nil); err != nil {
				return "", fmt.Errorf("spark %s (%s, %s): %w", s.Name, s.Dir, s.Replaced, err)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

type replacement struct{ mod, dir string }

// replacedDirs lists the local directories the module's go.mod replaces
// modules with, made absolute.
func replacedDirs(moduleDir string) ([]replacement, error) {
	path := filepath.Join(moduleDir, "go.mod")
	data, err := fileset.ReadUserFile(path, 16<<20)
	if err != nil {
		return nil, err
	}
	mf, err := modfile.Parse(path, data, nil)
	if err != nil {
		return nil, nil // the compile reports it, with its line
	}
	var out []replacement
	for _, r := range mf.Replace {
		if r.New.Version != "" { // a module version, not a directory
			continue
		}
		dir := r.New.Path
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(moduleDir, dir)
		}
		out = append(out, replacement{mod: r.Old.Path, dir: filepath.Clean(dir)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].mod < out[j].mod })
	return out, nil
}

// hashTree adds a line per file under dir to h: its path as the go
// command sees it, and the digest of the content it reads there.
func hashTree(h hash.Hash, hasher *fileset.Hasher, label, dir string, skip func(string) bool) error {
	fmt.Fprintf(h, "%s\n", label)
	var files []source
	if err := walkSources(dir, "", map[string]bool{}, skip, &files); err != nil {
		return err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].rel < files[j].rel })
	for _, f := range files {
		if f.real == "" {
			fmt.Fprintf(h, "%s dangling %s\n", f.rel, f.link)
			continue
		}
		hashed, err := hasher.Hash([]string{strings.TrimPrefix(f.real, "/")})
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %s\n", f.rel, hashed[0].Digest)
	}
	return nil
}

// source is one file of a tree: the path it is read by and the regular
// file it really is ("" for a dangling link, whose text is link).
type source struct{ rel, real, link string }

// walkSources lists the files below dir, following symlinks to files and
// directories; a directory already being walked (a loop) is not entered
// again.
func walkSources(dir, rel string, walking map[string]bool, skip func(string) bool, out *[]source) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	if walking[real] {
		return nil
	}
	walking[real] = true
	defer delete(walking, real)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		p := filepath.ToSlash(filepath.Join(rel, name))
		abs := filepath.Join(dir, name)
		if name == ".git" || (skip != nil && skip(p)) {
			continue
		}
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			if err := walkLink(abs, p, walking, out); err != nil {
				return err
			}
		case e.IsDir():
			if err := walkSources(abs, p, walking, nil, out); err != nil {
				return err
			}
		case e.Type().IsRegular():
			*out = append(*out, source{rel: p, real: filepath.Join(real, name)})
		}
	}
	return nil
}

// walkLink adds what the symlink at abs leads to.
func walkLink(abs, rel string, walking map[string]bool, out *[]source) error {
	st, err := os.Stat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		link, _ := os.Readlink(abs)
		*out = append(*out, source{rel: rel, link: link})
		return nil
	}
	if err != nil {
		return err
	}
	if st.IsDir() {
		return walkSources(abs, rel, walking, nil, out)
	}
	if !st.Mode().IsRegular() {
		return nil
	}
	real, err := filepath.EvalSymlinks(abs)
	if err == nil {
		*out = append(*out, source{rel: rel, real: real})
	}
	return err
}
