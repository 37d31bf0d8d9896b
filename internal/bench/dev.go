package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/devloop"
)

// The dev-loop benchmark measures edit → healthy for the bundled example
// service: the same one-file edits, each changing what the service
// answers, timed from the write to the first answer of the new build, for
// `sparkwing dev`, a plain `go build && restart` script loop told of each
// edit at once (no watching), and air (github.com/air-verse/air). It also
// measures the cost of dev's check after a save on the 1,000-job
// synthetic workload.

// DevOptions configure the dev-loop benchmark.
type DevOptions struct {
	Sparkwing string // the sparkwing binary
	Air       string // the air binary
	Source    string // the example service
	Reps      int
	Work, Out string
	Log       io.Writer
}

// DevResult is one run of it.
type DevResult struct {
	Date    string               `json:"date"`
	Machine string               `json:"machine"`
	Reps    int                  `json:"reps"`
	Healthy map[string][]float64 `json:"edit_to_healthy_ms"` // tool → ms per edit
	Phases  map[string]float64   `json:"sparkwing_phase_median_ms"`
	Check   []float64            `json:"check_1000_jobs_ms"` // dev's check after a save that changed no input, 1,000 jobs
}

var devTools = []string{"sparkwing", "script", "air"}

const devScript = `#!/bin/sh
# Builds and restarts the server once per line on stdin (one per edit).
build() { go build -o bin/server ./cmd/server; }
build || exit 1
bin/server --addr "$ADDR" & pid=$!
while read -r _; do
  if build; then
    kill "$pid"; wait "$pid" 2>/dev/null
    bin/server --addr "$ADDR" & pid=$!
  fi
done
kill "$pid"
`

const airConfig = `root = "."
tmp_dir = "tmp"
[build]
cmd = "go build -o ./tmp/server ./cmd/server"
bin = "./tmp/server"
full_bin = "./tmp/server --addr ADDR"
delay = 20
include_ext = ["go", "txt"]
exclude_dir = ["tmp", "bin", "dist", ".sparkwing", ".cache"]
[log]
time = false
[misc]
clean_on_exit = true
`

// RunDev runs the benchmark.
func RunDev(ctx context.Context, o DevOptions) (*DevResult, error) {
	work, err := filepath.Abs(o.Work)
	if err != nil {
		return nil, err
	}
	res := &DevResult{Date: time.Now().UTC().Format(time.RFC3339), Machine: machine(), Reps: o.Reps,
		Healthy: map[string][]float64{}, Phases: map[string]float64{}}
	dirs, addrs := map[string]string{}, map[string]string{}
	procs := map[string]*exec.Cmd{}
	var scriptIn io.WriteCloser
	defer func() {
		if scriptIn != nil {
			scriptIn.Close() // the script's loop ends, and it stops its server
		}
		for _, p := range procs {
			if p.Process != nil {
				p.Process.Signal(os.Interrupt)
			}
		}
		for _, p := range procs {
			p.Wait()
			// What a tool started and left (a server in the background
			// of a shell ignores SIGINT) would hold its port next time.
			syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
		}
	}()
	for i, tool := range devTools {
		dir := filepath.Join(work, "dev-"+tool)
		os.RemoveAll(dir)
		if err := os.CopyFS(dir, os.DirFS(o.Source)); err != nil {
			return nil, err
		}
		os.RemoveAll(filepath.Join(dir, ".sparkwing", "runs"))
		os.RemoveAll(filepath.Join(dir, ".sparkwing", "state"))
		addr := fmt.Sprintf("127.0.0.1:%d", 18380+i)
		dirs[tool], addrs[tool] = dir, addr
		var cmd *exec.Cmd
		switch tool {
		case "sparkwing":
			project := filepath.Join(dir, ".sparkwing", "sparkwing.yaml")
			data, err := os.ReadFile(project)
			if err != nil {
				return nil, err
			}
			if err := os.WriteFile(project, bytes.ReplaceAll(data, []byte("127.0.0.1:8080"), []byte(addr)), 0o644); err != nil {
				return nil, err
			}
			cmd = exec.CommandContext(ctx, o.Sparkwing, "dev", "serve")
			cmd.Env = append(os.Environ(), "SPARKWING_CACHE_DIR="+filepath.Join(dir, ".cache"))
		case "script":
			os.WriteFile(filepath.Join(dir, "loop.sh"), []byte(devScript), 0o755)
			cmd = exec.CommandContext(ctx, "sh", "loop.sh")
			cmd.Env = append(os.Environ(), "ADDR="+addr)
			if scriptIn, err = cmd.StdinPipe(); err != nil {
				return nil, err
			}
		case "air":
			os.WriteFile(filepath.Join(dir, ".air.toml"), []byte(strings.ReplaceAll(airConfig, "ADDR", addr)), 0o644)
			cmd = exec.CommandContext(ctx, o.Air, "-c", ".air.toml")
		}
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if tool == "sparkwing" {
			cmd.Stdout = &logTail{}
		}
		cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
		cmd.WaitDelay = 10 * time.Second
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("%s: %w", tool, err)
		}
		procs[tool] = cmd
		fmt.Fprintf(o.Log, "dev: starting %s\n", tool)
		if _, err := awaitAnswer(ctx, addr, "Hello, bench!"); err != nil {
			return nil, fmt.Errorf("%s never served: %w", tool, err)
		}
	}
	for rep := 1; rep <= o.Reps; rep++ {
		for i := range devTools {
			tool := devTools[(rep+i)%len(devTools)] // rotate which goes first
			greet := filepath.Join(dirs[tool], "internal/greet/greet.go")
			t0, err := edit(greet, rep)
			if err != nil {
				return nil, err
			}
			if tool == "script" {
				fmt.Fprintln(scriptIn, "edit")
			}
			if _, err := awaitAnswer(ctx, addrs[tool], "Hello, bench!"+edition(rep)); err != nil {
				return nil, fmt.Errorf("%s, edit %d: %w", tool, rep, err)
			}
			ms := float64(time.Since(t0).Microseconds()) / 1000 // from the write
			res.Healthy[tool] = append(res.Healthy[tool], ms)
			fmt.Fprintf(o.Log, "dev: edit %d, %s: %.0f ms\n", rep, tool, ms)
		}
	}
	if err := devPhases(filepath.Join(dirs["sparkwing"], ".sparkwing", "dev", "serve.jsonl"), res); err != nil {
		return nil, err
	}
	if res.Check, err = devCheck(ctx, o, work); err != nil {
		return nil, err
	}
	return res, writeDev(o.Out, res)
}

