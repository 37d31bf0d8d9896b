package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/sparkwing-dev/sparkwing/internal/buildkit"
	"github.com/sparkwing-dev/sparkwing/internal/remote/helper"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
	"github.com/sparkwing-dev/sparkwing/internal/sparks/sparkstest"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"sparkwing":        func() { os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
		"sparkwing-image":  func() { os.Exit(buildkit.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
		"sparkwing-remote": func() { os.Exit(helper.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// goEnv is the real Go cache locations, so scripts that compile Go
// pipelines reuse the build cache (testscript sets HOME to /no-home).
var goEnv = func() []string {
	out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH", "GOROOT").Output()
	if err != nil {
		return nil
	}
	v := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(v) != 4 {
		return nil
	}
	return []string{"GOCACHE=" + v[0], "GOMODCACHE=" + v[1], "GOPATH=" + v[2], "REAL_GOROOT=" + v[3]}
}()

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Vars = append(env.Vars, goEnv...)
			env.Vars = append(env.Vars,
				"SPARKWING_CACHE_DIR="+filepath.Join(env.WorkDir, ".cache"),
				"GOPROXY=off", // the SDK ships inside sparkwing: no network
				"GOFLAGS=-buildvcs=false",
				"NO_COLOR=1",
			)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":       cmdExitcode,
			"overlap":        cmdOverlap,
			"dead":           cmdDead,
			"planmatchesrun": cmdPlanMatchesRun,
			"publish":        cmdPublish,
			"waitline":       cmdWaitLine,
			"probe":          cmdProbe,
		},
	})
}

// publish PROXY MODULE VERSION DIR: add DIR as VERSION of MODULE to the
// module proxy directory PROXY (for GOPROXY=file://PROXY).
func cmdPublish(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: publish PROXY MODULE VERSION DIR")
	}
	ts.Check(sparkstest.Publish(ts.MkAbs(args[0]), args[1], args[2], ts.MkAbs(args[3])))
}

// exitcode N [-int-after FILE] PROG ARGS...: run PROG and require exit code
// N; its output becomes stdout/stderr for the next checks. With -int-after,
// send SIGINT once FILE exists.
func cmdExitcode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N [-int-after FILE] PROG ARGS...")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	args = args[1:]
	intAfter := ""
	if args[0] == "-int-after" {
		intAfter, args = ts.MkAbs(args[1]), args[2:]
	}
	prog, err := lookPath(ts, args[0])
	ts.Check(err)
	cmd := exec.Command(prog, args[1:]...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = scriptEnv(ts)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	ts.Check(cmd.Start())
	if intAfter != "" {
		waitFile(ts, intAfter, 30*time.Second)
		ts.Check(cmd.Process.Signal(syscall.SIGINT))
	}
	err = cmd.Wait()
	ts.Stdout().Write(stdout.Bytes())
	ts.Stderr().Write(stderr.Bytes())
	got := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		got = ee.ExitCode()
	} else if err != nil {
		ts.Fatalf("%v", err)
	}
	if got != want {
		ts.Fatalf("exit code %d, want %d\nstderr:\n%s", got, want, stderr.String())
	}
}

func scriptEnv(ts *testscript.TestScript) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if v := ts.Getenv(name); v != "" {
			env = append(env, name+"="+v)
		}
	}
	for _, name := range []string{"WORK", "HOME", "TMPDIR", "PATH", "SPARKWING_CACHE_DIR", "GOCACHE",
		"GOMODCACHE", "GOPATH", "GOPROXY", "GOFLAGS", "NO_COLOR", "REAL_GOROOT", "BUILDKIT_HOST", "SPARKWING_IMAGE_HELPER"} {
		env = append(env, name+"="+ts.Getenv(name))
	}
	for _, name := range []string{"SPARKWING_REMOTE_CACHE", "SPARKWING_CACHE_KEY", "SPARKWING_CACHE_NAMESPACE",
		"SPARKWING_REMOTE_CACHE_TIMEOUT", "SPARKWING_REMOTE_CACHE_TOKEN", "AWS_ENDPOINT_URL",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "SPARKWING_REMOTE_REFRESH",
		"SPARKWING_REMOTE_CACHE_USER", "SPARKWING_REMOTE_CACHE_PASSWORD", "NETRC", "SPARKWING_REMOTE_UPLOAD_WAIT",
		"GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GOWORK"} {
		if v := ts.Getenv(name); v != "" {
			env = append(env, name+"="+v)
		}
	}
	return env
}

func lookPath(ts *testscript.TestScript, name string) (string, error) {
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", errors.New(name + " not found on the script's PATH")
}

func waitFile(ts *testscript.TestScript, path string, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not appear within %v", path, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// overlap A B: in the newest run's trace.json, the spans of jobs A and B
// overlap in time (with !, they do not).
func cmdOverlap(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: overlap JOB JOB")
	}
	runs, _ := filepath.Glob(ts.MkAbs(".sparkwing/runs/*/trace.json"))
	if len(runs) == 0 {
		ts.Fatalf("no trace.json under .sparkwing/runs")
	}
	sort.Strings(runs)
	data, err := os.ReadFile(runs[len(runs)-1])
	ts.Check(err)
	var trace runrec.TraceFile
	ts.Check(json.Unmarshal(data, &trace))
	spans := map[string]runrec.TraceEvent{}
	for _, e := range trace.TraceEvents {
		if e.Ph == "X" {
			spans[e.Name] = e
		}
	}
	a, okA := spans[args[0]]
	b, okB := spans[args[1]]
	if !okA || !okB {
		ts.Fatalf("trace has no span for %s or %s", args[0], args[1])
	}
	overlaps := a.Ts < b.Ts+b.Dur && b.Ts < a.Ts+a.Dur
	ts.Logf("%s [%d, +%d]µs, %s [%d, +%d]µs", args[0], a.Ts, a.Dur, args[1], b.Ts, b.Dur)
	if overlaps == neg {
		ts.Fatalf("overlap(%s, %s) = %v", args[0], args[1], overlaps)
	}
}

// waitBound is how long waitlines and probe wait for what a background
// process does: a bound against a hung test, not a speed requirement.
const waitBound = 90 * time.Second

// waitline FILE REGEXP: wait until a line of FILE after the last one an
// earlier waitline on FILE matched matches REGEXP (a background process's
// progress); that line becomes stdout.
func cmdWaitLine(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitline FILE REGEXP")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	mark := "WAITLINE_" + strings.NewReplacer("/", "_", ".", "_").Replace(args[0])
	from, _ := strconv.Atoi(ts.Getenv(mark))
	var lines []string
	for start := time.Now(); time.Since(start) < waitBound; time.Sleep(20 * time.Millisecond) {
		data, _ := os.ReadFile(ts.MkAbs(args[0]))
		lines = strings.SplitAfter(string(data), "\n")
		for i := from; i < len(lines); i++ {
			if strings.HasSuffix(lines[i], "\n") && re.MatchString(lines[i]) {
				ts.Setenv(mark, strconv.Itoa(i+1))
				ts.Stdout().Write([]byte(lines[i]))
				return
			}
		}
	}
	ts.Fatalf("no line of %s after line %d matched %q in %v:\n%s", args[0], from, args[1], waitBound, strings.Join(lines, ""))
}

// probe URL REGEXP: wait until a GET of URL answers a body matching
// REGEXP; ! probe URL: URL must not answer at all, now.
func cmdProbe(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 || (!neg && len(args) != 2) {
		ts.Fatalf("usage: probe URL REGEXP | ! probe URL")
	}
	client := &http.Client{Timeout: 2 * time.Second}
	if neg {
		if resp, err := client.Get(args[0]); err == nil {
			resp.Body.Close()
			ts.Fatalf("%s answers %s", args[0], resp.Status)
		}
		return
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	last := ""
	for start := time.Now(); time.Since(start) < waitBound; time.Sleep(20 * time.Millisecond) {
		resp, err := client.Get(args[0])
		if err != nil {
			last = err.Error()
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if last = string(body); re.MatchString(last) {
			return
		}
	}
	ts.Fatalf("%s never answered %q in %v (last: %q)", args[0], args[1], waitBound, last)
}

// dead PIDFILE: the process whose pid is in PIDFILE is not running.
func cmdDead(ts *testscript.TestScript, neg bool, args []string) {
	data, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	ts.Check(err)
	for i := 0; i < 100; i++ {
		if syscall.Kill(pid, 0) != nil || zombie(pid) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("process %d is still running", pid)
}

func zombie(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(data))
	return len(f) > 2 && f[2] == "Z"
}

// planmatchesrun PIPELINE: run `plan PIPELINE --json`, then the pipeline,
// and require that every job the plan could predict did what it said: a
// hit was restored, a miss ran for the reason given, an off job ran
// uncached. (A job after one that must run first cannot be predicted.)
// The run's output is stdout for the next checks.
func cmdPlanMatchesRun(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: planmatchesrun PIPELINE [ARGS...]")
	}
	sw := func(args ...string) []byte {
		if err := ts.Exec("sparkwing", args...); err != nil {
			ts.Fatalf("sparkwing %s: %v\n%s%s", strings.Join(args, " "), err, ts.ReadFile("stdout"), ts.ReadFile("stderr"))
		}
		return []byte(ts.ReadFile("stdout"))
	}
	var predicted struct {
		Jobs []struct {
			ID    string
			Cache runrec.Cache
		}
	}
	ts.Check(json.Unmarshal(sw(append([]string{"plan", "--json"}, args...)...), &predicted))
	sw(append([]string{"run", "--output", "plain"}, args...)...) // its output stays stdout
	rec, err := runrec.Open(ts.MkAbs(".")).Load("last")
	ts.Check(err)
	did := map[string]runrec.Cache{}
	for _, j := range rec.Jobs {
		did[j.ID] = j.Cache
	}
	for _, p := range predicted.Jobs {
		if p.Cache.Result == "unknown" {
			continue
		}
		if got := did[p.ID]; got.Result != p.Cache.Result || got.Reason != p.Cache.Reason {
			ts.Fatalf("job %s: plan said %s (%s), the run did %s (%s)", p.ID, p.Cache.Result, p.Cache.Reason, got.Result, got.Reason)
		}
	}
}
