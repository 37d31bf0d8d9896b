package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
)

// Blobs are streamed both ways, so storing or restoring a file of any
// size takes a few buffers of memory, not the file: a blob is hashed and
// compressed while it is copied to a temporary file, renamed into place
// under its digest, and verified while it is copied out.

// compressMin is the smallest blob worth trying to compress; sampleSize is
// how much of a file decides whether it is compressed.
const (
	compressMin = 4 << 10
	sampleSize  = 128 << 10
)

var (
	encoders = sync.Pool{New: func() any {
		e, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(1<<20))
		return e
	}}
	decoders = sync.Pool{New: func() any {
		d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(8<<20))
		return d
	}}
	// sampler is made on first use: making it costs every start of
	// sparkwing, most of which store nothing.
	sampler = sync.OnceValue(func() *zstd.Encoder {
		e, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
		return e
	})
)

// PutFile stores the content of the file at path and returns its digest
// and size. The digest is computed from the bytes stored, so a file that
// changes while it is read cannot be stored under another file's digest.
// When expect is the digest the caller already knows and that blob is
// stored, nothing is read. A blob is compressed when its first block
// compresses by at least a tenth.
func (s *Store) PutFile(path, expect string) (digest string, size int64, err error) {
	f, st, err := fileset.OpenRegular(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	if expect != "" && s.HasBlob(expect) {
		return expect, st.Size(), nil
	}
	head := make([]byte, min(sampleSize, st.Size()+1)) // +1: a file that grew is not read whole
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return "", 0, err
	}
	whole := n < len(head)
	head = head[:n]
	if whole { // a blob already stored costs no file
		sum := sha256.Sum256(head)
		if d := hex.EncodeToString(sum[:]); s.HasBlob(d) {
			return d, int64(n), nil
		}
	}
	compressed := n >= compressMin && len(sampler().EncodeAll(head, nil)) < n*9/10
	tmp, err := os.CreateTemp(filepath.Join(s.Dir, "tmp"), "w-*")
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	h := sha256.New()
	size, err = s.writeBlob(tmp, io.MultiReader(bytes.NewReader(head), f), h, compressed)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, err
	}
	digest = sumHex(h)
	if s.HasBlob(digest) {
		return digest, size, nil
	}
	dest := s.blobPath(digest, compressed)
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return "", 0, err
	}
	return digest, size, os.Rename(tmp.Name(), dest)
}

// writeBlob copies r to tmp (compressed or not), hashing what it reads.
// Like publish, it does not sync: every read verifies the digest.
func (s *Store) writeBlob(tmp *os.File, r io.Reader, h hash.Hash, compressed bool) (int64, error) {
	var w io.Writer = tmp
	var enc *zstd.Encoder
	if compressed {
		enc = encoders.Get().(*zstd.Encoder)
		defer encoders.Put(enc)
		enc.Reset(tmp)
		w = enc
	}
	n, err := io.Copy(w, io.TeeReader(r, h))
	if enc != nil {
		if cerr := enc.Close(); err == nil {
			err = cerr
		}
	}
	return n, err
}

// HasBlob reports whether a blob is stored (raw or compressed).
func (s *Store) HasBlob(digest string) bool {
	for _, c := range []bool{false, true} {
		if _, err := os.Lstat(s.blobPath(digest, c)); err == nil {
			return true
		}
	}
	return false
}

