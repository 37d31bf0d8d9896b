package fileset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Seen collects what a run relied on of the tree: every input it hashed,
// every directory its globs listed (and the .gitignore read there), every
// output it found in place, each with the stat it had when it was read.
// A later run that finds every one of those paths with the same stat
// (Snapshot.Changed) knows, one lstat each, that it would read exactly
// what this run read.
//
// That holds only for stats that can be trusted, so Seen is spoiled (it
// yields no snapshot) when a path was seen with two different stats in
// one run, when a timestamp was too recent to trust (see settled), or
// when a symlink was followed on the way (what it leads to is not one
// path). Safe for concurrent use.
type Seen struct {
	mu sync.Mutex
	// seen is every path added, in the order added, as often as added,
	// in chunks of up to seenChunk: Snapshot sorts them and merges a path's
	// stats (see both). The full path of a large run adds hundreds of
	// thousands; appending them costs less than keeping a map merged (a
	// 10,000-job run peaked 8% lower), and filling fixed chunks less than
	// growing one slice, which copied the whole list at every doubling.
	seen    [][]seenPath
	added   []addedSnapshot // merged in by Snapshot, in order
	spoiled string
}

type seenPath struct {
	rel string
	st  seenStat
}

// addedSnapshot is a snapshot added whole (AddSnapshotIf): its paths are
// merged with the rest when the run's snapshot is taken, which costs a
// pass over sorted lists instead of a map insert per path.
type addedSnapshot struct {
	snap *Snapshot
	keep func(rel string) bool
}

// seenStat is a path's stat, or that it did not exist.
type seenStat struct {
	key     statKey
	missing bool
}

func (s *Seen) add(rel string, st seenStat) {
	if s == nil {
		return
	}
	s.mu.Lock()
	if n := len(s.seen); n == 0 || len(s.seen[n-1]) == cap(s.seen[n-1]) {
		// 256 paths, then twice as many each time up to seenChunk: a
		// small run does not take room for thousands.
		s.seen = append(s.seen, make([]seenPath, 0, min(256<<min(n, 4), seenChunk)))
	}
	last := &s.seen[len(s.seen)-1]
	*last = append(*last, seenPath{rel, st})
	s.mu.Unlock()
}

// seenChunk is how many paths a chunk of Seen.seen holds at most.
const seenChunk = 4096

// both is what a path seen twice in one run is recorded as: unknown if
// either time was too recent to trust, else its stat if both agree
// (agree false: it changed during the run).
func both(a, b seenStat) (st seenStat, agree bool) {
	switch {
	case a == seenStat{} || b == seenStat{}:
		return seenStat{}, true
	case a != b:
		return seenStat{}, false
	}
	return a, true
}

// Racy adds a path the run relied on whose stat is too recent to trust:
// its stat is recorded as unknown, so the snapshot always reports it
// changed (a record with one never holds), but the snapshot still says
// which paths the run relied on.
func (s *Seen) Racy(rel string) {
	s.add(rel, seenStat{})
}

// Spoil says the run relied on something a snapshot cannot check.
func (s *Seen) Spoil(why string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.spoil(why)
	s.mu.Unlock()
}

func (s *Seen) spoil(why string) {
	if s.spoiled == "" {
		s.spoiled = why
	}
}

// Lstat lstat-s rel below root and adds what it found, which it returns.
// For outputs that are not hashed: directories and symlinks.
func (s *Seen) Lstat(root, rel string) (fs.FileInfo, error) {
	st, err := os.Lstat(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		s.Spoil(rel + ": " + err.Error())
		return nil, err
	}
	k := keyOf(st)
	if !settled(k, timeNow()) {
		s.Racy(rel)
		return st, nil
	}
	s.add(rel, seenStat{key: k})
	return st, nil
}

// timeNow is time.Now, for tests.
var timeNow = time.Now

// Snapshot returns what was seen, or an error saying why it cannot be
// relied on.
func (s *Seen) Snapshot() (*Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.spoiled != "" {
		return nil, errors.New(s.spoiled)
	}
	seen := slices.Concat(s.seen...)
	s.seen = [][]seenPath{seen[:len(seen):len(seen)]} // the chunks can go; a later add starts a new one
	slices.SortFunc(seen, func(a, b seenPath) int { return strings.Compare(a.rel, b.rel) })
	snap := &Snapshot{paths: make([]string, 0, len(seen)), stats: make([]seenStat, 0, len(seen))}
	for _, p := range seen {
		last := len(snap.paths) - 1
		if last < 0 || snap.paths[last] != p.rel {
			snap.paths, snap.stats = append(snap.paths, p.rel), append(snap.stats, p.st)
			continue
		}
		st, agree := both(snap.stats[last], p.st)
		if !agree {
			s.spoiled = p.rel + " changed during the run"
			return nil, errors.New(s.spoiled)
		}
		snap.stats[last] = st
	}
	for _, a := range s.added {
		var err error
		if snap, err = merge(snap, a.snap, a.keep); err != nil {
			s.spoiled = err.Error()
			return nil, err
		}
	}
	return snap, nil
}

