package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
)

// Store is the local cache directory:
//
//	DIR/blobs/ab/abcd…        content-addressed blobs (…​.zst when compressed)
//	DIR/entries/ab/abcd….json one entry per key; its mtime is its last use
//	DIR/tmp/                  files being written
//	DIR/lock                  shared by runs, exclusive for pruning
//
// Many processes may use one store at once.
type Store struct {
	Dir string
}

// ErrNotFound means the store has no entry for a key.
var ErrNotFound = errors.New("no entry")

// CorruptError is an entry or blob that failed verification. It has been
// removed; the caller treats it as a miss.
type CorruptError struct {
	What string
	Err  error
}

func (e *CorruptError) Error() string { return fmt.Sprintf("corrupt %s: %v", e.What, e.Err) }

// UnusableError says that the store under dir cannot be used, and what to
// do about it.
func UnusableError(dir string, err error) error {
	return fmt.Errorf("the cache in %s cannot be used (%v); running without it: fix that directory, or set SPARKWING_CACHE_DIR to a writable one", dir, err)
}

// OpenStore creates the store's directories if needed.
func OpenStore(dir string) (*Store, error) {
	for _, d := range []string{"blobs", "entries", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	return &Store{Dir: dir}, nil
}

// Entry is a stored job result.
type Entry struct {
	Key          string    `json:"key"`
	Manifest     string    `json:"-"` // stored as plain text after the JSON line
	Outputs      []Output  `json:"outputs"`
	OutputDigest string    `json:"output_digest"` // of the output tree, for dependents' keys
	Log          string    `json:"log"`           // blob digest of the job's log
	LogSize      int64     `json:"log_size"`
	DurationMS   int64     `json:"duration_ms"`
	Created      time.Time `json:"created"`
	Project      string    `json:"project,omitempty"` // the project root, pipeline and job where it was
	Pipeline     string    `json:"pipeline"`          // first stored: informative only, not part of
	Job          string    `json:"job"`               // the key (any project can hit it)
}

// Output is one file, directory or symlink of an entry's output tree.
type Output struct {
	Path     string `json:"path"`
	Mode     uint32 `json:"mode"`             // fs.FileMode bits: permissions, setuid/setgid/sticky, dir or symlink
	Digest   string `json:"digest,omitempty"` // of the content; of the link text for a symlink; none for a directory
	Size     int64  `json:"size,omitempty"`
	Link     string `json:"link,omitempty"`     // a symlink's text
	HardLink string `json:"hardlink,omitempty"` // an earlier output this file is hard-linked to
	Data     []byte `json:"data,omitempty"`     // a small file's content, kept in the entry (see InlineOutput)
}

// A file output of at most InlineOutput bytes is kept in its entry, up to
// inlineBudget bytes an entry, and an empty one is not stored at all: a
// blob costs a file created (and, in a new store, a directory), which on
// some disks costs more than a tiny job does. Such an output is no blob.
const (
	InlineOutput = 4 << 10
	inlineBudget = 64 << 10
)

// inline reports whether file output o needs no blob.
func inline(o Output) bool { return o.Size == 0 || o.Data != nil }

// isContent reports whether data is file output o's content: its size and
// its digest.
func isContent(o Output, data []byte) bool {
	sum := sha256.Sum256(data)
	return int64(len(data)) == o.Size && hex.EncodeToString(sum[:]) == o.Digest
}

// Entries are files of one directory, entries/KEY.json. They were kept in
// fan-out directories (entries/KE/KEY.json), but a directory is an inode
// as costly to make as the entry, and a new store made one for most of its
// first 256 entries; ext4 and APFS index large directories. An entry
// where the fan-out kept it is moved when first looked for (migrate).
func (s *Store) entryPath(k Key) string {
	return filepath.Join(s.Dir, "entries", k.Hex()+".json")
}

// migrate moves k's entry from its fan-out directory, if it is there, and
// reports whether there could now be an entry to find: a caller that
// found none looks again after it.
func (s *Store) migrate(k Key) bool {
	h := k.Hex()
	err := os.Rename(filepath.Join(s.Dir, "entries", h[:2], h+".json"), s.entryPath(k))
	return !errors.Is(err, os.ErrNotExist) // another process may have moved it
}

func (s *Store) blobPath(d string, compressed bool) string {
	p := filepath.Join(s.Dir, "blobs", d[:2], d)
	if compressed {
		p += ".zst"
	}
	return p
}

const entryMagic = "sparkwing-entry v1 "

// maxEntry bounds an entry file: its manifest and output list.
const maxEntry = 1 << 30

// Get reads and verifies the entry for k. A missing entry is ErrNotFound;
// a damaged one is removed and reported as *CorruptError.
func (s *Store) Get(k Key) (*Entry, error) { return s.get(k, true) }

// Peek is Get for a caller that only predicts (plan, why): a damaged
// entry is reported, and left for the run that meets it to remove, so
// that the run finds what the prediction found.
func (s *Store) Peek(k Key) (*Entry, error) { return s.get(k, false) }

func (s *Store) get(k Key, removeDamaged bool) (*Entry, error) {
	p := s.entryPath(k)
	data, err := fileset.ReadRegular(p, maxEntry)
	if errors.Is(err, os.ErrNotExist) && s.migrate(k) {
		data, err = fileset.ReadRegular(p, maxEntry)
	}
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	var nr *fileset.NotRegularError
	if err != nil && !errors.As(err, &nr) {
		return nil, err
	}
	var e *Entry
	if err == nil {
		e, err = decodeEntry(data)
	}
	if err == nil && e.Key != k.String() {
		err = fmt.Errorf("holds key %s", e.Key)
	}
	if err != nil {
		if removeDamaged {
			os.Remove(p)
		}
		return nil, &CorruptError{What: "entry " + k.Hex()[:12], Err: err}
	}
	return e, nil
}

// An entry file is a header line (magic and the SHA-256 of the rest), one
// line of JSON, then the manifest as plain text.

// DecodeEntry reads an entry file's bytes (EncodeEntry's), checking the
// header's checksum.
func DecodeEntry(data []byte) (*Entry, error) { return decodeEntry(data) }

// decodeEntry checks the header's checksum, then decodes the rest.
func decodeEntry(data []byte) (*Entry, error) {
	header, body, ok := bytes.Cut(data, []byte("\n"))
	if !ok || !bytes.HasPrefix(header, []byte(entryMagic)) {
		return nil, errors.New("bad header")
	}
	sum := sha256.Sum256(body)
	if string(header[len(entryMagic):]) != hex.EncodeToString(sum[:]) {
		return nil, errors.New("checksum mismatch")
	}
	jsonLine, manifest, _ := bytes.Cut(body, []byte("\n"))
	var e Entry
	if err := json.Unmarshal(jsonLine, &e); err != nil {
		return nil, err
	}
	e.Manifest = string(manifest)
	return &e, nil
}

// Put publishes e atomically. Every blob it names must already be stored.
func (s *Store) Put(e *Entry) error {
	k, err := ParseKey(e.Key)
	if err != nil {
		return err
	}
	data, err := EncodeEntry(e)
	if err != nil {
		return err
	}
	return s.publish(bytes.NewReader(data), s.entryPath(k))
}

// EncodeEntry is the bytes of e's entry file.
func EncodeEntry(e *Entry) ([]byte, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	body = append(append(body, '\n'), e.Manifest...)
	sum := sha256.Sum256(body)
	return append([]byte(entryMagic+hex.EncodeToString(sum[:])+"\n"), body...), nil
}

// Blob is one blob an entry names.
type Blob struct {
	Digest string
	Size   int64
}

// Blobs are the blobs e names: its files' contents and its log, each once.
func (e *Entry) Blobs() []Blob {
	seen := map[string]bool{}
	var bs []Blob
	add := func(d string, size int64) {
		if !seen[d] {
			seen[d] = true
			bs = append(bs, Blob{d, size})
		}
	}
	for _, o := range e.Outputs {
		if isFile(o) && !inline(o) {
			add(o.Digest, o.Size)
		}
	}
	if e.Log != "" {
		add(e.Log, e.LogSize)
	}
	return bs
}

// Touch records a use of k's entry, for least-recently-used pruning.
// It fails when the store no longer has the entry.
func (s *Store) Touch(k Key) error {
	now := time.Now()
	err := os.Chtimes(s.entryPath(k), now, now)
	if errors.Is(err, os.ErrNotExist) && s.migrate(k) {
		err = os.Chtimes(s.entryPath(k), now, now)
	}
	return err
}

// publish writes r to a unique temporary file and renames it to dest, so
// a process killed at any instant leaves dest absent, its old content, or
// all of the new. It does not sync: an entry carries its own digest and a
// blob is named by its, both checked on every read, so a file torn by a
// power failure is read as damaged (a miss), never as a result.
func (s *Store) publish(r io.Reader, dest string) error {
	tmp, err := os.CreateTemp(filepath.Join(s.Dir, "tmp"), "w-*")
	if err != nil {
		return err
	}
	_, err = io.Copy(tmp, r)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.MkdirAll(filepath.Dir(dest), 0o755)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dest)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