// edit makes edit rep of the greeting in file greet (the mark of edit
// rep-1 becomes rep's) and returns when it was written.
func edit(greet string, rep int) (time.Time, error) {
	data, err := os.ReadFile(greet)
	if err != nil {
		return time.Time{}, err
	}
	prev := fmt.Sprintf(`"%%s, %%s!%s"`, edition(rep-1))
	next := fmt.Sprintf(`"%%s, %%s!%s"`, edition(rep))
	t0 := time.Now()
	return t0, os.WriteFile(greet, bytes.Replace(data, []byte(prev), []byte(next), 1), 0o644)
}

// edition is the mark edit n leaves in the greeting. The run's own tag
// makes every edit new to the go command's build cache, as a developer's
// are: a build of a greeting an earlier run built would take the
// package from the cache.
func edition(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" #%d.%s", n, runTag)
}

var runTag = strconv.FormatInt(time.Now().UnixNano(), 36)

// awaitAnswer polls the service's greeting every 2 ms until it is want.
func awaitAnswer(ctx context.Context, addr, want string) (time.Duration, error) {
	client := &http.Client{Timeout: time.Second}
	t0 := time.Now()
	last := ""
	for time.Since(t0) < 3*time.Minute {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		resp, err := client.Get("http://" + addr + "/greet?name=bench")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if last = strings.TrimSpace(string(body)); last == want {
				return time.Since(t0), nil
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return 0, fmt.Errorf("no %q from %s (last %q)", want, addr, last)
}

// devPhases takes the medians of sparkwing dev's own phase timings.
func devPhases(file string, res *DevResult) error {
	timings, err := devloop.ReadTimings(file)
	if err != nil {
		return err
	}
	phases := map[string][]float64{}
	for _, t := range timings {
		if !t.EditToHealthy() {
			continue // the first start
		}
		phases["total"] = append(phases["total"], t.TotalMS)
		for _, p := range t.Phases() {
			phases[p.Name] = append(phases[p.Name], p.MS)
		}
	}
	for p, xs := range phases {
		res.Phases[p] = medianOf(xs)
	}
	return nil
}

// devCheck runs sparkwing dev on the 1,000-job workload and times its
// check after saves that change no job's input: a keyed run of every job,
// all restored in place.
func devCheck(ctx context.Context, o DevOptions, work string) ([]float64, error) {
	w, err := Synthetic(Random, 1000, 20)
	if err != nil {
		return nil, err
	}
	p := &Project{W: w, Dir: filepath.Join(work, "dev-check"), Paths: Paths{Sparkwing: o.Sparkwing}, Scratch: filepath.Join(work, "dev-check-scratch")}
	os.RemoveAll(p.Dir)
	if err := w.WriteSources(p.Dir); err != nil {
		return nil, err
	}
	if err := (sparkwing{}).Setup(p); err != nil {
		return nil, err
	}
	env := append(os.Environ(), "SPARKWING_CACHE_DIR="+filepath.Join(p.Dir, ".cache"))
	run := exec.CommandContext(ctx, o.Sparkwing, "run", "build", "--output", "plain")
	run.Dir, run.Env = p.Dir, env
	if out, err := run.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("cold run of the 1,000 jobs: %v\n%s", err, out)
	}
	cmd := exec.CommandContext(ctx, o.Sparkwing, "dev", "build")
	cmd.Dir, cmd.Env = p.Dir, env
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
	}()
	stats := filepath.Join(p.Dir, ".sparkwing", "dev", "build.jsonl")
	wait := func(n int) ([]devloop.Timing, error) {
		for t0 := time.Now(); time.Since(t0) < 2*time.Minute; time.Sleep(5 * time.Millisecond) {
			if ts, _ := devloop.ReadTimings(stats); len(ts) >= n {
				return ts, nil
			}
		}
		return nil, fmt.Errorf("sparkwing dev on 1,000 jobs wrote no line %d to %s", n, stats)
	}
	if _, err := wait(1); err != nil {
		return nil, err
	}
	var checks []float64
	for i := 1; i <= 10; i++ {
		if err := os.WriteFile(filepath.Join(p.Dir, "NOTES.txt"), []byte(fmt.Sprintf("note %d\n", i)), 0o644); err != nil {
			return nil, err
		}
		ls, err := wait(i + 1)
		if err != nil {
			return nil, err
		}
		v := ls[i].BuildMS
		checks = append(checks, v)
		fmt.Fprintf(o.Log, "dev: check after a save, 1,000 jobs: %.1f ms\n", v)
	}
	return checks, nil
}