// merge is the paths of x and those of y that keep reports true for, each
// once (see both).
func merge(x, y *Snapshot, keep func(rel string) bool) (*Snapshot, error) {
	out := &Snapshot{paths: make([]string, 0, len(x.paths)+len(y.paths)), stats: make([]seenStat, 0, len(x.paths)+len(y.paths))}
	i, j := 0, 0
	for i < len(x.paths) || j < len(y.paths) {
		if j < len(y.paths) && !keep(y.paths[j]) {
			j++
			continue
		}
		switch {
		case j == len(y.paths) || i < len(x.paths) && x.paths[i] < y.paths[j]:
			out.paths, out.stats = append(out.paths, x.paths[i]), append(out.stats, x.stats[i])
			i++
		case i == len(x.paths) || y.paths[j] < x.paths[i]:
			out.paths, out.stats = append(out.paths, y.paths[j]), append(out.stats, y.stats[j])
			j++
		default:
			st, agree := both(x.stats[i], y.stats[j])
			if !agree {
				return nil, errors.New(x.paths[i] + " changed during the run")
			}
			out.paths, out.stats = append(out.paths, x.paths[i]), append(out.stats, st)
			i, j = i+1, j+1
		}
	}
	return out, nil
}

// Snapshot is the paths a run relied on, with their stats.
type Snapshot struct {
	paths []string // relative to the root, sorted; "." is the root
	stats []seenStat
}

// Len is the number of paths.
func (s *Snapshot) Len() int { return len(s.paths) }

// ChangedPaths lstat-s every path below root, in parallel, and returns
// those whose stat differs from the snapshot's (a path that appeared or
// went away counts), in order; the check stops once it found more than
// limit, so past limit the list is only some of them.
func (s *Snapshot) ChangedPaths(root string, limit int) []string {
	return s.StartCheck(root, limit).Changed()
}

// Check is ChangedPaths begun in the background (StartCheck) for a caller
// with other work to do meanwhile; Changed then joins in and returns the
// result. The background takes one processor fewer than ChangedPaths
// would use, so that the caller's own work is not queued behind lstats.
type Check struct {
	s       *Snapshot
	rs      *rootStat
	limit   int
	next    atomic.Int64 // the next path to check, taken a chunk at a time
	over    atomic.Bool  // more than limit found: stop
	mu      sync.Mutex
	found   []int
	workers sync.WaitGroup
}

// StartCheck begins comparing the snapshot's paths with the tree at root.
func (s *Snapshot) StartCheck(root string, limit int) *Check {
	c := &Check{s: s, rs: &rootStat{dir: root}, limit: limit}
	for range min(runtime.GOMAXPROCS(0), len(s.paths)/256+1) - 1 {
		c.workers.Go(c.work)
	}
	return c
}

// Changed checks what is left alongside the background workers, waits for
// them and returns the paths whose stat differs, as ChangedPaths does.
func (c *Check) Changed() []string {
	c.work()
	c.workers.Wait()
	slices.Sort(c.found)
	out := make([]string, len(c.found))
	for k, i := range c.found {
		out[k] = c.s.paths[i]
	}
	return out
}

func (c *Check) work() {
	const chunk = 64
	n := len(c.s.paths)
	for !c.over.Load() {
		start := int(c.next.Add(chunk)) - chunk
		if start >= n {
			return
		}
		var found []int
		for i := start; i < min(start+chunk, n) && len(found) <= c.limit; i++ {
			if c.s.differs(c.rs, i) {
				found = append(found, i)
			}
		}
		if len(found) > 0 {
			c.mu.Lock()
			c.found = append(c.found, found...)
			c.over.Store(len(c.found) > c.limit)
			c.mu.Unlock()
		}
	}
}

// differs reports whether path i's stat is not the snapshot's.
func (s *Snapshot) differs(rs *rootStat, i int) bool {
	st, err := rs.lstat(s.paths[i])
	now := seenStat{key: st.key, missing: errors.Is(err, fs.ErrNotExist)}
	return (err != nil && !now.missing) || now != s.stats[i]
}

