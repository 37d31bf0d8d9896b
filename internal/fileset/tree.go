package fileset

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bmatcuk/doublestar/v4"
)

// Tree lists the files of a project and matches globs against the
// listing. Directories and files ignored by .gitignore files (and .git
// itself) are left out, and so is .sparkwing unless a glob's base is in
// it (Private).
//
// Each directory is read when a glob first needs it and kept. Invalidate,
// which the engine calls whenever a job may have changed the tree, starts
// a new generation: a kept directory is then checked again (one lstat) the
// next time a glob needs it, and read again only if its entries may have
// changed (its mtime, ctime or inode differ, it changed too shortly before
// it was read to trust the timestamps, or its .gitignore changed). So a
// job's lookup costs what its own globs cover, not the size of the tree.
// Safe for concurrent use.
type Tree struct {
	root  string
	now   func() time.Time // for tests
	links lazyRoot         // resolves symlinked directories (links.go)
	stats *rootStat        // lstat-s and reads directories (lstat.go)
	mu    sync.Mutex
	gen   uint64
	dirs  map[string]*dirState // by path relative to the root ("" for the root)

	// Listings kept between runs (dircache.go); loaded is nil without.
	cachePath string
	loadOnce  sync.Once
	loaded    chan struct{}        // closed once kept is read
	kept      map[string]*dirState // as read from cachePath
	reads     atomic.Int64         // directories read this run
	changed   atomic.Bool          // one of them can be kept: Save writes

	// Seen, if set, is told every directory a glob used, with its stat.
	Seen *Seen
}

// dirState is one directory as last read.
type dirState struct {
	mu      sync.Mutex
	gen     uint64 // the generation it was last checked in
	missing bool
	link    bool // its path is a symlink to a directory
	stat    statKey
	readAt  time.Time
	entries []dirEntry // sorted by name
	ignore  statKey    // the .gitignore's stat when read (zero if none)
	rules   []ignoreRule
}

type dirEntry struct {
	name  string
	isDir bool
	file  bool // a regular file or a symlink: a candidate input
	link  bool // a symlink, resolved when walked
}

// NewTree returns the tree of root; nothing is read until it is used.
func NewTree(root string) *Tree {
	return &Tree{root: root, now: time.Now, gen: 1, dirs: map[string]*dirState{}, links: lazyRoot{dir: root},
		stats: &rootStat{dir: root}}
}

// Invalidate starts a new generation: every directory is checked again
// before it is used.
func (t *Tree) Invalidate() {
	t.mu.Lock()
	t.gen++
	t.mu.Unlock()
}

// listing is what a glob needs of one directory. read replaces the slices
// rather than changing them, so a listing stays valid after its lock.
type listing struct {
	entries []dirEntry
	rules   []ignoreRule
	link    bool // the directory is reached through a symlink at its own path
}

// dir returns directory rel as of this generation, or nil if it is gone.
func (t *Tree) dir(rel string) (*listing, error) {
	t.mu.Lock()
	gen := t.gen
	d := t.dirs[rel]
	if d == nil {
		d = &dirState{}
		t.dirs[rel] = d
	}
	t.mu.Unlock()

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gen == 0 && d.readAt.IsZero() {
		t.seed(rel, d) // a listing from an earlier run, checked like any other
	}
	if d.gen != gen {
		if err := d.check(t, rel); err != nil {
			return nil, err
		}
		d.gen = gen
	}
	d.seen(t.Seen, rel)
	if d.missing {
		return nil, nil
	}
	return &listing{d.entries, d.rules, d.link}, nil
}

// seen tells s what the listing relied on: the directory's stat and its
// .gitignore's, or that it is missing.
func (d *dirState) seen(s *Seen, rel string) {
	switch {
	case s == nil:
	case d.link:
		s.Spoil(rel + " is a symlink to a directory")
	case d.missing:
		s.add(cmp.Or(rel, "."), seenStat{missing: true})
	case !settled(d.stat, d.readAt) || (d.ignore != statKey{} && !settled(d.ignore, d.readAt)):
		s.Racy(cmp.Or(rel, "."))
		if d.ignore != (statKey{}) {
			s.Racy(path.Join(rel, ".gitignore"))
		}
	default:
		s.add(cmp.Or(rel, "."), seenStat{key: d.stat})
		if d.ignore != (statKey{}) {
			s.add(path.Join(rel, ".gitignore"), seenStat{key: d.ignore})
		}
	}
}

