package remote

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
)

// sparkwing never speaks HTTP or S3 itself: those clients (net/http, TLS,
// minio-go) would double its binary and slow every start. It starts
// sparkwing-remote, which holds them, and asks it over a unix socket, one
// request a connection, in this protocol:
//
//	request   OP ARGS\n, then for a PUT exactly its size in bytes
//	            GETAC ADDR | PUTAC ADDR SIZE | HAS DIGEST
//	            GETBLOB DIGEST | PUTBLOB DIGEST SIZE zstd|plain WIRESIZE
//	answer    ok [zstd] | notfound | error CLASS MESSAGE, one line
//	GET body  after ok: frames (4-byte big-endian length, then the bytes),
//	          a zero length, then a last line (ok, or error CLASS MESSAGE),
//	          so a failure midway is told, not mistaken for the end.
//
// Blobs cross as the remote keeps them (zstd or plain); sparkwing decodes
// and verifies.

// Backend is a remote cache as sparkwing-remote reaches it.
type Backend interface {
	GetAC(ctx context.Context, addr string) ([]byte, error)
	PutAC(ctx context.Context, addr string, data []byte) error
	HasBlob(ctx context.Context, digest string) (bool, error)
	// GetBlob streams a blob as kept: zstd says it is a zstd stream.
	GetBlob(ctx context.Context, digest string) (r io.ReadCloser, zstd bool, err error)
	// PutBlob stores size bytes of content that r yields as wireSize bytes,
	// zstd-compressed or not.
	PutBlob(ctx context.Context, digest string, size int64, r io.Reader, zstd bool, wireSize int64) error
}

// ErrNotFound is what a Backend returns for a missing entry or blob.
var ErrNotFound = errors.New("not found")

// ClassError is a failure of the remote, with its class (ClassAuth, …).
type ClassError struct {
	Class string
	Msg   string
}

func (e *ClassError) Error() string { return e.Msg }

const frameMax = 1 << 20

// Serve answers the protocol on ln from b until ln closes. classify names
// the class of b's errors.
func Serve(ln net.Listener, b Backend, classify func(error) string) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		go serveConn(conn, b, classify)
	}
}

func serveConn(conn net.Conn, b Backend, classify func(error) string) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	w := bufio.NewWriter(conn)
	defer w.Flush()
	line, err := r.ReadString('\n')
	if err != nil {
		return
	}
	f := strings.Fields(line)
	fail := func(err error) {
		if errors.Is(err, ErrNotFound) {
			fmt.Fprint(w, "notfound\n")
			return
		}
		fmt.Fprintf(w, "error %s %s\n", classify(err), oneLine(err.Error()))
	}
	ctx := context.Background()
	bad := func() { fmt.Fprintf(w, "error %s bad request %q\n", ClassUnavailable, oneLine(line)) }
	switch {
	case len(f) == 2 && f[0] == "GETAC" && isHex(f[1]):
		data, err := b.GetAC(ctx, f[1])
		if err != nil {
			fail(err)
			return
		}
		fmt.Fprint(w, "ok\n")
		writeFrames(w, bytes.NewReader(data))
	case len(f) == 2 && f[0] == "HAS" && isHex(f[1]):
		ok, err := b.HasBlob(ctx, f[1])
		switch {
		case err != nil:
			fail(err)
		case ok:
			fmt.Fprint(w, "ok\n")
		default:
			fmt.Fprint(w, "notfound\n")
		}
	case len(f) == 2 && f[0] == "GETBLOB" && isHex(f[1]):
		body, z, err := b.GetBlob(ctx, f[1])
		if err != nil {
			fail(err)
			return
		}
		defer body.Close()
		fmt.Fprint(w, map[bool]string{true: "ok zstd\n", false: "ok\n"}[z])
		writeFrames(w, body)
	case len(f) == 3 && f[0] == "PUTAC" && isHex(f[1]):
		n, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil || n < 0 || n > maxEnvelope {
			bad()
			return
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(r, data); err != nil {
			return
		}
		if err := b.PutAC(ctx, f[1], data); err != nil {
			fail(err)
			return
		}
		fmt.Fprint(w, "ok\n")
	case len(f) == 5 && f[0] == "PUTBLOB" && isHex(f[1]) && (f[3] == "zstd" || f[3] == "plain"):
		size, err1 := strconv.ParseInt(f[2], 10, 64)
		wire, err2 := strconv.ParseInt(f[4], 10, 64)
		if err1 != nil || err2 != nil || size < 0 || wire < 0 {
			bad()
			return
		}
		if err := b.PutBlob(ctx, f[1], size, io.LimitReader(r, wire), f[3] == "zstd", wire); err != nil {
			fail(err)
			return
		}
		fmt.Fprint(w, "ok\n")
	default:
		bad()
	}
}

