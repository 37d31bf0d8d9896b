package bench

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Scenarios, each run per tool where it applies.
const (
	Cold     = "cold"      // every cache and output removed before each run
	NoOp     = "no-op"     // nothing changed since the last run
	Edit     = "edit"      // one source file of one job (that nothing needs) changed
	EditCore = "core edit" // a Go workload's file that most packages import changed
	Restore  = "restore"   // every output deleted, caches warm
	Makespan = "makespan"  // long pole: every input changed, all jobs re-run
)

// A Sample is one measured run.
type Sample struct {
	Seconds float64
	RSSKiB  int64 // the largest process of the run's tree (ru_maxrss); 0 if not known
}

// A Series is every sample of one tool in one scenario on one workload.
type Series struct {
	Workload string
	Scenario string
	Tool     string
	Samples  []Sample
	Err      string `json:",omitempty"`
	Note     string `json:",omitempty"`
}

// Median is the series' median time in seconds.
func (s *Series) Median() float64 {
	return median(s.Samples, func(x Sample) float64 { return x.Seconds })
}

// Range is the fastest and slowest sample.
func (s *Series) Range() (lo, hi float64) {
	for i, x := range s.Samples {
		if i == 0 || x.Seconds < lo {
			lo = x.Seconds
		}
		if i == 0 || x.Seconds > hi {
			hi = x.Seconds
		}
	}
	return lo, hi
}

// MedianRSS is the median peak RSS in MiB.
func (s *Series) MedianRSS() float64 {
	return median(s.Samples, func(x Sample) float64 { return float64(x.RSSKiB) / 1024 })
}

func median(xs []Sample, f func(Sample) float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	return medianOf(v)
}

// Entry is one tool's project in a comparison.
type Entry struct {
	Tool Tool
	P    *Project
	log  string
}

