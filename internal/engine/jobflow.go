package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/job"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
	"github.com/sparkwing-dev/sparkwing/internal/sched"
	"github.com/sparkwing-dev/sparkwing/internal/ui"
)

// ReasonOutside is the cache reason of a job with an input a symlink
// leads outside the project.
const ReasonOutside = "input outside the project"

// ReasonUnavailable is the cache reason of every job of a run whose store
// cannot be used.
const ReasonUnavailable = "cache unavailable"

// ReasonOrphans is the cache reason of a job whose earlier run's processes
// (its sparkwing killed) are still running.
const ReasonOrphans = "earlier run still running"

// do is one job's life: take its lock in the project, compute its key,
// restore it on a hit, otherwise run it, check its outputs and store the
// result. Any doubt about the cache becomes a miss with a warning, never a
// failure and never a wrong result.
func (e *execution) do(ctx context.Context, j plan.Job) (runrec.Job, sched.Status) {
	rj := runrec.Job{Cache: runrec.Cache{Result: "off"}}
	lock, err := e.ws.LockJob(ctx, e.plan.Name, j.ID, func(msg string) { e.opts.Observer.Warn(j.ID, msg) })
	if err != nil {
		if ctx.Err() != nil {
			rj.Status, rj.Error = runrec.Cancelled, "cancelled"
			return rj, sched.Cancelled
		}
		return e.fail(j, rj, fmt.Errorf("taking the job's lock: %w", err))
	}
	storing := false // the lock goes with the result to be stored
	defer func() {
		if !storing {
			lock.Unlock()
		}
	}()
	if j.Service != nil {
		return e.doService(ctx, j)
	}
	if j.Deploy != nil {
		return e.doDeploy(ctx, j)
	}
	if j.Image != nil && j.Image.Export == "" {
		return e.doImage(ctx, j) // an export is an ordinary job: its files are outputs
	}
	needs := e.needDigests(j)
	var comp *cache.Computed
	ok, why := cache.Cacheable(j)
	switch {
	case e.cache == nil:
		rj.Cache.Reason = "disabled"
	case e.cache.Store == nil:
		rj.Cache.Reason = ReasonUnavailable
	case lock.Orphaned():
		e.opts.Observer.Warn(j.ID, "processes of an earlier run of this job are still running; running it without the cache")
		rj.Cache.Reason = ReasonOrphans
	case !ok:
		rj.Cache.Reason = why
	default:
		var outside *fileset.OutsideError
		comp, err = e.cache.Compute(ctx, j, needs)
		if errors.As(err, &outside) {
			e.opts.Observer.Warn(j.ID, outside.Error()+": sparkwing cannot tell when that changes, so this job is not cached; keep its inputs inside the project")
			rj.Cache.Reason = ReasonOutside
			break
		}
		if err != nil {
			return e.fail(j, rj, err)
		}
		for _, g := range comp.Unmatched {
			e.opts.Observer.Warn(j.ID, fmt.Sprintf("input %q matches no file; if that is a typo, the job is keyed without what it reads", g))
		}
		rj.Key = comp.Key.String()
		if e.opts.NoCache {
			rj.Cache = runrec.Cache{Result: "miss", Reason: "disabled"}
		} else if entry, log := e.lookup(ctx, j, comp, lock, &rj.Cache); entry != nil {
			e.remember(j, comp, entry, log)
			e.ended(j.ID)
			rj.Status, rj.LogDigest = runrec.Cached, entry.Log
			return rj, sched.Succeeded
		}
	}
	t0 := time.Now()
	var res job.Result
	goBuild, isGoBuild := e.goBuildable(j, comp)
	switch {
	case j.GoTest != nil && comp != nil:
		res = e.goTest(ctx, j, comp, func(pgid int) { lock.SetRunning(pgid) })
	case j.Image != nil:
		res = e.exportImage(ctx, j)
	case isGoBuild:
		res = e.goBuild(ctx, j, goBuild, comp, func(pgid int) { lock.SetRunning(pgid) })
	default:
		res = e.execute(ctx, j, func(pgid int) { lock.SetRunning(pgid) })
	}
	if e.cache != nil {
		e.cache.Tree.Invalidate() // the job may have changed any file
	}
	rj.Attempts = res.Attempts
	switch res.Status {
	case job.Cancelled:
		lock.SetRunning(0)
		rj.Status, rj.Error = runrec.Cancelled, res.Err.Error()
		return rj, sched.Cancelled
	case job.Failed:
		lock.SetRunning(0)
		rj.Status, rj.Error = runrec.Failed, res.Err.Error()
		return rj, sched.Failed
	}
	outputs, err := e.collect(j)
	if err != nil {
		lock.SetRunning(0)
		return e.fail(j, rj, err)
	}
	e.setOutput(j.ID, cache.OutputDigest(outputs))
	e.ended(j.ID)
	rj.Status = runrec.Ran
	if comp == nil {
		lock.SetLedger(nil, outputs, nil)
		return rj, sched.Succeeded
	}
	// The outputs are in place and hashed, so the dependents can start:
	// the result is stored beside them (the run waits for it before its
	// record), holding the job's lock until its state names the entry. A
	// run cancelled meanwhile still keeps what its finished jobs made.
	storing = true
	took := time.Since(t0)
	e.storing.Go(func() {
		defer lock.Unlock()
		stored := e.store(context.WithoutCancel(ctx), j, comp, needs, outputs, took)
		log := e.smallLog(j, stored)
		lock.SetLedger(stored, outputs, log)
		if stored != nil {
			e.remember(j, comp, stored, log)
			if e.remote != nil {
				e.remote.Upload(e.cache.Store, stored)
			}
		}
	})
	return rj, sched.Succeeded
}

