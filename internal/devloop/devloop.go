// Package devloop is `sparkwing dev`: one resident process that watches
// the project, re-runs the pipeline's jobs through the engine after each
// save (so only what changed runs, and a job whose output did not change
// stops the wave), and keeps the pipeline's services running: a service
// is restarted only when a job it restarts on produced a new output, and
// each change ends with one line that says how long edit → healthy took,
// phase by phase.
package devloop

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/engine"
	"github.com/sparkwing-dev/sparkwing/internal/job"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
	"github.com/sparkwing-dev/sparkwing/internal/ui"
)

// Options configure a dev loop.
type Options struct {
	Root string
	Plan *plan.Plan
	// Build is one run of the jobs through the engine; it tells onDone of
	// each job that ended well, with its output digest, as soon as its
	// outputs are in place (engine.Options.OnDone).
	Build func(ctx context.Context, p *plan.Plan, onDone func(job, output string)) (*runrec.Record, error)
	// Runner starts services.
	Runner *job.Runner
	Out    io.Writer // what the loop says, and the services' output, prefixed
	// Ignore reports whether a change to rel (slash-separated, relative to
	// the root) cannot matter: outputs, .sparkwing/, .git/, ignored files.
	// event is false when the watcher asks whether to watch a directory,
	// true for an event (some events are noise, such as the creation of
	// the directory an output is written to, in a directory still watched).
	Ignore func(rel string, event bool) bool
	Stats  string        // the file each change's timing is appended to
	Quiet  time.Duration // a change set ends after this long without events
	// ReliedOn, if set, says after a build which paths it relied on (see
	// engine.ReliedOn; nil: unknown): a change to none of them needs no
	// build.
	ReliedOn func(*plan.Plan) func(rel string) bool
	// Sync, for sparkwing dev --sync, copies new builds of synced files
	// into the running pods when the images would differ in nothing else.
	Sync *Sync
	// Logs, if set, follows the logs of deploy job d's pods from since on,
	// each line to out, until ctx is done.
	Logs func(ctx context.Context, d plan.Job, since time.Time, out io.Writer) error
}

// Loop runs until ctx is done, then stops the services (the last started
// first) and returns.
func Loop(ctx context.Context, o Options) error {
	if o.Quiet == 0 {
		o.Quiet = 20 * time.Millisecond
	}
	d := &dev{o: o, started: time.Now(), restart: make(chan *instance, 16),
		output: map[string]string{}, keys: map[string]string{}, logs: map[string]*podLogs{}}
	d.session = d.started.UTC().Format(time.RFC3339Nano)
	d.build, d.services = split(o.Plan)
	if o.Sync != nil {
		d.sync = newSyncState(o.Sync, d.build, d.session)
	}
	var deploys []string
	for _, j := range d.build.Jobs {
		if j.Deploy != nil {
			deploys = append(deploys, j.ID)
		}
	}
	switch {
	case d.sync != nil:
		var files []string
		for _, im := range d.sync.images {
			files = append(files, im.Image.SyncPaths()...)
		}
		only := "them"
		if len(files) == 1 {
			only = "it"
		}
		d.say("%s syncs %s into the pods of %s after a save that changes only %s; any other change builds and rolls out",
			o.Plan.Name, strings.Join(files, ", "), jobIDs(d.sync.deploys), only)
	case len(deploys) > 0:
		d.say("%s deploys (%s) after every save that changes what it applies, and reports edit → healthy on the cluster", o.Plan.Name, strings.Join(deploys, ", "))
	case len(d.services) == 0:
		d.say("%s has no service: sparkwing dev rebuilds on every save, and there is nothing to keep running", o.Plan.Name)
	}
	for _, j := range o.Plan.Jobs {
		if j.Service == nil && d.build.Index(j.ID) < 0 {
			d.say("%s needs a service, so sparkwing dev does not run it (sparkwing run does)", j.ID)
		}
	}
	w, err := watch(o.Root, o.Ignore, o.Quiet)
	if err != nil {
		return err
	}
	defer w.close()
	d.say("watching %s (%d directories); Ctrl-C stops", o.Root, w.dirs)
	d.cycle(ctx, time.Now(), nil)
	for {
		select {
		case <-ctx.Done():
			d.stopAll()
			return nil
		case cs := <-w.changes:
			if !cs.settle(o.Root) {
				continue
			}
			if cs.overflow {
				d.say("the file watcher lost events: checking every input")
			}
			d.cycle(ctx, cs.first, cs.paths)
		case in := <-d.restart:
			d.recover(ctx, in)
		case err := <-w.errs:
			d.say("file watcher: %v", err)
		}
	}
}