// Has reports whether rel is one of the snapshot's paths.
func (s *Snapshot) Has(rel string) bool {
	_, found := slices.BinarySearch(s.paths, rel)
	return found
}

// Paths are the snapshot's paths, sorted.
func (s *Snapshot) Paths() []string { return slices.Clone(s.paths) }

// AppendBinary appends the snapshot's encoding to b.
func (s *Snapshot) AppendBinary(b []byte) []byte {
	size := binary.MaxVarintLen64
	for _, p := range s.paths {
		size += len(p) + 24 // most paths' length and stat take fewer bytes
	}
	b = slices.Grow(b, size)
	b = binary.AppendUvarint(b, uint64(len(s.paths)))
	for i, p := range s.paths {
		st := s.stats[i]
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
		if st.missing {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		for _, v := range []int64{st.key.dev, st.key.ino, st.key.size, st.key.mtime, st.key.ctime, int64(st.key.mode)} {
			b = binary.AppendVarint(b, v)
		}
	}
	return b
}

// ParseSnapshot reads a snapshot written by AppendBinary from the start of
// b, and returns what follows it.
func ParseSnapshot(b []byte) (*Snapshot, []byte, error) {
	bad := errors.New("damaged snapshot")
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, nil, bad
	}
	b = b[k:]
	s := &Snapshot{paths: make([]string, 0, n), stats: make([]seenStat, 0, n)}
	for range n {
		l, k := binary.Uvarint(b)
		if k <= 0 || l >= uint64(len(b)-k) {
			return nil, nil, bad
		}
		p := unsafe.String(&b[k], int(l)) // b is the record, kept for the run
		b = b[k+int(l):]
		flag := b[0]
		b = b[1:]
		var st seenStat
		switch flag {
		case 0:
			st.missing = true
		case 1:
			var v [6]int64
			for i := range v {
				if v[i], k = binary.Varint(b); k <= 0 {
					return nil, nil, bad
				}
				b = b[k:]
			}
			if v[5] < 0 || v[5] > math.MaxUint32 {
				return nil, nil, bad
			}
			st.key = statKey{v[0], v[1], v[2], v[3], v[4], uint32(v[5])}
		default:
			return nil, nil, bad
		}
		if len(s.paths) > 0 && p <= s.paths[len(s.paths)-1] {
			return nil, nil, fmt.Errorf("damaged snapshot: %q out of order", p)
		}
		s.paths, s.stats = append(s.paths, p), append(s.stats, st)
	}
	return s, b, nil
}

// StatPaths lstat-s paths (relative to root; one that does not exist is
// recorded as missing) and returns their snapshot, or an error naming a
// path whose timestamps are too close to readAt to trust: a change just
// before or after whatever read the paths at readAt could leave them equal.
func StatPaths(root string, paths []string, readAt time.Time) (*Snapshot, error) {
	snap, racy, err := StatPathsRacy(root, paths, readAt)
	if err == nil && racy != "" {
		err = fmt.Errorf("%s changed too recently to trust its timestamps", racy)
	}
	if err != nil {
		return nil, err
	}
	return snap, nil
}

// StatPathsRacy is StatPaths that keeps the paths too recent to trust (as
// git keeps racily clean entries): their stat is recorded as unknown, so
// the snapshot always reports them changed and a user checks their
// content instead. racy names the first of them, "" if none.
func StatPathsRacy(root string, paths []string, readAt time.Time) (snap *Snapshot, racy string, err error) {
	rs := &rootStat{dir: root}
	paths = slices.Compact(slices.Sorted(slices.Values(paths)))
	snap = &Snapshot{paths: paths, stats: make([]seenStat, len(paths))}
	for i, p := range paths {
		st, err := rs.lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			snap.stats[i].missing = true
		case err != nil:
			return nil, "", err
		case !settled(st.key, readAt):
			// The zero stat: no path has it, so it always differs.
			if racy == "" {
				racy = p
			}
		default:
			snap.stats[i].key = st.key
		}
	}
	return snap, racy, nil
}

// AddSnapshot adds every path of snap with its stat, as seen by this run.
func (s *Seen) AddSnapshot(snap *Snapshot) {
	s.AddSnapshotIf(snap, func(string) bool { return true })
}

// AddSnapshotIf adds the paths of snap that keep reports true for, with
// their stats, as seen by this run. keep is called when the run's
// snapshot is taken.
func (s *Seen) AddSnapshotIf(snap *Snapshot, keep func(rel string) bool) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.added = append(s.added, addedSnapshot{snap, keep})
}
