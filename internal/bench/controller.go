package bench

// The controller benchmark measures a remote run against the same run
// done locally, on loopback: a controller (sparkwing-controller serve), a
// runner (sparkwing runner) and `sparkwing pipeline trigger`, all real
// processes, against `sparkwing run` in the same work tree.
//
//   - trigger → first job start: from starting the command to the job's
//     first printed line (the job prints the time, in nanoseconds), each
//     trigger of a new commit pushed just before it;
//   - line → terminal: from the job printing a line to the command's
//     output carrying it (--output json, read by the harness);
//   - log throughput: a job printing FloodMB, triggered and followed
//     live, against the same run done locally; then the finished run's log
//     read back by 1 and by 20 subscribers at once;
//   - claims: Runs runs queued through the API and claimed and finished by
//     Runners clients at once (API clients, not runner processes: this
//     measures the queue, not process start), on SQLite and PostgreSQL.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/controller/api"
	"github.com/sparkwing-dev/sparkwing/internal/logstream"
	"github.com/sparkwing-dev/sparkwing/internal/store/pgtest"
)

// ControllerOptions configure the controller benchmark.
type ControllerOptions struct {
	Bin       string // the directory holding sparkwing, sparkwing-remote and sparkwing-controller
	Triggers  int    // triggers measured for the latencies
	FloodMB   int    // log size of the throughput case
	Runs      int    // runs queued for the claim case
	Runners   int    // clients claiming at once
	Work, Out string
	Log       io.Writer
}

// Latency is a distribution in milliseconds.
type Latency struct {
	Median float64 `json:"median_ms"`
	P99    float64 `json:"p99_ms"`
	N      int     `json:"n"`
}

// ControllerResult is one run of the controller benchmark.
type ControllerResult struct {
	Date     string `json:"date"`
	Machine  string `json:"machine"`
	Triggers int    `json:"triggers"`

	StartRemote, StartLocal Latency // command start → the job's first line
	LineRemote, LineLocal   Latency // a printed line → the command's output
	// Where a remote start's time goes: command start → queued (the CLI,
	// and the controller fetching the commit), queued → claimed (the
	// queue), claimed → the job's first line (the runner's checkout and
	// sparkwing run).
	ToQueued, ToClaimed, ToFirstLine Latency
	// GitStart is one `git rev-parse HEAD` in the work tree, start to
	// exit: what each of the git processes on the path costs.
	GitStart Latency

	FloodMB                 int     `json:"flood_mb"`
	FloodRemote, FloodLocal float64 // seconds, trigger (or run) start → exit
	LogMB                   float64 `json:"log_mb"` // the stored log (JSON events)
	Fanout1, Fanout20       float64 // MB/s delivered in all, replaying the finished log

	Claims []ClaimResult `json:"claims"`
}

// ClaimResult is the queue's throughput on one store.
type ClaimResult struct {
	Store     string  `json:"store"`
	Runs      int     `json:"runs"`
	Runners   int     `json:"runners"`
	Triggers  float64 `json:"triggers_per_s"` // API triggers of a known commit
	Claims    float64 `json:"claims_per_s"`   // claim and finish
	Duplicate int     `json:"duplicate_claims"`
}

const controllerProject = `pipelines:
  - name: lat
    jobs:
      probe:
        run: |
          date +%s%N
          i=0
          while [ $i -lt 10 ]; do sleep 0.02; date +%s%N; i=$((i+1)); done
  - name: flood
    jobs:
      flood:
        run: yes 'a line of build output, much like a compiler or a test runner prints it, 0123456789' | head -c $((FLOOD_MB << 20))
        env: [FLOOD_MB]
`

// RunController runs the controller benchmark and writes CONTROLLER.md
// and controller.json.
func RunController(ctx context.Context, o ControllerOptions) (*ControllerResult, error) {
	r := &ControllerResult{Date: time.Now().UTC().Format("2006-01-02"), Machine: machine(), Triggers: o.Triggers, FloodMB: o.FloodMB}
	dir, err := filepath.Abs(filepath.Join(o.Work, "controller"))
	if err != nil {
		return nil, err
	}
	os.RemoveAll(dir)
	defer pgtest.Stop()
	c, err := startControlled(ctx, o, dir, "", true)
	if err != nil {
		return nil, err
	}
	defer c.stop()
	if err := c.latencies(ctx, r); err != nil {
		return nil, err
	}
	if err := c.flood(ctx, r); err != nil {
		return nil, err
	}
	c.stop()
	for _, st := range []string{"sqlite", "postgres"} {
		dsn := ""
		if st == "postgres" {
			if dsn, err = pgtest.NewDatabase(); err != nil {
				return nil, err
			}
		}
		cr, err := claims(ctx, o, filepath.Join(dir, "claims-"+st), st, dsn)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(o.Log, "claims on %s: %.0f triggers/s, %.0f claims/s with %d clients\n", st, cr.Triggers, cr.Claims, cr.Runners)
		r.Claims = append(r.Claims, cr)
	}
	return r, writeController(o.Out, r)
}

