package job

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

func runner(t *testing.T, env map[string]string) *Runner {
	return &Runner{Root: t.TempDir(), KillGrace: time.Second, LookupEnv: func(n string) (string, bool) {
		v, ok := env[n]
		return v, ok
	}}
}

func TestStrictEnvironment(t *testing.T) {
	r := runner(t, map[string]string{"PATH": os.Getenv("PATH"), "GOOS": "plan9", "SECRET": "x", "HOME": "/h"})
	var log bytes.Buffer
	res := r.Run(context.Background(), plan.Job{ID: "e", Run: "env | sort", Env: []string{"GOOS"}}, &log)
	if res.Status != OK {
		t.Fatal(res.Err)
	}
	out := log.String()
	for _, want := range []string{"GOOS=plan9\n", "HOME=/h\n", "SPARKWING_JOB=e\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "SECRET") {
		t.Errorf("undeclared variable leaked:\n%s", out)
	}
}

func TestFailureAndExitStatus(t *testing.T) {
	r := runner(t, map[string]string{"PATH": os.Getenv("PATH")})
	var log bytes.Buffer
	res := r.Run(context.Background(), plan.Job{ID: "f", Run: "echo before\nfalse\necho after"}, &log)
	if res.Status != Failed || res.Err.Error() != "exit status 1" {
		t.Fatalf("%+v", res)
	}
	if log.String() != "before\n" {
		t.Fatalf("sh -e should stop at the first failing line; log %q", log.String())
	}
}

func TestRetries(t *testing.T) {
	r := runner(t, map[string]string{"PATH": os.Getenv("PATH")})
	var log bytes.Buffer
	// Fails twice, then succeeds: a counter file in the root.
	script := `n=$(cat n 2>/dev/null || echo 0); n=$((n+1)); echo $n > n; [ $n -ge 3 ]`
	res := r.Run(context.Background(), plan.Job{ID: "r", Run: script, Retries: 2}, &log)
	if res.Status != OK || res.Attempts != 3 {
		t.Fatalf("%+v\n%s", res, log.String())
	}
	if !strings.Contains(log.String(), "attempt 3 of 3") {
		t.Fatalf("log does not mark attempts:\n%s", log.String())
	}
	os.Remove(filepath.Join(r.Root, "n"))
	res = r.Run(context.Background(), plan.Job{ID: "r", Run: script, Retries: 1}, &log)
	if res.Status != Failed || res.Attempts != 2 {
		t.Fatalf("%+v", res)
	}
}

func TestTimeoutKillsTheGroup(t *testing.T) {
	r := runner(t, map[string]string{"PATH": os.Getenv("PATH")})
	var log bytes.Buffer
	res := r.Run(context.Background(), plan.Job{ID: "t", Run: "sleep 30 & echo $! > bg.pid; wait", Timeout: 200 * time.Millisecond}, &log)
	if res.Status != Failed || !strings.Contains(res.Err.Error(), "timed out after 200ms") {
		t.Fatalf("%+v", res)
	}
	assertDead(t, filepath.Join(r.Root, "bg.pid"))
}

func TestCancelKillsTheGroup(t *testing.T) {
	r := runner(t, map[string]string{"PATH": os.Getenv("PATH")})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	var log bytes.Buffer
	// The shell ignores SIGTERM, so only the SIGKILL after the grace period ends it.
	res := r.Run(ctx, plan.Job{ID: "c", Run: "trap '' TERM; sleep 30 & echo $! > bg.pid; while :; do sleep 0.1; done", Retries: 3}, &log)
	if res.Status != Cancelled || res.Attempts != 1 {
		t.Fatalf("%+v", res)
	}
	assertDead(t, filepath.Join(r.Root, "bg.pid"))
}

func TestLeftoversAreKilledWhenTheJobExits(t *testing.T) {
	r := runner(t, map[string]string{"PATH": os.Getenv("PATH")})
	var log bytes.Buffer
	res := r.Run(context.Background(), plan.Job{ID: "l", Run: "sleep 30 & echo $! > bg.pid; echo done"}, &log)
	if res.Status != OK || log.String() != "done\n" {
		t.Fatalf("%+v %q", res, log.String())
	}
	assertDead(t, filepath.Join(r.Root, "bg.pid"))
}

func assertDead(t *testing.T, pidFile string) {
	t.Helper()
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	for i := 0; i < 50; i++ {
		if syscall.Kill(pid, 0) != nil || isZombie(pid) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("process %d is still alive", pid)
}

// isZombie: a killed child of an exited shell may linger as a zombie until
// reaped by init; it is no longer running.
func isZombie(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	fields := strings.Fields(string(data))
	return len(fields) > 2 && fields[2] == "Z"
}
