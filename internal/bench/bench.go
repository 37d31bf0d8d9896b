package bench

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// GateRatio is the most sparkwing's no-op on 1,000 jobs may cost, as a
// multiple of the lstat floor measured in the same run.
const GateRatio = 2.0

// Options configure a benchmark run.
type Options struct {
	Quick bool
	Reps  int
	Tools []string // names to run; sparkwing and the floor always run
	Only  []string // workloads to run (default: all of the plan)
	Merge bool     // keep the other workloads' results from the last results.json
	Work  string   // scratch directory for generated projects
	Out   string   // where RESULTS.md, results.json and ratios.svg go
	Paths Paths
	Log   io.Writer
	// Loaded runs every comparison beside a CPU hog on each core (StartHog),
	// started before the first and stopped after the last.
	Loaded bool
	// Go runs only the Go-native comparison (GoPlan) and writes GO.md.
	Go bool
}

// A Step is one comparison: a workload, the scenarios measured on it, and
// the tools that take part.
type Step struct {
	W         *Workload
	Go        string // or a real Go workload: hello-service or go-yaml
	Scenarios []string
	Reps      int
	ColdReps  int      // if not 0, the reps of the cold scenario
	Tools     []string // if set, only these tools take part (and the floor)
	Memory    bool     // also measure sparkwing's peak memory on a no-op (Results.Memory)
}

// GoPlan is the Go-native comparison: a real project from the module
// proxy, sparkwing's inputs from its package graph against make's, go-task's
// and mage's hand-written ones.
func GoPlan(reps int) []Step {
	return []Step{{Go: "go-fzf", Scenarios: []string{Cold, NoOp, Edit, EditCore, Restore}, Reps: reps, ColdReps: min(reps, 3)}}
}

// Plan lists the comparisons of a full or quick run.
func Plan(quick bool, reps int) []Step {
	must := func(shape string, jobs, files int) *Workload {
		w, err := Synthetic(shape, jobs, files)
		if err != nil {
			panic(err)
		}
		return w
	}
	all := []string{Cold, NoOp, Edit, Restore}
	if quick {
		return []Step{
			// Runs of 10–30 ms vary by a few ms on a shared machine: more
			// of them, so that the medians compare the tools.
			{W: must(Random, 100, 20), Scenarios: []string{NoOp, Edit}, Reps: max(reps, 15)},
			{W: must(Chain, 100, 20), Scenarios: []string{Edit}, Reps: max(reps, 15)},
			{W: must(Random, 1000, 20), Scenarios: []string{NoOp}, Reps: max(reps, 7)}, // the gate
		}
	}
	cheap := []string{"sparkwing", "make", "task"} // a 1,000-job chain takes Turborepo and Nx minutes a run
	return []Step{
		{W: must(Random, 10, 20), Scenarios: all, Reps: reps},
		{W: must(Random, 100, 20), Scenarios: all, Reps: reps},
		// A cold Turborepo run of 1,000 packages takes minutes (an npm
		// process per package), so the 1,000-job cold run is measured once.
		{W: must(Random, 1000, 20), Scenarios: all, Reps: min(reps, 3), ColdReps: 1},
		{W: must(Chain, 100, 20), Scenarios: []string{Cold, NoOp, Edit}, Reps: reps},
		{W: must(Chain, 1000, 20), Scenarios: []string{NoOp, Edit}, Reps: min(reps, 3), Tools: cheap},
		{W: must(Wide, 100, 20), Scenarios: []string{Cold, NoOp}, Reps: reps},
		{W: must(Diamond, 100, 20), Scenarios: []string{Cold, NoOp}, Reps: reps},
		{W: must(Random, 100, 200), Scenarios: []string{NoOp}, Reps: reps},
		// Cold Go builds start from an empty Go build cache (the standard
		// library is compiled too): measured once.
		{Go: "go-hello-service", Scenarios: all, Reps: min(reps, 3), ColdReps: 1},
		{Go: "go-yaml", Scenarios: all, Reps: min(reps, 3), ColdReps: 1},
		GoPlan(reps)[0],
		{W: LongPole(true), Scenarios: []string{Makespan}, Reps: 3},
		{W: LongPole(false), Scenarios: []string{Makespan}, Reps: 3},
		{W: must(Random, 10000, 20), Scenarios: []string{NoOp}, Reps: 3, Tools: []string{"sparkwing"}, Memory: true},
	}
}

// Results is everything a run measured, as written to results.json.
type Results struct {
	Date    string
	Machine string
	Command string
	Quick   bool
	Series  []*Series
	Bounds  map[string]float64 // long-pole lower bounds by workload
	Gate    *Gate              `json:",omitempty"`
	Loaded  bool               `json:",omitempty"` // beside a CPU hog on every core
	Go      bool               `json:",omitempty"` // only the Go-native comparison (GO.md)
	Start   *Start             `json:",omitempty"`
	Memory  *Memory            `json:",omitempty"`
}

