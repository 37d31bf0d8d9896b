package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
	"github.com/sparkwing-dev/sparkwing/internal/sched"
)

// The last-run record is the no-op's shortcut. After a run in which every
// job was a hit, or ran and was stored, and nothing was warned about, the
// engine writes what that run relied on: the plan, the environment its
// keys read, the program, the store, each job's key and log, and the stat
// of every input it hashed, every directory its globs listed and every
// output it left in place (fileset.Seen). The next run of the pipeline
// checks the record first. If none of it changed, the full path would
// list the same files, hash the same content, compute the same keys and
// find every job's outputs in place, so the run reports every job as a
// hit without taking a lock, computing a key or reading an entry: one
// lstat per path, one per entry (still in the store?), and each tool
// command run again.
//
// Any doubt is a full run: a record that is missing, damaged, written by
// another program, project or store, dated in the future, or naming a
// path whose stat differs. A run that takes the full path removes the
// record before it starts, so a record only ever describes the tree as
// the run that wrote it left it.

// touchAfter is how long a record's no-ops leave the store's
// least-recently-used order as the run that wrote it left it. A no-op
// with an older record touches each job's entry, as the full path would,
// and dates the record anew: the entries of a project that only ever
// no-ops are not pruned first, and its first no-op of the day does not
// take the full path for that (10,000 jobs: about 3× the time and the
// memory).
const touchAfter = time.Hour

const recordMagic = "sparkwing-lastrun v2 "

// maxLastRun bounds a record file.
const maxLastRun = 1 << 30

// lastRun is a decoded record.
type lastRun struct {
	written  time.Time
	identity fileset.Digest
	jobs     []lastJob // in plan order
	snap     *fileset.Snapshot
	// changed, when checked, are the snapshot's paths whose stat differed
	// when an Early check compared them with the tree.
	changed []string
	checked bool
}

// Early is a pipeline's last-run record read, and its paths compared with
// the tree, in the background (CheckEarly): the caller starts it as soon
// as it knows the project and the pipeline's name, and the run uses it
// (Options.Early) when it names the same record. Loading and checking the
// plan then overlaps the record's lstats, which are most of a no-op.
//
// Nothing is decided early: the run checks the record it was given exactly
// as one it read itself (plan, environment, program, store, tools, the
// store's entries under the store's lock), and the paths' stats are as
// good as ones taken a millisecond later.
type Early struct {
	path  string
	done  chan struct{}
	rec   *lastRun
	err   error
	check *fileset.Check
}

// CheckEarly starts reading the record of pipeline in the project at root
// and comparing its paths with the tree.
func CheckEarly(root, pipeline string) *Early {
	c := &Early{path: LastRunPath(root, pipeline), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		c.rec, c.err = loadLastRun(c.path)
		if c.err == nil {
			c.check = c.rec.snap.StartCheck(root, maxChanged)
		}
	}()
	return c
}

// load is the record at path: the early check's when it read that one.
func (c *Early) load(path string) (*lastRun, error) {
	if c == nil || c.path != path {
		return loadLastRun(path)
	}
	<-c.done
	if c.check != nil {
		c.rec.changed, c.rec.checked = c.check.Changed(), true
		c.check = nil
	}
	return c.rec, c.err
}

// lastJob is what a hit on one job needs.
type lastJob struct {
	key    cache.Key
	output fileset.Digest // its outputs' digest, which the jobs that need it read
	log    string         // blob digest
	text   []byte         // the log itself (only small logs are recorded)
	tools  []fileset.Digest
}

func (e *execution) lastRunPath() string { return LastRunPath(e.opts.Root, e.plan.Name) }

// LastRunPath is the file of pipeline's last-run record in the project at
// root.
func LastRunPath(root, pipeline string) string {
	return filepath.Join(root, cache.StateDir, "last-run", pipeline)
}

// keys are each job's key in the record, which is of plan p.
func (r *lastRun) keys(p *plan.Plan) map[string]string {
	keys := make(map[string]string, len(p.Jobs))
	for i, j := range p.Jobs {
		keys[j.ID] = r.jobs[i].key.String()
	}
	return keys
}

// loadLastRun reads and decodes a record.
func loadLastRun(path string) (*lastRun, error) {
	data, err := fileset.ReadRegular(path, maxLastRun)
	if err != nil {
		return nil, err
	}
	return parseLastRun(data)
}

