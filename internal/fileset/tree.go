package fileset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/bmatcuk/doublestar/v4"
)

// Tree lists the files of a project and matches globs against the
// listing. Directories and files ignored by .gitignore files (and .git
// itself) are left out. The listing is made when first needed and again
// after Invalidate, which the engine calls whenever a job may have changed
// the tree. Safe for concurrent use.
type Tree struct {
	root  string
	mu    sync.Mutex
	valid bool
	// files is every non-ignored file (regular or symlink), relative to the
	// root with forward slashes, sorted.
	files []string
}

// NewTree returns the tree of root; nothing is read until it is used.
func NewTree(root string) *Tree { return &Tree{root: root} }

// Invalidate drops the listing; the next match lists the tree again.
func (t *Tree) Invalidate() {
	t.mu.Lock()
	t.valid = false
	t.mu.Unlock()
}

// snapshot returns the current listing, making it if needed.
func (t *Tree) snapshot() (*Tree, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.valid {
		t.files = nil
		if err := t.walk("", nil); err != nil {
			return nil, err
		}
		t.valid = true
	}
	return &Tree{root: t.root, files: t.files, valid: true}, nil
}

// walk lists directory dir (relative), applying the ignore rules in force
// there plus its own .gitignore.
func (t *Tree) walk(dir string, rules []ignoreRule) error {
	abs := filepath.Join(t.root, filepath.FromSlash(dir))
	if data, err := os.ReadFile(filepath.Join(abs, ".gitignore")); err == nil {
		rules = append(rules[:len(rules):len(rules)], parseGitignore(dir, data)...)
	}
	entries, err := os.ReadDir(abs)
	if err != nil {
		return err
	}
	for _, e := range entries {
		rel := path.Join(dir, e.Name())
		isDir := e.IsDir()
		if (isDir && e.Name() == ".git") || ignored(rules, rel, isDir) {
			continue
		}
		if isDir {
			if err := t.walk(rel, rules); err != nil {
				return err
			}
		} else if e.Type().IsRegular() || e.Type()&fs.ModeSymlink != 0 {
			t.files = append(t.files, rel)
		}
	}
	if dir == "" {
		sort.Strings(t.files)
	}
	return nil
}

// under returns the listed files below dir ("" or "." for all).
func (t *Tree) under(dir string) []string {
	if dir == "" || dir == "." {
		return t.files
	}
	prefix := dir + "/"
	lo := sort.SearchStrings(t.files, prefix)
	hi := lo
	for hi < len(t.files) && strings.HasPrefix(t.files[hi], prefix) {
		hi++
	}
	return t.files[lo:hi]
}

// Match returns the files matching any of globs and none of exclude,
// sorted and without duplicates. A glob without meta characters names a
// file or a directory (all files below it) and is taken even if ignored;
// a glob with them matches only files that are not ignored.
func (t *Tree) Match(globs, exclude []string) ([]string, error) {
	t, err := t.snapshot()
	if err != nil {
		return nil, err
	}
	var all []string
	for _, g := range globs {
		if !doublestar.ValidatePattern(g) {
			return nil, fmt.Errorf("%q is not a valid glob", g)
		}
		matches, err := t.matchOne(g)
		if err != nil {
			return nil, err
		}
		all = append(all, matches...)
	}
	if len(globs) > 1 {
		sort.Strings(all)
	}
	out := make([]string, 0, len(all))
	for i, f := range all {
		if (i == 0 || f != all[i-1]) && !MatchAny(exclude, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

func (t *Tree) matchOne(g string) ([]string, error) {
	g = path.Clean(g)
	base, _ := doublestar.SplitPattern(g)
	if base == g || !hasMeta(g) {
		return t.literal(g)
	}
	var out []string
	for _, f := range t.under(base) {
		if ok, _ := doublestar.Match(g, f); ok {
			out = append(out, f)
		}
	}
	return out, nil
}

// literal resolves a path without meta characters: the file, or every
// listed file below the directory.
func (t *Tree) literal(p string) ([]string, error) {
	st, err := os.Lstat(filepath.Join(t.root, filepath.FromSlash(p)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return t.under(p), nil
	}
	return []string{p}, nil
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[{\`) }

// MatchAny reports whether rel matches any of globs; a glob without meta
// characters also matches everything below it.
func MatchAny(globs []string, rel string) bool {
	for _, g := range globs {
		g = path.Clean(g)
		if ok, _ := doublestar.Match(g, rel); ok {
			return true
		}
		if !hasMeta(g) && strings.HasPrefix(rel, g+"/") {
			return true
		}
	}
	return false
}

// MatchOutputs returns the files below root that match globs, ignored or
// not: outputs such as bin/ or generated code are usually git-ignored.
// Only .git is skipped. It reads the disk each time (no listing is kept),
// walking just each glob's static prefix.
func MatchOutputs(root string, globs []string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, g := range globs {
		if !doublestar.ValidatePattern(g) {
			return nil, fmt.Errorf("%q is not a valid glob", g)
		}
		g = path.Clean(g)
		base, _ := doublestar.SplitPattern(g)
		if !hasMeta(g) {
			base = g
		}
		abs := filepath.Join(root, filepath.FromSlash(base))
		err := filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			rel = filepath.ToSlash(rel)
			if d.IsDir() {
				if d.Name() == ".git" {
					return filepath.SkipDir
				}
				return nil
			}
			if MatchAny([]string{g}, rel) {
				out[g] = append(out[g], rel)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