// split separates the jobs a build runs (those no service is upstream of)
// from the services, in plan order.
func split(p *plan.Plan) (*plan.Plan, []plan.Job) {
	afterService := map[string]bool{}
	var services []plan.Job
	var keep []string
	for _, i := range plan.Topo(p.Deps()) {
		j := p.Jobs[i]
		down := j.Service != nil
		for _, n := range j.Needs {
			down = down || afterService[n]
		}
		afterService[j.ID] = down
		switch {
		case j.Service != nil:
			services = append(services, j)
		case !down:
			keep = append(keep, j.ID)
		}
	}
	build, err := p.Only(keep)
	if err != nil || len(keep) == 0 {
		build = &plan.Plan{Name: p.Name}
	}
	return build, services
}

type dev struct {
	o        Options
	started  time.Time
	session  string
	build    *plan.Plan
	services []plan.Job

	mu      sync.Mutex // guards writes to Out
	running []*instance
	restart chan *instance // a service that exited by itself, due for a restart
	output  map[string]string
	keys    map[string]string
	relied  func(rel string) bool // what the last build relied on; nil: unknown
	sync    *syncState            // sparkwing dev --sync
	logs    map[string]*podLogs   // deploy job → its pods' logs, followed
}

// instance is one process of a service.
type instance struct {
	job     plan.Job
	proc    *job.Process
	tail    *tail
	stopped bool          // stopped by the loop, not crashed
	backoff time.Duration // before the next restart after a crash
	started time.Time
}

func (d *dev) say(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(d.o.Out, "sparkwing dev: "+format+"\n", args...)
}

// Timing is one change's record in the stats file, a JSON line.
type Timing struct {
	Session   string  `json:"session"`
	At        string  `json:"at"`
	TotalMS   float64 `json:"total_ms"`
	DetectMS  float64 `json:"detect_ms"`
	BuildMS   float64 `json:"build_ms"`
	RestartMS float64 `json:"restart_ms"`
	HealthMS  float64 `json:"health_ms"`
	// A change that deployed: its image jobs' build and push, and the
	// deploy jobs' render, check and apply, and rollout (health above).
	ImageMS   float64  `json:"image_ms,omitempty"`
	ApplyMS   float64  `json:"apply_ms,omitempty"`
	RolloutMS float64  `json:"rollout_ms,omitempty"`
	Deployed  []string `json:"deployed,omitempty"`
	// A change synced into the pods (sparkwing dev --sync): copying the
	// files and restarting the process, and the deploy jobs synced.
	SyncMS    float64  `json:"sync_ms,omitempty"`
	Synced    []string `json:"synced,omitempty"`
	Changed   []string `json:"changed,omitempty"` // the paths that changed (the first 10)
	Ran       int      `json:"ran"`
	Restarted []string `json:"restarted"`
	Failed    string   `json:"failed,omitempty"`
	Crash     bool     `json:"crash,omitempty"`   // a restart after the service exited, not after an edit
	Skipped   bool     `json:"skipped,omitempty"` // nothing the last build relied on changed: no build
}

// EditToHealthy reports whether t is an edit that ended with a service
// restarted, or a deploy rolled out, and healthy: what `sparkwing dev
// --stats` summarizes.
func (t Timing) EditToHealthy() bool {
	return t.Failed == "" && !t.Crash && (len(t.Restarted) > 0 || len(t.Deployed) > 0 || len(t.Synced) > 0) && t.DetectMS > 0
}

// Mode is how a change reached a healthy service: "local" (a service
// restarted), "cluster" (a deploy rolled out) or "sync" (files synced
// into the pods). Each has its own phases.
func (t Timing) Mode() string {
	switch {
	case len(t.Synced) > 0:
		return "sync"
	case len(t.Deployed) > 0:
		return "cluster"
	}
	return "local"
}

