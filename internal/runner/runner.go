// Package runner is `sparkwing runner`: it claims runs from a controller
// with a long-poll, holds each with heartbeats (which also carry a
// cancel back at once), checks the commit out from the controller's git
// cache into a worktree of a local mirror, runs the pipeline with the
// same engine as `sparkwing run` (sparkwing itself, as a child, with
// --output json), and sends its output to the controller as it comes.
// Its writes carry the run's fence: a runner that lost its lease (it
// stalled, or the network did) is refused and stops the run.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/controller/api"
)

// Config configures a runner.
type Config struct {
	Client *api.Client
	Name   string            // how the controller lists it
	Labels map[string]string // what runs_on it satisfies
	Slots  int               // runs at once
	Dir    string            // mirrors and checkouts
	// Only makes a runner started for one run (a Kubernetes Job): it
	// claims that run, runs it and returns; if the run is not queued
	// (another runner took it, or it ended) it returns at once.
	Only string
	// Sparkwing is the command that runs a pipeline: sparkwing, with any
	// leading arguments (the helper binary passes its own "sparkwing").
	Sparkwing []string
	Env       []string // the pipelines' environment
	Log       *slog.Logger
}

// Run claims and runs work until ctx ends. Runs in progress then stop
// (their jobs are killed) without a result: the controller queues them
// again when their lease ends, for another runner to run from the start.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Slots < 1 || cfg.Only != "" {
		cfg.Slots = 1
	}
	dir, err := filepath.Abs(cfg.Dir) // worktrees name their mirror by its full path
	if err != nil {
		return err
	}
	cfg.Dir = dir
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return err
	}
	r := &runner{cfg: cfg, mirrors: map[string]*sync.Mutex{}}
	var wg sync.WaitGroup
	for slot := range cfg.Slots {
		wg.Go(func() { r.slot(ctx, slot) })
	}
	wg.Wait()
	return nil
}

type runner struct {
	cfg Config

	mu      sync.Mutex
	mirrors map[string]*sync.Mutex // one fetch at a time into a mirror
}

func (r *runner) slot(ctx context.Context, slot int) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		a, err := r.cfg.Client.Claim(ctx, api.Claim{Runner: r.cfg.Name, Labels: r.cfg.Labels, Run: r.cfg.Only,
			WaitMS: int(api.MaxClaimWait.Milliseconds()), Have: r.haves()})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.cfg.Log.Warn("claim failed; retrying", "err", err, "in", backoff)
			sleep(ctx, backoff)
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if a != nil {
			r.execute(ctx, a, slot)
		}
		if r.cfg.Only != "" {
			if a == nil {
				r.cfg.Log.Info("nothing to do: the run is not queued (another runner took it, or it ended)", "run", r.cfg.Only)
			}
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// execute runs one assignment to its end and reports it.
func (r *runner) execute(ctx context.Context, a *api.Assignment, slot int) {
	run := a.Run
	log := r.cfg.Log.With("run", run.ID, "attempt", run.Attempt)
	log.Info("running", "pipeline", run.Pipeline, "sha", run.SHA)
	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	lease := time.Duration(a.LeaseMS) * time.Millisecond
	hbDone := make(chan struct{})
	go func() { defer close(hbDone); r.heartbeat(runCtx, a, lease, stop) }()

	dir := filepath.Join(r.cfg.Dir, "work", run.Repo, strconv.Itoa(slot))
	defer r.tidyCheckout(run.Repo, dir) // after the result is reported
	out := newShipper(r.cfg.Client, run.ID, a.Fence)
	fin := r.attempt(runCtx, a, out, dir)
	if errors.Is(context.Cause(runCtx), errCancelled) {
		fin = api.Finish{Status: api.RunCancelled, ExitCode: 130, Message: "cancelled"}
	}
	lost := errors.Is(context.Cause(runCtx), api.ErrFenced) || ctx.Err() != nil
	closeCtx, done := context.WithTimeout(context.Background(), lease)
	defer done()
	if err := out.Close(closeCtx); err != nil {
		lost = lost || errors.Is(err, api.ErrFenced)
		log.Warn("the log did not all reach the controller", "err", err)
	}
	stop(nil)
	<-hbDone
	if lost {
		log.Warn("this attempt's result is dropped: the run was given to another runner, or this runner is stopping (the run is queued again when its lease ends)")
		return
	}
	if err := r.finish(closeCtx, a, fin); err != nil {
		log.Error("could not report the result", "err", err)
		return
	}
	log.Info("finished", "status", fin.Status)
}

var errCancelled = errors.New("cancelled from the controller")

// heartbeat keeps the lease until ctx ends; a cancel from the controller,
// or the run taken away, stops the run through stop.
func (r *runner) heartbeat(ctx context.Context, a *api.Assignment, lease time.Duration, stop context.CancelCauseFunc) {
	wait := lease / 3
	for ctx.Err() == nil {
		hb, err := r.cfg.Client.Heartbeat(ctx, a.Run.ID, a.Fence, wait)
		switch {
		case ctx.Err() != nil:
			return
		case api.Code(err) == "fenced":
			stop(api.ErrFenced)
			return
		case err != nil:
			sleep(ctx, min(wait/4, time.Second)) // the controller is away: retry while the lease lasts
		case hb.Cancel:
			stop(errCancelled)
			return
		}
	}
}

// finish reports the result, retrying while the controller is away.
func (r *runner) finish(ctx context.Context, a *api.Assignment, fin api.Finish) error {
	for {
		err := r.cfg.Client.Finish(ctx, a.Run.ID, a.Fence, fin)
		if err == nil || !api.Unreachable(err) || ctx.Err() != nil {
			return err
		}
		sleep(ctx, 200*time.Millisecond)
	}
}

// attempt checks the commit out into dir and runs the pipeline, writing what it
// prints to out, and returns the result to report.
func (r *runner) attempt(ctx context.Context, a *api.Assignment, out io.Writer, dir string) api.Finish {
	start := time.Now()
	// sparkwing starts while the commit is checked out, and waits for it.
	p, perr := r.startPipeline(a, dir, out)
	from, err := r.checkout(ctx, a, dir)
	if err != nil {
		if perr == nil {
			p.callOff()
		}
		fmt.Fprintf(out, "sparkwing runner: checkout of %s at %s failed: %v\n", a.Run.Repo, short(a.Run.SHA), err)
		return api.Finish{Status: api.RunError, ExitCode: 2, Message: "checkout failed: " + err.Error()}
	}
	r.cfg.Log.Info("checked out", "run", a.Run.ID, "from", from, "took", time.Since(start).Round(100*time.Microsecond))
	code, err := 0, perr
	if err == nil {
		code, err = p.wait(ctx, dir)
	}
	if err != nil {
		fmt.Fprintf(out, "sparkwing runner: %v\n", err)
		return api.Finish{Status: api.RunError, ExitCode: 2, Message: err.Error()}
	}
	switch code {
	case 0:
		return api.Finish{Status: api.RunSucceeded}
	case 2:
		return api.Finish{Status: api.RunError, ExitCode: 2, Message: "the pipeline could not start (usage, config or plan error)"}
	case 130:
		return api.Finish{Status: api.RunCancelled, ExitCode: 130, Message: "interrupted"}
	}
	return api.Finish{Status: api.RunFailed, ExitCode: 1, Message: fmt.Sprintf("sparkwing run exited %d", code)}
}

func short(sha string) string { return sha[:min(len(sha), 12)] }