// controlled is a controller, with one runner or none, and a work tree
// whose origin it mirrors.
type controlled struct {
	o     ControllerOptions
	dir   string
	url   string
	token string // the token file
	work  string
	env   []string
	procs []*exec.Cmd
}

func startControlled(ctx context.Context, o ControllerOptions, dir, dsn string, withRunner bool) (*controlled, error) {
	c := &controlled{o: o, dir: dir, work: filepath.Join(dir, "work")}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	c.env = append(os.Environ(), "SPARKWING_CACHE_DIR="+filepath.Join(dir, "cache"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		fmt.Sprintf("FLOOD_MB=%d", o.FloodMB), "GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=bench@example.com",
		"GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=bench@example.com")
	up := filepath.Join(dir, "app.git")
	steps := [][]string{{"git", "init", "-q", "--bare", up}, {"git", "clone", "-q", up, c.work}}
	for _, s := range steps {
		if err := c.cmd(dir, s...).Run(); err != nil {
			return nil, fmt.Errorf("%v: %w", s, err)
		}
	}
	os.MkdirAll(filepath.Join(c.work, ".sparkwing"), 0o755)
	os.WriteFile(filepath.Join(c.work, ".sparkwing", "sparkwing.yaml"), []byte(controllerProject), 0o644)
	os.WriteFile(filepath.Join(c.work, ".gitignore"), []byte(".sparkwing/runs/\n.sparkwing/state/\n"), 0o644)
	for _, s := range [][]string{{"git", "add", "-A"}, {"git", "commit", "-q", "-m", "bench"}, {"git", "push", "-q", "origin", "HEAD:main"}} {
		if out, err := c.cmd(c.work, s...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%v: %v\n%s", s, err, out)
		}
	}
	if err := c.startServer(ctx, dsn); err != nil {
		return nil, err
	}
	if !withRunner {
		return c, nil
	}
	runner := c.cmd(dir, filepath.Join(o.Bin, "sparkwing"), "runner", "--controller", c.url, "--token-file", c.token,
		"--name", "bench", "--dir", filepath.Join(dir, "runner"))
	if err := c.start(runner); err != nil {
		return nil, err
	}
	return c, nil
}

// startServer starts sparkwing-controller on a free port with a token
// of every scope in c.token.
func (c *controlled) startServer(ctx context.Context, dsn string) error {
	data := []string{"--data", filepath.Join(c.dir, "data")}
	if dsn != "" {
		data = append(data, "--store", dsn)
	}
	ctl := filepath.Join(c.o.Bin, "sparkwing-controller")
	out, err := c.cmd(c.dir, append([]string{ctl, "token", "create", "--name", "bench", "--scope", "admin,trigger,runner"}, data...)...).Output()
	if err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	c.token = filepath.Join(c.dir, "token")
	os.WriteFile(c.token, out, 0o600)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	c.url = "http://" + addr
	if err := c.start(c.cmd(c.dir, append([]string{ctl, "serve", "--addr", addr}, data...)...)); err != nil {
		return err
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if conn, err := net.Dial("tcp", addr); err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the controller did not listen on %s", addr)
		}
	}
}

func (c *controlled) cmd(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir, cmd.Env = dir, c.env
	return cmd
}

