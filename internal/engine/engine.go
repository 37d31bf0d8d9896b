// Package engine runs a plan: it orders jobs by their longest remaining
// path, hands them to the scheduler, runs each with the job runner while its
// output goes to a log and the observer, and writes the run record.
//
// Data flows one way: plan → sched → job → runrec → ui.
package engine

import (
	"cmp"
	"context"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
	"github.com/sparkwing-dev/sparkwing/internal/deploy"
	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/gobuild"
	"github.com/sparkwing-dev/sparkwing/internal/job"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/remote"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
	"github.com/sparkwing-dev/sparkwing/internal/sched"
	"github.com/sparkwing-dev/sparkwing/internal/ui"
)

// DefaultEstimate is the duration assumed for a job no run has timed yet.
const DefaultEstimate = time.Second

// Options configure one run.
type Options struct {
	Root      string
	Workers   int
	KeepGoing bool
	Args      []string                    // the pipeline's arguments, for the record
	LookupEnv func(string) (string, bool) // the caller's environment
	Observer  ui.Observer                 // required
	Cache     *cache.Cache                // nil: nothing is cached
	NoCache   bool                        // run every job, but still store results
	KillGrace time.Duration
	Images    ImageOptions
	// DeployHelper is sparkwing-deploy; "" finds it (deploy.FindHelper).
	DeployHelper string
	// DeploySync, from sparkwing dev --sync, is carried by each deploy of
	// an image with synced files, those files added (deploy.SyncFiles).
	DeploySync *deploy.Sync
	Watchdog   string // the sparkwing executable, run as the job watchdog; "" for none (tests)
	// Watching, if set, is a job watchdog already running that the run's
	// jobs use (sparkwing dev's, which outlives each run): the run then
	// starts none, which would cost a process start before its first job.
	Watching *job.Watchdog
	// Early, if set, is the last-run record the caller began reading and
	// checking (CheckEarly); it is used if it is this pipeline's.
	Early *Early
	// Explain, if set, is told whether the last run's record (uptodate.go)
	// holds and why not (--verbose); the run then computes every key.
	Explain func(string)
	// Remote opens the run's remote cache (nil: none). It is called only
	// when the run takes the full path, before any job starts, with the
	// run's warning function; an error with a Hint is a setup error.
	Remote func(ctx context.Context, warn func(string)) (*remote.Client, error)
	// RemoteID names the remote settings, for the last-run record: a run
	// with other settings takes the full path.
	RemoteID string
	// UploadWait bounds how long the run waits at its end for uploads to
	// the remote cache (DefaultUploadWait when 0).
	UploadWait time.Duration
	// HideCachedLogs: a job whose result comes from the cache does not
	// show its stored log (--output-logs new, errors or none); the log is
	// still in the run's record.
	HideCachedLogs bool
	// OnDone, if set, is told of each job that ends well (ran or restored
	// from the cache, not image, deploy or service jobs) with its output
	// digest, as soon as its outputs are in place: before its result is
	// stored and the run recorded. It is called from the job's goroutine.
	OnDone func(job, output string)
	// GoBuilds, if set, builds the jobs whose command is one `go build`
	// (sparkwing dev's): from the record of their last build when only
	// function bodies changed.
	GoBuilds *gobuild.Builder
}

// DefaultUploadWait is how long a run waits at its end for its uploads.
const DefaultUploadWait = time.Minute

