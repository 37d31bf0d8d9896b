// Package store keeps the controller's state: access tokens, registered
// repositories, runs and their queue, run logs, and webhook deliveries.
// One implementation over database/sql serves both SQLite (modernc, WAL:
// the default, one file in the data dir) and PostgreSQL (pgx, at scale);
// the dialects differ only in a few words of schema, and one conformance
// suite (storetest) runs against both.
//
// The queue's invariants live here, in transactions, not in the server:
// a run is claimed by at most one runner at a time; every claim raises the
// run's fence, and every write a runner makes (heartbeat, log, finish)
// carries the fence it was given, so a runner whose lease lapsed cannot
// overwrite the attempt that replaced it; a trigger retried with the same
// idempotency key returns the run it created the first time.
package store

import (
	"errors"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/controller/api"
)

// Errors a caller tells apart.
var (
	ErrNotFound = errors.New("not found")
	ErrFenced   = api.ErrFenced
	// ErrLogGap: a log chunk starts past the end of what is stored; the
	// runner resends from the stored size it is told.
	ErrLogGap = errors.New("log chunk leaves a gap")
	// ErrExists: a token or repository of that name is already there.
	ErrExists = errors.New("already exists")
)

// Token scopes.
const (
	ScopeTrigger = "trigger" // start runs, read runs and logs
	ScopeRunner  = "runner"  // claim runs and report on them
	ScopeAdmin   = "admin"   // everything, including repositories
)

// Scopes lists the valid scopes.
var Scopes = []string{ScopeTrigger, ScopeRunner, ScopeAdmin}

// Token is an API token. Only its SHA-256 is stored.
type Token struct {
	ID      string
	Name    string
	Hash    string // hex SHA-256 of the secret
	Scopes  []string
	Created time.Time
	Revoked time.Time // zero while valid
}

// Has reports whether the token grants scope. admin grants every scope.
func (t Token) Has(scope string) bool {
	for _, s := range t.Scopes {
		if s == scope || s == ScopeAdmin {
			return true
		}
	}
	return false
}

// Repo is a registered repository, mirrored by the git cache.
type Repo struct {
	Name    string
	URL     string
	Created time.Time
}

// Run statuses: the API's. Queued and Running are live; the rest are
// final.
const (
	Queued    = api.RunQueued
	Running   = api.RunRunning
	Succeeded = api.RunSucceeded
	Failed    = api.RunFailed
	Error     = api.RunError
	Cancelled = api.RunCancelled
)

// Final reports whether status is a final one.
func Final(status string) bool { return api.Final(status) }

// Run is one triggered pipeline run and its place in the queue.
type Run struct {
	ID       string
	Repo     string
	Branch   string
	SHA      string
	Pipeline string
	Args     []string
	// RunsOn are the labels a runner needs to take the run.
	RunsOn map[string]string
	// Key is the trigger's idempotency key; unique when set.
	Key   string
	Dirty bool // the run includes uncommitted changes (Patch)
	// Bundle is a git bundle holding SHA when the upstream lacks it;
	// Patch is the work tree's diff against SHA for a dirty run.
	Bundle []byte
	Patch  []byte

	Status   string
	ExitCode int
	Message  string // why a run ended in error, or how it was cancelled

	Attempt    int    // 0 until claimed; raised by every claim
	Fence      int64  // raised by every claim; a runner's writes carry it
	Runner     string // the runner holding it, or that ran its last attempt
	LeaseUntil time.Time
	Cancel     bool // cancellation requested; the runner stops the run

	// LogSize is the length of the run's log; LogBase is where the
	// current attempt's log starts in it (runners count from there).
	LogSize int64
	LogBase int64

	Created  time.Time
	Started  time.Time
	Finished time.Time
}

// Claim is what a runner asks for.
type Claim struct {
	Runner string
	Run    string // only this run (a runner started for it); "" for any
	Labels map[string]string
	Lease  time.Duration
	Now    time.Time
}

// Matches reports whether a runner with labels may take a run needing runsOn.
func Matches(runsOn, labels map[string]string) bool {
	for k, v := range runsOn {
		if labels[k] != v {
			return false
		}
	}
	return true
}