// computeIdentity digests what a record is valid for besides the tree:
// the project, the store, the program (the key's definition), the plan,
// the environment the keys read and the remote cache's settings. A run
// computes it once (execution.identity), as it starts, beside its jobs:
// the record written at its end names the program that made its keys.
func (e *execution) computeIdentity() (fileset.Digest, error) {
	exe, err := os.Executable()
	if err != nil {
		return fileset.Digest{}, err
	}
	st, err := os.Stat(exe)
	if err != nil {
		return fileset.Digest{}, err
	}
	sys, _ := st.Sys().(*syscall.Stat_t)
	if sys == nil {
		return fileset.Digest{}, errors.New("no inode for the program")
	}
	jobs, err := json.Marshal(e.plan.Jobs)
	if err != nil {
		return fileset.Digest{}, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%d %d %d %d %d\x00%q\x00%s\x00%s\x00%q\x00", recordMagic, e.opts.Root,
		e.cache.Store.Dir, exe, sys.Dev, sys.Ino, st.Size(), st.ModTime().UnixNano(), sys.Ctim.Nano(),
		e.cache.NeverInputs, e.plan.Name, cache.EnvDigest(e.plan.Jobs, e.cache.Env), e.opts.RemoteID)
	h.Write(jobs)
	var d fileset.Digest
	h.Sum(d[:0])
	return d, nil
}

// eligible says why the record cannot be used or written by this run, or
// "" when it can.
func (e *execution) eligible() string {
	switch {
	case e.cache == nil:
		return "the cache is off"
	case e.cache.Store == nil:
		return "the cache is unavailable"
	case e.opts.NoCache:
		return "--no-cache"
	}
	return ""
}

// upToDate reports every job as a hit and returns the scheduler's results
// when the last-run record holds; otherwise it says why not (to
// Options.Explain) and returns nil.
func (e *execution) upToDate(ctx context.Context) []sched.Result {
	rec, why := e.checkLastRun(ctx)
	if rec == nil {
		e.explain("the last run's record is not used: " + why)
		return nil
	}
	e.recorded = rec
	changed := rec.changed
	if !rec.checked {
		changed = rec.snap.ChangedPaths(e.opts.Root, maxChanged)
	}
	if len(changed) > 0 {
		// Some job will hash: its stat caches load while the rest is decided.
		e.cache.Hasher.Preload()
		e.cache.Tree.Preload()
		why := changed[0] + " changed"
		if held := e.holdUnaffected(rec, changed); held != "" {
			why += "; " + held
		}
		e.explain("the last run's record is not used: " + why)
		return nil
	}
	for i, j := range e.plan.Jobs {
		// Only when nothing changed: on an edit, each held job checks its
		// own entry and takes the full path if it is gone (fromRecord).
		if !e.cache.Store.Has(rec.jobs[i].key) {
			e.explain("the last run's record is not used: the store no longer has the result of job " + j.ID)
			return nil
		}
	}
	if e.opts.Explain != nil {
		when := ""
		if rec.checked {
			when = " as the plan loaded"
		}
		e.explain(fmt.Sprintf("the last run's record holds (%d paths checked%s); --verbose computes every key anyway", rec.snap.Len(), when))
		return nil
	}
	if time.Since(rec.written) > touchAfter {
		e.touchRecorded(rec)
	}
	obs := e.opts.Observer
	results := make([]sched.Result, len(e.plan.Jobs))
	for _, i := range plan.Topo(e.plan.Deps()) {
		j, lj := e.plan.Jobs[i], rec.jobs[i]
		t := time.Now()
		obs.JobStarted(j.ID)
		e.showCached(j.ID, lj.text)
		e.jobs[i] = runrec.Job{ID: j.ID, Status: runrec.Cached, Key: lj.key.String(),
			Cache: runrec.Cache{Result: "hit"}, LogDigest: lj.log}
		results[i] = sched.Result{Status: sched.Succeeded, Ready: t, Start: t, End: t} // no job time
		obs.JobFinished(e.jobs[i], e.run.LogPath(j.ID))
	}
	return results
}

// touchRecorded touches the entry of every job of rec, which this no-op
// uses, and writes rec again dated now (see touchAfter). If a touch
// fails, the record keeps its date and the next no-op tries again.
func (e *execution) touchRecorded(rec *lastRun) {
	for _, j := range rec.jobs {
		if err := e.cache.Store.Touch(j.key); err != nil {
			e.explain("the last run's record holds, but its entries could not be marked used: " + err.Error())
			return
		}
	}
	rec.written = time.Now()
	if err := fileset.WriteAtomic(e.lastRunPath(), rec.file(), 0o600); err != nil {
		e.explain("the last run's record could not be dated anew: " + err.Error())
	}
}

