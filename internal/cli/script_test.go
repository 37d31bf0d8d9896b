package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
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
	"github.com/sparkwing-dev/sparkwing/internal/scripttest"
	"github.com/sparkwing-dev/sparkwing/internal/sparks/sparkstest"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"sparkwing":        func() { os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
		"sparkwing-image":  func() { os.Exit(buildkit.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
		"sparkwing-remote": func() { os.Exit(helper.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Vars = append(env.Vars, scripttest.GoEnv...)
			env.Vars = append(env.Vars,
				"SPARKWING_CACHE_DIR="+filepath.Join(env.WorkDir, ".cache"),
				"GOPROXY=off", // the SDK ships inside sparkwing: no network
				"GOFLAGS=-buildvcs=false",
				"NO_COLOR=1",
			)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":       scripttest.Exitcode,
			"overlap":        cmdOverlap,
			"dead":           cmdDead,
			"planmatchesrun": cmdPlanMatchesRun,
			"publish":        cmdPublish,
			"waitline":       scripttest.WaitLine,
			"probe":          scripttest.Probe,
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