// check brings d up to date with the disk: one lstat when nothing changed.
// A directory reached through a symlink (rel itself is one) is checked to
// stay inside the project, then stat'ed through the link.
func (d *dirState) check(t *Tree, rel string) error {
	abs := filepath.Join(t.root, filepath.FromSlash(rel))
	var key statKey
	var isDir bool
	lst, err := t.stats.lstat(cmp.Or(rel, "."))
	d.link = err == nil && lst.mode&fs.ModeSymlink != 0
	if err == nil {
		key, isDir = lst.key, lst.mode.IsDir()
	}
	if d.link {
		if _, _, err := t.links.resolve(rel); err != nil {
			return err
		}
		var st fs.FileInfo
		if st, err = os.Stat(abs); err == nil {
			key, isDir = keyOf(st), st.IsDir()
		}
	}
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !isDir) {
		d.missing, d.readAt, d.entries, d.rules = true, time.Time{}, nil, nil
		return nil
	}
	if err != nil {
		return err
	}
	d.missing = false
	if d.fresh(key, abs) {
		return nil
	}
	// The time is taken before reading, so a change made while reading
	// has timestamps too recent to be trusted next time.
	at := t.now()
	t.reads.Add(1)
	if err := d.read(t.stats, abs, rel); err != nil {
		d.readAt = time.Time{} // read it again next time
		return err
	}
	d.stat, d.readAt = key, at
	if keepable(rel, d) {
		t.changed.Store(true) // a listing a later run can use: Save writes
	}
	return nil
}

// fresh reports whether the kept entries still describe the directory.
func (d *dirState) fresh(now statKey, abs string) bool {
	if d.readAt.IsZero() || now != d.stat || !settled(now, d.readAt) {
		return false
	}
	if d.ignore == (statKey{}) {
		return true // a new .gitignore would have changed the directory
	}
	st, err := os.Lstat(filepath.Join(abs, ".gitignore"))
	return err == nil && keyOf(st) == d.ignore && settled(d.ignore, d.readAt)
}

// settled reports whether k's timestamps are far enough before readAt
// that a later change could not leave them equal (timestamps are coarser
// than the clock).
func settled(k statKey, readAt time.Time) bool {
	wait := fineTrustAfter
	if k.mtime%1e9 == 0 || k.ctime%1e9 == 0 {
		wait = trustAfter
	}
	limit := readAt.Add(-wait).UnixNano()
	return k.mtime < limit && k.ctime < limit
}

// maxGitignore bounds a .gitignore file.
const maxGitignore = 16 << 20

func (d *dirState) read(stats *rootStat, abs, rel string) error {
	list, err := stats.readDir(rel)
	if err != nil {
		return err
	}
	d.entries = make([]dirEntry, 0, len(list))
	d.ignore, d.rules = statKey{}, nil
	for _, e := range list {
		typ := e.Type()
		d.entries = append(d.entries, dirEntry{name: e.Name(), isDir: e.IsDir(),
			file: typ.IsRegular() || typ&fs.ModeSymlink != 0, link: typ&fs.ModeSymlink != 0})
		if e.Name() == ".gitignore" && typ.IsRegular() {
			path := filepath.Join(abs, ".gitignore")
			st, err := os.Lstat(path)
			if err != nil {
				continue
			}
			data, err := ReadRegular(path, maxGitignore)
			if err != nil {
				return err
			}
			d.ignore, d.rules = keyOf(st), parseGitignore(rel, data)
		}
	}
	return nil
}

// start returns the ignore rules in force inside directory rel, or ok
// false when rel or one of its parents is missing or ignored; linked says
// whether a symlink is on the way.
func (t *Tree) start(rel string) (rules []ignoreRule, ok, linked bool, err error) {
	cur := ""
	parts := strings.Split(rel, "/")
	if rel == "" {
		parts = nil
	}
	for i := 0; ; i++ {
		d, err := t.dir(cur)
		if d == nil || err != nil {
			return nil, false, false, err
		}
		linked = linked || d.link
		rules = append(rules[:len(rules):len(rules)], d.rules...)
		if i == len(parts) {
			return rules, true, linked, nil
		}
		cur = path.Join(cur, parts[i])
		if parts[i] == ".git" || ignored(rules, cur, true) {
			return nil, false, false, nil
		}
	}
}

// Private is sparkwing's own directory: its pipelines, state and run
// records. A glob reaches into it only from a base inside it
// (".sparkwing/**/*.go"), never from above (a YAML job's "**/*.go" must
// not re-run when a Go pipeline is edited).
const Private = ".sparkwing"

// files lists the files below directory rel that are not ignored.
func (t *Tree) files(rel string) ([]string, error) {
	rules, ok, linked, err := t.start(rel)
	if !ok || err != nil {
		return nil, err
	}
	real := rel
	if linked {
		if real, _, err = t.links.resolve(rel); err != nil {
			return nil, err
		}
	}
	var out []string
	err = t.walk(rel, real, rules, &out)
	return out, err
}

