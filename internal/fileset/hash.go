// Package fileset resolves a job's input globs to files (honouring
// .gitignore, leaving out its outputs) and hashes their content.
//
// Hashing is incremental: a persistent stat cache maps each path's
// (device, inode, size, mtime, ctime) to its digest, so an unchanged file
// costs one lstat. A file whose timestamps are too recent to trust (it
// could still change within the clock's granularity) is hashed but not
// cached, the way git treats "racily clean" entries.
package fileset

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Digest is a SHA-256 digest.
type Digest [32]byte

func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// ParseDigest reads a digest written by String.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(d) {
		return d, fmt.Errorf("bad digest %q", s)
	}
	copy(d[:], b)
	return d, nil
}

// File is one hashed file. For a symlink, Link is its target and Digest
// hashes the target text; the link is never followed.
type File struct {
	Path   string // relative to the root, forward slashes
	Digest Digest
	Mode   fs.FileMode // permission bits, plus fs.ModeSymlink for links
	Size   int64
	Link   string
}

// statKey identifies a file's content without reading it.
type statKey struct {
	dev, ino, size, mtime, ctime int64
	mode                         uint32
}

type statEntry struct {
	key    statKey
	digest Digest
}

// A file modified less than trustAfter ago may still change without its
// timestamps changing (they are as coarse as the filesystem and the
// kernel's clock tick), so its digest is not cached. Timestamps with a
// fraction of a second come from a filesystem that keeps them to the
// nanosecond and a kernel whose tick is at most 10 ms: fineTrustAfter is
// ten ticks. Whole seconds may mean a filesystem that keeps seconds (or
// two, as FAT): those wait trustAfter.
const (
	trustAfter     = 2 * time.Second
	fineTrustAfter = 100 * time.Millisecond
)

// Hasher hashes files below a root. Safe for concurrent use.
type Hasher struct {
	root      string
	links     lazyRoot  // resolves symlinked inputs (links.go)
	stats     *rootStat // lstat-s inputs (lstat.go)
	cachePath string    // "" for no persistent cache
	mu        sync.Mutex
	cache     map[string]statEntry
	dirty     bool
	now       func() time.Time
	loadOnce  sync.Once
	started   atomic.Bool
	loaded    chan struct{} // closed once the stat cache is read

	// Seen, if set, is told every file hashed, with its stat.
	Seen *Seen
}

// NewHasher returns a hasher for root whose stat cache lives in cachePath
// (read when first needed, or in the background from Preload on; written
// by Save).
func NewHasher(root, cachePath string) *Hasher {
	return &Hasher{root: root, cachePath: cachePath, cache: map[string]statEntry{}, now: time.Now,
		loaded: make(chan struct{}), links: lazyRoot{dir: root}, stats: &rootStat{dir: root}}
}

// Preload starts reading the stat cache in the background. A run that
// hashes nothing (the last run's record held) never reads it.
func (h *Hasher) Preload() {
	h.loadOnce.Do(func() {
		h.started.Store(true)
		go func() {
			defer close(h.loaded)
			h.load()
		}()
	})
}

// wait returns once the stat cache is read.
func (h *Hasher) wait() {
	h.Preload()
	<-h.loaded
}

// Hash returns the files at paths (relative to the root), hashed in
// parallel. A missing file is an error.
func (h *Hasher) Hash(paths []string) ([]File, error) {
	if len(paths) == 1 {
		f, err := h.hashOne(paths[0])
		if err != nil {
			return nil, err
		}
		return []File{f}, nil
	}
	files := make([]File, len(paths))
	errs := make([]error, len(paths))
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.GOMAXPROCS(0), max(len(paths), 1)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				files[i], errs[i] = h.hashOne(paths[i])
			}
		}()
	}
	for i := range paths {
		work <- i
	}
	close(work)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

func (h *Hasher) hashOne(rel string) (File, error) {
	st, err := h.stats.lstat(rel)
	if err != nil {
		return File{}, err
	}
	f := File{Path: rel, Mode: st.mode & (fs.ModePerm | fs.ModeSymlink | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky), Size: st.size}
	abs := func() string { return filepath.Join(h.root, filepath.FromSlash(rel)) }
	if st.mode&fs.ModeSymlink != 0 {
		h.Seen.Spoil(rel + " is a symlink")
		return h.hashLink(f, abs())
	}
	if !st.mode.IsRegular() {
		return File{}, fmt.Errorf("%s is not a regular file", rel)
	}
	key := st.key
	h.wait()
	h.mu.Lock()
	e, ok := h.cache[rel]
	h.mu.Unlock()
	if ok && e.key == key {
		f.Digest = e.digest
		h.Seen.add(rel, seenStat{key: key}) // it was trusted when cached
		return f, nil
	}
	if f.Digest, err = HashFile(abs()); err != nil {
		return File{}, err
	}
	if !h.trusted(key) {
		h.Seen.Racy(rel)
		return f, nil
	}
	h.mu.Lock()
	h.cache[rel] = statEntry{key: key, digest: f.Digest}
	h.dirty = true
	h.mu.Unlock()
	h.Seen.add(rel, seenStat{key: key})
	return f, nil
}