// Memory is sparkwing's peak resident memory (VmHWM) on a no-op.
type Memory struct {
	Workload string
	MiB      float64 // median of 3
	// FullMiB is the same no-op without its last-run record (the first
	// after the project file, the program or the environment changed),
	// which hashes and looks up every job: median of 3; 0 if not measured.
	FullMiB float64 `json:",omitempty"`
}

// Gate is the quick run's pass/fail figure.
type Gate struct {
	Workload  string
	Ratio     float64
	Limit     float64
	MakeRatio float64 `json:",omitempty"` // sparkwing's median ÷ make -j2 -r's: reported, not gated
}

// Run executes the plan and writes the results. It returns an error when a
// comparison cannot be set up, or when the gate fails.
func Run(o Options, command string) (*Results, error) {
	work, err := filepath.Abs(o.Work)
	if err != nil {
		return nil, err
	}
	o.Work = work
	if err := os.RemoveAll(o.Work); err != nil {
		return nil, err
	}
	tools, err := selectTools(o)
	if err != nil {
		return nil, err
	}
	res := &Results{
		Date: time.Now().UTC().Format("2006-01-02 15:04 MST"), Machine: machine(),
		Command: command, Quick: o.Quick, Bounds: map[string]float64{}, Loaded: o.Loaded, Go: o.Go,
	}
	if o.Loaded {
		hog, err := StartHog(Workers)
		if err != nil {
			return nil, err
		}
		defer hog.Stop()
		fmt.Fprintf(o.Log, "== %d CPU hogs running beside every measurement\n", Workers)
	}
	if !o.Go { // a few seconds: every run has it, -only ones too
		fmt.Fprintf(o.Log, "== start-up: sparkwing --version against a stdlib-only Go program\n")
		if res.Start, err = MeasureStart(o.Paths.Sparkwing, o.Work, 200); err != nil {
			return res, err
		}
	}
	steps := Plan(o.Quick, o.Reps)
	if o.Go {
		steps = GoPlan(o.Reps)
	}
	for _, step := range steps {
		name := step.Go
		if step.W != nil {
			name = step.W.Name()
		}
		if step.W != nil && step.W.Shape == Pole {
			res.Bounds[name] = step.W.LowerBound(Workers)
		}
		if len(o.Only) > 0 && !slices.Contains(o.Only, name) {
			continue
		}
		fmt.Fprintf(o.Log, "== %s\n", name)
		var entries []*Entry
		stepTools := tools
		if step.Tools != nil {
			stepTools = slices.DeleteFunc(slices.Clone(tools), func(t Tool) bool { return !slices.Contains(step.Tools, t.Name()) })
		}
		if step.Go != "" {
			entries, err = setupGo(o, stepTools, step.Go, filepath.Join(o.Work, name))
		} else {
			entries, err = setup(o, stepTools, step.W, filepath.Join(o.Work, name))
		}
		if err != nil {
			return res, err
		}
		for _, sc := range step.Scenarios {
			run := entries
			if sc == NoOp && step.W != nil {
				run = append(run, floorEntry(entries[0]))
			}
			if sc == Restore && step.Go == "" { // a Go build without a cache still has Go's
				run = slices.DeleteFunc(slices.Clone(run), func(e *Entry) bool { return !e.Tool.Cache() })
			}
			reps := step.Reps
			if sc == Cold && step.ColdReps > 0 {
				reps = step.ColdReps
			}
			series := Compare(run, sc, reps, o.Log)
			res.Series = append(res.Series, series...)
			if err := Check(succeeded(run, series)); err != nil {
				return res, fmt.Errorf("%s %s: %w", name, sc, err)
			}
			mk := slices.IndexFunc(run, func(e *Entry) bool { return e.Tool.Name() == "make" })
			if sc == Edit && step.W != nil && mk >= 0 && series[mk].Err == "" {
				job, err := JobAlone(run[mk], reps)
				if err != nil {
					return res, fmt.Errorf("%s: the edited job alone: %w", name, err)
				}
				fmt.Fprintf(o.Log, "  %-20s %-8s %-10s median %8.3fs\n", job.Workload, Edit, job.Tool, job.Median())
				res.Series = append(res.Series, job)
			}
		}
		if step.Memory {
			if res.Memory, err = measureMemory(entries[0], name); err != nil {
				return res, err
			}
		}
		shutdown(entries)
	}
	if o.Merge && !o.Quick {
		if err := res.merge(filepath.Join(o.Out, "results.json")); err != nil {
			return res, err
		}
	}
	if !o.Loaded {
		res.Gate = gate(res) // CI's gate is for a machine doing only this
	}
	if err := res.Write(o.Out); err != nil {
		return res, err
	}
	if res.Gate != nil && res.Gate.Ratio > res.Gate.Limit {
		return res, fmt.Errorf("gate: sparkwing's no-op on %s is %.2f× the lstat floor (limit %.1f×)",
			res.Gate.Workload, res.Gate.Ratio, res.Gate.Limit)
	}
	return res, nil
}

