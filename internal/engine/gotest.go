package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
	"github.com/sparkwing-dev/sparkwing/internal/job"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/ui"
)

// goTest runs a Go test job whose key missed. A package whose own key
// hits shows its stored result; the others are tested in one
// `go test -json` process (so they share compilation), shown as plain go
// test shows them, and each that passed is stored on its own: after an
// edit, only the packages that read the edited files are tested again,
// and a failing package does not cost the others' results.
func (e *execution) goTest(ctx context.Context, j plan.Job, comp *cache.Computed, started func(int)) job.Result {
	out, done, err := e.output(j)
	if err != nil {
		return job.Result{Status: job.Failed, Err: err}
	}
	defer done()
	var run []cache.Part
	for _, p := range comp.Parts {
		if log, ok := e.partResult(ctx, j, p); ok {
			out.Write(log)
			continue
		}
		run = append(run, p)
	}
	if len(run) == 0 {
		return job.Result{Status: job.OK, Attempts: 1}
	}
	var pkgs []string
	for _, p := range run {
		pkgs = append(pkgs, p.Package)
	}
	jj := j
	jj.Run = j.GoTest.Command(true, pkgs...)
	d := newTestDemux(out, slices.Contains(j.GoTest.Flags, "-v") || slices.Contains(j.GoTest.Flags, "-v=true"))
	t0 := time.Now()
	res := e.runner.Run(ctx, jj, d, started)
	d.Close()
	if res.Status == job.Cancelled {
		return res
	}
	// As for any job, a result is stored only if what it read did not
	// change while it ran: each package's key is made again.
	after, err := e.cache.Compute(ctx, j, e.needDigests(j))
	if err != nil {
		return res
	}
	unchanged := map[cache.Key]bool{}
	for _, p := range after.Parts {
		unchanged[p.Key] = true
	}
	for _, p := range run {
		if r := d.results[p.Package]; (r == "pass" || r == "skip") && unchanged[p.Key] {
			e.storePart(j, p, d.logs[p.Package], time.Since(t0))
		}
	}
	return res
}

// partResult is a package's stored result (its log), from the local
// store or else the remote cache, if either has one.
func (e *execution) partResult(ctx context.Context, j plan.Job, p cache.Part) ([]byte, bool) {
	if e.opts.NoCache {
		return nil, false
	}
	entry, err := e.cache.Store.Get(p.Key)
	if errors.Is(err, cache.ErrNotFound) && e.remote != nil {
		entry, _ = e.remote.Fetch(ctx, e.cache.Store, p.Key, cache.Entry{Project: e.opts.Root, Pipeline: e.plan.Name, Job: partJob(j, p)})
		if entry != nil {
			err = nil
		}
	}
	if err != nil || entry == nil {
		return nil, false // a damaged entry was removed: the package is tested again
	}
	var log bytes.Buffer
	if _, err := e.cache.Store.CopyBlob(&log, entry.Log, entry.LogSize); err != nil {
		return nil, false
	}
	e.cache.Store.Touch(p.Key)
	return log.Bytes(), true
}

// storePart stores one package's passing result: its log, no outputs.
func (e *execution) storePart(j plan.Job, p cache.Part, log *bytes.Buffer, took time.Duration) {
	tmp, err := os.CreateTemp(filepath.Dir(e.run.LogPath(j.ID)), ".part-*")
	if err == nil {
		if log != nil {
			_, err = tmp.Write(log.Bytes())
		}
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		defer os.Remove(tmp.Name())
	}
	if err == nil {
		meta := cache.Entry{DurationMS: took.Milliseconds(), Created: time.Now().UTC(),
			Project: e.opts.Root, Pipeline: e.plan.Name, Job: partJob(j, p)}
		var entry *cache.Entry
		if entry, err = e.cache.Save(p.Computed(), nil, tmp.Name(), meta); err == nil && e.remote != nil {
			e.remote.Upload(e.cache.Store, entry)
		}
	}
	if err != nil {
		e.opts.Observer.Warn(j.ID, fmt.Sprintf("could not store the result of package %s: %v", p.Package, err))
	}
}