// Run runs every job of p it can and returns the run's record, which is
// also written to disk. The record's Status says how the run ended; the
// error is for failures of sparkwing itself, or an *image.UnreachableError
// or *image.MissingHelperError when image jobs could not start (a setup
// problem).
func Run(ctx context.Context, p *plan.Plan, opts Options) (*runrec.Record, error) {
	warnings := &warnCounter{Observer: opts.Observer}
	opts.Observer = warnings
	ws, err := cache.OpenWorkspace(opts.Root)
	if err != nil {
		return nil, err
	}
	defer ws.Close()
	store := runrec.Open(opts.Root)
	started := time.Now()
	run, err := store.Create(started)
	if err != nil {
		return nil, err
	}
	// The oldest runs go while this one works, not after it (removing a
	// run of many jobs is a file per job).
	pruned := make(chan struct{})
	go func() { defer close(pruned); store.Prune(runrec.Keep) }()
	defer func() { <-pruned }()
	watchdog := opts.Watching
	if watchdog == nil && opts.Watchdog != "" {
		watchdog = &job.Watchdog{Exe: opts.Watchdog, Warn: func(msg string) { opts.Observer.Warn("sparkwing", msg) }}
		defer watchdog.Close()
	}
	e := &execution{
		plan: p, opts: opts, run: run,
		runner: &job.Runner{Root: opts.Root, LookupEnv: opts.LookupEnv, KillGrace: opts.KillGrace,
			Watchdog: watchdog},
		jobs:     make([]runrec.Job, len(p.Jobs)),
		outputs:  map[string]fileset.Digest{},
		cache:    opts.Cache,
		ws:       ws,
		images:   &images{opts: opts.Images},
		deploys:  &deploys{helper: opts.DeployHelper},
		warnings: warnings,
		last:     map[string]lastJob{},
	}
	e.lastKeys = sync.OnceValue(func() map[string]string {
		if e.recorded != nil {
			return e.recorded.keys(p) // every run since it was written was a no-op
		}
		return store.LastKeys(p.Name)
	})
	e.identity = sync.OnceValues(e.computeIdentity)
	e.saveCaches = sync.OnceFunc(func() {
		e.cache.Hasher.Save()
		e.cache.Tree.Save()
		e.cache.SaveStats()
		for _, k := range e.touch {
			e.cache.Store.Touch(k)
		}
	})
	if e.cache != nil {
		if e.cache.JobEnv == nil {
			e.cache.JobEnv = e.runner.Env
		}
		if e.cache.Store != nil {
			lock, err := e.cache.Store.LockShared()
			if err != nil {
				e.cache.Store, e.cache.Unusable = nil, cache.UnusableError(filepath.Dir(e.cache.Store.Dir), err)
			} else {
				defer func() {
					lock.Unlock()
					e.cache.Store.AutoPrune()
				}()
			}
		}
		defer e.saveCaches()
	}
	if e.eligible() == "" {
		go e.identity() // beside the record's check, which needs it
	}
	deps := p.Deps()
	opts.Observer.RunStarted(ui.RunInfo{ID: run.ID, Pipeline: p.Name, Jobs: len(p.Jobs), Workers: opts.Workers})
	if e.cache != nil && e.cache.Unusable != nil {
		opts.Observer.Warn("sparkwing", e.cache.Unusable.Error())
	}
	results := e.upToDate(ctx)
	upToDate := results != nil
	if !upToDate {
		e.forgetLastRun()
		if err := e.openRemote(ctx); err != nil {
			os.RemoveAll(run.Dir)
			return nil, err
		}
		if e.remote != nil {
			defer e.remote.Close()
		}
		go e.lastKeys() // beside the run's start: only a miss's reason needs them
		e.durations = store.Durations()
		if e.cache != nil {
			e.cache.Hasher.Preload()
			e.cache.Tree.Preload()
		}
		if e.eligible() == "" {
			e.seen = &fileset.Seen{}
			e.cache.Hasher.Seen, e.cache.Tree.Seen = e.seen, e.seen
			if e.unaffected != nil {
				e.seen.AddSnapshotIf(e.lastRec.snap, e.carried)
			}
		}
		if err := checkTargets(opts.Root, p); err != nil {
			os.RemoveAll(run.Dir)
			return nil, err
		}
		if err := e.resolveGoInputs(ctx); err != nil {
			os.RemoveAll(run.Dir)
			return nil, err
		}
		var done []bool
		if e.unaffected != nil {
			done = e.reportHeld(deps)
		}
		results = sched.Run(ctx, deps, sched.Options{
			Workers:   opts.Workers,
			KeepGoing: opts.KeepGoing,
			Priority:  priorities(deps, p, e.durations),
			Done:      done,
		}, e.runJob)
		e.storing.Wait()
		e.stopServices()
		if e.cache != nil {
			go e.saveCaches() // nothing hashes any more: beside the records
		}
	}

	rec := e.record(started, results, ctx.Err() != nil)
	rec.UpToDate = upToDate
	rec.Unchanged = int(e.unchanged.Load())
	rec.Remote = e.finishUploads()
	var saving sync.WaitGroup
	if !upToDate {
		saving.Go(func() { e.saveLastRun(rec) }) // beside the run's own record: two files, two cores
	}
	err = run.Write(rec)
	if rec.Status != runrec.Interrupted {
		store.Learn(rec) // beside the last run's record too
	}
	saving.Wait()
	opts.Observer.RunFinished(rec, run.Dir)
	if err == nil {
		err = cmp.Or(e.images.setupError(), e.deploys.setupError())
	}
	return rec, err
}

// priorities are the longest remaining paths, from learned durations.
func priorities(deps [][]int, p *plan.Plan, learned runrec.Durations) []float64 {
	est := make([]time.Duration, len(p.Jobs))
	for i, j := range p.Jobs {
		est[i] = learned.Estimate(p.Name, j.ID, DefaultEstimate)
	}
	rem := plan.RemainingPath(deps, est)
	prio := make([]float64, len(rem))
	for i, r := range rem {
		prio[i] = float64(r)
	}
	return prio
}