// walk lists the files below rel, whose real location (after symlinks) is
// real.
func (t *Tree) walk(rel, real string, rules []ignoreRule, out *[]string) error {
	d, err := t.dir(rel)
	if d == nil || err != nil {
		return err
	}
	if rel != "" {
		rules = append(rules[:len(rules):len(rules)], d.rules...)
	}
	for _, e := range d.entries {
		p := path.Join(rel, e.name)
		if (e.isDir && e.name == ".git") || p == Private || ignored(rules, p, e.isDir) {
			continue
		}
		switch {
		case e.link:
			target, isDir, err := t.linkTarget(p)
			if err != nil {
				return err
			}
			if isDir && !within(real, target) {
				err = t.walk(p, target, rules, out)
			} else {
				*out = append(*out, p) // a file, dangling, or a loop: hashed as a link
			}
			if err != nil {
				return err
			}
		case e.isDir:
			if err := t.walk(p, path.Join(real, e.name), rules, out); err != nil {
				return err
			}
		case e.file:
			*out = append(*out, p)
		}
	}
	return nil
}

// linkTarget resolves the symlink at rel inside the project and says
// whether it leads to a directory.
func (t *Tree) linkTarget(rel string) (target string, isDir bool, err error) {
	target, exists, err := t.links.resolve(rel)
	if err != nil || !exists {
		return target, false, err
	}
	st, err := os.Stat(filepath.Join(t.root, filepath.FromSlash(target)))
	return target, err == nil && st.IsDir(), nil
}

// within reports whether dir is target or below it: walking a link to
// target from dir would never end.
func within(dir, target string) bool {
	return target == "." || dir == target || strings.HasPrefix(dir, target+"/")
}

// Match returns the files matching any of globs and none of exclude,
// sorted and without duplicates. A glob without meta characters names a
// file or a directory (all files below it) and is taken even if ignored;
// a glob with them matches only files that are not ignored.
func (t *Tree) Match(globs, exclude []string) ([]string, error) {
	files, _, err := t.MatchEach(globs, exclude)
	return files, err
}

// MatchEach is Match that also returns the globs that matched no file at
// all (before exclusions): most often a typo, which would leave a job
// keyed on nothing.
func (t *Tree) MatchEach(globs, exclude []string) (files, empty []string, err error) {
	var all []string
	for _, g := range globs {
		if !doublestar.ValidatePattern(g) {
			return nil, nil, fmt.Errorf("%q is not a valid glob", g)
		}
		matches, err := t.matchOne(g)
		if err != nil {
			return nil, nil, err
		}
		if len(matches) == 0 {
			empty = append(empty, g)
		}
		all = append(all, matches...)
	}
	sort.Strings(all)
	out := make([]string, 0, len(all))
	for i, f := range all {
		if (i == 0 || f != all[i-1]) && !MatchAny(exclude, f) {
			out = append(out, f)
		}
	}
	return out, empty, nil
}

func (t *Tree) matchOne(g string) ([]string, error) {
	g = path.Clean(g)
	base, _ := doublestar.SplitPattern(g)
	if base == g || !hasMeta(g) {
		return t.literal(g)
	}
	if base == "." {
		base = ""
	}
	candidates, err := t.files(base)
	if err != nil || g == path.Join(base, "**") {
		return candidates, err // "dir/**" matches every file below dir: no need to ask each
	}
	var out []string
	for _, f := range candidates {
		if ok, _ := doublestar.Match(g, f); ok {
			out = append(out, f)
		}
	}
	return out, nil
}

// literal resolves a path without meta characters: the file, or every
// file below the directory that is not ignored.
func (t *Tree) literal(p string) ([]string, error) {
	if p == "." {
		return t.files("")
	}
	// Each directory on the way is checked as a walk checks it, so a
	// symlink among them cannot lead outside the project unseen.
	for _, dir := range parents(p) {
		if d, err := t.dir(dir); d == nil || err != nil {
			return nil, err
		}
	}
	st, err := os.Lstat(filepath.Join(t.root, filepath.FromSlash(p)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	isDir := st.IsDir()
	if st.Mode()&fs.ModeSymlink != 0 {
		if _, isDir, err = t.linkTarget(p); err != nil {
			return nil, err
		}
	}
	if isDir {
		return t.files(p)
	}
	return []string{p}, nil
}

// parents returns "" and each directory above p, outermost first.
func parents(p string) []string {
	out := []string{""}
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			out = append(out, p[:i])
		}
	}
	return out
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
