// Package remote is the shared cache behind the local store: bazel-remote's
// HTTP protocol or S3, both reached through sparkwing-remote (wire.go), so
// the HTTP, TLS and S3 clients stay out of sparkwing's start-up. The local
// store stays the first level: a remote hit is written into it. Reads and
// writes are best effort: a remote that fails is warned about once per
// class and the run carries on locally.
package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
)

// Settings are a run's remote cache, resolved from the project file, the
// environment and flags (see Resolve).
type Settings struct {
	URL       string   // http(s)://HOST/PREFIX or s3://BUCKET/PREFIX, credentials removed
	Namespace string   // where this run writes, and the first place it reads
	Trusted   []string // namespaces read after Namespace
	Key       []byte   // signs what is written and checks what is read; nil: read-only, unchecked
	Write     bool
	Auth      string        // Authorization header for HTTP; never printed
	Timeout   time.Duration // a request's, or a stalled transfer's
}

// Outcome is what the remote did for one job.
type Outcome struct {
	Result string // hit, miss, skipped or error
	Reason string
}

// Failure classes, as warnings and outcomes name them.
const (
	ClassAuth        = "auth"
	ClassTimeout     = "timeout"
	ClassUnavailable = "unavailable"
	ClassCorrupt     = "corrupt"
	ClassFull        = "full"
)

// Why a job the local store lacked was not restored from the remote.
// The first three are the job's miss reason too: the remote had an entry
// and it could not be used.
const (
	ReasonIncomplete = "remote incomplete" // a blob it names is not on the remote
	ReasonCorrupt    = "remote corrupt"    // the entry or a blob is damaged
	ReasonUntrusted  = "remote untrusted"  // unsigned, another key, another namespace
	ReasonNoEntry    = "remote had no entry"
)

// giveUpAfter is how many failures of the remote (timeouts, refusals,
// server errors) make a run stop asking it.
const giveUpAfter = 3

// Client is one run's use of the remote cache. Safe for concurrent use.
type Client struct {
	s    Settings
	b    *sock
	gw   *helperProc // sparkwing-remote; nil before it started
	warn func(string)

	failures atomic.Int32
	off      atomic.Bool // stopped asking after failures
	noWrite  atomic.Bool // the remote is full
	mu       sync.Mutex
	warned   map[string]bool
	bad      sync.Map // digests of blobs found damaged on the remote

	uploads  sync.WaitGroup
	slots    chan struct{} // bounds uploads at once
	pending  atomic.Int32
	stopping chan struct{}
	stopOnce sync.Once

	rtt atomic.Int64 // nanoseconds: a moving average of entry reads

	BytesDown, BytesUp atomic.Int64
}

// RoundTrip is the time an entry read takes, on average (0: none yet).
func (c *Client) RoundTrip() time.Duration { return time.Duration(c.rtt.Load()) }

func (c *Client) timed(t0 time.Time) {
	d := int64(time.Since(t0))
	if old := c.rtt.Load(); old != 0 {
		d = (old*7 + d) / 8
	}
	c.rtt.Store(d)
}

// newClient makes the client for s through sparkwing-remote's socket;
// warn is told each failure class once.
func newClient(s Settings, socket string, warn func(string)) *Client {
	return &Client{s: s, b: &sock{path: socket, timeout: s.Timeout}, warn: warn,
		warned: map[string]bool{}, slots: make(chan struct{}, 4), stopping: make(chan struct{})}
}

// Settings returns what the client was made with.
func (c *Client) Settings() Settings { return c.s }

// Fetch looks k up in the run's namespace, then in the trusted ones. An
// entry is used only when it is trusted (see open), every blob it names
// is on the remote or already local, and every blob downloaded hashes to
// its digest; then the blobs and the entry are in store and the entry is
// returned. Otherwise the outcome says why not. The local copy names
// owner's project, pipeline and job (informative only, as locally).
func (c *Client) Fetch(ctx context.Context, store *cache.Store, k cache.Key, owner cache.Entry) (*cache.Entry, Outcome) {
	if c.off.Load() {
		return nil, Outcome{"skipped", "remote off after errors"}
	}
	rejected := ""
	for _, ns := range c.readOrder() {
		t0 := time.Now()
		data, err := c.b.getAC(ctx, Address(ns, k))
		if err == nil || errors.Is(err, ErrNotFound) {
			c.timed(t0)
		}
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, c.failed(ctx, err)
		}
		e, err := open(data, ns, k, c.s.Key)
		var rej *RejectedError
		if errors.As(err, &rej) {
			c.warnOnce("rejected "+ns, fmt.Sprintf("remote cache: ignored an entry in namespace %q: %s", ns, rej.Why))
			rejected = ReasonUntrusted
			continue
		}
		if err != nil {
			c.warnOnce(ClassCorrupt, "remote cache: "+err.Error()+"; running locally")
			return nil, Outcome{"miss", ReasonCorrupt}
		}
		e.Project, e.Pipeline, e.Job = owner.Project, owner.Pipeline, owner.Job
		return c.complete(ctx, store, e)
	}
	if rejected != "" {
		return nil, Outcome{"miss", rejected}
	}
	return nil, Outcome{"miss", ReasonNoEntry}
}