// lookup restores j's result if the store has it, and returns its entry
// and its log when small. On a hit the outputs are in place, the log is
// replayed and the job's output digest is known; on a miss, rc says why.
func (e *execution) lookup(ctx context.Context, j plan.Job, comp *cache.Computed, lock *cache.JobLock, rc *runrec.Cache) (*cache.Entry, []byte) {
	if held, log := e.held(j, comp, lock); held != nil {
		*rc = runrec.Cache{Result: "hit", StoredMS: held.DurationMS}
		return held, log
	}
	entry, err := e.cache.Store.Get(comp.Key)
	var corrupt *cache.CorruptError
	*rc = runrec.Cache{Result: "miss", Reason: "restore error"}
	if errors.Is(err, cache.ErrNotFound) {
		rc.Reason = missReason(e.lastKeys(), j.ID, comp.Key.String())
		if entry = e.fetchRemote(ctx, j, comp.Key, rc); entry == nil {
			return nil, nil
		}
		err = nil
	}
	switch {
	case errors.As(err, &corrupt):
		e.opts.Observer.Warn(j.ID, err.Error()+"; removed it, running the job")
		rc.Reason = "corrupt entry"
		return nil, nil
	case err != nil:
		e.opts.Observer.Warn(j.ID, "cache: "+err.Error()+"; running the job")
		return nil, nil
	}
	log, err := e.restore(j, entry, lock)
	if err != nil {
		e.opts.Observer.Warn(j.ID, "cache restore failed: "+err.Error()+"; running the job")
		rc.Reason = "restore error"
		return nil, nil
	}
	e.cache.Store.Touch(comp.Key)
	e.setOutput(j.ID, digestOf(entry.OutputDigest))
	rc.Result, rc.Reason, rc.StoredMS = "hit", "", entry.DurationMS
	return entry, log
}

// held is the no-op's shortcut: when the job's state says the tree holds
// the entry with this key (the last restore or stored run of the job put
// it there), the outputs are checked in place (one lstat each) and the log
// comes from the state when small, without reading the entry (whose
// existence the touch for least-recently-used pruning checks). Anything
// out of place (an output edited or deleted) is restored as usual; any
// error falls back to the full lookup.
func (e *execution) held(j plan.Job, comp *cache.Computed, lock *cache.JobLock) (*cache.Entry, []byte) {
	entry, log := lock.Held(comp.Key.String())
	if entry == nil || e.cache.Store.Touch(comp.Key) != nil {
		return nil, nil // a result no longer in the store (cleaned, pruned) is not a hit
	}
	changed, err := e.ws.Restore(e.cache.Store, entry, j.Outputs, e.cache.Hasher, lock)
	if changed {
		e.cache.Tree.Invalidate()
	}
	if err != nil {
		return nil, nil
	}
	if log != nil {
		e.showCached(j.ID, log)
	} else if log, err = e.replayLog(j, entry); err != nil {
		return nil, nil
	}
	e.setOutput(j.ID, digestOf(entry.OutputDigest))
	return entry, log
}

// restore puts entry's outputs in place and replays its log, which it
// returns when small.
func (e *execution) restore(j plan.Job, entry *cache.Entry, lock *cache.JobLock) ([]byte, error) {
	changed, err := e.ws.Restore(e.cache.Store, entry, j.Outputs, e.cache.Hasher, lock)
	if changed {
		e.cache.Tree.Invalidate()
	}
	if err != nil {
		return nil, err
	}
	log, err := e.replayLog(j, entry)
	if err != nil {
		return nil, err
	}
	return log, lock.SetLedger(entry, entry.Outputs, log)
}

// replayLog shows a stored job log as if the job were printing it, and
// returns it when small.
func (e *execution) replayLog(j plan.Job, entry *cache.Entry) ([]byte, error) {
	if e.opts.HideCachedLogs {
		return e.cache.Store.ReplayLog(entry, io.Discard)
	}
	lines := &ui.LineWriter{Obs: e.opts.Observer, Job: j.ID}
	log, err := e.cache.Store.ReplayLog(entry, lines)
	lines.Close()
	return log, err
}

// showCached shows a cached job's stored log, unless the run hides those.
func (e *execution) showCached(job string, log []byte) {
	if e.opts.HideCachedLogs {
		return
	}
	lines := &ui.LineWriter{Obs: e.opts.Observer, Job: job}
	lines.Write(log)
	lines.Close()
}

// collect checks that a job that succeeded produced its declared outputs.
func (e *execution) collect(j plan.Job) ([]cache.Output, error) {
	if len(j.Outputs) == 0 {
		return nil, nil
	}
	h := fileset.NewHasher(e.opts.Root, "")
	if e.cache != nil {
		h = e.cache.Hasher
	}
	return e.ws.Collect(h, j.Outputs)
}

// store saves a job's result unless its inputs changed while it ran: then
// the key no longer describes what the job saw. It returns the entry
// stored, or nil.
func (e *execution) store(ctx context.Context, j plan.Job, comp *cache.Computed, needs map[string]fileset.Digest,
	outputs []cache.Output, took time.Duration) *cache.Entry {
	after, err := e.cache.Compute(ctx, j, needs)
	if err != nil || after.Key != comp.Key {
		e.opts.Observer.Warn(j.ID, "inputs changed while the job ran; not caching this result")
		if e.opts.GoBuilds != nil {
			e.opts.GoBuilds.Forget(j.ID) // what its record compiled may not be what the key says
		}
		return nil
	}
	meta := cache.Entry{DurationMS: took.Milliseconds(), Created: time.Now().UTC(),
		Project: e.opts.Root, Pipeline: e.plan.Name, Job: j.ID}
	entry, err := e.cache.Save(comp, outputs, e.run.LogPath(j.ID), meta)
	if err != nil {
		e.opts.Observer.Warn(j.ID, "could not store the result in the cache: "+err.Error())
		return nil
	}
	return entry
}

// smallLog is the log of a job that just ran, when it is stored and small
// enough to keep in the job's state (so a no-op need not read it).
func (e *execution) smallLog(j plan.Job, stored *cache.Entry) []byte {
	if stored == nil || stored.LogSize > cache.InlineLog {
		return nil
	}
	log, err := fileset.ReadRegular(e.run.LogPath(j.ID), cache.InlineLog)
	if err != nil || int64(len(log)) != stored.LogSize {
		return nil
	}
	return log
}

// fail ends a job with an error sparkwing found (not the job's own exit),
// noting it in the job's log too.
func (e *execution) fail(j plan.Job, rj runrec.Job, err error) (runrec.Job, sched.Status) {
	if f, ferr := os.OpenFile(e.run.LogPath(j.ID), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); ferr == nil {
		fmt.Fprintf(f, "sparkwing: %v\n", err)
		f.Close()
	}
	rj.Status, rj.Error = runrec.Failed, err.Error()
	return rj, sched.Failed
}

func (e *execution) needDigests(j plan.Job) map[string]fileset.Digest {
	e.mu.Lock()
	defer e.mu.Unlock()
	needs := make(map[string]fileset.Digest, len(j.Needs))
	for _, n := range j.Needs {
		needs[n] = e.outputs[n]
	}
	return needs
}

func (e *execution) setOutput(id string, d fileset.Digest) {
	e.mu.Lock()
	e.outputs[id] = d
	e.mu.Unlock()
}

// ended tells Options.OnDone that job id's outputs are in place.
func (e *execution) ended(id string) {
	if e.opts.OnDone == nil {
		return
	}
	e.mu.Lock()
	d := e.outputs[id]
	e.mu.Unlock()
	e.opts.OnDone(id, d.String())
}

func digestOf(s string) fileset.Digest {
	d, _ := fileset.ParseDigest(s)
	return d
}