// checkLastRun reads the record and checks it against this run, all but
// the tree.
func (e *execution) checkLastRun(ctx context.Context) (*lastRun, string) {
	if why := e.eligible(); why != "" {
		return nil, why
	}
	rec, err := e.opts.Early.load(e.lastRunPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "there is none (the last run ran or changed something, or warned)"
	}
	if err == nil && len(rec.jobs) != len(e.plan.Jobs) {
		err = errors.New("damaged record") // the identity would differ too
	}
	if err != nil {
		return nil, err.Error()
	}
	id, err := e.identity()
	switch age := time.Since(rec.written); {
	case err != nil:
		return nil, err.Error()
	case rec.identity != id:
		return nil, "the plan, the environment the keys read, the program or the store changed"
	case age < 0:
		return nil, "it is dated in the future (the clock was set back)"
	}
	for i, j := range e.plan.Jobs {
		lj := rec.jobs[i]
		if len(lj.tools) != len(j.Tools) {
			return nil, "damaged record"
		}
		for t, command := range j.Tools {
			if d, err := e.cache.Tool(ctx, j, command); err != nil || d != lj.tools[t] {
				return nil, fmt.Sprintf("tool command %q of job %s prints something else", command, j.ID)
			}
		}
	}
	return rec, ""
}

// remember notes, for the record, that job j's result is entry with the
// given log (nil: too large to record), and checks its outputs in place.
func (e *execution) remember(j plan.Job, comp *cache.Computed, entry *cache.Entry, log []byte) {
	if e.seen == nil {
		return
	}
	if j.Image != nil {
		// Its build context is listed by sparkwing-image, whose walk the
		// record does not see: a file added there would go unnoticed.
		e.seen.Spoil("job " + j.ID + " exports an image target, whose context the record cannot watch")
		return
	}
	if entry.LogSize == 0 {
		log = []byte{}
	}
	if log == nil || int64(len(log)) != entry.LogSize {
		e.seen.Spoil("the log of job " + j.ID + " is too large to record")
		return
	}
	lj := lastJob{key: comp.Key, output: digestOf(entry.OutputDigest), log: entry.Log, text: log}
	for _, t := range j.Tools {
		lj.tools = append(lj.tools, comp.Tools[t])
	}
	e.ws.NoteOutputs(entry.Outputs, e.cache.Hasher, e.seen)
	e.mu.Lock()
	e.last[j.ID] = lj
	e.mu.Unlock()
}

// forgetLastRun removes the record before a run that may change the tree
// (with the cache off or --no-cache too: its jobs rewrite their outputs).
func (e *execution) forgetLastRun() {
	os.Remove(e.lastRunPath())
}

// saveLastRun writes the record after a run every job of which is known
// to be its entry, with nothing warned.
func (e *execution) saveLastRun(rec *runrec.Record) {
	if e.seen == nil || rec.Status != runrec.Success {
		return
	}
	if n := e.warnings.n.Load(); n > 0 {
		e.explain(fmt.Sprintf("no record of this run for the next: %d warnings", n))
		return
	}
	lr := lastRun{written: time.Now()}
	for _, j := range e.plan.Jobs {
		lj, ok := e.last[j.ID]
		if !ok {
			e.explain("no record of this run for the next: job " + j.ID + " has no cached result")
			return
		}
		lr.jobs = append(lr.jobs, lj)
	}
	snap, err := e.seen.Snapshot()
	if err == nil {
		lr.identity, err = e.identity()
	}
	if err != nil {
		e.explain("no record of this run for the next: " + err.Error())
		return
	}
	lr.snap = snap
	path := e.lastRunPath()
	err = os.MkdirAll(filepath.Dir(path), 0o755)
	if err == nil {
		err = fileset.WriteAtomic(path, lr.file(), 0o600)
	}
	if err != nil {
		e.explain("no record of this run for the next: " + err.Error())
	}
}

