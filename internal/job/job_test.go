package job

import (
	"bytes"
	"context"
	"os"
	"os/exec"
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
	res := r.Run(context.Background(), plan.Job{ID: "e", Run: "env | sort", Env: []string{"GOOS"}}, &log, nil)
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
	res := r.Run(context.Background(), plan.Job{ID: "f", Run: "echo before\nfalse\necho after"}, &log, nil)
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
	res := r.Run(context.Background(), plan.Job{ID: "r", Run: script, Retries: 2}, &log, nil)
	if res.Status != OK || res.Attempts != 3 {
		t.Fatalf("%+v\n%s", res, log.String())
	}
	if !strings.Contains(log.String(), "attempt 3 of 3") {
		t.Fatalf("log does not mark attempts:\n%s", log.String())
	}
	os.Remove(filepath.Join(r.Root, "n"))
	res = r.Run(context.Background(), plan.Job{ID: "r", Run: script, Retries: 1}, &log, nil)
	if res.Status != Failed || res.Attempts != 2 {
		t.Fatalf("%+v", res)
	}
}

func TestTimeoutKillsTheGroup(t *testing.T) {
	r := runner(t, map[string]string{"PATH": os.Getenv("PATH")})
	var log bytes.Buffer
	res := r.Run(context.Background(), plan.Job{ID: "t", Run: "sleep 30 & echo $! > bg.pid; wait", Timeout: 200 * time.Millisecond}, &log, nil)
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
	res := r.Run(ctx, plan.Job{ID: "c", Run: "trap '' TERM; sleep 30 & echo $! > bg.pid; while :; do sleep 0.1; done", Retries: 3}, &log, nil)
	if res.Status != Cancelled || res.Attempts != 1 {
		t.Fatalf("%+v", res)
	}
	assertDead(t, filepath.Join(r.Root, "bg.pid"))
}

func TestLeftoversAreKilledWhenTheJobExits(t *testing.T) {
	r := runner(t, map[string]string{"PATH": os.Getenv("PATH")})
	var log bytes.Buffer
	res := r.Run(context.Background(), plan.Job{ID: "l", Run: "sleep 30 & echo $! > bg.pid; echo done"}, &log, nil)
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

// TestSignalledJobsNeverSucceed: a job that traps SIGTERM, writes part of
// its output and exits 0 was stopped by sparkwing, so it did not succeed,
// whether a cancel or its timeout stopped it.
func TestSignalledJobsNeverSucceed(t *testing.T) {
	script := "trap 'echo partial > out; exit 0' TERM; touch started; while :; do sleep 0.05; done"
	t.Run("cancel", func(t *testing.T) {
		r := runner(t, map[string]string{"PATH": os.Getenv("PATH")})
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			waitFor(t, filepath.Join(r.Root, "started"))
			cancel()
		}()
		var log bytes.Buffer
		res := r.Run(ctx, plan.Job{ID: "c", Run: script}, &log, nil)
		if res.Status != Cancelled {
			t.Fatalf("a job stopped by a cancel ended %+v", res)
		}
		if _, err := os.Stat(filepath.Join(r.Root, "out")); err != nil {
			t.Fatal("the trap did not run, so the test proves nothing:", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		r := runner(t, map[string]string{"PATH": os.Getenv("PATH")})
		var log bytes.Buffer
		res := r.Run(context.Background(), plan.Job{ID: "t", Run: script, Timeout: 300 * time.Millisecond}, &log, nil)
		if res.Status != Failed || !strings.Contains(res.Err.Error(), "timed out") {
			t.Fatalf("a job stopped by its timeout ended %+v", res)
		}
	})
}

// failingWriter accepts limit bytes, then fails as a full disk does.
type failingWriter struct{ limit int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.limit {
		n := w.limit
		w.limit = 0
		return n, syscall.ENOSPC
	}
	w.limit -= len(p)
	return len(p), nil
}

// TestAFullLogDoesNotHangTheJob: when the log cannot be written, the job's
// output is still drained (or the job would block on a full pipe forever),
// and the job fails saying why.
func TestAFullLogDoesNotHangTheJob(t *testing.T) {
	r := runner(t, map[string]string{"PATH": os.Getenv("PATH")})
	done := make(chan Result, 1)
	go func() {
		// 8 MB is far more than a pipe holds.
		done <- r.Run(context.Background(), plan.Job{ID: "big", Run: "head -c 8000000 /dev/zero"}, &failingWriter{limit: 1000}, nil)
	}()
	select {
	case res := <-done:
		if res.Status != Failed || !strings.Contains(res.Err.Error(), "could not write its log") {
			t.Fatalf("%+v", res)
		}
	case <-time.After(2 * time.Minute): // a hang, not a slow run
		t.Fatal("the job hung once its log could not be written")
	}
}

// TestWatchdogKillsJobsWhenSparkwingIsGone: the watchdog's input closing is
// what the kernel does when sparkwing dies; the running job's whole group
// must die then, the job's leader and what it started.
func TestWatchdogKillsJobsWhenSparkwingIsGone(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r := runner(t, map[string]string{"PATH": os.Getenv("PATH")})
	r.Watchdog = &Watchdog{Exe: exe}
	done := make(chan Result, 1)
	watched := make(chan struct{})
	go func() {
		var log bytes.Buffer
		done <- r.Run(context.Background(), plan.Job{ID: "w", Run: "sleep 60 & echo $! > bg.pid; echo $$ > fg.pid; wait"}, &log,
			func(int) { close(watched) })
	}()
	<-watched
	waitFor(t, filepath.Join(r.Root, "fg.pid"))
	r.Watchdog.mu.Lock()
	r.Watchdog.w.Close() // as if sparkwing had died
	r.Watchdog.w = nil
	r.Watchdog.mu.Unlock()
	res := <-done
	if res.Status != Failed || !strings.Contains(res.Err.Error(), "killed") {
		t.Fatalf("%+v", res)
	}
	assertDead(t, filepath.Join(r.Root, "bg.pid"))
	r.Watchdog.cmd.Wait()
}

// TestWatchdogSparesFinishedJobs: a group that was forgotten is never
// signalled (its id may have been reused), one still listed is.
func TestWatchdogSparesFinishedJobs(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	group := func() *exec.Cmd {
		cmd := exec.Command("sleep", "60")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	finished, running := group(), group()
	d := &Watchdog{Exe: exe}
	d.watch(finished.Process.Pid)
	d.watch(running.Process.Pid)
	d.forget(finished.Process.Pid)
	d.Close() // with a group still listed: as if sparkwing had died
	<-d.exited
	if err := running.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("the listed group was not killed: %v", err)
	}
	if err := finished.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the forgotten group was signalled: %v", err)
	}
}

func waitFor(t *testing.T, path string) {
	for i := 0; i < 1500; i++ {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("%s never appeared", path)
}

func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[0] == "sparkwing" && os.Args[1] == WatchdogArg {
		os.Exit(WatchdogMain(os.Stdin))
	}
	if len(os.Args) == 2 && os.Args[1] == gatedArg {
		gatedMain()
	}
	os.Exit(m.Run())
}