// selectTools picks the tools asked for (by default every installed one,
// or make and go-task in a quick run). Asking for a missing one is an error.
// merge adds the series of workloads this run did not measure from an
// earlier results file, so that part of the plan can be run again.
func (r *Results) merge(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("-merge: %w", err)
	}
	var old Results
	if err := json.Unmarshal(data, &old); err != nil {
		return fmt.Errorf("-merge: %s: %w", path, err)
	}
	ran := map[string]bool{}
	for _, s := range r.Series {
		ran[s.Workload] = true
	}
	var kept []*Series
	for _, s := range old.Series {
		if !ran[s.Workload] {
			kept = append(kept, s)
		}
	}
	r.Series = append(kept, r.Series...)
	for k, v := range old.Bounds {
		if _, ok := r.Bounds[k]; !ok {
			r.Bounds[k] = v
		}
	}
	r.Start = cmp.Or(r.Start, old.Start)
	r.Memory = cmp.Or(r.Memory, old.Memory)
	r.Command = old.Command + "`, then `" + r.Command
	r.Date = old.Date + " and " + r.Date
	return nil
}

func selectTools(o Options) ([]Tool, error) {
	names := o.Tools
	if len(names) == 0 && o.Quick {
		names = []string{"make", "task"}
	}
	var out []Tool
	for _, t := range AllTools() {
		asked := len(names) == 0 || slices.Contains(names, t.Name())
		switch {
		case t.Name() == "sparkwing":
			out = append(out, t)
		case asked && o.Paths.Installed(t.Name()):
			out = append(out, t)
		case asked && len(names) > 0:
			return nil, fmt.Errorf("%s is not installed (bench/run installs every peer)", t.Name())
		case asked:
			fmt.Fprintf(o.Log, "skipping %s: not installed\n", t.Name())
		}
	}
	return out, nil
}

// setup writes one copy of the workload per tool, each its own git
// repository (as real projects are; Turborepo hashes through git).
func setup(o Options, tools []Tool, w *Workload, dir string) ([]*Entry, error) {
	var entries []*Entry
	for _, t := range tools {
		p := &Project{Dir: filepath.Join(dir, t.Name()), W: w, Paths: o.Paths,
			Scratch: filepath.Join(dir, t.Name()+".scratch")}
		if err := w.WriteSources(p.Dir); err != nil {
			return nil, err
		}
		if err := prepareProject(t, p); err != nil {
			return nil, err
		}
		entries = append(entries, &Entry{Tool: t, P: p})
	}
	return entries, nil
}

// setupGo copies a real Go workload for sparkwing, make and go-task.
func setupGo(o Options, tools []Tool, name, dir string) ([]*Entry, error) {
	var gw *GoWorkload
	switch name {
	case "go-hello-service":
		repo, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		gw = HelloService(repo)
	case "go-fzf":
		var err error
		if gw, err = FZF(); err != nil {
			return nil, err
		}
	case "go-yaml":
		out, err := exec.Command("go", "env", "GOMODCACHE").Output()
		if err != nil {
			return nil, err
		}
		if gw, err = GoYAML(strings.TrimSpace(string(out))); err != nil {
			return nil, err
		}
	}
	var entries []*Entry
	for _, t := range tools {
		if goTools[t.Name()] == nil {
			continue
		}
		g := goTool{name: t.Name(), w: gw, base: t}
		p := &Project{Dir: filepath.Join(dir, t.Name()), Go: gw, Paths: o.Paths,
			Scratch: filepath.Join(dir, t.Name()+".scratch")}
		if err := prepareProject(g, p); err != nil {
			return nil, err
		}
		entries = append(entries, &Entry{Tool: g, P: p})
	}
	return entries, nil
}

// prepareProject writes t's configuration into p and commits the project.
func prepareProject(t Tool, p *Project) error {
	if err := os.MkdirAll(filepath.Join(p.Scratch, "tmp"), 0o755); err != nil {
		return err
	}
	if err := t.Setup(p); err != nil {
		return fmt.Errorf("%s: %w", t.Name(), err)
	}
	ignore := "out/\n.task/\n.turbo/\n.nx/\nnode_modules\nbazel-*\n/bin/\n/dist/\n/internal/gen/\n.stamps/\n"
	if err := write(p.Dir, ".gitignore", ignore); err != nil {
		return err
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"},
		{"-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-q", "-m", "workload"}} {
		if err := git(p.Dir, args...); err != nil {
			return err
		}
	}
	return nil
}