// CopyBlob writes the blob with the given digest to w, verifying it as it
// goes: a blob whose content does not hash to its name, or is not size
// bytes long (size < 0: any), is removed and reported as *CorruptError.
// The caller must discard what it wrote on error.
func (s *Store) CopyBlob(w io.Writer, digest string, size int64) (int64, error) {
	if _, err := fileset.ParseDigest(digest); err != nil {
		return 0, &CorruptError{What: "blob name", Err: err}
	}
	for _, compressed := range []bool{false, true} {
		p := s.blobPath(digest, compressed)
		f, _, err := fileset.OpenRegular(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		var nr *fileset.NotRegularError
		if errors.As(err, &nr) {
			os.Remove(p)
			return 0, &CorruptError{What: "blob " + digest[:12], Err: err}
		}
		if err != nil {
			return 0, err
		}
		n, err := copyVerified(w, f, compressed, digest, size)
		f.Close()
		var ce *CorruptError
		if errors.As(err, &ce) {
			os.Remove(p)
		}
		return n, err
	}
	return 0, fmt.Errorf("blob %s is missing", digest[:12])
}

func copyVerified(w io.Writer, f *os.File, compressed bool, digest string, size int64) (int64, error) {
	var r io.Reader = f
	if compressed {
		dec := decoders.Get().(*zstd.Decoder)
		defer func() {
			dec.Reset(nil)
			decoders.Put(dec)
		}()
		if err := dec.Reset(f); err != nil {
			return 0, &CorruptError{What: "blob " + digest[:12], Err: err}
		}
		r = dec
	}
	if size >= 0 {
		r = io.LimitReader(r, size+1) // one more, to see a blob that is too long
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(markWrites{w}, h), r)
	var werr *writeError
	switch {
	case errors.As(err, &werr):
		return n, werr.err
	case err != nil && compressed:
		return n, &CorruptError{What: "blob " + digest[:12], Err: err}
	case err != nil:
		return n, err
	case size >= 0 && n != size:
		return n, &CorruptError{What: "blob " + digest[:12], Err: fmt.Errorf("holds %d bytes, want %d", n, size)}
	}
	if got := sumHex(h); got != digest {
		return n, &CorruptError{What: "blob " + digest[:12], Err: fmt.Errorf("content hashes to %s", got[:12])}
	}
	return n, nil
}

// writeError marks an error of the destination, which says nothing about
// the blob.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }

type markWrites struct{ w io.Writer }

func (m markWrites) Write(p []byte) (int, error) {
	n, err := m.w.Write(p)
	if err != nil {
		err = &writeError{err}
	}
	return n, err
}

func sumHex(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// isTemp reports whether a name in tmp/ is a write in progress.
func isTemp(name string) bool { return strings.HasPrefix(name, "w-") }

// replayInMemory is the largest log replayed only after it is verified;
// a longer one is streamed, and a fault found at its end fails the replay
// after part of it was shown.
const replayInMemory = 1 << 20

// ReplayLog writes the entry's log to w, verified, and returns it when it
// was small enough to be held in memory (nil otherwise).
func (s *Store) ReplayLog(e *Entry, w io.Writer) ([]byte, error) {
	if e.LogSize > replayInMemory {
		_, err := s.CopyBlob(w, e.Log, e.LogSize)
		return nil, err
	}
	var b bytes.Buffer
	if _, err := s.CopyBlob(&b, e.Log, e.LogSize); err != nil {
		return nil, err
	}
	_, err := w.Write(b.Bytes())
	return b.Bytes(), err
}

// OpenBlob opens a stored blob as it is kept, for sending elsewhere:
// compressed says it is a zstd stream of the content, size is the file's
// size (the compressed one when compressed). The reader is not verified.
func (s *Store) OpenBlob(digest string) (f *os.File, compressed bool, size int64, err error) {
	if _, err := fileset.ParseDigest(digest); err != nil {
		return nil, false, 0, &CorruptError{What: "blob name", Err: err}
	}
	for _, compressed := range []bool{false, true} {
		f, st, err := fileset.OpenRegular(s.blobPath(digest, compressed))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, false, 0, err
		}
		return f, compressed, st.Size(), nil
	}
	return nil, false, 0, fmt.Errorf("blob %s is missing", digest[:12])
}

// PutReader stores the content r yields as the blob digest, which must be
// size bytes long, streaming (a blob of any size takes a few buffers);
// nothing is read when the store already has it.
// Content that is longer or shorter, or hashes to something else, is not
// stored and is reported as *CorruptError. Compression is decided as
// PutFile decides it.
func (s *Store) PutReader(r io.Reader, digest string, size int64) error {
	if _, err := fileset.ParseDigest(digest); err != nil {
		return &CorruptError{What: "blob name", Err: err}
	}
	if s.HasBlob(digest) {
		return nil
	}
	head := make([]byte, min(sampleSize, size+1))
	n, err := io.ReadFull(r, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return err
	}
	head = head[:n]
	compressed := n >= compressMin && len(sampler().EncodeAll(head, nil)) < n*9/10
	tmp, err := os.CreateTemp(filepath.Join(s.Dir, "tmp"), "w-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	h := sha256.New()
	got, err := s.writeBlob(tmp, io.LimitReader(io.MultiReader(bytes.NewReader(head), r), size+1), h, compressed)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		return err
	case got != size:
		return &CorruptError{What: "blob " + digest[:12], Err: fmt.Errorf("holds %d bytes, want %d", got, size)}
	case sumHex(h) != digest:
		return &CorruptError{What: "blob " + digest[:12], Err: fmt.Errorf("content hashes to %s", sumHex(h)[:12])}
	}
	dest := s.blobPath(digest, compressed)
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dest)
}
