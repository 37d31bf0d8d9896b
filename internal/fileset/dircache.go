package fileset

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// A tree's listings can be kept between runs, as the Hasher keeps digests:
// a directory whose stat (inode, mtime, ctime) has not changed since it
// was read, and that had settled when it was read (timestamps older than
// trustAfter), still has the entries read then, so a no-op run costs one
// lstat per directory instead of reading each one. Directories holding a
// .gitignore are not kept (their rules are read again), nor are names with
// a tab, a newline or a slash.
//
// Format: a header line "sparkwing dirs v1 SHA256" (of the rest), then one
// line per directory:
//
//	rel \t dev \t ino \t size \t mtime \t ctime \t mode \t readAt \t entries
//
// where entries are "/"-separated, each a kind letter (d directory, f
// regular file, l symlink, o other) and the name. Anything damaged is an
// empty cache: every directory is read.

const dirCacheMagic = "sparkwing dirs v1 "

// maxDirCache bounds the listing cache file.
const maxDirCache = 1 << 30

// NewCachedTree is NewTree whose listings are kept in cachePath between
// runs (read when first needed, or in the background from Preload on;
// written by Save).
func NewCachedTree(root, cachePath string) *Tree {
	t := NewTree(root)
	t.cachePath = cachePath
	t.loaded = make(chan struct{})
	return t
}

// Preload starts reading the kept listings in the background. A run that
// lists nothing (the last run's record held) never reads them.
func (t *Tree) Preload() {
	if t.loaded == nil {
		return
	}
	t.loadOnce.Do(func() {
		go func() {
			defer close(t.loaded)
			t.loadListings()
		}()
	})
}

func (t *Tree) loadListings() {
	data, err := ReadRegular(t.cachePath, maxDirCache)
	if err != nil {
		return
	}
	header, body, _ := strings.Cut(string(data), "\n")
	sum := sha256.Sum256([]byte(body))
	if header != dirCacheMagic+hex.EncodeToString(sum[:]) {
		return
	}
	kept := map[string]*dirState{}
	for body != "" {
		var line string
		line, body, _ = strings.Cut(body, "\n")
		rel, d, ok := parseListing(line)
		if !ok {
			return // damaged after all: keep nothing
		}
		kept[rel] = d
	}
	t.kept = kept
}

func parseListing(line string) (string, *dirState, bool) {
	fields := strings.Split(line, "\t")
	if len(fields) != 9 {
		return "", nil, false
	}
	var n [7]int64
	for i := range n {
		v, err := strconv.ParseInt(fields[i+1], 10, 64)
		if err != nil {
			return "", nil, false
		}
		n[i] = v
	}
	d := &dirState{stat: statKey{n[0], n[1], n[2], n[3], n[4], uint32(n[5])}, readAt: time.Unix(0, n[6])}
	if fields[8] != "" {
		for _, e := range strings.Split(fields[8], "/") {
			if len(e) < 2 {
				return "", nil, false
			}
			name := e[1:]
			switch e[0] {
			case 'd':
				d.entries = append(d.entries, dirEntry{name: name, isDir: true})
			case 'f':
				d.entries = append(d.entries, dirEntry{name: name, file: true})
			case 'l':
				d.entries = append(d.entries, dirEntry{name: name, file: true, link: true})
			case 'o':
				d.entries = append(d.entries, dirEntry{name: name})
			default:
				return "", nil, false
			}
		}
	}
	if !sort.SliceIsSorted(d.entries, func(i, j int) bool { return d.entries[i].name < d.entries[j].name }) {
		return "", nil, false
	}
	return fields[0], d, true
}

// seed gives d the listing kept from an earlier run, if there is one; d
// is checked against the disk before it is used, as any kept listing is.
func (t *Tree) seed(rel string, d *dirState) {
	if t.loaded == nil {
		return
	}
	t.Preload()
	<-t.loaded
	if k := t.kept[rel]; k != nil {
		d.stat, d.readAt, d.entries = k.stat, k.readAt, k.entries
	}
}

// Save writes the listings of this run (those read, and those kept and
// still used) if it read one that can be kept; concurrent processes each
// write a whole file and the last rename wins.
func (t *Tree) Save() error {
	if t.loaded == nil || !t.changed.Load() {
		return nil // nothing was read that can be kept
	}
	<-t.loaded
	t.mu.Lock()
	// Listings kept from earlier runs that this run did not use stay (a
	// project's other pipelines read other directories).
	rels := make([]string, 0, len(t.dirs)+len(t.kept))
	for rel := range t.dirs {
		rels = append(rels, rel)
	}
	for rel := range t.kept {
		if t.dirs[rel] == nil {
			rels = append(rels, rel)
		}
	}
	sort.Strings(rels)
	var b strings.Builder
	for _, rel := range rels {
		d := t.dirs[rel]
		if d == nil {
			writeListing(&b, rel, t.kept[rel])
			continue
		}
		d.mu.Lock()
		if keepable(rel, d) {
			writeListing(&b, rel, d)
		}
		d.mu.Unlock()
	}
	t.mu.Unlock()
	body := b.String()
	sum := sha256.Sum256([]byte(body))
	if err := os.MkdirAll(filepath.Dir(t.cachePath), 0o755); err != nil {
		return err
	}
	return WriteAtomic(t.cachePath, []byte(dirCacheMagic+hex.EncodeToString(sum[:])+"\n"+body), 0o600)
}

// keepable reports whether d's listing may be trusted by a later run.
func keepable(rel string, d *dirState) bool {
	if d.missing || d.readAt.IsZero() || d.ignore != (statKey{}) || !settled(d.stat, d.readAt) ||
		strings.ContainsAny(rel, "\t\n") {
		return false
	}
	for _, e := range d.entries {
		if e.name == "" || strings.ContainsAny(e.name, "\t\n/") {
			return false
		}
	}
	return true
}

func writeListing(b *strings.Builder, rel string, d *dirState) {
	k := d.stat
	b.WriteString(rel)
	for _, n := range []int64{k.dev, k.ino, k.size, k.mtime, k.ctime, int64(k.mode), d.readAt.UnixNano()} {
		b.WriteByte('\t')
		b.WriteString(strconv.FormatInt(n, 10))
	}
	b.WriteByte('\t')
	for i, e := range d.entries {
		if i > 0 {
			b.WriteByte('/')
		}
		switch {
		case e.isDir:
			b.WriteByte('d')
		case e.link:
			b.WriteByte('l')
		case e.file:
			b.WriteByte('f')
		default:
			b.WriteByte('o')
		}
		b.WriteString(e.name)
	}
	b.WriteByte('\n')
}