func git(dir string, args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %v in %s: %v\n%s", args, dir, err, out)
	}
	return nil
}

func floorEntry(sw *Entry) *Entry {
	p := *sw.P
	p.Scratch = sw.P.Scratch + "/floor"
	_ = os.MkdirAll(p.Scratch, 0o755)
	return &Entry{Tool: floor{}, P: &p}
}

func succeeded(entries []*Entry, series []*Series) []*Entry {
	var out []*Entry
	for i, e := range entries {
		if series[i].Err == "" && e.Tool.Name() != "floor" {
			out = append(out, e)
		}
	}
	return out
}

func shutdown(entries []*Entry) {
	for _, e := range entries {
		if b, ok := e.Tool.(bazel); ok {
			b.Shutdown(e.P)
		}
	}
}

// gate compares sparkwing's no-op on the 1,000-job workload with the floor.
func gate(res *Results) *Gate {
	var sw, fl, mk *Series
	for _, s := range res.Series {
		if s.Scenario != NoOp || s.Workload != "random-1000x20" || s.Err != "" || len(s.Samples) == 0 {
			continue
		}
		switch s.Tool {
		case "sparkwing":
			sw = s
		case "floor":
			fl = s
		case "make":
			mk = s
		}
	}
	if sw == nil || fl == nil || len(sw.Samples) == 0 || len(fl.Samples) == 0 {
		return nil
	}
	// Fastest against fastest: the run least disturbed by whatever else
	// the machine does. Under load sparkwing suffers more than find: it
	// spends about 4x find's CPU time, spread over two cores.
	swMin, _ := sw.Range()
	flMin, _ := fl.Range()
	if flMin == 0 {
		return nil
	}
	g := &Gate{Workload: sw.Workload, Ratio: swMin / flMin, Limit: GateRatio}
	if mk != nil && mk.Median() > 0 {
		g.MakeRatio = sw.Median() / mk.Median()
	}
	return g
}

// Write saves results.json, RESULTS.md and ratios.svg in dir; a quick run
// writes quick-results.json only, so it never overwrites a full report,
// and a loaded run loaded-results.json and LOADED.md (quick:
// quick-loaded-results.json).
func (r *Results) Write(dir string) error {
	b, err := json.MarshalIndent(r, "", " ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	switch {
	case r.Go:
		if err := os.WriteFile(filepath.Join(dir, "go.json"), b, 0o644); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, "GO.md"), []byte(r.GoMarkdown()), 0o644)
	case r.Quick && r.Loaded:
		return os.WriteFile(filepath.Join(dir, "quick-loaded-results.json"), b, 0o644)
	case r.Quick:
		return os.WriteFile(filepath.Join(dir, "quick-results.json"), b, 0o644)
	case r.Loaded:
		if err := os.WriteFile(filepath.Join(dir, "loaded-results.json"), b, 0o644); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, "LOADED.md"), []byte(r.Markdown()), 0o644)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), b, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ratios.svg"), []byte(r.SVG()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "RESULTS.md"), []byte(r.Markdown()), 0o644)
}

// machine is the results' machine line: CPU model, cores, memory, kernel.
func machine() string {
	var parts []string
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if name, ok := strings.CutPrefix(line, "model name"); ok {
				parts = append(parts, strings.TrimSpace(strings.TrimLeft(name, "\t :")))
				break
			}
		}
	}
	parts = append(parts, fmt.Sprintf("%d cores", runtime.NumCPU()))
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			parts = append(parts, fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20)))
		}
	}
	if b, err := exec.Command("uname", "-sr").Output(); err == nil {
		parts = append(parts, strings.TrimSpace(string(b)))
	}
	return strings.Join(parts, ", ")
}

// Rewrite renders RESULTS.md and ratios.svg again from dir/results.json,
// and LOADED.md and GO.md from loaded-results.json and go.json if they are
// there, after a change to NOTES.md or to the report, without measuring
// again.
func Rewrite(dir string) error {
	for _, name := range []string{"results.json", "loaded-results.json", "go.json"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) && name != "results.json" {
			continue
		}
		if err != nil {
			return err
		}
		var r Results
		if err := json.Unmarshal(data, &r); err != nil {
			return fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
		}
		r.Gate = gate(&r)
		if err := r.Write(dir); err != nil {
			return err
		}
	}
	return nil
}