// Env is the environment every tool runs with: the caller's, with each
// tool's cache and telemetry settings pointed at the project's scratch dir.
func (e *Entry) Env() []string {
	env := append(os.Environ(),
		"SPARKWING_CACHE_DIR="+filepath.Join(e.P.Scratch, "sparkwing-cache"),
		"MAGEFILE_CACHE="+filepath.Join(e.P.Scratch, "mage-cache"),
		"NX_DAEMON=false", "NX_NO_CLOUD=true", "NX_TUI=false", "NX_SKIP_LOG_GROUPING=true",
		"TURBO_TELEMETRY_DISABLED=1", "DO_NOT_TRACK=1", "TURBO_NO_UPDATE_NOTIFIER=1", "CI=1",
	)
	if e.P.Go != nil {
		// Each copy has its own Go build cache, emptied for a cold run;
		// nothing is fetched. The project's tests write their temporary
		// files (fzf's: a hundred a run) there too, not in /tmp.
		env = append(env, "GOCACHE="+filepath.Join(e.P.Scratch, "gocache"),
			"GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "GOPROXY=off", "TMPDIR="+filepath.Join(e.P.Scratch, "tmp"))
	}
	return env
}

// run runs the tool's build once and measures it. Its output goes to a log
// file, kept for the last run, and is quoted when the build fails.
func (e *Entry) run(args []string) (Sample, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = e.P.Dir
	cmd.Env = e.Env()
	f, err := os.Create(e.log)
	if err != nil {
		return Sample{}, err
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	s, err := measured(cmd, e.P.Paths.Spawn)
	if err != nil {
		return s, fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, tail(e.log, 20))
	}
	return s, nil
}

// measured runs cmd through the spawn helper (internal/bench/spawn), which
// times it and takes its peak memory from outside the harness: a child of
// the harness itself would report the harness's own peak. Without the
// helper cmd is timed here, and its peak is not known (0).
func measured(cmd *exec.Cmd, spawn string) (Sample, error) {
	if cmd.Err != nil {
		return Sample{}, cmd.Err
	}
	if spawn == "" {
		start := time.Now()
		err := cmd.Run()
		return Sample{Seconds: time.Since(start).Seconds()}, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return Sample{}, err
	}
	defer r.Close()
	cmd.Args = append([]string{spawn, cmd.Path}, cmd.Args[1:]...)
	cmd.Path = spawn
	cmd.ExtraFiles = []*os.File{w}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return Sample{}, err
	}
	report, rerr := io.ReadAll(r)
	err = cmd.Wait()
	var ns, kib int64
	if _, serr := fmt.Sscanf(string(report), "%d %d\n", &ns, &kib); serr != nil || rerr != nil {
		if err == nil {
			err = fmt.Errorf("no measurement from %s (%q)", spawn, report)
		}
		return Sample{}, err
	}
	return Sample{Seconds: float64(ns) / 1e9, RSSKiB: kib}, err
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// prepare brings an entry's project into the state a scenario measures
// from. rep numbers the measured run, so each edit is new content.
func (e *Entry) prepare(scenario string, rep int) error {
	p := e.P
	switch scenario {
	case Cold:
		return e.Tool.Clean(p)
	case Edit, EditCore:
		var file string
		switch {
		case scenario == EditCore:
			file = p.Go.CoreEdit
		case p.Go != nil:
			file = p.Go.Edit
		default:
			file = p.W.EditFile()
		}
		// File times come from a coarse clock (a 4 ms tick here): an
		// edit made in the tick of the tool's last write would leave the
		// file no newer than the outputs, and make or mage would rightly
		// skip the job. Let the tick pass, as any human edit does.
		time.Sleep(10 * time.Millisecond)
		f, err := os.OpenFile(filepath.Join(p.Dir, file), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(f, "// edit %d\n", rep)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	case Restore:
		if p.Go != nil {
			for _, j := range p.Go.Jobs {
				for _, o := range j.Outputs {
					if err := os.Remove(filepath.Join(p.Dir, o)); err != nil && !os.IsNotExist(err) {
						return err
					}
				}
			}
			return nil
		}
		for i := range p.W.Jobs {
			if err := os.Remove(filepath.Join(p.Dir, e.Tool.Output(p, i))); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
	case Makespan:
		for i := range p.W.Jobs {
			name := filepath.Join(p.Dir, p.W.Dir(i), "src", "f00.txt")
			if err := os.WriteFile(name, fmt.Appendf(nil, "run %d\n", rep), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// Compare runs one scenario for every entry, interleaved: a warm-up run of
// each, then reps rounds of A B C …, B C … A, so that drift in the
// machine's load falls on every tool alike. An entry that fails is reported and dropped.
func Compare(entries []*Entry, scenario string, reps int, progress io.Writer) []*Series {
	series := make([]*Series, len(entries))
	for i, e := range entries {
		series[i] = &Series{Workload: e.P.Name(), Scenario: scenario, Tool: e.Tool.Name()}
		e.log = filepath.Join(e.P.Scratch, "last-"+scenario+".log")
	}
	// A cold run needs no warm-up (it starts from nothing every time); the
	// others do, and for a no-op the warm-up is the build it measures from.
	first := -1
	if scenario == Cold {
		first = 0
	}
	for round := first; round < reps; round++ {
		for k := range entries {
			// Each round starts one tool later, so that what a tool leaves
			// behind (a server's JIT and GC, dirty pages) falls on every
			// tool in turn rather than always on the next one.
			i := (k + max(round, 0)) % len(entries)
			e, s := entries[i], series[i]
			if s.Err != "" {
				continue
			}
			sample, err := e.measure(scenario, round)
			if err != nil {
				s.Err = err.Error()
				fmt.Fprintf(progress, "  %s %s %s: FAILED: %v\n", s.Workload, scenario, s.Tool, err)
				continue
			}
			if round >= 0 {
				s.Samples = append(s.Samples, sample)
			}
		}
	}
	for _, s := range series {
		if s.Err == "" {
			lo, hi := s.Range()
			fmt.Fprintf(progress, "  %-20s %-8s %-10s median %8.3fs  [%.3f–%.3f]  rss %6.1f MiB\n",
				s.Workload, scenario, s.Tool, s.Median(), lo, hi, s.MedianRSS())
		}
	}
	return series
}

func (e *Entry) measure(scenario string, round int) (Sample, error) {
	if scenario == NoOp && round == -1 {
		// The warm-up of a no-op series is what makes it a no-op: build once.
		if _, err := e.run(e.Tool.Build(e.P)); err != nil {
			return Sample{}, err
		}
	}
	if err := e.prepare(scenario, round); err != nil {
		return Sample{}, fmt.Errorf("preparing %s: %w", scenario, err)
	}
	return e.run(e.Tool.Build(e.P))
}

// JobAlone times the edited job's own command, as sh runs it, after each
// edit like the scenario's, in a copy of the make entry's built project:
// the re-run job's own time, which the edit's target allows sparkwing
// 20 ms above. It runs after the scenario, not interleaved with it (its
// edits would make the copy's outputs differ from the tools').
func JobAlone(mk *Entry, reps int) (*Series, error) {
	p := *mk.P
	p.Dir = filepath.Join(mk.P.Scratch, "job-alone")
	if err := os.RemoveAll(p.Dir); err != nil {
		return nil, err
	}
	if err := copyTree(mk.P.Dir, p.Dir); err != nil {
		return nil, err
	}
	e := &Entry{Tool: mk.Tool, P: &p, log: filepath.Join(mk.P.Scratch, "job-alone.log")}
	s := &Series{Workload: p.Name(), Scenario: Edit, Tool: "job"}
	cmd := []string{"/bin/sh", "-c", p.cd(p.W.Jobs - 1)}
	for round := -1; round < reps; round++ {
		if err := e.prepare(Edit, 1000+round); err != nil {
			return nil, err
		}
		sample, err := e.run(cmd)
		if err != nil {
			return nil, err
		}
		if round >= 0 {
			s.Samples = append(s.Samples, sample)
		}
	}
	return s, os.RemoveAll(p.Dir)
}

// Check compares every entry's outputs with the first entry's: each tool
// ran the same commands on the same sources, so a difference means a tool
// did not build what it was asked to (or built from stale inputs).
func Check(entries []*Entry) error {
	if len(entries) > 0 && entries[0].P.Go != nil {
		return checkGo(entries)
	}
	if len(entries) < 2 {
		return nil
	}
	ref := entries[0]
	for i := range ref.P.W.Jobs {
		want, err := os.ReadFile(filepath.Join(ref.P.Dir, ref.Tool.Output(ref.P, i)))
		if err != nil {
			return fmt.Errorf("%s: %w", ref.Tool.Name(), err)
		}
		for _, e := range entries[1:] {
			got, err := os.ReadFile(filepath.Join(e.P.Dir, e.Tool.Output(e.P, i)))
			if err != nil {
				return fmt.Errorf("%s: %w", e.Tool.Name(), err)
			}
			if !bytes.Equal(got, want) {
				return fmt.Errorf("%s's output of %s differs from %s's: %q vs %q",
					e.Tool.Name(), ref.P.W.Names[i], ref.Tool.Name(), got, want)
			}
		}
	}
	return nil
}

// checkGo checks that every tool left every output of a Go workload (the
// bytes of Go binaries differ between directories, so only existence is
// compared).
func checkGo(entries []*Entry) error {
	for _, e := range entries {
		for _, j := range e.P.Go.Jobs {
			for _, o := range j.Outputs {
				if _, err := os.Stat(filepath.Join(e.P.Dir, o)); err != nil {
					return fmt.Errorf("%s did not build %s: %w", e.Tool.Name(), o, err)
				}
			}
		}
	}
	return nil
}
