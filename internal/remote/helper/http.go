package helper

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
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/remote"
)

// httpBackend speaks bazel-remote's HTTP protocol: GET, PUT and HEAD of
// /ac/<sha256> (our envelopes: the server must run with
// --disable_http_ac_validation) and /cas/<sha256> (blobs, which the
// server checks against their digest). Blobs travel zstd-compressed when
// they are stored so (Content-Encoding: zstd, with the plain size in
// X-Digest-SizeBytes), and are asked for compressed (Accept-Encoding).
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
		DisableCompression:    true, // zstd is asked for explicitly; sparkwing verifies what it decodes
	}
	return &httpBackend{base: strings.TrimSuffix(base, "/"), auth: auth, hc: &http.Client{Transport: tr}, timeout: timeout}
}

// StatusError is an answer other than success or 404.
type StatusError struct {
	Method, Path string
	Code         int
	Body         string // the start of the answer, for the message
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s %s: status %d %s", e.Method, e.Path, e.Code, http.StatusText(e.Code))
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
		return nil, remote.ErrNotFound
	case resp.StatusCode/100 != 2:
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		resp.Body.Close()
		return nil, &StatusError{Method: method, Path: path, Code: resp.StatusCode, Body: strings.TrimSpace(string(snippet))}
	}
	return resp, nil
}

func (b *httpBackend) GetAC(ctx context.Context, addr string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	resp, err := b.request(ctx, http.MethodGet, "/ac/"+addr, nil, 0, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

func (b *httpBackend) PutAC(ctx context.Context, addr string, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	resp, err := b.request(ctx, http.MethodPut, "/ac/"+addr, bytes.NewReader(data), int64(len(data)), nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func (b *httpBackend) HasBlob(ctx context.Context, digest string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	resp, err := b.request(ctx, http.MethodHead, "/cas/"+digest, nil, 0, nil)
	if errors.Is(err, remote.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	return true, nil
}

// GetBlob streams a blob as the server sends it. A stream that stalls for
// the timeout fails.
func (b *httpBackend) GetBlob(ctx context.Context, digest string) (io.ReadCloser, bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	stall := time.AfterFunc(b.timeout, cancel)
	resp, err := b.request(ctx, http.MethodGet, "/cas/"+digest, nil, 0, http.Header{"Accept-Encoding": {"zstd"}})
	if err != nil {
		stall.Stop()
		cancel()
		return nil, false, err
	}
	r := &watchedBody{body: resp.Body, stall: stall, timeout: b.timeout, cancel: cancel}
	switch enc := resp.Header.Get("Content-Encoding"); enc {
	case "", "identity":
		return r, false, nil
	case "zstd":
		return r, true, nil
	default:
		r.Close()
		return nil, false, fmt.Errorf("GET /cas/%s: unexpected Content-Encoding %q", digest, enc)
	}
}

func (b *httpBackend) PutBlob(ctx context.Context, digest string, size int64, r io.Reader, compressed bool, wireSize int64) error {
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
}

func (w *watchedBody) Read(p []byte) (int, error) {
	n, err := w.body.Read(p)
	if n > 0 {
		w.stall.Reset(w.timeout)
	}
	return n, err
}

func (w *watchedBody) Close() error {
	w.stall.Stop()
	w.cancel()
	return w.body.Close()
}