// Phases are the parts of a change, in order, each with its time.
func (t Timing) Phases() []Phase {
	switch t.Mode() {
	case "sync":
		return []Phase{{"detect", t.DetectMS}, {"build", t.BuildMS}, {"sync", t.SyncMS}, {"health", t.HealthMS}}
	case "cluster":
		return []Phase{{"detect", t.DetectMS}, {"build", t.BuildMS}, {"image", t.ImageMS}, {"apply", t.ApplyMS},
			{"rollout", t.RolloutMS}, {"health", t.HealthMS}}
	}
	return []Phase{{"detect", t.DetectMS}, {"build", t.BuildMS}, {"restart", t.RestartMS}, {"health", t.HealthMS}}
}

// Phase is one part of a change and its time.
type Phase struct {
	Name string
	MS   float64
}

// ReadTimings reads a stats file; lines it cannot read are skipped.
func ReadTimings(file string) ([]Timing, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var out []Timing
	for line := range strings.Lines(string(data)) {
		var t Timing
		if json.Unmarshal([]byte(line), &t) == nil {
			out = append(out, t)
		}
	}
	return out, nil
}

// cycle builds after a change set whose first event came at edited (the
// loop's start for the first), then restarts what the build changed.
func (d *dev) cycle(ctx context.Context, edited time.Time, paths []string) {
	t := Timing{Session: d.session, At: time.Now().UTC().Format(time.RFC3339Nano), Restarted: []string{}}
	t.Changed = slices.Compact(slices.Sorted(slices.Values(paths)))
	t.Changed = t.Changed[:min(len(t.Changed), 10)]
	start := time.Now()
	t.DetectMS = ms(start.Sub(edited))
	if paths == nil {
		t.DetectMS = 0
	}
	if d.relied != nil && paths != nil && !slices.Contains(paths, all) && !slices.ContainsFunc(paths, d.relied) {
		// Nothing the last build relied on changed: it would restore
		// every job as it is. The check is the whole build.
		t.BuildMS, t.Skipped = ms(time.Since(start)), true
		t.TotalMS = ms(time.Since(edited))
		d.record(t)
		return
	}
	d.relied = nil
	if d.sync != nil {
		if paths != nil && d.trySync(ctx, edited, start, &t) {
			return
		}
		d.sync.beforeDeploy(d.session)
	}
	e := d.early(ctx)
	rec, err := d.o.Build(ctx, d.build, e.ended)
	if d.sync != nil { // once the change is timed and said
		defer d.sync.afterDeploy(ctx, err == nil && rec.Status == runrec.Success, d.o.Root)
	}
	e.wait(&t)
	t.BuildMS = ms(time.Since(start))
	if !e.begun.IsZero() {
		t.BuildMS = ms(e.begun.Sub(start)) // the rest of the run went on while the services restarted
	}
	if ctx.Err() != nil {
		return
	}
	if err == nil && rec.Status != runrec.Success {
		err = fmt.Errorf("%s", failure(rec))
	}
	if err != nil {
		t.Failed = err.Error()
		t.TotalMS = ms(time.Since(edited))
		switch {
		case len(t.Restarted) > 0:
			d.say("build failed: %v; %s restarted before, on what it needs", err, strings.Join(t.Restarted, ", "))
		case len(d.running) > 0:
			d.say("build failed: %v; the running %s stays as it was", err, names(d.running))
		default:
			d.say("build failed: %v; waiting for the next save", err)
		}
		d.record(t)
		return
	}
	if d.o.ReliedOn != nil {
		d.relied = d.o.ReliedOn(d.build)
	}
	d.splitDeploys(rec, &t)
	changed := map[string]bool{}
	for _, j := range rec.Jobs {
		if j.Status == runrec.Ran {
			t.Ran++
		}
		if d.newResult(j) {
			changed[j.ID] = true
		}
	}
	healthy := e.healthy
	for _, svc := range d.services {
		if e.decided[svc.ID] {
			continue
		}
		in := d.instanceOf(svc.ID)
		if in != nil && !slices.ContainsFunc(restartOn(svc), func(id string) bool { return changed[id] }) {
			continue
		}
		if err := d.restartService(ctx, svc, in, &t); err != nil {
			break
		}
		healthy = time.Now()
	}
	t.TotalMS = ms(time.Since(edited))
	if len(t.Restarted) > 0 && t.Failed == "" {
		t.TotalMS = ms(healthy.Sub(edited))
	}
	d.record(t)
	switch {
	case t.Failed != "":
	case len(t.Deployed) > 0 && paths != nil:
		d.say("edit → healthy on the cluster in %s (detect %s · build %s · image %s · apply %s · rollout %s · health %s)",
			Secs(t.TotalMS), Secs(t.DetectMS), Secs(t.BuildMS), Secs(t.ImageMS), Secs(t.ApplyMS), Secs(t.RolloutMS), Secs(t.HealthMS))
	case len(t.Deployed) > 0:
		d.say("built and deployed in %s (build %s · image %s · apply %s · rollout %s · health %s)",
			Secs(t.TotalMS), Secs(t.BuildMS), Secs(t.ImageMS), Secs(t.ApplyMS), Secs(t.RolloutMS), Secs(t.HealthMS))
	case len(t.Restarted) > 0 && paths != nil:
		d.say("edit → healthy in %s (detect %s · build %s · restart %s · health %s)",
			Secs(t.TotalMS), Secs(t.DetectMS), Secs(t.BuildMS), Secs(t.RestartMS), Secs(t.HealthMS))
	case len(t.Restarted) > 0:
		d.say("built and healthy in %s (build %s · start and health %s)", Secs(t.TotalMS), Secs(t.BuildMS), Secs(t.HealthMS))
	case t.Ran > 0 && len(d.services) > 0:
		d.say("edit → built in %s (detect %s · build %s); no output a service restarts on changed, so nothing restarted",
			Secs(t.TotalMS), Secs(t.DetectMS), Secs(t.BuildMS))
	case t.Ran > 0:
		d.say("edit → built in %s (detect %s · build %s)", Secs(t.TotalMS), Secs(t.DetectMS), Secs(t.BuildMS))
	}
	if t.Failed == "" {
		d.followLogs(ctx)
	}
}

