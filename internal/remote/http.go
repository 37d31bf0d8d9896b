package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
)

// httpBackend speaks bazel-remote's HTTP protocol: GET, PUT and HEAD of
// /ac/<sha256> (our envelopes: the server must run with
// --disable_http_ac_validation) and /cas/<sha256> (blobs, which the
// server checks against their digest). Blobs travel zstd-compressed when
// they are stored so here (Content-Encoding: zstd, with the plain size in
// X-Digest-SizeBytes) and are asked for compressed (Accept-Encoding).
type httpBackend struct {
	base    string // scheme://host[:port][/prefix], no trailing slash
	auth    string // the Authorization header's value; "" none. Never printed.
	hc      *http.Client
	timeout time.Duration // for a request without a body to stream, and for a stalled stream
}

func newHTTPBackend(base, auth string, timeout time.Duration) *httpBackend {
	dialer := &net.Dialer{Timeout: timeout}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       30 * time.Second,
		DisableCompression:    true, // blobs are verified as stored; zstd is asked for explicitly
	}
	return &httpBackend{base: strings.TrimSuffix(base, "/"), auth: auth, hc: &http.Client{Transport: tr}, timeout: timeout}
}

// errNotFound is a 404.
var errNotFound = errors.New("not found")

// StatusError is an answer other than success or 404.
type StatusError struct {
	Method, Path string
	Code         int
	Body         string // the start of the answer, for the message
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s %s: %s", e.Method, e.Path, http.StatusText(e.Code))
	if e.Code != 0 && http.StatusText(e.Code) == "" {
		msg = fmt.Sprintf("%s %s: status %d", e.Method, e.Path, e.Code)
	}
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

func (b *httpBackend) request(ctx context.Context, method, path string, body io.Reader, size int64, header http.Header) (*http.Response, error) {
	if body != nil && size == 0 {
		body = http.NoBody // else Go sends an empty body chunked, without a length
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if b.auth != "" {
		req.Header.Set("Authorization", b.auth)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		resp.Body.Close()
		return nil, errNotFound
	case resp.StatusCode/100 != 2:
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		resp.Body.Close()
		return nil, &StatusError{Method: method, Path: path, Code: resp.StatusCode, Body: strings.TrimSpace(string(snippet))}
	}
	return resp, nil
}

// getAC reads the entry at addr.
func (b *httpBackend) getAC(ctx context.Context, addr string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	resp, err := b.request(ctx, http.MethodGet, "/ac/"+addr, nil, 0, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxEnvelope+1))
	if err == nil && len(data) > maxEnvelope {
		err = errors.New("entry too large")
	}
	return data, err
}

// putAC writes the entry at addr.
func (b *httpBackend) putAC(ctx context.Context, addr string, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	resp, err := b.request(ctx, http.MethodPut, "/ac/"+addr, bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// hasBlob asks whether the server has the blob.
func (b *httpBackend) hasBlob(ctx context.Context, digest string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	resp, err := b.request(ctx, http.MethodHead, "/cas/"+digest, nil, 0, nil)
	if errors.Is(err, errNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	return true, nil
}

// getBlob streams a blob's content (decompressed). A stream that stalls
// for the timeout fails.
func (b *httpBackend) getBlob(ctx context.Context, digest string) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancel(ctx)
	stall := time.AfterFunc(b.timeout, cancel)
	resp, err := b.request(ctx, http.MethodGet, "/cas/"+digest, nil, 0, http.Header{"Accept-Encoding": {"zstd"}})
	if err != nil {
		stall.Stop()
		cancel()
		return nil, err
	}
	r := &watchedBody{body: resp.Body, stall: stall, timeout: b.timeout, cancel: cancel}
	switch enc := resp.Header.Get("Content-Encoding"); enc {
	case "", "identity":
		return r, nil
	case "zstd":
		dec := remoteDecoders.Get().(*zstd.Decoder)
		if err := dec.Reset(r); err != nil {
			remoteDecoders.Put(dec)
			r.Close()
			return nil, err
		}
		return &decodedBody{dec: dec, body: r}, nil
	default:
		r.Close()
		return nil, fmt.Errorf("GET /cas/%s: unexpected Content-Encoding %q", digest, enc)
	}
}

// putBlob sends a blob as it is stored locally: compressed (a zstd stream
// of size bytes of content, wireSize bytes long) or not.
func (b *httpBackend) putBlob(ctx context.Context, digest string, size int64, r io.Reader, compressed bool, wireSize int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stall := time.AfterFunc(b.timeout, cancel)
	defer stall.Stop()
	h := http.Header{"Content-Type": {"application/octet-stream"}}
	if compressed {
		h.Set("Content-Encoding", "zstd")
		h.Set("X-Digest-SizeBytes", strconv.FormatInt(size, 10))
	}
	body := &progress{r: r, stall: stall, timeout: b.timeout}
	resp, err := b.request(ctx, http.MethodPut, "/cas/"+digest, body, wireSize, h)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

var remoteDecoders = sync.Pool{New: func() any {
	d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(64<<20))
	return d
}}

// progress pushes a stall timer back whenever bytes move.
type progress struct {
	r       io.Reader
	stall   *time.Timer
	timeout time.Duration
}

func (p *progress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.stall.Reset(p.timeout)
	}
	return n, err
}

// watchedBody cancels its request when no byte has moved for the timeout.
type watchedBody struct {
	body    io.ReadCloser
	stall   *time.Timer
	timeout time.Duration
	cancel  context.CancelFunc
	err     error // the last read error of the connection, not of the content
}

func (w *watchedBody) Read(p []byte) (int, error) {
	n, err := w.body.Read(p)
	if n > 0 {
		w.stall.Reset(w.timeout)
	}
	if err != nil && err != io.EOF {
		w.err = err
	}
	return n, err
}

func (w *watchedBody) Close() error {
	w.stall.Stop()
	w.cancel()
	return w.body.Close()
}

type decodedBody struct {
	dec  *zstd.Decoder
	body *watchedBody
}

// Read fails with *cache.CorruptError when the stream is not zstd that
// decodes, and with the connection's error when that failed.
func (d *decodedBody) Read(p []byte) (int, error) {
	n, err := d.dec.Read(p)
	if err != nil && err != io.EOF && d.body.err == nil {
		err = &cache.CorruptError{What: "blob stream", Err: err}
	}
	return n, err
}

func (d *decodedBody) Close() error {
	d.dec.Reset(nil)
	remoteDecoders.Put(d.dec)
	return d.body.Close()
}