type execution struct {
	plan       *plan.Plan
	opts       Options
	run        *runrec.Run
	runner     *job.Runner
	cache      *cache.Cache
	ws         *cache.Workspace
	lastKeys   func() map[string]string       // each job's key in the previous run of this pipeline, read once
	identity   func() (fileset.Digest, error) // computeIdentity's, once
	saveCaches func()                         // writes the stat caches and touches e.touch, once (the first caller's wait is everyone's)
	durations  runrec.Durations               // learned from earlier runs
	images     *images
	deploys    *deploys
	warnings   *warnCounter   // the observer, counting the warnings given
	seen       *fileset.Seen  // what this run relied on of the tree, for the last-run record; nil: no record
	remote     *remote.Client // nil: no remote cache
	services   services       // running services, stopped when the run ends
	storing    sync.WaitGroup // results of jobs that ran, being stored

	mu      sync.Mutex
	jobs    []runrec.Job              // filled in by runJob, one element per job
	outputs map[string]fileset.Digest // output digest of each finished job
	last    map[string]lastJob        // by job: what the last-run record needs of it (remember)
	touch   []cache.Key               // the entries of the jobs held from the record

	// The edit's shortcut (held.go): the jobs reported from the record,
	// and which of its paths the new record keeps.
	unaffected []bool
	recorded   *lastRun // the last-run record, when it matched all but the tree
	lastRec    *lastRun
	carried    func(rel string) bool
	unchanged  atomic.Int64 // jobs reported from the record
}

// warnCounter counts the warnings a run gives: a run that warned writes
// no last-run record, so the next run warns again.
type warnCounter struct {
	ui.Observer
	n atomic.Int64
}

func (w *warnCounter) Warn(job, msg string) {
	w.n.Add(1)
	w.Observer.Warn(job, msg)
}

// runJob runs job i on a worker, or restores it from the cache.
func (e *execution) runJob(ctx context.Context, i, worker int) sched.Status {
	j := e.plan.Jobs[i]
	obs := e.opts.Observer
	obs.JobStarted(j.ID)
	t0 := time.Now()
	var rj runrec.Job
	var st sched.Status
	if e.unaffected != nil && e.unaffected[i] && e.holds(i) {
		rj, st = e.fromRecord(i), sched.Succeeded
	} else {
		rj, st = e.do(ctx, j)
	}
	if rj.Status != runrec.Cached {
		logPath := e.run.LogPath(j.ID)
		if rj.Status == runrec.Failed {
			// Its log is shown with the failure, even when it is empty.
			if f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
				f.Close()
			}
		}
		if _, err := os.Lstat(logPath); err == nil {
			rj.Log = "logs/" + j.ID + ".log"
		}
	}
	e.finishJob(i, rj, t0)
	return st
}

// finishJob records job i's result, begun at t0, and tells the observer.
func (e *execution) finishJob(i int, rj runrec.Job, t0 time.Time) {
	j := e.plan.Jobs[i]
	rj.ID = j.ID
	rj.DurationMS = time.Since(t0).Milliseconds()
	e.mu.Lock()
	e.jobs[i] = rj
	e.mu.Unlock()
	e.opts.Observer.JobFinished(rj, e.run.LogPath(j.ID))
}

// execute runs j, with its output going to its log and the observer.
// started is told the process group of each attempt.
func (e *execution) execute(ctx context.Context, j plan.Job, started func(pgid int)) job.Result {
	out, done, err := e.output(j)
	if err != nil {
		return job.Result{Status: job.Failed, Err: err}
	}
	defer done()
	return e.runner.Run(ctx, j, out, started)
}

// output is where what j prints goes: its log and the observer, line by
// line. done flushes and closes both. The log file is made at the job's
// first byte: a job that prints nothing has none (creating a file costs
// more than a tiny job on some disks), unless it fails (runJob).
func (e *execution) output(j plan.Job) (out io.Writer, done func(), err error) {
	log := &lazyFile{path: e.run.LogPath(j.ID)}
	lines := &ui.LineWriter{Obs: e.opts.Observer, Job: j.ID}
	return io.MultiWriter(log, lines), func() { lines.Close(); log.Close() }, nil
}

// lazyFile creates its file at the first write.
type lazyFile struct {
	path string
	f    *os.File
}

func (l *lazyFile) Write(p []byte) (int, error) {
	if l.f == nil {
		f, err := os.Create(l.path)
		if err != nil {
			return 0, err
		}
		l.f = f
	}
	return l.f.Write(p)
}

func (l *lazyFile) Close() error {
	if l.f == nil {
		return nil
	}
	return l.f.Close()
}