// restartOn are the jobs whose new output restarts svc.
func restartOn(svc plan.Job) []string {
	if svc.Service.RestartOn != nil {
		return svc.Service.RestartOn
	}
	return svc.Needs
}

// restartService stops in (if any) and starts svc until it is healthy,
// adding the times to t.
func (d *dev) restartService(ctx context.Context, svc plan.Job, in *instance, t *Timing) error {
	r0 := time.Now()
	if in != nil {
		d.stop(in)
	}
	t.RestartMS += ms(time.Since(r0))
	h0 := time.Now()
	if err := d.start(ctx, svc, nil); err != nil {
		t.Failed = fmt.Sprintf("%s: %v", svc.ID, err)
		return err
	}
	t.HealthMS += ms(time.Since(h0))
	t.Restarted = append(t.Restarted, svc.ID)
	return nil
}

// earlyRestarts restart services while the build still runs: a service
// whose needs have all ended is restarted the moment one it restarts on
// has a new output, instead of after the engine has stored every result
// and written the run's record. Services that wait on anything else are
// left to the end of the build.
type earlyRestarts struct {
	d   *dev
	ctx context.Context

	mu     sync.Mutex
	ends   map[string]string // job → output digest, as the engine reports them
	queued map[string]bool   // services handed to the worker
	queue  chan plan.Job
	done   chan struct{}

	// The worker's, read after done: which services it decided on (those
	// it restarted and those with nothing new), and its times.
	decided map[string]bool
	t       Timing
	begun   time.Time // when the first restart began
	healthy time.Time // when the last restarted service was healthy
}

func (d *dev) early(ctx context.Context) *earlyRestarts {
	e := &earlyRestarts{d: d, ctx: ctx, ends: map[string]string{}, queued: map[string]bool{}, queue: make(chan plan.Job, len(d.services)),
		done: make(chan struct{}), decided: map[string]bool{}}
	go e.work(e.queue) // the channel as made: wait sets the field to nil
	return e
}

// ended is the engine's OnDone.
func (e *earlyRestarts) ended(job, output string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.queue == nil {
		return
	}
	e.ends[job] = output
	for _, svc := range e.d.services {
		if !e.queued[svc.ID] && e.allEnded(svc.Needs) && e.allEnded(restartOn(svc)) {
			e.queued[svc.ID] = true
			e.queue <- svc
		}
	}
}