// partJob names a package's entry: the job and the package.
func partJob(j plan.Job, p cache.Part) string { return j.ID + " " + p.Package }

// testDemux reads `go test -json` and writes what plain `go test` would
// show: each package's own lines (its summary, build errors), and a test's
// lines only when it failed (all of them with -v). It keeps that text per
// package, and each package's result.
type testDemux struct {
	out     io.Writer
	verbose bool
	lines   ui.Lines
	logs    map[string]*bytes.Buffer // by package: what was shown of it
	tests   map[string]*bytes.Buffer // by package and test: output held until the test ends
	results map[string]string        // by package: pass, fail or skip
}

func newTestDemux(out io.Writer, verbose bool) *testDemux {
	d := &testDemux{out: out, verbose: verbose, logs: map[string]*bytes.Buffer{},
		tests: map[string]*bytes.Buffer{}, results: map[string]string{}}
	d.lines.Line = d.line
	return d
}

// testEvent is a line of go test -json (cmd/test2json), or of the build
// output it reports.
type testEvent struct {
	Action, Package, Test, Output, ImportPath string
}

func (d *testDemux) Write(p []byte) (int, error) { return d.lines.Write(p) }

// Close shows what is left: a last line without a newline, and the held
// output of tests that never ended (a panic, a timeout).
func (d *testDemux) Close() {
	d.lines.Flush()
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range d.tests {
			if !yield(k) {
				return
			}
		}
	}) {
		pkg, _, _ := strings.Cut(k, "\x00")
		d.show(pkg, d.tests[k].Bytes())
	}
	d.tests = map[string]*bytes.Buffer{}
}

func (d *testDemux) line(l []byte) {
	if !bytes.HasSuffix(l, []byte("\n")) {
		l = append(l, '\n') // the last line, cut short
	}
	var ev testEvent
	if l[0] != '{' || json.Unmarshal(l, &ev) != nil {
		d.out.Write(l) // not an event: sparkwing's own lines, the shell's
		return
	}
	pkg := ev.Package
	if pkg == "" { // build output: "PKG [PKG.test]"
		pkg, _, _ = strings.Cut(ev.ImportPath, " ")
	}
	if ev.Test == "" {
		if d.verbose || ev.Output != "PASS\n" { // plain go test shows "ok" alone
			d.show(pkg, []byte(ev.Output))
		}
		if ev.Package != "" && (ev.Action == "pass" || ev.Action == "fail" || ev.Action == "skip") {
			d.results[pkg] = ev.Action
		}
		return
	}
	k := pkg + "\x00" + ev.Test
	if d.verbose {
		d.show(pkg, []byte(ev.Output))
		return
	}
	held := d.tests[k]
	if held == nil {
		held = &bytes.Buffer{}
		d.tests[k] = held
	}
	held.WriteString(ev.Output)
	switch ev.Action {
	case "fail":
		d.show(pkg, dropProgress(held.Bytes()))
		delete(d.tests, k)
	case "pass", "skip":
		delete(d.tests, k)
	}
}

// dropProgress leaves out the "=== RUN" (PAUSE, CONT, NAME) lines that
// go test -json always carries and plain go test shows only with -v.
func dropProgress(text []byte) []byte {
	var out []byte
	for line := range bytes.Lines(text) {
		if !bytes.HasPrefix(line, []byte("=== ")) {
			out = append(out, line...)
		}
	}
	return out
}

func (d *testDemux) show(pkg string, text []byte) {
	if len(text) == 0 {
		return
	}
	d.out.Write(text)
	if d.logs[pkg] == nil {
		d.logs[pkg] = &bytes.Buffer{}
	}
	d.logs[pkg].Write(text)
}
