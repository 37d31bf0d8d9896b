package remoterun_test

// The end-to-end harness: the three release binaries, built once; a real
// upstream served by `git daemon` on 127.0.0.1; a controller and runners
// started as the user starts them, and killed as real life kills them.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/controller/api"
	"github.com/sparkwing-dev/sparkwing/internal/store/pgtest"
)

var bin struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bin.dir != "" {
		os.RemoveAll(bin.dir)
	}
	pgtest.Stop()
	os.Exit(code)
}

// binaries builds sparkwing, sparkwing-remote and sparkwing-controller.
func binaries(t *testing.T) string {
	t.Helper()
	bin.once.Do(func() {
		bin.dir, bin.err = os.MkdirTemp("", "sparkwing-e2e-bin-")
		if bin.err != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", bin.dir+"/", "../../cmd/sparkwing", "../../cmd/sparkwing-remote", "../../cmd/sparkwing-controller").CombinedOutput()
		if err != nil {
			bin.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if bin.err != nil {
		t.Fatal(bin.err)
	}
	return bin.dir
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// world is one test's controller, upstream and work tree.
type world struct {
	t       *testing.T
	bin     string
	dir     string
	addr    string // the controller's host:port
	dsn     string // its store ("" for SQLite in its data dir)
	ctl     *exec.Cmd
	ctlLog  *bytes.Buffer
	admin   string // token file with admin scope
	upURL   string // the upstream, as the work tree's origin
	work    string // the user's clone
	env     []string
	mu      sync.Mutex
	runners []*exec.Cmd
}

const pipelineYAML = `pipelines:
  - name: build
    jobs:
      hello:
        run: echo "hello $(cat version.txt)"
      after:
        needs: [hello]
        run: echo after
  - name: slow
    jobs:
      wait:
        run: echo started; sleep 4; echo woke
  - name: flood
    jobs:
      lines:
        run: seq 1 %d | tee %s
  - name: forever
    jobs:
      wait:
        run: echo started; sleep 600
  - name: linux
    runs_on: {os: linux}
    jobs:
      where:
        run: echo on linux
`

func newWorld(t *testing.T, dsn string) *world {
	t.Helper()
	w := &world{t: t, bin: binaries(t), dir: t.TempDir(), dsn: dsn, ctlLog: &bytes.Buffer{}}
	w.addr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	w.env = append(os.Environ(), "SPARKWING_CACHE_DIR="+filepath.Join(w.dir, "cache"), "XDG_CONFIG_HOME="+filepath.Join(w.dir, "config"),
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	w.upstream()
	w.admin = w.token("admin", "admin")
	w.startController()
	t.Cleanup(w.stop)
	return w
}

// upstream serves dir/git with git daemon (push enabled) and makes the
// user's clone of app.git with the project, pushed.
func (w *world) upstream() {
	base := filepath.Join(w.dir, "git")
	w.run("", "git", "init", "-q", "--bare", filepath.Join(base, "app.git"))
	port := freePort(w.t)
	daemon := exec.Command("git", "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack", "--base-path="+base,
		"--listen=127.0.0.1", fmt.Sprintf("--port=%d", port), base)
	daemon.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := daemon.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { syscall.Kill(-daemon.Process.Pid, syscall.SIGKILL); daemon.Wait() })
	w.upURL = fmt.Sprintf("git://127.0.0.1:%d/app.git", port)
	waitFor(w.t, "git daemon", func() bool { return exec.Command("git", "ls-remote", w.upURL).Run() == nil })
	w.work = filepath.Join(w.dir, "work")
	w.run("", "git", "clone", "-q", w.upURL, w.work)
	w.write(".sparkwing/sparkwing.yaml", fmt.Sprintf(pipelineYAML, 20000, filepath.Join(w.dir, "flood.txt")))
	w.write(".gitignore", ".sparkwing/runs/\n")
	w.write("version.txt", "v1")
	w.commit("init")
	w.run(w.work, "git", "push", "-q", "origin", "HEAD:main")
	w.run(w.work, "git", "branch", "-q", "-u", "origin/main")
}

func (w *world) write(rel, content string) {
	path := filepath.Join(w.work, rel)
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) commit(msg string) string {
	w.run(w.work, "git", "add", "-A")
	w.run(w.work, "git", "commit", "-q", "-m", msg)
	return strings.TrimSpace(w.run(w.work, "git", "rev-parse", "HEAD"))
}

func (w *world) run(dir string, name string, args ...string) string {
	w.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, w.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (w *world) dataArgs() []string {
	args := []string{"--data", filepath.Join(w.dir, "data")}
	if w.dsn != "" {
		args = append(args, "--store", w.dsn)
	}
	return args
}

// token creates a token and returns the file it is in.
func (w *world) token(name, scopes string) string {
	args := append([]string{"token", "create", "--name", name, "--scope", scopes}, w.dataArgs()...)
	secret := strings.TrimSpace(w.run("", filepath.Join(w.bin, "sparkwing-controller"), args...))
	file := filepath.Join(w.dir, name+".token")
	os.WriteFile(file, []byte(secret+"\n"), 0o600)
	return file
}

func (w *world) url() string { return "http://" + w.addr }

func (w *world) client() *api.Client {
	secret, _ := os.ReadFile(w.admin)
	return api.NewClient(w.url(), strings.TrimSpace(string(secret)))
}

func (w *world) startController() {
	args := append([]string{"serve", "--addr", w.addr, "--lease", "2s"}, w.dataArgs()...)
	cmd := exec.Command(filepath.Join(w.bin, "sparkwing-controller"), args...)
	cmd.Env = w.env
	cmd.Stdout, cmd.Stderr = &syncWriter{w: w.ctlLog, mu: &w.mu}, &syncWriter{w: w.ctlLog, mu: &w.mu}
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.ctl = cmd
	waitFor(w.t, "the controller", func() bool {
		c, err := net.Dial("tcp", w.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (w *world) killController() {
	w.ctl.Process.Kill()
	w.ctl.Wait()
}

// startRunner starts a runner; its sparkwing children are in its
// process group, so killing the group is a machine dying.
func (w *world) startRunner(name string, slots int, flags ...string) *exec.Cmd {
	args := append([]string{"runner", "--controller", w.url(), "--token-file", w.admin,
		"--name", name, "--slots", fmt.Sprint(slots), "--dir", filepath.Join(w.dir, "runner-"+name)}, flags...)
	cmd := exec.Command(filepath.Join(w.bin, "sparkwing"), args...)
	cmd.Dir, cmd.Env = w.dir, w.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = &syncWriter{w: w.ctlLog, mu: &w.mu}, &syncWriter{w: w.ctlLog, mu: &w.mu}
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.mu.Lock()
	w.runners = append(w.runners, cmd)
	w.mu.Unlock()
	return cmd
}

func kill(cmd *exec.Cmd) {
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
}

// logs is what the controller and the runners have logged so far.
func (w *world) logs() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ctlLog.String()
}

func (w *world) stop() {
	w.mu.Lock()
	runners := w.runners
	w.mu.Unlock()
	for _, r := range runners {
		if r.ProcessState == nil {
			kill(r)
		}
	}
	if w.ctl != nil && w.ctl.ProcessState == nil {
		w.killController()
	}
	if w.t.Failed() {
		w.mu.Lock()
		w.t.Logf("controller and runner logs:\n%s", w.ctlLog.String())
		w.mu.Unlock()
	}
}

// trigger is `sparkwing pipeline trigger` started in the work tree.
func (w *world) trigger(ctx context.Context, args ...string) *exec.Cmd {
	full := append([]string{"pipeline", "trigger"}, args...)
	full = append(full, "--controller", w.url(), "--token-file", w.admin, "--output", "plain")
	cmd := exec.CommandContext(ctx, filepath.Join(w.bin, "sparkwing"), full...)
	cmd.Dir, cmd.Env = w.work, w.env
	return cmd
}

// triggerOut runs a trigger to its end and returns its output and exit code.
func (w *world) triggerOut(args ...string) (string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := w.trigger(ctx, args...).CombinedOutput()
	return string(out), exitCode(err)
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// waitFor polls cond (a state to reach, not a time to measure) for up to a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not ready after a minute", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type syncWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