func (e *earlyRestarts) allEnded(jobs []string) bool {
	for _, j := range jobs {
		if _, ok := e.ends[j]; !ok {
			return false
		}
	}
	return true
}

func (e *earlyRestarts) work(queue <-chan plan.Job) {
	defer close(e.done)
	for svc := range queue {
		e.decided[svc.ID] = true
		in := e.d.instanceOf(svc.ID)
		e.mu.Lock()
		changed := slices.ContainsFunc(restartOn(svc), func(id string) bool { return e.ends[id] != e.d.output[id] })
		e.mu.Unlock()
		if in != nil && !changed {
			continue
		}
		if e.begun.IsZero() {
			e.begun = time.Now()
		}
		if e.d.restartService(e.ctx, svc, in, &e.t) != nil {
			continue
		}
		e.healthy = time.Now()
	}
}

// wait waits for the restarts begun and adds their times to t.
func (e *earlyRestarts) wait(t *Timing) {
	e.mu.Lock()
	close(e.queue)
	e.queue = nil
	e.mu.Unlock()
	<-e.done
	t.RestartMS += e.t.RestartMS
	t.HealthMS += e.t.HealthMS
	t.Restarted = append(t.Restarted, e.t.Restarted...)
	if e.t.Failed != "" {
		t.Failed = e.t.Failed
	}
}

// splitDeploys takes the time of the image jobs that built and the deploy
// jobs that applied out of t's build time, into the cluster phases.
func (d *dev) splitDeploys(rec *runrec.Record, t *Timing) {
	var taken float64
	for _, rj := range rec.Jobs {
		i := d.build.Index(rj.ID)
		if i < 0 || rj.Status != runrec.Ran {
			continue
		}
		switch j := d.build.Jobs[i]; {
		case rj.Deploy != nil:
			t.Deployed = append(t.Deployed, rj.ID)
			t.ApplyMS += float64(rj.Deploy.CheckMS + rj.Deploy.ApplyMS)
			t.RolloutMS += float64(rj.Deploy.RolloutMS)
			t.HealthMS += float64(rj.Deploy.HealthMS)
			taken += float64(rj.DurationMS)
		case j.Image != nil && j.Image.Export == "":
			t.ImageMS += float64(rj.DurationMS)
			taken += float64(rj.DurationMS)
		}
	}
	if len(t.Deployed) > 0 {
		t.BuildMS = max(0, t.BuildMS-taken)
	}
}

// newResult reports whether job j's result differs from the last build's:
// its output digest when known, else its key; a job with neither (not
// cached) that ran is new.
func (d *dev) newResult(j runrec.Job) bool {
	before, seen := d.output[j.ID], d.output[j.ID] != "" || d.keys[j.ID] != ""
	switch {
	case j.Output != "":
		d.output[j.ID] = j.Output
		return !seen || before != j.Output
	case j.Key != "":
		old := d.keys[j.ID]
		d.keys[j.ID] = j.Key
		return !seen || old != j.Key
	}
	return j.Status == runrec.Ran
}

func (d *dev) instanceOf(id string) *instance {
	for _, in := range d.running {
		if in.job.ID == id {
			return in
		}
	}
	return nil
}

// start starts a service and waits until it is healthy; prev is the
// instance it replaces after a crash (its back-off carries over).
func (d *dev) start(ctx context.Context, svc plan.Job, prev *instance) error {
	in := &instance{job: svc, tail: &tail{}, backoff: time.Second, started: time.Now()}
	if prev != nil && time.Since(prev.started) < time.Minute { // crashing again soon: wait longer
		in.backoff = min(prev.backoff*2, 30*time.Second)
	}
	out := prefixed(d, svc.ID, in.tail)
	proc, err := engine.StartService(ctx, d.o.Runner, svc, out, func(msg string) { d.say("warning: %s: %s", svc.ID, msg) })
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		d.say("%s did not start: %v%s\nsparkwing dev: restarting it in %v", svc.ID, err, in.tail.String(), in.backoff)
		in.proc = nil
		d.later(in)
		return err
	}
	in.proc = proc
	d.running = append(d.running, in)
	go func() {
		<-proc.Done()
		d.mu.Lock()
		stopped := in.stopped
		d.mu.Unlock()
		if !stopped {
			d.restart <- in
		}
	}()
	return nil
}

