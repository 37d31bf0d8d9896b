package remoterun_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/controller/api"
	"github.com/sparkwing-dev/sparkwing/internal/gitcache"
	"github.com/sparkwing-dev/sparkwing/internal/logstream"
	"github.com/sparkwing-dev/sparkwing/internal/store/pgtest"
)

var ctx = context.Background()

// 20 triggers at once, two runners with two slots each: every run ends,
// each trigger exits 0 with its own run's summary.
func TestManyTriggers(t *testing.T) {
	for _, b := range []struct{ name, dsn string }{{"sqlite", ""}, {"postgres", "pg"}} {
		t.Run(b.name, func(t *testing.T) {
			dsn := ""
			if b.dsn != "" {
				dsn = pgtest.DSN(t)
			}
			w := newWorld(t, dsn)
			w.startRunner("a", 2)
			w.startRunner("b", 2)
			const n = 20
			var wg sync.WaitGroup
			outs, codes := make([]string, n), make([]int, n)
			for i := range n {
				wg.Go(func() { outs[i], codes[i] = w.triggerOut("build") })
			}
			wg.Wait()
			ids := map[string]bool{}
			for i := range n {
				if codes[i] != 0 || !strings.Contains(outs[i], "hello v1") || !strings.Contains(outs[i], "build succeeded") {
					t.Errorf("trigger %d exited %d:\n%s", i, codes[i], outs[i])
				}
				ids[runID(outs[i])] = true
			}
			if len(ids) != n {
				t.Errorf("%d distinct runs for %d triggers", len(ids), n)
			}
			runs, err := w.client().Runs(ctx, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range runs {
				if r.Status != "succeeded" || r.Attempt != 1 {
					t.Errorf("run %s: %s, attempt %d", r.ID, r.Status, r.Attempt)
				}
			}
		})
	}
}

// runID reads the run id from a trigger's first line.
func runID(out string) string {
	_, rest, _ := strings.Cut(out, "sparkwing: run ")
	id, _, _ := strings.Cut(rest, " ")
	return id
}

// A runner killed mid-job: its run starts again on the other runner and
// succeeds; the trigger follows it through and exits 0.
func TestRunnerKilledMidJob(t *testing.T) {
	w := newWorld(t, "")
	a := w.startRunner("a", 1)
	tr, out := w.startTrigger("slow")
	c := w.client()
	id := waitStarted(t, c, "a")
	kill(a)
	w.startRunner("b", 1)
	err := tr.Wait()
	if code := exitCode(err); code != 0 {
		t.Fatalf("trigger exited %d:\n%s", code, out.String())
	}
	run, _ := c.Run(ctx, id)
	if run.Status != "succeeded" || run.Attempt != 2 {
		t.Errorf("run after its runner died: %s, attempt %d", run.Status, run.Attempt)
	}
	if !strings.Contains(out.String(), "the run starts again (attempt 2, on b)") || !strings.Contains(out.String(), "woke") {
		t.Errorf("trigger output does not show the second attempt:\n%s", out.String())
	}
}

// startTrigger starts a trigger of pipeline in the background, its
// output (both streams) going to the returned buffer.
func (w *world) startTrigger(args ...string) (*exec.Cmd, *bytes.Buffer) {
	w.t.Helper()
	tr := w.trigger(ctx, args...)
	var out bytes.Buffer
	tr.Stdout, tr.Stderr = &out, &out
	if err := tr.Start(); err != nil {
		w.t.Fatal(err)
	}
	return tr, &out
}

// waitStarted returns the run runner holds once its job has printed
// "started".
func waitStarted(t *testing.T, c *api.Client, runner string) string {
	t.Helper()
	id := waitRunning(t, c, runner)
	waitFor(t, "the job to print", func() bool { return strings.Contains(readLog(t, c, id), "started") })
	return id
}

// waitRunning returns the id of the run runner holds, once it holds one.
func waitRunning(t *testing.T, c *api.Client, runner string) string {
	t.Helper()
	var id string
	waitFor(t, "a run on "+runner, func() bool {
		runs, _ := c.Runs(ctx, 10)
		for _, r := range runs {
			if r.Status == "running" && r.Runner == runner {
				id = r.ID
				return true
			}
		}
		return false
	})
	return id
}

// readLog reads a run's whole log as it is now.
func readLog(t *testing.T, c *api.Client, id string) string {
	run, err := c.Run(ctx, id)
	if err != nil {
		return ""
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	body, err := c.OpenLog(sctx, id, 0)
	if err != nil {
		return ""
	}
	defer body.Close()
	r := logstream.NewReader(body)
	var log []byte
	for int64(len(log)) < run.LogSize {
		ev, err := r.Next()
		if err != nil || ev.Type == "end" {
			break
		}
		log = append(log, ev.Data...)
	}
	return string(log)
}

// The controller killed and started again mid-run: the run goes on, and
// the trigger's stream resumes where it was.
func TestControllerRestartMidRun(t *testing.T) {
	w := newWorld(t, "")
	w.startRunner("a", 1)
	tr, out := w.startTrigger("slow")
	c := w.client()
	id := waitStarted(t, c, "a")
	w.killController()
	time.Sleep(500 * time.Millisecond) // down for a moment, as a restart is
	w.startController()
	if code := exitCode(tr.Wait()); code != 0 {
		t.Fatalf("trigger exited %d:\n%s", code, out.String())
	}
	if got := strings.Count(out.String(), "woke"); got != 1 {
		t.Errorf("the job's last line shows %d times:\n%s", got, out.String())
	}
	if run, _ := c.Run(ctx, id); run.Status != "succeeded" {
		t.Errorf("run %s after the restart: %+v", id, run)
	}
}

// A subscriber that drops and reconnects at random points gets every
// line exactly once and in order: what the job printed, byte for byte
// (the job tees its output to a file).
func TestLogResumesExactlyOnce(t *testing.T) {
	w := newWorld(t, "")
	w.startRunner("a", 1)
	run, err := triggerQuiet(w, "flood")
	if err != nil {
		t.Fatal(err)
	}
	c := w.client()
	rng := rand.New(rand.NewPCG(1, 2))
	var got bytes.Buffer
	var pos int64
	reconnects := 0
	for done := false; !done; reconnects++ {
		sctx, cancel := context.WithCancel(ctx)
		body, err := c.OpenLog(sctx, run.ID, pos)
		if err != nil {
			t.Fatal(err)
		}
		r := logstream.NewReader(body)
		for n := rng.IntN(400); ; n-- {
			if n == 0 {
				break // drop the connection here
			}
			ev, err := r.Next()
			if err != nil {
				break
			}
			if ev.Type == "end" {
				done = true
				break
			}
			got.Write(ev.Data)
			pos = ev.ID
		}
		cancel()
		body.Close()
	}
	var printed bytes.Buffer
	sc := bufio.NewScanner(&got)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct{ Event, Job, Line string }
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Event == "log" && e.Job == "lines" {
			printed.WriteString(e.Line + "\n")
		}
	}
	want, err := os.ReadFile(filepath.Join(w.dir, "flood.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(printed.Bytes(), want) {
		t.Errorf("after %d reconnects the job's lines differ from what it printed (%d bytes vs %d)", reconnects, printed.Len(), len(want))
	}
	if reconnects < 5 {
		t.Errorf("only %d reconnects: the test did not test resuming", reconnects)
	}
}

// triggerQuiet triggers name and returns once it has ended.
func triggerQuiet(w *world, name string) (api.Run, error) {
	out, code := w.triggerOut(name)
	if code != 0 {
		return api.Run{}, fmt.Errorf("trigger exited %d:\n%s", code, out)
	}
	return w.client().Run(ctx, runID(out))
}

// A commit pushed just before the trigger is the one that runs; an
// unpushed one travels as a bundle; uncommitted changes need --allow-dirty.
func TestWhatRuns(t *testing.T) {
	w := newWorld(t, "")
	w.startRunner("a", 1)
	if _, code := w.triggerOut("build"); code != 0 { // the mirror exists from here on
		t.Fatalf("first trigger exited %d", code)
	}
	w.write("version.txt", "v2")
	sha := w.commit("v2")
	w.run(w.work, "git", "push", "-q", "origin", "HEAD:main")
	time.Sleep(50 * time.Millisecond)
	out, code := w.triggerOut("build")
	if code != 0 || !strings.Contains(out, "hello v2") || !strings.Contains(out, short(sha)) {
		t.Errorf("just pushed: exit %d:\n%s", code, out)
	}

	w.write("version.txt", "v3")
	w.commit("v3, not pushed")
	out, code = w.triggerOut("build")
	if code != 0 || !strings.Contains(out, "hello v3") {
		t.Errorf("not pushed: exit %d:\n%s", code, out)
	}
	// Both came as the trigger's pack, their parents being in the mirror:
	// no fetch on the way to the run, and no bundle.
	log := w.logs()
	if n := strings.Count(log, "commit added from the trigger's pack"); n != 2 {
		t.Errorf("%d commits added from the trigger's pack, want 2:\n%s", n, log)
	}
	if n := strings.Count(log, "read=in-process"); n != 2 {
		t.Errorf("%d of the triggers' packs read in-process, want 2:\n%s", n, log)
	}

	// Two commits not pushed: the second's pack needs the first, which
	// the mirror lacks, so it goes as a bundle.
	w.write("version.txt", "v3a")
	w.commit("v3a, not pushed")
	w.write("version.txt", "v3b")
	w.commit("v3b, not pushed")
	out, code = w.triggerOut("build")
	if code != 0 || !strings.Contains(out, "hello v3b") {
		t.Errorf("two not pushed: exit %d:\n%s", code, out)
	}
	if log := w.logs(); !strings.Contains(log, "the trigger's pack was not taken") {
		t.Errorf("the controller took a pack whose parent it lacks:\n%s", log)
	}

	w.write("version.txt", "v4")
	out, code = w.triggerOut("build")
	if code != 2 || !strings.Contains(out, "uncommitted changes (M version.txt)") || !strings.Contains(out, "--allow-dirty") {
		t.Errorf("dirty without --allow-dirty: exit %d:\n%s", code, out)
	}
	out, code = w.triggerOut("build", "--allow-dirty")
	if code != 0 || !strings.Contains(out, "hello v4") || !strings.Contains(out, "with uncommitted changes") {
		t.Errorf("dirty with --allow-dirty: exit %d:\n%s", code, out)
	}
	if st := w.run(w.work, "git", "status", "--porcelain"); strings.TrimSpace(st) != "M version.txt" {
		t.Errorf("the trigger changed the work tree or index: %q", st)
	}
}

// A runner gets only the commits it lacks: the next runs of a repository
// with a large file in its history do not bring the file again, and
// come with the claim, not by a fetch.
func TestRunnerFetchesOnlyWhatIsNew(t *testing.T) {
	w := newWorld(t, "")
	w.startRunner("a", 1)
	big := make([]byte, 2<<20)
	rand.NewChaCha8([32]byte{1}).Read(big) // incompressible
	w.write("big.bin", string(big))
	w.commit("big")
	var shas []string
	for i := range 3 {
		w.write("version.txt", fmt.Sprintf("v%d", i+2))
		shas = append(shas, w.commit(fmt.Sprintf("v%d", i+2)))
		w.run(w.work, "git", "push", "-q", "origin", "HEAD:main")
		if out, code := w.triggerOut("build"); code != 0 {
			t.Fatalf("trigger %d exited %d:\n%s", i, code, out)
		}
		if i == 0 { // every fetch kept as a pack, so a second copy takes room
			w.run(filepath.Join(w.dir, "runner-a", "mirrors", "app.git"), "git", "config", "transfer.unpackLimit", "1")
		}
	}
	var size int64
	filepath.WalkDir(filepath.Join(w.dir, "runner-a", "mirrors", "app.git", "objects"), func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
			}
		}
		return nil
	})
	if size > int64(3*len(big)/2) {
		t.Errorf("the runner's mirror holds %d bytes of objects after 3 runs: the %d-byte file came more than once", size, len(big))
	}
	log := w.logs()
	if n := strings.Count(log, `msg="checked out"`); n != 3 || strings.Count(log, "from=fetch") != 1 || strings.Count(log, "from=pack ") != 2 {
		t.Errorf("want the first run fetched and the next two from the pack sent with the claim:\n%s", log)
	}
	// Each of those had the commit before it, so the pack its trigger
	// brought went on as it was, and the runner read it without git
	// (from=pack; git's index-pack logs from=indexed).
	if n := strings.Count(log, "pack=trigger"); n != 2 {
		t.Errorf("%d claims carried the trigger's pack, want 2:\n%s", n, log)
	}
	for _, sha := range shas[1:] {
		if !gitcache.Stored(filepath.Join(w.dir, "runner-a", "mirrors", "app.git"), sha) {
			t.Errorf("commit %s is not in the runner's mirror", short(sha))
		}
	}
}

