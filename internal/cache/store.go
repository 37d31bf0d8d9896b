package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

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
	Pipeline     string    `json:"pipeline"` // where it was first stored; informative only
	Job          string    `json:"job"`
}

// Output is one file, directory or symlink of an entry's output tree.
type Output struct {
	Path     string `json:"path"`
	Mode     uint32 `json:"mode"`             // fs.FileMode bits: permissions, setuid/setgid/sticky, dir or symlink
	Digest   string `json:"digest,omitempty"` // of the content; of the link text for a symlink; none for a directory
	Size     int64  `json:"size,omitempty"`
	Link     string `json:"link,omitempty"`     // a symlink's text
	HardLink string `json:"hardlink,omitempty"` // an earlier output this file is hard-linked to
}

func (s *Store) entryPath(k Key) string {
	h := k.Hex()
	return filepath.Join(s.Dir, "entries", h[:2], h+".json")
}

func (s *Store) blobPath(d string, compressed bool) string {
	p := filepath.Join(s.Dir, "blobs", d[:2], d)
	if compressed {
		p += ".zst"
	}
	return p
}

const entryMagic = "sparkwing-entry v1 "

// Get reads and verifies the entry for k. A missing entry is ErrNotFound;
// a damaged one is removed and reported as *CorruptError.
func (s *Store) Get(k Key) (*Entry, error) {
	p := s.entryPath(k)
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	e, err := decodeEntry(data)
	if err == nil && e.Key != k.String() {
		err = fmt.Errorf("holds key %s", e.Key)
	}
	if err != nil {
		os.Remove(p)
		return nil, &CorruptError{What: "entry " + k.Hex()[:12], Err: err}
	}
	return e, nil
}

// An entry file is a header line (magic and the SHA-256 of the rest), one
// line of JSON, then the manifest as plain text.

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
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	body = append(append(body, '\n'), e.Manifest...)
	sum := sha256.Sum256(body)
	data := append([]byte(entryMagic+hex.EncodeToString(sum[:])+"\n"), body...)
	return s.publish(bytes.NewReader(data), s.entryPath(k))
}

// Touch records a use of k's entry, for least-recently-used pruning.
func (s *Store) Touch(k Key) {
	now := time.Now()
	os.Chtimes(s.entryPath(k), now, now)
}

// publish writes r to a unique temporary file, syncs it and renames it to
// dest, so dest is either absent, its old content, or all of the new.
func (s *Store) publish(r io.Reader, dest string) error {
	tmp, err := os.CreateTemp(filepath.Join(s.Dir, "tmp"), "w-*")
	if err != nil {
		return err
	}
	_, err = io.Copy(tmp, r)
	if err == nil {
		err = tmp.Sync()
	}
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

// compressMin is the smallest blob worth trying to compress.
const compressMin = 4 << 10

// PutFile stores the content of the file at path and returns its digest
// and size. The digest is computed from the bytes stored, so a file that
// changes while it is read cannot be stored under another file's digest.
// The blob is compressed when that saves at least a tenth.
func (s *Store) PutFile(path string) (digest string, size int64, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", 0, err
	}
	sum := sha256.Sum256(data)
	digest = hex.EncodeToString(sum[:])
	if s.HasBlob(digest) {
		return digest, int64(len(data)), nil
	}
	content, compressed := data, false
	if len(data) >= compressMin {
		if z := encoder.EncodeAll(data, nil); len(z) < len(data)*9/10 {
			content, compressed = z, true
		}
	}
	return digest, int64(len(data)), s.publish(bytes.NewReader(content), s.blobPath(digest, compressed))
}

// HasBlob reports whether a blob is stored (raw or compressed).
func (s *Store) HasBlob(digest string) bool {
	for _, c := range []bool{false, true} {
		if _, err := os.Stat(s.blobPath(digest, c)); err == nil {
			return true
		}
	}
	return false
}

var (
	encoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	decoder, _ = zstd.NewReader(nil)
)

// CopyBlob writes the blob with the given digest to w, verifying it: a blob
// whose content does not hash to its name is removed and reported as
// *CorruptError. The caller must discard what it wrote on error.
func (s *Store) CopyBlob(w io.Writer, digest string) (int64, error) {
	if _, err := fileset.ParseDigest(digest); err != nil {
		return 0, &CorruptError{What: "blob name", Err: err}
	}
	for _, compressed := range []bool{false, true} {
		p := s.blobPath(digest, compressed)
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		n, err := copyVerified(w, f, compressed, digest)
		f.Close()
		var ce *CorruptError
		if errors.As(err, &ce) {
			os.Remove(p)
		}
		return n, err
	}
	return 0, fmt.Errorf("blob %s is missing", digest[:12])
}

func copyVerified(w io.Writer, f *os.File, compressed bool, digest string) (int64, error) {
	var r io.Reader = f
	if compressed {
		z, err := io.ReadAll(f)
		if err != nil {
			return 0, err
		}
		data, err := decoder.DecodeAll(z, nil)
		if err != nil {
			return 0, &CorruptError{What: "blob " + digest[:12], Err: err}
		}
		r = bytes.NewReader(data)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), r)
	if err != nil {
		return n, err
	}
	if got := sumHex(h); got != digest {
		return n, &CorruptError{What: "blob " + digest[:12], Err: fmt.Errorf("content hashes to %s", got[:12])}
	}
	return n, nil
}

func sumHex(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// isTemp reports whether a name in tmp/ is a write in progress.
func isTemp(name string) bool { return strings.HasPrefix(name, "w-") }

// ReadLog returns the entry's log, verified. It is replayed from memory:
// creating a file per cached job would cost more than the whole no-op run.
func (s *Store) ReadLog(e *Entry) ([]byte, error) {
	var b bytes.Buffer
	if _, err := s.CopyBlob(&b, e.Log); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
