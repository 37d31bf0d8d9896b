package cache

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
)

// Budget defaults: the store is kept under DefaultMaxSize and entries not
// used for DefaultMaxAge are removed.
const (
	DefaultMaxSize = 10 << 30
	DefaultMaxAge  = 14 * 24 * time.Hour
	autoPruneEvery = time.Hour
)

// PruneOptions say what to remove. Zero values mean no limit.
type PruneOptions struct {
	MaxSize int64
	MaxAge  time.Duration
	DryRun  bool
}

// PruneReport says what was (or, for a dry run, would be) removed.
type PruneReport struct {
	Entries, RemovedEntries int
	Bytes, FreedBytes       int64
	Removed                 []EntryInfo
}

// EntryInfo describes one stored entry.
type EntryInfo struct {
	Key      string    `json:"key"`
	Project  string    `json:"project,omitempty"` // where it was stored first ("" before sparkwing said)
	Pipeline string    `json:"pipeline"`
	Job      string    `json:"job"`
	LastUsed time.Time `json:"last_used"`
	Bytes    int64     `json:"bytes"` // its outputs and log as stored: its blobs and its file, which keeps small outputs
	path     string
	blobs    []string
	own      int64 // the entry file itself
}

// scan reads every entry and the size of every blob on disk. Entries that
// fail verification are dropped from the result (and removed unless dry).
func (s *Store) scan(dry bool) ([]EntryInfo, map[string]int64, error) {
	blobs := map[string]int64{}
	err := walkFiles(filepath.Join(s.Dir, "blobs"), func(p string, info fs.FileInfo) {
		blobs[strings.TrimSuffix(filepath.Base(p), ".zst")] += info.Size()
	})
	if err != nil {
		return nil, nil, err
	}
	var entries []EntryInfo
	err = walkFiles(filepath.Join(s.Dir, "entries"), func(p string, info fs.FileInfo) {
		data, err := fileset.ReadRegular(p, maxEntry)
		if err != nil {
			return
		}
		e, err := decodeEntry(data)
		if err != nil {
			if !dry {
				os.Remove(p)
			}
			return
		}
		ei := EntryInfo{Key: e.Key, Project: e.Project, Pipeline: e.Pipeline, Job: e.Job, LastUsed: info.ModTime(), path: p, own: info.Size(), Bytes: info.Size()}
		for _, b := range e.Blobs() {
			ei.blobs = append(ei.blobs, b.Digest)
			ei.Bytes += blobs[b.Digest]
		}
		entries = append(entries, ei)
	})
	return entries, blobs, err
}

func walkFiles(dir string, fn func(string, fs.FileInfo)) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		if info, err := d.Info(); err == nil {
			fn(p, info)
		}
		return nil
	})
}

// Prune removes entries unused for longer than MaxAge, then the least
// recently used until the store fits MaxSize, then every blob no entry
// names and every leftover temporary file. The caller holds the store's
// exclusive lock.
func (s *Store) Prune(opts PruneOptions) (*PruneReport, error) {
	entries, blobs, err := s.scan(opts.DryRun)
	if err != nil {
		return nil, err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].LastUsed.Before(entries[j].LastUsed) })
	refs := map[string]int{}
	var total int64
	for _, size := range blobs {
		total += size
	}
	for _, e := range entries {
		total += e.own
		for _, b := range e.blobs {
			refs[b]++
		}
	}
	r := &PruneReport{Entries: len(entries), Bytes: total}
	now := time.Now()
	for _, e := range entries {
		tooOld := opts.MaxAge > 0 && now.Sub(e.LastUsed) > opts.MaxAge
		if !tooOld && (opts.MaxSize <= 0 || total <= opts.MaxSize) {
			continue
		}
		r.Removed = append(r.Removed, e)
		total -= e.own
		for _, b := range e.blobs {
			if refs[b]--; refs[b] == 0 {
				total -= blobs[b]
			}
		}
		if !opts.DryRun {
			os.Remove(e.path)
		}
	}
	r.RemovedEntries = len(r.Removed)
	r.FreedBytes = r.Bytes - total
	if !opts.DryRun {
		s.sweep(blobs, refs)
	}
	return r, nil
}

// sweep removes blobs that no remaining entry names, and temporary files.
func (s *Store) sweep(blobs map[string]int64, refs map[string]int) {
	for d := range blobs {
		if refs[d] <= 0 {
			os.Remove(s.blobPath(d, false))
			os.Remove(s.blobPath(d, true))
		}
	}
	if tmp, err := os.ReadDir(filepath.Join(s.Dir, "tmp")); err == nil {
		for _, t := range tmp {
			if isTemp(t.Name()) {
				os.Remove(filepath.Join(s.Dir, "tmp", t.Name()))
			}
		}
	}
}

// Entries lists the stored entries with their sizes.
func (s *Store) Entries() ([]EntryInfo, int64, error) {
	entries, blobs, err := s.scan(true)
	var total int64
	for _, size := range blobs {
		total += size
	}
	for _, e := range entries {
		total += e.own
	}
	return entries, total, err
}

// Clean removes every entry and blob. The caller holds the exclusive lock.
func (s *Store) Clean() error {
	for _, d := range []string{"entries", "blobs", "tmp"} {
		if err := os.RemoveAll(filepath.Join(s.Dir, d)); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(s.Dir, d), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// AutoPrune enforces the default budget at most once an hour, and only
// when no other process uses the store. It is cheap when it has nothing to
// do: one stat.
func (s *Store) AutoPrune() error {
	stamp := filepath.Join(s.Dir, "last-prune")
	if st, err := os.Stat(stamp); err == nil && time.Since(st.ModTime()) < autoPruneEvery {
		return nil
	}
	l, err := s.TryLockExclusive()
	if l == nil || err != nil {
		return err
	}
	defer l.Unlock()
	if _, err := s.Prune(PruneOptions{MaxSize: DefaultMaxSize, MaxAge: DefaultMaxAge}); err != nil {
		return err
	}
	return os.WriteFile(stamp, nil, 0o644)
}