func short(sha string) string { return sha[:12] }

// Mistakes get exit 2 and a message that says what to do.
func TestTriggerMistakes(t *testing.T) {
	w := newWorld(t, "")
	w.startRunner("a", 1)
	out, code := w.triggerOut("nope")
	if code != 2 || !strings.Contains(out, `no pipeline "nope"`) {
		t.Errorf("unknown pipeline: exit %d:\n%s", code, out)
	}
	other := filepath.Join(w.dir, "git", "other.git")
	w.run("", "git", "clone", "-q", "--bare", w.work, other)
	out, code = w.triggerOut("build", "--repo", other, "--no-auto-register")
	if code != 2 || !strings.Contains(out, `repository "other" is not registered`) || !strings.Contains(out, "/git/register?name=other") {
		t.Errorf("--no-auto-register: exit %d:\n%s", code, out)
	}
	out, code = w.triggerOut("build", "--repo", filepath.Join(w.dir, "missing.git"))
	if code != 2 || !strings.Contains(out, "missing.git") {
		t.Errorf("unreachable repository: exit %d:\n%s", code, out)
	}
	trig := w.token("trigger-only", "trigger")
	out, code = w.triggerOut("build", "--token-file", trig) // a trigger token cannot be a runner's
	if code != 0 {
		t.Errorf("trigger-scoped token: exit %d:\n%s", code, out)
	}
	cmd := w.trigger(ctx, "build")
	cmd.Args = append(cmd.Args, "--token", "swc_wrong")
	b, err := cmd.CombinedOutput()
	if exitCode(err) != 2 || !strings.Contains(string(b), "unknown or revoked") {
		t.Errorf("wrong token: exit %d:\n%s", exitCode(err), b)
	}
}