// hashLink hashes a symlink as what reading it gives: its text and the
// content it leads to (see links.go).
func (h *Hasher) hashLink(f File, abs string) (File, error) {
	var err error
	if f.Link, err = os.Readlink(abs); err != nil {
		return File{}, err
	}
	target, exists, err := h.links.resolve(f.Path)
	if err != nil {
		return File{}, err
	}
	leads := "dangling"
	if exists {
		st, err := os.Stat(abs)
		switch {
		case err != nil:
			return File{}, err
		case st.IsDir():
			leads = "directory"
		default:
			t, err := h.hashOne(target)
			if err != nil {
				return File{}, err
			}
			leads = t.Digest.String()
		}
	}
	f.Digest = sha256.Sum256([]byte("symlink\x00" + f.Link + "\x00" + leads))
	return f, nil
}

func (h *Hasher) trusted(k statKey) bool { return settled(k, h.now()) }

func keyOf(st fs.FileInfo) statKey {
	k := statKey{size: st.Size(), mtime: st.ModTime().UnixNano(), mode: uint32(st.Mode())}
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		k.dev, k.ino = int64(s.Dev), int64(s.Ino)
		k.ctime = s.Ctim.Sec*1e9 + s.Ctim.Nsec
	}
	return k
}

// copyBufs are HashFile's buffers: a cold run hashes thousands of small
// files, and a buffer allocated for each was most of what it allocated.
var copyBufs = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// HashFile returns the SHA-256 of a file's content.
func HashFile(path string) (Digest, error) {
	f, _, err := OpenRegular(path)
	if err != nil {
		return Digest{}, err
	}
	defer f.Close()
	h := sha256.New()
	buf := copyBufs.Get().(*[32 << 10]byte)
	defer copyBufs.Put(buf)
	// Only the Reader: *os.File's WriteTo would allocate a buffer of its own.
	if _, err := io.CopyBuffer(h, struct{ io.Reader }{f}, buf[:]); err != nil {
		return Digest{}, err
	}
	var d Digest
	h.Sum(d[:0])
	return d, nil
}

// maxStatCache bounds the stat cache file (about 150 bytes a file).
const maxStatCache = 1 << 30

// load reads the stat cache; a missing or damaged cache is just empty.
// Format: one line per file, "path\tdev\tino\tsize\tmtime\tctime\tmode\tdigest".
func (h *Hasher) load() {
	if h.cachePath == "" {
		return
	}
	data, err := ReadRegular(h.cachePath, maxStatCache)
	if err != nil || len(data) == 0 {
		return
	}
	// The paths are copied into one string, each a slice of it: the file
	// itself, five times their size, is not kept (a 10,000-job run's is
	// 30 MB), and the map is sized at once.
	rest := unsafe.String(&data[0], len(data))
	lines, size := 0, 0
	for line := range strings.Lines(rest) {
		rel, _, _ := strings.Cut(line, "\t")
		lines, size = lines+1, size+len(rel)
	}
	arena := make([]byte, 0, size)
	h.cache = make(map[string]statEntry, lines)
	for rest != "" {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		rel, fields, _ := strings.Cut(line, "\t")
		var n [6]int64
		ok := true
		for i := range n {
			var f string
			f, fields, _ = strings.Cut(fields, "\t")
			v, err := strconv.ParseInt(f, 10, 64)
			n[i], ok = v, ok && err == nil
		}
		var d Digest
		if ok && len(fields) == 2*len(d) && decodeHex(d[:], fields) {
			start := len(arena)
			arena = append(arena, rel...) // never past its capacity
			rel = unsafe.String(unsafe.SliceData(arena[start:]), len(rel))
			h.cache[rel] = statEntry{key: statKey{n[0], n[1], n[2], n[3], n[4], uint32(n[5])}, digest: d}
		}
	}
}

// decodeHex decodes the hex text s into dst, which is len(s)/2 long,
// without allocating.
func decodeHex(dst []byte, s string) bool {
	_, err := hex.Decode(dst, unsafe.Slice(unsafe.StringData(s), len(s)))
	return err == nil
}

// Save writes the stat cache if it changed, atomically: concurrent
// processes each write a whole file and the last rename wins.
func (h *Hasher) Save() error {
	if !h.started.Load() {
		return nil // nothing was hashed
	}
	<-h.loaded
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cachePath == "" || !h.dirty {
		return nil
	}
	paths := make([]string, 0, len(h.cache))
	for p := range h.cache {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	// Appended by hand, not with fmt: a large project's cache is tens of
	// thousands of lines, written after every run that hashed something.
	b := make([]byte, 0, len(paths)*(2*len(Digest{})+96))
	for _, p := range paths {
		if strings.ContainsAny(p, "\t\n") {
			continue
		}
		e := h.cache[p]
		b = append(b, p...)
		for _, n := range [...]int64{e.key.dev, e.key.ino, e.key.size, e.key.mtime, e.key.ctime, int64(e.key.mode)} {
			b = strconv.AppendInt(append(b, '\t'), n, 10)
		}
		b = hex.AppendEncode(append(b, '\t'), e.digest[:])
		b = append(b, '\n')
	}
	if err := os.MkdirAll(filepath.Dir(h.cachePath), 0o755); err != nil {
		return err
	}
	if err := WriteAtomic(h.cachePath, b, 0o600); err != nil {
		return err
	}
	h.dirty = false
	return nil
}
