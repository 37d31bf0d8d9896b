package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to a controller.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// NewClient returns a client of the controller at base with token.
func NewClient(base, token string) *Client {
	return &Client{base: strings.TrimRight(base, "/"), token: token, http: &http.Client{}}
}

// Base is the controller's URL.
func (c *Client) Base() string { return c.base }

// Token is the client's token, for git (which fetches from the controller too).
func (c *Client) Token() string { return c.token }

// StatusError is an answer other than success.
type StatusError struct {
	Status int
	Body   Error
}

func (e *StatusError) Error() string {
	if e.Body.Error != "" {
		return e.Body.Error
	}
	return http.StatusText(e.Status)
}

// Code returns the error code of err if it is a StatusError, else "".
func Code(err error) string {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Body.Code
	}
	return ""
}

// Unreachable reports whether err means the controller did not answer
// (as opposed to answering no).
func Unreachable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status == http.StatusBadGateway || se.Status == http.StatusServiceUnavailable || se.Status == http.StatusGatewayTimeout
	}
	return err != nil && !errors.Is(err, context.Canceled)
}

// do sends a request with the token and headers hdr ("Name", "value", …)
// and turns an answer other than success into a StatusError.
func (c *Client) do(ctx context.Context, method, path string, body io.Reader, hdr ...string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		se := &StatusError{Status: resp.StatusCode}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(data, &se.Body) != nil || se.Body.Error == "" {
			se.Body.Error = fmt.Sprintf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(data)))
		}
		return nil, se
	}
	return resp, nil
}

// call sends in as JSON (if not nil) and decodes the answer into out (if
// not nil). It reports whether there was an answer body (204 is none).
func (c *Client) call(ctx context.Context, method, path string, in, out any) (bool, error) {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return false, err
		}
		body = bytes.NewReader(data)
	}
	resp, err := c.do(ctx, method, path, body, "Content-Type", "application/json")
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent || out == nil {
		io.Copy(io.Discard, resp.Body)
		return false, nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return false, fmt.Errorf("%s %s: bad answer: %w", method, path, err)
	}
	return true, nil
}

// Trigger queues a run.
func (c *Client) Trigger(ctx context.Context, t Trigger) (Run, error) {
	var r Run
	_, err := c.call(ctx, http.MethodPost, PathRuns, t, &r)
	return r, err
}

// Run returns a run.
func (c *Client) Run(ctx context.Context, id string) (Run, error) {
	var r Run
	_, err := c.call(ctx, http.MethodGet, PathRuns+"/"+url.PathEscape(id), nil, &r)
	return r, err
}

// Runs lists the newest runs.
func (c *Client) Runs(ctx context.Context, limit int) ([]Run, error) {
	var rs []Run
	_, err := c.call(ctx, http.MethodGet, PathRuns+"?limit="+strconv.Itoa(limit), nil, &rs)
	return rs, err
}

// Cancel asks for a run to be cancelled.
func (c *Client) Cancel(ctx context.Context, id string) (Run, error) {
	var r Run
	_, err := c.call(ctx, http.MethodPost, PathRuns+"/"+url.PathEscape(id)+"/cancel", nil, &r)
	return r, err
}

// Register registers a repository.
func (c *Client) Register(ctx context.Context, name, repoURL string) (Repo, error) {
	var r Repo
	_, err := c.call(ctx, http.MethodPost, PathRegister+"?"+url.Values{"name": {name}, "repo": {repoURL}}.Encode(), nil, &r)
	return r, err
}

// Claim waits up to claim.WaitMS for a run; nil when none came.
func (c *Client) Claim(ctx context.Context, claim Claim) (*Assignment, error) {
	var a Assignment
	got, err := c.call(ctx, http.MethodPost, PathClaim, claim, &a)
	if err != nil || !got {
		return nil, err
	}
	return &a, nil
}

func runPath(id, what string, fence int64) string {
	return PathRuns + "/" + url.PathEscape(id) + "/" + what + "?fence=" + strconv.FormatInt(fence, 10)
}

// Heartbeat renews the lease and waits up to wait for a cancel.
func (c *Client) Heartbeat(ctx context.Context, id string, fence int64, wait time.Duration) (Heartbeat, error) {
	var h Heartbeat
	_, err := c.call(ctx, http.MethodPost, runPath(id, "heartbeat", fence)+"&wait="+wait.String(), nil, &h)
	return h, err
}

// AppendLog sends a chunk of the attempt's log at offset and returns the
// size stored; on a gap the error's code is "log_gap" and Size says
// where to resend from (see GapSize).
func (c *Client) AppendLog(ctx context.Context, id string, fence, offset int64, data []byte) (int64, error) {
	resp, err := c.do(ctx, http.MethodPost, runPath(id, "log", fence)+"&offset="+strconv.FormatInt(offset, 10), bytes.NewReader(data), "Content-Type", "application/octet-stream")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var ack LogAck
	if err := json.NewDecoder(resp.Body).Decode(&ack); err != nil {
		return 0, fmt.Errorf("log write: bad answer: %w", err)
	}
	return ack.Size, nil
}

// GapSize is the stored size a log_gap error names.
func GapSize(err error) (int64, bool) {
	var se *StatusError
	if errors.As(err, &se) && se.Body.Code == "log_gap" {
		return se.Body.Size, true
	}
	return 0, false
}

// Finish ends a run.
func (c *Client) Finish(ctx context.Context, id string, fence int64, f Finish) error {
	_, err := c.call(ctx, http.MethodPost, runPath(id, "finish", fence), f, nil)
	return err
}

// OpenLog opens the run's log stream (see logstream) from byte offset from.
func (c *Client) OpenLog(ctx context.Context, id string, from int64) (io.ReadCloser, error) {
	resp, err := c.do(ctx, http.MethodGet, PathRuns+"/"+url.PathEscape(id)+"/log", nil,
		"Accept", "text/event-stream", "Last-Event-ID", strconv.FormatInt(from, 10))
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}