// The controller dies while a trigger waits: exit 3 within the timeout,
// with how to look the run up later.
func TestControllerGoneIsUnknown(t *testing.T) {
	w := newWorld(t, "")
	w.startRunner("a", 1)
	tr, out := w.startTrigger("forever", "--wait-timeout", "2s")
	id := waitRunning(t, w.client(), "a")
	w.killController()
	if code := exitCode(tr.Wait()); code != 3 || !strings.Contains(out.String(), "sparkwing runs show --remote "+id) {
		t.Errorf("exit %d:\n%s", code, out.String())
	}
}

// Ctrl-C once cancels the run: its job is stopped on the runner and the
// trigger exits 130.
func TestInterruptCancels(t *testing.T) {
	w := newWorld(t, "")
	w.startRunner("a", 1)
	tr, out := w.startTrigger("forever")
	c := w.client()
	id := waitStarted(t, c, "a")
	tr.Process.Signal(syscall.SIGINT)
	if code := exitCode(tr.Wait()); code != 130 {
		t.Errorf("exit %d:\n%s", code, out.String())
	}
	if run, _ := c.Run(ctx, id); run.Status != "cancelled" {
		t.Errorf("run after Ctrl-C: %s (%s)", run.Status, run.Message)
	}
	// The runner is free again: the next run starts on it.
	if _, code := w.triggerOut("build"); code != 0 {
		t.Errorf("the runner did not come back after the cancel")
	}
}

// A pipeline's runs_on sends its runs only to runners with those labels;
// the others take the rest.
func TestRunsOnRoutes(t *testing.T) {
	w := newWorld(t, "")
	w.startRunner("plain", 2)
	w.startRunner("lx", 1, "--labels", "os=linux,zone=a", "--dir", "relative") // a --dir relative to where it starts
	for _, p := range []string{"linux", "build", "linux"} {
		if out, code := w.triggerOut(p); code != 0 {
			t.Fatalf("%s: exit %d:\n%s", p, code, out)
		}
	}
	runs, err := w.client().Runs(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if r.Pipeline == "linux" && r.Runner != "lx" {
			t.Errorf("run %s of linux went to %q, which lacks os=linux", r.ID, r.Runner)
		}
	}
}