// writeFrames copies r as frames, then the zero frame and the last line.
func writeFrames(w *bufio.Writer, r io.Reader) {
	buf := make([]byte, 256<<10)
	var hdr [4]byte
	for {
		n, err := r.Read(buf)
		if n > 0 {
			binary.BigEndian.PutUint32(hdr[:], uint32(n))
			w.Write(hdr[:])
			w.Write(buf[:n])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			w.Write([]byte{0, 0, 0, 0})
			fmt.Fprintf(w, "error %s %s\n", ClassUnavailable, oneLine(err.Error()))
			return
		}
	}
	w.Write([]byte{0, 0, 0, 0})
	fmt.Fprint(w, "ok\n")
}

func isHex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func oneLine(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "\r", " "), "\n", " ") }

// sock is the client side: sparkwing-remote at a unix socket.
type sock struct {
	path    string
	timeout time.Duration // to connect and for an answer, and for a stalled stream
}

// call sends a request and reads the answer line.
func (s *sock) call(ctx context.Context, line string, body io.Reader) (net.Conn, *bufio.Reader, string, error) {
	d := net.Dialer{Timeout: s.timeout}
	conn, err := d.DialContext(ctx, "unix", s.path)
	if err != nil {
		return nil, nil, "", &ClassError{ClassUnavailable, "sparkwing-remote: " + err.Error()}
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (net.Conn, *bufio.Reader, string, error) {
		stop()
		conn.Close()
		if ctx.Err() != nil {
			return nil, nil, "", ctx.Err()
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, nil, "", &ClassError{ClassTimeout, "sparkwing-remote did not answer in " + s.timeout.String()}
		}
		return nil, nil, "", &ClassError{ClassUnavailable, "sparkwing-remote: " + err.Error()}
	}
	conn.SetDeadline(time.Now().Add(s.timeout))
	if _, err := io.WriteString(conn, line+"\n"); err != nil {
		return fail(err)
	}
	if body != nil {
		if _, err := io.Copy(conn, &deadlined{r: body, conn: conn, timeout: s.timeout}); err != nil {
			return fail(err)
		}
	}
	conn.SetDeadline(time.Now().Add(s.timeout))
	r := bufio.NewReader(conn)
	answer, err := r.ReadString('\n')
	if err != nil {
		return fail(err)
	}
	answer = strings.TrimSuffix(answer, "\n")
	if err := answerError(answer); err != nil {
		stop()
		conn.Close()
		return nil, nil, "", err
	}
	conn.SetDeadline(time.Time{})
	return &stoppingConn{Conn: conn, stop: stop}, r, answer, nil
}

type stoppingConn struct {
	net.Conn
	stop func() bool
}

func (c *stoppingConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// answerError is the error an answer line says (nil for ok).
func answerError(line string) error {
	word, rest, _ := strings.Cut(line, " ")
	switch word {
	case "ok":
		return nil
	case "notfound":
		return ErrNotFound
	case "error":
		class, msg, _ := strings.Cut(rest, " ")
		return &ClassError{class, msg}
	}
	return &ClassError{ClassUnavailable, fmt.Sprintf("sparkwing-remote answered %q", line)}
}

func (s *sock) getAC(ctx context.Context, addr string) ([]byte, error) {
	conn, r, _, err := s.call(ctx, "GETAC "+addr, nil)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	data, err := io.ReadAll(io.LimitReader(s.frames(conn, r), maxEnvelope+1))
	if err == nil && len(data) > maxEnvelope {
		err = &ClassError{ClassCorrupt, "entry too large"}
	}
	return data, err
}

func (s *sock) putAC(ctx context.Context, addr string, data []byte) error {
	conn, _, _, err := s.call(ctx, fmt.Sprintf("PUTAC %s %d", addr, len(data)), bytes.NewReader(data))
	if err != nil {
		return err
	}
	return conn.Close()
}

func (s *sock) hasBlob(ctx context.Context, digest string) (bool, error) {
	conn, _, _, err := s.call(ctx, "HAS "+digest, nil)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, conn.Close()
}

// getBlob streams a blob's content, decoded.
func (s *sock) getBlob(ctx context.Context, digest string) (io.ReadCloser, error) {
	conn, r, answer, err := s.call(ctx, "GETBLOB "+digest, nil)
	if err != nil {
		return nil, err
	}
	fr := s.frames(conn, r)
	body := &readCloser{Reader: fr, close: conn.Close}
	if answer != "ok zstd" {
		return body, nil
	}
	dec := decoders.Get().(*zstd.Decoder)
	if err := dec.Reset(fr); err != nil {
		decoders.Put(dec)
		conn.Close()
		return nil, &cache.CorruptError{What: "blob stream", Err: err}
	}
	return &decoded{dec: dec, fr: fr, close: conn.Close}, nil
}

func (s *sock) putBlob(ctx context.Context, digest string, size int64, r io.Reader, compressed bool, wireSize int64) error {
	enc := map[bool]string{true: "zstd", false: "plain"}[compressed]
	conn, _, _, err := s.call(ctx, fmt.Sprintf("PUTBLOB %s %d %s %d", digest, size, enc, wireSize), io.LimitReader(r, wireSize))
	if err != nil {
		return err
	}
	return conn.Close()
}

// frameReader reads a GET body's frames; a failure told at the end, or a
// stream that stops for the timeout, is its error.
type frameReader struct {
	conn    net.Conn
	r       *bufio.Reader
	timeout time.Duration
	left    uint32
	err     error // sticky: io.EOF at the clean end
	netErr  bool  // err is the connection's, not the content's
}

func (s *sock) frames(conn net.Conn, r *bufio.Reader) *frameReader {
	return &frameReader{conn: conn, r: r, timeout: s.timeout}
}

func (f *frameReader) Read(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	f.conn.SetReadDeadline(time.Now().Add(f.timeout))
	if f.left == 0 {
		var hdr [4]byte
		if _, err := io.ReadFull(f.r, hdr[:]); err != nil {
			return 0, f.fail(err)
		}
		if f.left = binary.BigEndian.Uint32(hdr[:]); f.left == 0 {
			line, err := f.r.ReadString('\n')
			if err != nil {
				return 0, f.fail(err)
			}
			if err := answerError(strings.TrimSuffix(line, "\n")); err != nil {
				f.err, f.netErr = err, true
				return 0, err
			}
			f.err = io.EOF
			return 0, io.EOF
		}
		if f.left > frameMax {
			f.err, f.netErr = &ClassError{ClassUnavailable, "sparkwing-remote sent a bad frame"}, true
			return 0, f.err
		}
	}
	n, err := f.r.Read(p[:min(len(p), int(f.left))])
	f.left -= uint32(n)
	if err != nil {
		return n, f.fail(err)
	}
	return n, nil
}

func (f *frameReader) fail(err error) error {
	f.netErr = true
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		f.err = &ClassError{ClassTimeout, "the remote stopped sending"}
	} else {
		f.err = &ClassError{ClassUnavailable, "sparkwing-remote: " + err.Error()}
	}
	return f.err
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }

var decoders = sync.Pool{New: func() any {
	d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(64<<20))
	return d
}}

// decoded is a zstd blob stream: an error that is not the connection's is
// the content's (*cache.CorruptError).
type decoded struct {
	dec   *zstd.Decoder
	fr    *frameReader
	close func() error
}

func (d *decoded) Read(p []byte) (int, error) {
	n, err := d.dec.Read(p)
	if err != nil && err != io.EOF && !d.fr.netErr {
		err = &cache.CorruptError{What: "blob stream", Err: err}
	}
	return n, err
}

func (d *decoded) Close() error {
	d.dec.Reset(nil)
	decoders.Put(d.dec)
	return d.close()
}

// deadlined pushes a connection's deadline back whenever bytes move.
type deadlined struct {
	r       io.Reader
	conn    net.Conn
	timeout time.Duration
}

func (d *deadlined) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	if n > 0 {
		d.conn.SetDeadline(time.Now().Add(d.timeout))
	}
	return n, err
}
