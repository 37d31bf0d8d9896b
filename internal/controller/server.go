// Package controller is sparkwing-controller's server: the HTTP API
// (standard library router, JSON under /api/v1/), its token auth, the
// run queue runners long-poll, live logs as Server-Sent Events, the git
// cache's registration and smart HTTP, and push webhooks. The state is
// in the store; the server keeps only who is waiting for what, so a
// restarted controller carries on where it stopped.
package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/controller/api"
	"github.com/sparkwing-dev/sparkwing/internal/gitcache"
	"github.com/sparkwing-dev/sparkwing/internal/logstream"
	"github.com/sparkwing-dev/sparkwing/internal/store"
)

// Config configures a Server.
type Config struct {
	Store *store.SQL
	Git   *gitcache.Cache
	// Lease is how long a runner holds a run without a heartbeat.
	Lease time.Duration
	// BaseURL is how clients reach the server, for the run URLs it returns.
	BaseURL string
	// WebhookSecret checks GitHub's X-Hub-Signature-256; "" refuses webhooks.
	WebhookSecret string
	Log           *slog.Logger
	Now           func() time.Time
}

// Server is the controller.
type Server struct {
	cfg  Config
	st   *store.SQL
	git  *gitcache.Cache
	wake *logstream.Notifier // keys: a run id (its log or state changed), holderKey(id), queueKey
	log  *slog.Logger

	scheduleErr  map[string]string // by repository: why its schedules were last skipped (runSchedules' own)
	waiters      waiters           // runners in a claim long-poll now
	triggerPacks triggerPacks
}

// queueKey is woken when a run may be waiting to be claimed.
const queueKey = "\x00queue"

// holderKey is woken when what the runner holding run id must know has
// changed: a cancel, or the run taken from it. Its heartbeat waits on it,
// not on the run's id, which every log chunk wakes.
func holderKey(id string) string { return "\x00holder " + id }

// New returns a server over cfg's store and git cache.
func New(cfg Config) *Server {
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, st: cfg.Store, git: cfg.Git, wake: logstream.NewNotifier(), log: cfg.Log, scheduleErr: map[string]string{}}
}

func (s *Server) now() time.Time { return s.cfg.Now().UTC() }

// Handler routes the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.Handle("POST "+api.PathRuns, s.with(store.ScopeTrigger, s.trigger))
	mux.Handle("GET "+api.PathRuns, s.with(store.ScopeTrigger, s.listRuns))
	mux.Handle("GET "+api.PathRuns+"/{id}", s.with(store.ScopeTrigger, s.showRun))
	mux.Handle("POST "+api.PathRuns+"/{id}/cancel", s.with(store.ScopeTrigger, s.cancelRun))
	mux.Handle("GET "+api.PathRuns+"/{id}/log", s.with(store.ScopeTrigger, s.streamLog))
	mux.Handle("POST "+api.PathClaim, s.with(store.ScopeRunner, s.claim))
	mux.Handle("POST "+api.PathRuns+"/{id}/heartbeat", s.with(store.ScopeRunner, s.heartbeat))
	mux.Handle("POST "+api.PathRuns+"/{id}/log", s.with(store.ScopeRunner, s.appendLog))
	mux.Handle("POST "+api.PathRuns+"/{id}/finish", s.with(store.ScopeRunner, s.finish))
	mux.Handle("POST "+api.PathRegister, s.with(store.ScopeTrigger, s.register))
	mux.Handle("GET "+api.PathRepos, s.with(store.ScopeTrigger, s.listRepos))
	mux.Handle("POST "+api.PathRepos+"/{name}/refresh", s.with(store.ScopeTrigger, s.refreshRepo))
	mux.Handle("DELETE "+api.PathRepos+"/{name}", s.with(store.ScopeAdmin, s.deleteRepo))
	mux.Handle("POST "+api.PathGitHub, s.handle(s.githubWebhook)) // signed by GitHub, not a token
	mux.Handle("GET "+api.PathGit+"{name}/info/refs", s.with(store.ScopeRunner, s.gitInfoRefs))
	mux.Handle("POST "+api.PathGit+"{name}/git-upload-pack", s.with(store.ScopeRunner, s.gitUploadPack))
	return mux
}

// Background does the server's timed work until ctx ends: it puts back
// in the queue the runs whose runners stopped answering, and queues the
// runs of schedules that are due (apart, so a slow fetch for a schedule
// never holds up a lease).
func (s *Server) Background(ctx context.Context) {
	go every(ctx, scheduleEvery, s.runSchedules)
	every(ctx, max(s.cfg.Lease/4, 100*time.Millisecond), s.expireLeases)
}

// every calls fn every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func(context.Context)) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			fn(ctx)
		}
	}
}

func (s *Server) expireLeases(ctx context.Context) {
	runs, err := s.st.ExpireLeases(ctx, s.now())
	if err != nil {
		s.log.Error("expire leases", "err", err)
		return
	}
	s.released(runs, "its lease ended")
}

// released tells whoever waits on runs that they left their runners.
func (s *Server) released(runs []store.Run, why string) {
	for _, r := range runs {
		s.log.Warn("runner lost ("+why+"); run "+r.Status, "run", r.ID, "attempt", r.Attempt, "runner", r.Runner)
		s.wake.Notify(r.ID)
		s.wake.Notify(holderKey(r.ID))
	}
	if len(runs) > 0 {
		s.wake.Notify(queueKey)
	}
}

// --- errors, in one place ---

// httpError is an error with its status and, for clients that act on
// it, a code.
type httpError struct {
	status int
	code   string
	msg    string
	size   int64
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// respondError writes err as the status and JSON body it maps to.
func (s *Server) respondError(w http.ResponseWriter, r *http.Request, err error) {
	body := api.Error{Error: err.Error()}
	status := http.StatusInternalServerError
	var he *httpError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		status, body.Code, body.Size = he.status, he.code, he.size
	case errors.As(err, &mbe):
		status, body.Error = http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body is over the limit of %d bytes", mbe.Limit)
	case errors.Is(err, store.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, store.ErrFenced):
		status, body.Code = http.StatusConflict, "fenced"
	case errors.Is(err, store.ErrExists):
		status = http.StatusConflict
	case errors.Is(err, context.Canceled):
		return // the client left
	}
	if status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		body.Error = "internal error: " + err.Error()
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body of at most limit bytes into v.
func decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errorf(http.StatusBadRequest, "the request body is not valid JSON for this endpoint: %v", err)
	}
	return nil
}

func (s *Server) runView(r store.Run) api.Run {
	return api.Run{ID: r.ID, URL: s.cfg.BaseURL + api.PathRuns + "/" + r.ID, Repo: r.Repo, Branch: r.Branch, SHA: r.SHA,
		Pipeline: r.Pipeline, Args: r.Args, Dirty: r.Dirty, Status: r.Status, ExitCode: r.ExitCode, Message: r.Message,
		Attempt: r.Attempt, Runner: r.Runner, Cancel: r.Cancel, LogSize: r.LogSize,
		Created: r.Created, Started: r.Started, Finished: r.Finished}
}