func (c *controlled) start(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	log, err := os.Create(filepath.Join(c.dir, filepath.Base(cmd.Path)+fmt.Sprint(len(c.procs))+".log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return err
	}
	c.procs = append(c.procs, cmd)
	return nil
}

func (c *controlled) stop() {
	for _, p := range slices.Backward(c.procs) {
		syscall.Kill(-p.Process.Pid, syscall.SIGTERM)
		p.Wait()
	}
	c.procs = nil
}

func (c *controlled) client() (*api.Client, error) {
	tok, err := os.ReadFile(c.token)
	return api.NewClient(c.url, strings.TrimSpace(string(tok))), err
}

// timed runs sparkwing with args in the work tree, reading its JSON
// events as they come, and returns when it started and the arrival time
// of each log line with the time the job printed it; a trigger's run id
// is in stderr's first line.
func (c *controlled) timed(ctx context.Context, args ...string) (start time.Time, lines [][2]time.Time, stderr string, err error) {
	cmd := c.cmd(c.work, append([]string{filepath.Join(c.o.Bin, "sparkwing")}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return start, nil, "", err
	}
	var errb lastBytes
	cmd.Stderr = &errb
	start = time.Now()
	if err := cmd.Start(); err != nil {
		return start, nil, "", err
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		at := time.Now()
		var ev struct{ Event, Line string }
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Event != "log" {
			continue
		}
		if ns, err := strconv.ParseInt(strings.TrimSpace(ev.Line), 10, 64); err == nil {
			lines = append(lines, [2]time.Time{time.Unix(0, ns), at})
		}
	}
	if err := cmd.Wait(); err != nil {
		return start, nil, "", fmt.Errorf("sparkwing %s: %v\n%s", strings.Join(args, " "), err, errb.b)
	}
	return start, lines, string(errb.b), nil
}

// latencies triggers the probe pipeline Triggers times, and runs it
// locally as often, interleaved.
func (c *controlled) latencies(ctx context.Context, r *ControllerResult) error {
	var startR, startL, lineR, lineL, queued, claimed, started []float64
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	cl, err := c.client()
	if err != nil {
		return err
	}
	for i := -1; i < c.o.Triggers; i++ { // one warm-up of each
		for _, remote := range []bool{true, false} {
			args := []string{"run", "lat", "--output", "json"}
			if remote {
				args = []string{"pipeline", "trigger", "lat", "--output", "json", "--controller", c.url, "--token-file", c.token}
				// Each trigger is of a commit pushed just before, as in a
				// real edit loop: one file edited, in a directory.
				os.MkdirAll(filepath.Join(c.work, "src"), 0o755)
				os.WriteFile(filepath.Join(c.work, "src", "edited.txt"), fmt.Appendf(nil, "edit %d\n", i), 0o644)
				for _, s := range [][]string{{"git", "add", "-A"}, {"git", "commit", "-q", "-m", "edit"}, {"git", "push", "-q", "origin", "HEAD:main"}} {
					if out, err := c.cmd(c.work, s...).CombinedOutput(); err != nil {
						return fmt.Errorf("%v: %v\n%s", s, err, out)
					}
				}
			}
			start, lines, stderr, err := c.timed(ctx, args...)
			if err != nil {
				return err
			}
			if len(lines) != 11 {
				return fmt.Errorf("%v: %d timed lines, want 11", args, len(lines))
			}
			if i < 0 {
				continue
			}
			first, line := &startL, &lineL
			if remote {
				first, line = &startR, &lineR
			}
			*first = append(*first, ms(lines[0][0].Sub(start)))
			for _, l := range lines {
				*line = append(*line, ms(l[1].Sub(l[0])))
			}
			if remote {
				run, err := cl.Run(ctx, runID(stderr))
				if err != nil {
					return err
				}
				queued = append(queued, ms(run.Created.Sub(start)))
				claimed = append(claimed, ms(run.Started.Sub(run.Created)))
				started = append(started, ms(lines[0][0].Sub(run.Started)))
			}
		}
		if i >= 0 && (i+1)%10 == 0 {
			fmt.Fprintf(c.o.Log, "latency: %d of %d triggers\n", i+1, c.o.Triggers)
		}
	}
	r.StartRemote, r.StartLocal, r.LineRemote, r.LineLocal = dist(startR), dist(startL), dist(lineR), dist(lineL)
	r.ToQueued, r.ToClaimed, r.ToFirstLine = dist(queued), dist(claimed), dist(started)
	var git []float64
	for range 50 {
		start := time.Now()
		if err := c.cmd(c.work, "git", "rev-parse", "HEAD").Run(); err != nil {
			return err
		}
		git = append(git, ms(time.Since(start)))
	}
	r.GitStart = dist(git)
	return nil
}

// runID reads the run id from a trigger's "sparkwing: run ID of …" line.
func runID(stderr string) string {
	_, rest, _ := strings.Cut(stderr, "sparkwing: run ")
	id, _, _ := strings.Cut(rest, " ")
	return id
}

func dist(xs []float64) Latency {
	slices.Sort(xs)
	if len(xs) == 0 {
		return Latency{}
	}
	return Latency{Median: xs[len(xs)/2], P99: xs[min(len(xs)-1, len(xs)*99/100)], N: len(xs)}
}

// flood runs the flood pipeline remotely and locally (three each,
// interleaved; medians), then has 1 and 20 subscribers read the last
// remote run's log.
func (c *controlled) flood(ctx context.Context, r *ControllerResult) error {
	var remote, local []float64
	for range 3 {
		for _, args := range [][]string{
			{"pipeline", "trigger", "flood", "--output", "json", "--controller", c.url, "--token-file", c.token},
			{"run", "flood", "--output", "json"},
		} {
			start, _, _, err := c.timed(ctx, args...)
			if err != nil {
				return err
			}
			took := time.Since(start).Seconds()
			if args[0] == "run" {
				local = append(local, took)
			} else {
				remote = append(remote, took)
			}
		}
	}
	r.FloodRemote, r.FloodLocal = medianOf(remote), medianOf(local)
	cl, err := c.client()
	if err != nil {
		return err
	}
	runs, err := cl.Runs(ctx, 1)
	if err != nil || len(runs) == 0 {
		return fmt.Errorf("the flood run: %v", err)
	}
	r.LogMB = float64(runs[0].LogSize) / (1 << 20)
	for _, n := range []int{1, 20} {
		mbps, err := fanout(ctx, cl, runs[0], n)
		if err != nil {
			return err
		}
		if n == 1 {
			r.Fanout1 = mbps
		} else {
			r.Fanout20 = mbps
		}
	}
	fmt.Fprintf(c.o.Log, "flood: remote %.2fs, local %.2fs; replay %.0f MB/s to 1, %.0f MB/s to 20\n", r.FloodRemote, r.FloodLocal, r.Fanout1, r.Fanout20)
	return nil
}

// fanout has n subscribers read run's whole log at once and returns the
// MB/s delivered to all of them together.
func fanout(ctx context.Context, cl *api.Client, run api.Run, n int) (float64, error) {
	var wg sync.WaitGroup
	var got atomic.Int64
	errs := make(chan error, n)
	start := time.Now()
	for range n {
		wg.Go(func() {
			body, err := cl.OpenLog(ctx, run.ID, 0)
			if err != nil {
				errs <- err
				return
			}
			defer body.Close()
			rd := logstream.NewReader(body)
			for {
				ev, err := rd.Next()
				if err != nil {
					errs <- err
					return
				}
				if ev.Type == "end" {
					return
				}
				got.Add(int64(len(ev.Data)))
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	if want := run.LogSize * int64(n); got.Load() != want {
		return 0, fmt.Errorf("%d subscribers got %d bytes, want %d", n, got.Load(), want)
	}
	return float64(got.Load()) / (1 << 20) / time.Since(start).Seconds(), nil
}

// claims queues o.Runs runs through the API and has o.Runners clients
// claim and finish them at once, on a fresh controller over store.
func claims(ctx context.Context, o ControllerOptions, dir, storeName, dsn string) (ClaimResult, error) {
	cr := ClaimResult{Store: storeName, Runs: o.Runs, Runners: o.Runners}
	c, err := startControlled(ctx, o, dir, dsn, false) // the clients below claim, not a runner
	if err != nil {
		return cr, err
	}
	defer c.stop()
	cl, err := c.client()
	if err != nil {
		return cr, err
	}
	sha, err := c.cmd(c.work, "git", "rev-parse", "HEAD").Output()
	if err != nil {
		return cr, err
	}
	origin := filepath.Join(dir, "app.git")
	if _, err := cl.Register(ctx, "app", origin); err != nil {
		return cr, err
	}
	start := time.Now()
	if err := parallel(8, o.Runs, func(i int) error {
		_, err := cl.Trigger(ctx, api.Trigger{Repo: "app", RepoURL: origin, SHA: strings.TrimSpace(string(sha)), Branch: "main",
			Pipeline: "lat", Key: fmt.Sprintf("bench-%d", i)})
		return err
	}); err != nil {
		return cr, err
	}
	cr.Triggers = float64(o.Runs) / time.Since(start).Seconds()
	var claimed sync.Map
	var dup atomic.Int64
	start = time.Now()
	err = parallel(o.Runners, o.Runners, func(i int) error {
		for {
			a, err := cl.Claim(ctx, api.Claim{Runner: fmt.Sprintf("r%d", i)})
			if err != nil || a == nil {
				return err
			}
			if _, seen := claimed.LoadOrStore(a.Run.ID, i); seen {
				dup.Add(1)
			}
			if err := cl.Finish(ctx, a.Run.ID, a.Fence, api.Finish{Status: "succeeded"}); err != nil {
				return err
			}
		}
	})
	cr.Claims = float64(o.Runs) / time.Since(start).Seconds()
	cr.Duplicate = int(dup.Load())
	n := 0
	claimed.Range(func(any, any) bool { n++; return true })
	if err == nil && n != o.Runs {
		err = fmt.Errorf("%d of %d runs were claimed", n, o.Runs)
	}
	return cr, err
}

// parallel calls fn(0..n-1) on workers goroutines and returns the first
// error.
func parallel(workers, n int, fn func(int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var first error
	var once sync.Once
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

func writeController(dir string, r *ControllerResult) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "controller.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Remote runs through the controller\n\n")
	fmt.Fprintf(&b, "Generated by `bench/run --controller` on %s (%s). A controller (SQLite), one runner and\n"+
		"`sparkwing pipeline trigger`, real processes on loopback, against `sparkwing run` of the same pipeline in\n"+
		"the same work tree, interleaved, %d of each. Ratios are remote ÷ local.\n\n", r.Date, r.Machine, r.Triggers)
	fmt.Fprintf(&b, "| measure | remote median | remote p99 | local median | local p99 | remote ÷ local (median) | goal |\n|---|---:|---:|---:|---:|---:|---|\n")
	row := func(name string, rem, loc Latency, goal string) {
		fmt.Fprintf(&b, "| %s | %.1f ms | %.1f ms | %.1f ms | %.1f ms | %.2f× | %s |\n", name, rem.Median, rem.P99, loc.Median, loc.P99, rem.Median/loc.Median, goal)
	}
	row("command start → the job's first line", r.StartRemote, r.StartLocal, "≤ 50 ms")
	row("the job prints a line → the command shows it", r.LineRemote, r.LineLocal, "≤ 20 ms")
	fmt.Fprintf(&b, "\nWhere a remote start's time goes (medians, p99 in brackets): command start → queued %.1f ms (%.1f): the CLI,\n"+
		"then the controller adding the just-pushed commit to its mirror from the pack the trigger carries (read and checked\n"+
		"in-process); queued → claimed by the waiting runner %.1f ms (%.1f);\n"+
		"claimed → the job's first line %.1f ms (%.1f): the runner adding the same pack (sent on with the claim) to its mirror,\n"+
		"resetting its worktree, and `sparkwing run`, which starts beside the checkout and waits for it.\n",
		r.ToQueued.Median, r.ToQueued.P99, r.ToClaimed.Median, r.ToClaimed.P99, r.ToFirstLine.Median, r.ToFirstLine.P99)
	fmt.Fprintf(&b, "\nThe floor: one git process costs %.1f ms here (`git rev-parse HEAD`, median), and the path starts 5 processes\n"+
		"one after another: sparkwing (which becomes sparkwing-remote); git status (git remote get-url and the pack-objects\n"+
		"of the commit's new objects beside it); the runner's git reset that fills its worktree (sparkwing run starting\n"+
		"beside it); the job's shell. The controller's side runs no process: the pack is read in-process, and the mirror's\n"+
		"branches are fetched a second later.\n",
		r.GitStart.Median)
	fmt.Fprintf(&b, "\nLog throughput: a job printing %d MB of lines (%.0f MB of JSON events in the stored log), followed live:\n"+
		"remote %.2f s, local %.2f s (**%.2f×**). The finished run's log read back at once by 1 subscriber: %.0f MB/s;\n"+
		"by 20: %.0f MB/s in all.\n\n", r.FloodMB, r.LogMB, r.FloodRemote, r.FloodLocal, r.FloodRemote/r.FloodLocal, r.Fanout1, r.Fanout20)
	fmt.Fprintf(&b, "The queue, with API clients claiming and finishing at once (not runner processes):\n\n"+
		"| store | runs | clients | triggers/s | claims/s | claimed twice |\n|---|---:|---:|---:|---:|---:|\n")
	for _, c := range r.Claims {
		fmt.Fprintf(&b, "| %s | %d | %d | %.0f | %.0f | %d |\n", c.Store, c.Runs, c.Runners, c.Triggers, c.Claims, c.Duplicate)
	}
	if len(r.Claims) == 2 {
		fmt.Fprintf(&b, "\nPostgreSQL ÷ SQLite: triggers %.2f×, claims %.2f× (throughput; above 1 is faster).\n",
			r.Claims[1].Triggers/r.Claims[0].Triggers, r.Claims[1].Claims/r.Claims[0].Claims)
	}
	return os.WriteFile(filepath.Join(dir, "CONTROLLER.md"), []byte(b.String()), 0o644)
}