// complete downloads e's blobs the local store lacks, then stores e.
func (c *Client) complete(ctx context.Context, store *cache.Store, e *cache.Entry) (*cache.Entry, Outcome) {
	var need []cache.Blob
	for _, b := range e.Blobs() {
		if !store.HasBlob(b.Digest) {
			need = append(need, b)
		}
	}
	// One check of them all first: an incomplete entry downloads nothing.
	missing, err := parallel(ctx, need, 16, func(ctx context.Context, b cache.Blob) (bool, error) {
		ok, err := c.b.hasBlob(ctx, b.Digest)
		return !ok, err
	})
	if err != nil {
		return nil, c.failed(ctx, err)
	}
	if missing {
		return nil, Outcome{"miss", ReasonIncomplete}
	}
	_, err = parallel(ctx, need, 8, func(ctx context.Context, b cache.Blob) (bool, error) {
		return false, c.download(ctx, store, b)
	})
	var corrupt *cache.CorruptError
	switch {
	case errors.As(err, &corrupt):
		c.warnOnce(ClassCorrupt, "remote cache: "+err.Error()+" on the remote; running locally")
		return nil, Outcome{"miss", ReasonCorrupt}
	case errors.Is(err, ErrNotFound):
		return nil, Outcome{"miss", ReasonIncomplete} // gone since the check
	case err != nil:
		return nil, c.failed(ctx, err)
	}
	if err := store.Put(e); err != nil {
		return nil, Outcome{"error", "local store: " + err.Error()}
	}
	return e, Outcome{"hit", ""}
}

func (c *Client) download(ctx context.Context, store *cache.Store, b cache.Blob) error {
	body, err := c.b.getBlob(ctx, b.Digest)
	if err != nil {
		return err
	}
	defer body.Close()
	err = store.PutReader(&counted{r: body, n: &c.BytesDown}, b.Digest, b.Size)
	var corrupt *cache.CorruptError
	if errors.As(err, &corrupt) {
		c.bad.Store(b.Digest, true) // a later upload of this run replaces it
	} else if err != nil && ctx.Err() == nil && isLocal(err) {
		return fmt.Errorf("local store: %w", err)
	}
	return err
}

// Upload sends e (blobs first, then the entry, so no reader sees an entry
// whose blobs are still coming) in the background. Wait waits for every
// upload.
func (c *Client) Upload(store *cache.Store, e *cache.Entry) {
	if !c.s.Write || c.off.Load() || c.noWrite.Load() {
		return
	}
	k, err := cache.ParseKey(e.Key)
	if err != nil {
		return
	}
	c.uploads.Add(1)
	c.pending.Add(1)
	go func() {
		defer c.uploads.Done()
		defer c.pending.Add(-1)
		select {
		case c.slots <- struct{}{}:
			defer func() { <-c.slots }()
		case <-c.stopping:
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-c.stopping:
				cancel()
			case <-ctx.Done():
			}
		}()
		if err := c.upload(ctx, store, k, e); err != nil && ctx.Err() == nil {
			c.failed(ctx, err)
		}
	}()
}

func (c *Client) upload(ctx context.Context, store *cache.Store, k cache.Key, e *cache.Entry) error {
	_, err := parallel(ctx, e.Blobs(), 4, func(ctx context.Context, b cache.Blob) (bool, error) {
		if _, bad := c.bad.Load(b.Digest); !bad {
			if ok, err := c.b.hasBlob(ctx, b.Digest); ok || err != nil {
				return false, err
			}
		}
		f, compressed, wire, err := store.OpenBlob(b.Digest)
		if err != nil {
			return false, fmt.Errorf("local store: %w", err)
		}
		defer f.Close()
		err = c.b.putBlob(ctx, b.Digest, b.Size, &counted{r: f, n: &c.BytesUp}, compressed, wire)
		return false, err
	})
	if err != nil {
		return err
	}
	data, err := seal(e, c.s.Namespace, c.s.Key)
	if err != nil {
		return err
	}
	if err := c.b.putAC(ctx, Address(c.s.Namespace, k), data); err != nil {
		return err
	}
	c.BytesUp.Add(int64(len(data)))
	if e.Pipeline != "" && e.Job != "" { // for why: the job's newest entry in the namespace
		if err := c.b.putAC(ctx, LatestAddress(c.s.Namespace, e.Pipeline, e.Job), data); err != nil {
			return err
		}
		c.BytesUp.Add(int64(len(data)))
	}
	return nil
}

