package remote

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
)

// memBackend is a Backend in memory, for the protocol's own tests (the
// real remotes are exercised through sparkwing-remote in the CLI's
// scripts). failAfter, when set, breaks every blob stream after that many
// bytes.
type memBackend struct {
	mu        sync.Mutex
	ac, cas   map[string][]byte
	zstd      map[string]bool
	failAfter int
	err       error // returned by every call when set
}

func newMem() *memBackend {
	return &memBackend{ac: map[string][]byte{}, cas: map[string][]byte{}, zstd: map[string]bool{}}
}

func (m *memBackend) GetAC(_ context.Context, addr string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	d, ok := m.ac[addr]
	if !ok {
		return nil, ErrNotFound
	}
	return d, nil
}

func (m *memBackend) PutAC(_ context.Context, addr string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ac[addr] = append([]byte(nil), data...)
	return m.err
}

func (m *memBackend) HasBlob(_ context.Context, d string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.cas[d]
	return ok, m.err
}

func (m *memBackend) GetBlob(_ context.Context, d string) (io.ReadCloser, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	data, ok := m.cas[d]
	if !ok {
		return nil, false, ErrNotFound
	}
	var r io.Reader = bytes.NewReader(data)
	if m.failAfter > 0 {
		r = io.MultiReader(io.LimitReader(r, int64(m.failAfter)), errReader{})
	}
	return io.NopCloser(r), m.zstd[d], nil
}

func (m *memBackend) PutBlob(_ context.Context, d string, _ int64, r io.Reader, z bool, _ int64) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cas[d], m.zstd[d] = data, z
	return nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("upstream broke") }

func serveMem(t *testing.T, b Backend) *sock {
	path := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go Serve(ln, b, func(err error) string {
		var ce *ClassError
		if errors.As(err, &ce) {
			return ce.Class
		}
		return ClassUnavailable
	})
	return &sock{path: path, timeout: 5 * time.Second}
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestWire(t *testing.T) {
	m := newMem()
	s := serveMem(t, m)
	ctx := context.Background()
	addr := strings.Repeat("a", 64)
	if _, err := s.getAC(ctx, addr); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing entry: %v", err)
	}
	if err := s.putAC(ctx, addr, []byte("entry\nbody")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.getAC(ctx, addr); err != nil || string(got) != "entry\nbody" {
		t.Fatalf("getAC = %q, %v", got, err)
	}
	// A plain blob and a zstd one, both sent and read back as content.
	plain := bytes.Repeat([]byte("0123456789"), 100000)
	var z bytes.Buffer
	enc, _ := zstd.NewWriter(&z)
	enc.Write(plain)
	enc.Close()
	for _, tc := range []struct {
		wire []byte
		zstd bool
	}{{plain, false}, {z.Bytes(), true}} {
		d := digestOf(plain)
		delete(m.cas, d)
		if ok, err := s.hasBlob(ctx, d); ok || err != nil {
			t.Fatalf("hasBlob before put = %v, %v", ok, err)
		}
		if err := s.putBlob(ctx, d, int64(len(plain)), bytes.NewReader(tc.wire), tc.zstd, int64(len(tc.wire))); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.hasBlob(ctx, d); !ok || err != nil {
			t.Fatalf("hasBlob after put = %v, %v", ok, err)
		}
		r, err := s.getBlob(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("getBlob (zstd %v): %d bytes, %v", tc.zstd, len(got), err)
		}
	}
	// A stream that breaks midway is an error of the remote, not an end.
	m.failAfter = 1000
	r, err := s.getBlob(ctx, digestOf(plain))
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(r)
	r.Close()
	var corrupt *cache.CorruptError
	if err == nil || errors.As(err, &corrupt) || Classify(err) != ClassUnavailable {
		t.Fatalf("a broken stream read as %v (class %s)", err, Classify(err))
	}
	// A garbled zstd stream is the content's fault.
	m.failAfter = 0
	d := digestOf([]byte("x"))
	m.cas[d], m.zstd[d] = []byte("not zstd at all, not at all"), true
	if r, err = s.getBlob(ctx, d); err == nil {
		_, err = io.ReadAll(r)
		r.Close()
	}
	if !errors.As(err, &corrupt) {
		t.Fatalf("garbled zstd: %v, want *cache.CorruptError", err)
	}
	// Errors keep their class across the socket.
	m.err = &ClassError{ClassAuth, "refused"}
	if _, err := s.getAC(ctx, addr); Classify(err) != ClassAuth {
		t.Fatalf("auth error crossed as %v", err)
	}
}

// FuzzServe: whatever a connection sends, the server answers with one
// well-formed line (ok, notfound or error) or closes, and never panics.
func FuzzServe(f *testing.F) {
	f.Add([]byte("GETAC " + strings.Repeat("a", 64) + "\n"))
	f.Add([]byte("PUTAC " + strings.Repeat("b", 64) + " 3\nabc"))
	f.Add([]byte("PUTBLOB " + strings.Repeat("c", 64) + " 3 plain 3\nabc"))
	f.Add([]byte("HAS " + strings.Repeat("d", 64) + "\n"))
	f.Add([]byte("PUTAC " + strings.Repeat("b", 64) + " 99999999999\n"))
	f.Fuzz(func(t *testing.T, req []byte) {
		m := newMem()
		m.cas[strings.Repeat("c", 64)] = []byte("abc")
		conn := &fakeConn{in: bytes.NewReader(req)}
		serveConn(conn, m, func(error) string { return ClassUnavailable })
		if conn.out.Len() == 0 {
			return // closed without an answer: a request cut short
		}
		line, _, _ := strings.Cut(conn.out.String(), "\n")
		word, _, _ := strings.Cut(line, " ")
		if word != "ok" && word != "notfound" && word != "error" {
			t.Fatalf("answered %q to %q", line, req)
		}
	})
}

// fakeConn is a connection that sends in and keeps what is written.
type fakeConn struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func (c *fakeConn) Read(p []byte) (int, error)       { return c.in.Read(p) }
func (c *fakeConn) Write(p []byte) (int, error)      { return c.out.Write(p) }
func (c *fakeConn) Close() error                     { return nil }
func (c *fakeConn) LocalAddr() net.Addr              { return nil }
func (c *fakeConn) RemoteAddr() net.Addr             { return nil }
func (c *fakeConn) SetDeadline(time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }
