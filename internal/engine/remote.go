package engine

import (
	"cmp"
	"context"
	"fmt"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/remote"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
)

// The remote cache is the second level: a job the local store misses is
// looked up there, and a job that ran and was stored is uploaded in the
// background (its dependents do not wait). The run waits for its uploads
// at its end, bounded, and says what it did not upload.

// openRemote opens the remote cache when the run has one and can use it.
func (e *execution) openRemote(ctx context.Context) error {
	if e.opts.Remote == nil || e.cache == nil || e.cache.Store == nil {
		return nil
	}
	c, err := e.opts.Remote(ctx, func(msg string) { e.opts.Observer.Warn("sparkwing", msg) })
	if err != nil {
		return err
	}
	e.remote = c
	return nil
}

// fetchRemote looks a key the local store lacks up in the remote cache and
// returns its entry, now in the local store, or nil. rc gets the remote's
// outcome; a remote entry that was there but could not be used is the
// job's miss reason.
func (e *execution) fetchRemote(ctx context.Context, j plan.Job, k cache.Key, rc *runrec.Cache) *cache.Entry {
	if e.remote == nil || e.opts.NoCache {
		return nil
	}
	// Two round trips at least (the entry, then its blobs): a job that
	// has always taken less is not worth asking for.
	if took := e.durations.Estimate(e.plan.Name, j.ID, 0); took > 0 && took < 2*e.remote.RoundTrip() {
		rc.Remote, rc.RemoteReason = "skipped", "cheaper to run"
		return nil
	}
	entry, out := e.remote.Fetch(ctx, e.cache.Store, k, cache.Entry{Project: e.opts.Root, Pipeline: e.plan.Name, Job: j.ID})
	rc.Remote, rc.RemoteReason = out.Result, out.Reason
	switch out.Reason {
	case remote.ReasonIncomplete, remote.ReasonCorrupt, remote.ReasonUntrusted:
		rc.Reason = out.Reason
	}
	return entry
}

// finishUploads waits for the uploads still running and returns what the
// run did with the remote (nil: it had none).
func (e *execution) finishUploads() *runrec.RemoteStats {
	if e.remote == nil {
		return nil
	}
	wait := cmp.Or(e.opts.UploadWait, DefaultUploadWait)
	stopped := e.remote.Wait(wait)
	if stopped > 0 {
		e.opts.Observer.Warn("sparkwing", fmt.Sprintf("remote cache: %d results not uploaded after waiting %s for them; they are in the local store only", stopped, wait))
	}
	s := e.remote.Settings()
	return &runrec.RemoteStats{URL: s.URL, Namespace: s.Namespace, Write: s.Write,
		BytesDown: e.remote.BytesDown.Load(), BytesUp: e.remote.BytesUp.Load(), NotUploaded: stopped}
}
