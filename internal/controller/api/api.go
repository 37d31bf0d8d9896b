// Package api is the controller's HTTP API as both ends see it: the
// request and response bodies (JSON), the paths, and a client for the
// CLI and the runner. Everything is under /api/v1/, except git's smart
// HTTP (/git/NAME/…), the seeds' /git/register, and /webhooks/.
package api

import (
	"errors"
	"time"
)

// Paths.
const (
	PathRuns     = "/api/v1/runs"  // POST trigger, GET list
	PathClaim    = "/api/v1/claim" // POST: a runner waits for work
	PathRepos    = "/api/v1/repos"
	PathRegister = "/git/register" // POST ?name=&repo=
	PathGit      = "/git/"         // smart HTTP: /git/NAME/info/refs, /git/NAME/git-upload-pack
	PathGitHub   = "/webhooks/github"
)

// Limits the controller enforces.
const (
	MaxLogChunk      = 1 << 20   // one log write; more is 413
	MaxTrigger       = 256 << 20 // a trigger with its bundle and patch
	MaxClaimWait     = 30 * time.Second
	MaxHeartbeatWait = 30 * time.Second
)

// Trigger asks for a run of Pipeline at SHA.
type Trigger struct {
	RepoURL  string            `json:"repo_url"`       // the upstream the controller mirrors
	Repo     string            `json:"repo,omitempty"` // the registered name; default: from RepoURL
	Branch   string            `json:"branch"`
	SHA      string            `json:"sha"`
	Pipeline string            `json:"pipeline"`
	Args     []string          `json:"args,omitempty"`
	RunsOn   map[string]string `json:"runs_on,omitempty"`
	// Key makes retries safe: a second trigger with the same key returns
	// the first one's run.
	Key string `json:"key"`
	// Bundle holds SHA and the commits the upstream lacks (git bundle).
	Bundle []byte `json:"bundle,omitempty"`
	// Pack is SHA's objects that its parents lack, as a thin pack: with
	// it, a controller whose mirror has the parents needs no fetch for a
	// commit pushed a moment ago. Optional; at most gitcache.MaxPack.
	Pack []byte `json:"pack,omitempty"`
	// Patch is the work tree's diff against SHA, for a dirty run.
	Patch []byte `json:"patch,omitempty"`
	Dirty bool   `json:"dirty,omitempty"`
	// NoAutoRegister: fail instead of registering an unknown repository.
	NoAutoRegister bool `json:"no_auto_register,omitempty"`
}

// Run is a run as the API shows it.
type Run struct {
	ID       string    `json:"id"`
	URL      string    `json:"url,omitempty"` // where to follow it
	Repo     string    `json:"repo"`
	Branch   string    `json:"branch"`
	SHA      string    `json:"sha"`
	Pipeline string    `json:"pipeline"`
	Args     []string  `json:"args"`
	Dirty    bool      `json:"dirty,omitempty"`
	Status   string    `json:"status"`
	ExitCode int       `json:"exit_code"`
	Message  string    `json:"message,omitempty"`
	Attempt  int       `json:"attempt"`
	Runner   string    `json:"runner,omitempty"`
	Cancel   bool      `json:"cancel_requested,omitempty"`
	LogSize  int64     `json:"log_size"`
	Created  time.Time `json:"created"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
}

// Claim is a runner asking for work.
type Claim struct {
	Runner string            `json:"runner"`
	Labels map[string]string `json:"labels,omitempty"`
	// Run, when set, asks for that run only (the runner was started for
	// it): the answer comes at once, 204 if the run is not queued.
	Run string `json:"run,omitempty"`
	// WaitMS is how long the request may wait for work (at most 30 s).
	WaitMS int `json:"wait_ms"`
	// Have names, for each repository the runner has a mirror of, a
	// commit it holds: the controller sends what a run needs beyond it
	// with the assignment (Pack).
	Have map[string]string `json:"have,omitempty"`
}

// Assignment is a run given to a runner. Every later write about it
// carries Fence; the log offsets count from the start of this attempt.
type Assignment struct {
	Run    Run    `json:"run"`
	Fence  int64  `json:"fence"`
	Bundle []byte `json:"bundle,omitempty"`
	Patch  []byte `json:"patch,omitempty"`
	// Pack holds the objects of the run's commit that the runner's Have
	// commit lacks, as a thin pack, when the controller could make a
	// small one; without it the runner fetches.
	Pack []byte `json:"pack,omitempty"`
	// LeaseMS is how long the lease lasts without a heartbeat.
	LeaseMS int64 `json:"lease_ms"`
}

// Heartbeat is the controller's answer to a runner's heartbeat.
type Heartbeat struct {
	Cancel bool `json:"cancel"`
}

// Run statuses, the store's and the API's. Queued and Running are live;
// the rest are final.
const (
	RunQueued    = "queued"
	RunRunning   = "running"
	RunSucceeded = "succeeded"
	RunFailed    = "failed"    // a job failed (exit 1)
	RunError     = "error"     // the run could not start: plan, config or checkout (exit 2)
	RunCancelled = "cancelled" // exit 130
)

// Final reports whether status is a final one.
func Final(status string) bool {
	return status != RunQueued && status != RunRunning
}

// ErrFenced is a write from a runner that no longer holds the run (its
// lease lapsed and the run was claimed again, or it finished): the
// store's error, and the client's for the code "fenced".
var ErrFenced = errors.New("the run is no longer held by this runner")

// Finish ends a run.
type Finish struct {
	Status   string `json:"status"`
	ExitCode int    `json:"exit_code"`
	Message  string `json:"message,omitempty"`
}

// LogAck is the answer to a log write: the attempt's log size stored.
type LogAck struct {
	Size int64 `json:"size"`
}

// Repo is a registered repository.
type Repo struct {
	Name    string    `json:"name"`
	URL     string    `json:"url"`
	Created time.Time `json:"created"`
}

// Error is every error's body.
type Error struct {
	Error string `json:"error"`
	// Code names errors a client acts on: "need_bundle", "fenced", "log_gap".
	Code string `json:"code,omitempty"`
	// Size is the stored log size, with log_gap.
	Size int64 `json:"size,omitempty"`
}

// Limits on webhooks: GitHub caps a payload at 25 MB.
const MaxWebhook = 25 << 20

// WebhookResult is the answer to a webhook delivery: the runs it queued
// and, for each pipeline with an `on: push` that it did not start, why.
type WebhookResult struct {
	Message   string        `json:"message,omitempty"`
	Runs      []Run         `json:"runs,omitempty"`
	Skipped   []SkippedPush `json:"skipped,omitempty"`
	Duplicate bool          `json:"duplicate,omitempty"` // the delivery was seen before; nothing new was queued
}

// SkippedPush is a pipeline a push did not start.
type SkippedPush struct {
	Pipeline string `json:"pipeline"`
	Reason   string `json:"reason"`
}