// ReliedOn reads the last-run record of the pipeline p and returns
// whether a change to a path (slash-separated, relative to root) can
// change what that run relied on: the path is in the record; or it is a
// file in a directory the run listed that an input glob matches (any file
// there when a job reads Go packages or a build context, whose files no
// glob names); or it lies deeper below a listed directory. It returns nil
// when there is no record (the last run ran something it did not store,
// or warned) or a job has tools (their output is not a file). A change
// set none of whose paths it reports leaves every job's result as the
// recorded run left it: sparkwing dev then has nothing to run.
func ReliedOn(root string, p *plan.Plan) func(rel string) bool {
	var globs []string
	anyFile := false
	for _, j := range p.Jobs {
		if len(j.Tools) > 0 {
			return nil
		}
		include, _ := plan.SplitInputs(j.Inputs)
		globs = append(globs, include...)
		anyFile = anyFile || len(j.GoInputs) > 0 || j.GoTest != nil || j.Image != nil
	}
	rec, err := loadLastRun(LastRunPath(root, p.Name))
	if err != nil || len(rec.jobs) != len(p.Jobs) {
		return nil
	}
	return func(rel string) bool {
		if rec.snap.Has(rel) {
			return true
		}
		parent := path.Dir(rel)
		if rec.snap.Has(parent) {
			if st, err := os.Lstat(filepath.Join(root, filepath.FromSlash(rel))); anyFile || (err == nil && st.IsDir()) {
				return true // a directory's contents may match a ** glob
			}
			return slices.ContainsFunc(globs, func(g string) bool { ok, _ := doublestar.Match(g, rel); return ok })
		}
		for q := parent; q != "." && q != "/"; {
			q = path.Dir(q)
			if rec.snap.Has(q) {
				return true
			}
		}
		return false
	}
}

func (e *execution) explain(msg string) {
	if e.opts.Explain != nil {
		e.opts.Explain(msg)
	}
}

// file is the record file: a header line with the SHA-256 of the rest,
// then the binary body (a torn or damaged file fails the checksum).
func (r *lastRun) file() []byte {
	// The header goes before a body of unknown length: its room is kept
	// and filled in, so a large record is not copied once more.
	n := len(recordMagic) + 2*sha256.Size + 1
	data := r.appendBinary(make([]byte, n))
	sum := sha256.Sum256(data[n:])
	copy(data, recordMagic)
	hex.Encode(data[len(recordMagic):], sum[:])
	data[n-1] = '\n'
	return data
}

func (r *lastRun) appendBinary(b []byte) []byte {
	b = binary.AppendVarint(b, r.written.UnixNano())
	b = append(b, r.identity[:]...)
	b = binary.AppendUvarint(b, uint64(len(r.jobs)))
	for _, j := range r.jobs {
		b = append(b, j.key[:]...)
		b = append(b, j.output[:]...)
		b = appendString(b, []byte(j.log))
		b = appendString(b, j.text)
		b = binary.AppendUvarint(b, uint64(len(j.tools)))
		for _, t := range j.tools {
			b = append(b, t[:]...)
		}
	}
	return r.snap.AppendBinary(b)
}

func appendString(b, s []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// parseLastRun decodes a record file.
func parseLastRun(data []byte) (*lastRun, error) {
	damaged := errors.New("damaged record")
	header, body, ok := bytes.Cut(data, []byte("\n"))
	sum := sha256.Sum256(body)
	if !ok || string(header) != recordMagic+hex.EncodeToString(sum[:]) {
		return nil, damaged
	}
	r := &reader{b: body}
	rec := &lastRun{written: time.Unix(0, r.varint())}
	copy(rec.identity[:], r.bytes(len(rec.identity)))
	for range min(r.uvarint(), uint64(len(r.b))) {
		var j lastJob
		copy(j.key[:], r.bytes(len(j.key)))
		copy(j.output[:], r.bytes(len(j.output)))
		j.log = string(r.string())
		j.text = r.string()
		for range min(r.uvarint(), uint64(len(r.b))) {
			var t fileset.Digest
			copy(t[:], r.bytes(len(t)))
			j.tools = append(j.tools, t)
		}
		rec.jobs = append(rec.jobs, j)
	}
	if r.bad {
		return nil, damaged
	}
	snap, rest, err := fileset.ParseSnapshot(r.b)
	if err != nil || len(rest) != 0 {
		return nil, damaged
	}
	rec.snap = snap
	return rec, nil
}

// reader decodes a record; any read past the end sets bad.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) bytes(n int) []byte {
	if n > len(r.b) {
		r.bad, r.b = true, nil
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) uvarint() uint64 {
	v, k := binary.Uvarint(r.b)
	r.skip(k)
	return v
}

func (r *reader) varint() int64 {
	v, k := binary.Varint(r.b)
	r.skip(k)
	return v
}

// skip moves past a varint of k bytes; k <= 0 means there was none.
func (r *reader) skip(k int) {
	if k <= 0 {
		r.bad, r.b = true, nil
		return
	}
	r.b = r.b[k:]
}

func (r *reader) string() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.bad, r.b = true, nil
		return nil
	}
	return r.bytes(int(n))
}