// ErrOff is the answer of a client that stopped asking its remote (it
// said why when it stopped).
var ErrOff = errors.New("the remote cache is not being asked")

// Found is an entry read from the remote, and the namespace it was in.
type Found struct {
	Entry     *cache.Entry
	Namespace string
}

// Explain says what the remote holds for a job, downloading no blob: the
// entry for k, else the newest entry the job stored, in the namespaces a
// run reads (an untrusted entry counts as none). Both are nil when the
// remote has neither.
func (c *Client) Explain(ctx context.Context, k cache.Key, pipeline, job string) (exact, latest *Found, err error) {
	if c.off.Load() {
		return nil, nil, ErrOff
	}
	look := func(addr func(ns string) string, check func(data []byte, ns string) (*cache.Entry, error)) (*Found, error) {
		for _, ns := range c.readOrder() {
			data, err := c.b.getAC(ctx, addr(ns))
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if e, err := check(data, ns); err == nil {
				return &Found{e, ns}, nil
			}
		}
		return nil, nil
	}
	exact, err = look(func(ns string) string { return Address(ns, k) },
		func(data []byte, ns string) (*cache.Entry, error) { return open(data, ns, k, c.s.Key) })
	if exact != nil || err != nil {
		return exact, nil, err
	}
	latest, err = look(func(ns string) string { return LatestAddress(ns, pipeline, job) },
		func(data []byte, ns string) (*cache.Entry, error) { return openAny(data, ns, c.s.Key) })
	return nil, latest, err
}

// Wait waits up to limit for the uploads still running, then stops them,
// and returns how many were stopped.
func (c *Client) Wait(limit time.Duration) int {
	done := make(chan struct{})
	go func() {
		c.uploads.Wait()
		close(done)
	}()
	select {
	case <-done:
		return 0
	case <-time.After(limit):
	}
	n := int(c.pending.Load())
	c.stopOnce.Do(func() { close(c.stopping) })
	<-done
	return n
}

func (c *Client) readOrder() []string {
	order := []string{c.s.Namespace}
	for _, t := range c.s.Trusted {
		if t != c.s.Namespace {
			order = append(order, t)
		}
	}
	return order
}

// failed classifies err, warns once for its class and, when the remote
// keeps failing, stops asking it.
func (c *Client) failed(ctx context.Context, err error) Outcome {
	if ctx.Err() != nil && !errors.Is(err, context.DeadlineExceeded) {
		return Outcome{"skipped", "run cancelled"}
	}
	class := Classify(err)
	switch class {
	case ClassAuth:
		c.off.Store(true) // it will not change during the run
	case ClassFull:
		c.noWrite.Store(true)
	default:
		if c.failures.Add(1) >= giveUpAfter {
			c.off.Store(true)
		}
	}
	c.warnOnce(class, fmt.Sprintf("remote cache: %s: %v; running locally (after %d failures the run stops asking it)", class, err, giveUpAfter))
	return Outcome{"error", class}
}

func (c *Client) warnOnce(what, msg string) {
	c.mu.Lock()
	seen := c.warned[what]
	c.warned[what] = true
	c.mu.Unlock()
	if !seen && c.warn != nil {
		c.warn(msg)
	}
}

// Classify names the class of a remote failure.
func Classify(err error) string {
	var ce *ClassError
	var corrupt *cache.CorruptError
	switch {
	case errors.As(err, &ce):
		return ce.Class
	case errors.As(err, &corrupt):
		return ClassCorrupt
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return ClassTimeout
	}
	return ClassUnavailable
}

// isLocal reports whether err is the local disk's (out of space, a
// permission), not the remote's.
func isLocal(err error) bool {
	var pe *os.PathError
	return errors.As(err, &pe) || errors.Is(err, syscall.ENOSPC)
}

// parallel runs fn over items, n at a time, and reports whether any
// returned true. The first error cancels the rest and is returned; so is
// ctx's, when it ends first (not every item was seen).
func parallel[T any](ctx context.Context, items []T, n int, fn func(context.Context, T) (bool, error)) (bool, error) {
	if len(items) == 0 {
		return false, ctx.Err()
	}
	inner, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		found bool
		first error
		next  = make(chan T)
	)
	for range min(n, len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range next {
				yes, err := fn(inner, it)
				mu.Lock()
				found = found || yes
				if err != nil && first == nil {
					first = err
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, it := range items {
		select {
		case next <- it:
		case <-inner.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return found, first
}

type counted struct {
	r io.Reader
	n *atomic.Int64
}

func (c *counted) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// Display is u for messages: never its credentials.
func Display(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(a malformed URL)"
	}
	p.User = nil
	return p.String()
}