func writeDev(dir string, r *DevResult) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "dev.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# The dev loop: edit → healthy\n\n")
	fmt.Fprintf(&b, "Generated by `bench/run --dev` on %s (%s), %d edits per tool.\n\n", r.Date, r.Machine, r.Reps)
	fmt.Fprintf(&b, "The bundled example service (examples/hello-service), one copy per tool, each on its own port. Each\n"+
		"edit changes the greeting's format string in internal/greet/greet.go, so the new build answers\n"+
		"differently; the time is from the write to the first answer of the new build (GET /greet, polled\n"+
		"every 2 ms). Edits rotate between the tools, so one builds at a time.\n\n"+
		"- `sparkwing`: `sparkwing dev serve` (the example's serve pipeline: generate, server, the api service).\n"+
		"- `script`: `go build && restart`, told of each edit at once on its stdin: no watching, no debounce.\n"+
		"- `air`: github.com/air-verse/air, its build delay set to 20 ms like sparkwing's quiet window.\n\n")
	fmt.Fprintf(&b, "| tool | median (ms) | p95 (ms) | median ÷ sparkwing's |\n|---|---:|---:|---:|\n")
	base := medianOf(r.Healthy["sparkwing"])
	for _, t := range devTools {
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.2f |\n", t, medianOf(r.Healthy[t]), p95(r.Healthy[t]), medianOf(r.Healthy[t])/base)
	}
	fmt.Fprintf(&b, "\n**sparkwing dev: %.2f× the plain script and %.2f× air** (median ÷ median). Its own phase split\n"+
		"(medians, from .sparkwing/dev/serve.jsonl): detect %.0f ms · build %.0f ms · restart %.0f ms · health %.0f ms,\n"+
		"total %.0f ms. Detect is the quiet window after the save. The build is the changed package's\n"+
		"compile and the link, as in the script, but by the compiler and linker commands of the last\n"+
		"`go build` (internal/gobuild replays its record): the go command's own work before its first\n"+
		"compile (loading the package graph, checking its cache for every package) is not done again.\n"+
		"The session's first edit goes through the go command, which records: %.0f ms here.\n\n",
		base/medianOf(r.Healthy["script"]), base/medianOf(r.Healthy["air"]),
		r.Phases["detect"], r.Phases["build"], r.Phases["restart"], r.Phases["health"], r.Phases["total"],
		first(r.Healthy["sparkwing"]))
	fmt.Fprintf(&b, "**The check after a save on the 1,000-job random workload** (a file no job reads is written):\n"+
		"median %.2f ms, p95 %.2f ms, %d saves. The changed paths are looked up in what the last build relied on\n"+
		"(its last-run record, read once after each build); only a change to one of those runs the engine.\n",
		medianOf(r.Check), p95(r.Check), len(r.Check))
	return os.WriteFile(filepath.Join(dir, "DEV.md"), []byte(b.String()), 0o644)
}

// logTail discards a process's output but keeps the end, for errors.
type logTail struct{ b []byte }

func (l *logTail) Write(p []byte) (int, error) {
	l.b = append(l.b, p...)
	if len(l.b) > 8192 {
		l.b = l.b[len(l.b)-8192:]
	}
	return len(p), nil
}

func (l *logTail) String() string { return string(l.b) }

// p95 is the 95th percentile of xs.
func first(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return xs[0]
}

func p95(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	return s[min(int(0.95*float64(len(s))), len(s)-1)]
}