// recover handles a service that exited by itself: it says so with its
// last lines and restarts it after its back-off (doubling to 30 s).
func (d *dev) recover(ctx context.Context, in *instance) {
	if in.proc != nil {
		if d.instanceOf(in.job.ID) != in {
			return // already replaced
		}
		d.running = slices.DeleteFunc(d.running, func(x *instance) bool { return x == in })
		d.say("%s exited: %v%s\nsparkwing dev: restarting it in %v", in.job.ID, in.proc.Err(), in.tail.String(), in.backoff)
		in.proc = nil
		d.later(in)
		return
	}
	if d.instanceOf(in.job.ID) != nil {
		return // a save restarted it meanwhile
	}
	t := Timing{Session: d.session, At: time.Now().UTC().Format(time.RFC3339Nano), Restarted: []string{}, Crash: true}
	h0 := time.Now()
	if err := d.start(ctx, in.job, in); err != nil {
		t.Failed = fmt.Sprintf("%s: %v", in.job.ID, err)
	} else {
		t.Restarted, t.HealthMS = []string{in.job.ID}, ms(time.Since(h0))
		d.say("%s is healthy again", in.job.ID)
	}
	t.TotalMS = t.HealthMS
	d.record(t)
}

// later queues a restart of a service after its back-off.
func (d *dev) later(in *instance) {
	time.AfterFunc(in.backoff, func() { d.restart <- in })
}

func (d *dev) stop(in *instance) {
	d.mu.Lock()
	in.stopped = true
	d.mu.Unlock()
	engine.StopService(in.job, in.proc)
	d.running = slices.DeleteFunc(d.running, func(x *instance) bool { return x == in })
}

func (d *dev) stopAll() {
	for _, in := range slices.Backward(slices.Clone(d.running)) {
		d.stop(in)
	}
	for _, f := range d.logs {
		f.stop()
	}
	d.say("stopped")
}

// record appends a change's timing to the stats file.
func (d *dev) record(t Timing) {
	if d.o.Stats == "" {
		return
	}
	line, _ := json.Marshal(t)
	dir := filepath.Dir(d.o.Stats)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	if f, err := os.OpenFile(filepath.Join(dir, ".gitignore"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); err == nil {
		f.WriteString("# written by sparkwing dev: its timings, not sources\n*\n") // once: a user's edit to it stays
		f.Close()
	}
	f, err := os.OpenFile(d.o.Stats, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		d.say("cannot record the timing: %v", err)
		return
	}
	defer f.Close()
	f.Write(append(line, '\n'))
}

// failure names the jobs a failed build failed in.
func failure(rec *runrec.Record) string {
	var parts []string
	for _, j := range rec.Jobs {
		if j.Status == runrec.Failed {
			parts = append(parts, j.ID+": "+j.Error)
		}
	}
	if len(parts) == 0 {
		return string(rec.Status)
	}
	return strings.Join(parts, "; ")
}

func jobIDs(jobs []plan.Job) string {
	var ids []string
	for _, j := range jobs {
		ids = append(ids, j.ID)
	}
	return strings.Join(ids, ", ")
}

func names(ins []*instance) string {
	var ids []string
	for _, in := range ins {
		ids = append(ids, in.job.ID)
	}
	return strings.Join(ids, ", ")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Secs writes a time in milliseconds for people: 640 ms, 1.25 s.
func Secs(ms float64) string {
	if ms < 1000 {
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.2f s", ms/1000)
}

// prefixed writes a service's output to the loop's, each line prefixed
// with its id, and keeps its last lines.
func prefixed(d *dev, id string, t *tail) io.Writer {
	return &ui.Lines{Line: func(line []byte) {
		text := strings.TrimSuffix(string(line), "\n")
		t.add(text)
		d.mu.Lock()
		fmt.Fprintf(d.o.Out, "%s │ %s\n", id, text)
		d.mu.Unlock()
	}}
}

// tail keeps a service's last lines.
type tail struct {
	mu    sync.Mutex
	lines []string
}

func (t *tail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > 10 {
		t.lines = t.lines[len(t.lines)-10:]
	}
}

// String is the last lines, indented, after a newline; "" when none.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 0 {
		return ""
	}
	return "; its last lines:\n  │ " + strings.Join(t.lines, "\n  │ ")
}
