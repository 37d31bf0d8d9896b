package supervisor_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// build compiles sparkwing-supervisor statically and installs it into a
// new directory, as the pod's init container does.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sparkwing-supervisor")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/sparkwing-dev/sparkwing/cmd/sparkwing-supervisor")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := filepath.Join(t.TempDir(), ".sparkwing")
	if out, err := exec.Command(bin, "install", dir).CombinedOutput(); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	return filepath.Join(dir, "sparkwing-supervisor")
}

// program is a service that says which version it is in out, and, when
// stopped with SIGTERM, that it was.
func program(version, out string) string {
	return "#!/bin/sh\n" +
		"trap 'echo " + version + " stopped >> " + out + "; exit 0' TERM\n" +
		"echo " + version + " started >> " + out + "\n" +
		"while :; do sleep 0.02; done\n"
}

// waitFor waits until file holds want, failing before go test's -timeout
// would panic.
func waitFor(t *testing.T, file, want string) {
	t.Helper()
	deadline, bounded := t.Deadline()
	for {
		data, _ := os.ReadFile(file)
		if strings.Contains(string(data), want) {
			return
		}
		if bounded && time.Until(deadline) < 5*time.Second {
			t.Fatalf("%s never held %q; it holds %q", file, want, data)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startV1 starts version v1 of a program under a freshly installed
// supervisor and waits until it runs.
func startV1(t *testing.T) (sup, prog, out string, s *supervised) {
	t.Helper()
	sup = build(t)
	dir := t.TempDir()
	prog, out = filepath.Join(dir, "server"), filepath.Join(dir, "out")
	os.WriteFile(prog, []byte(program("v1", out)), 0o755)
	s = runUnder(t, sup, prog)
	waitFor(t, out, "v1 started")
	return sup, prog, out, s
}

type supervised struct {
	cmd  *exec.Cmd
	done chan error
}

func runUnder(t *testing.T, sup string, argv ...string) *supervised {
	t.Helper()
	cmd := exec.Command(sup, append([]string{"run", "--"}, argv...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &supervised{cmd: cmd, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-s.done
		if t.Failed() {
			t.Logf("supervisor's stderr:\n%s", stderr.String())
		}
	})
	return s
}

func exitCode(t *testing.T, s *supervised) int {
	t.Helper()
	err := <-s.done
	s.done <- err
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return s.cmd.ProcessState.ExitCode()
}

func replace(sup string, files map[string]string) ([]byte, error) {
	args := []string{"replace"}
	var in bytes.Buffer
	for path, content := range files {
		args = append(args, path+":"+strconv.Itoa(len(content)))
		in.WriteString(content)
	}
	cmd := exec.Command(sup, args...)
	cmd.Stdin = &in
	return cmd.CombinedOutput()
}

func TestReplaceRestartsOnTheNewFile(t *testing.T) {
	sup, prog, out, _ := startV1(t)
	if msg, err := replace(sup, map[string]string{prog: program("v2", out)}); err != nil {
		t.Fatalf("replace: %v\n%s", err, msg)
	}
	waitFor(t, out, "v2 started")
	data, _ := os.ReadFile(out)
	if want := "v1 started\nv1 stopped\nv2 started\n"; string(data) != want {
		t.Errorf("out = %q, want %q: the old program stopped before the new one started", data, want)
	}
	if data, _ := os.ReadFile(prog); string(data) != program("v2", out) {
		t.Errorf("the program's file was not replaced")
	}
}

// A write killed halfway leaves its temporary file beside the program's:
// the next replace still puts the file in place.
func TestReplaceAfterAKilledWrite(t *testing.T) {
	sup, prog, out, _ := startV1(t)
	os.WriteFile(prog+".sparkwing-new", []byte("half a program"), 0o755)
	if msg, err := replace(sup, map[string]string{prog: program("v2", out)}); err != nil {
		t.Fatalf("replace after a killed write: %v\n%s", err, msg)
	}
	waitFor(t, out, "v2 started")
}

// A container that restarts (after a crash, or killed) starts a new
// supervisor on the image's file: it must run what was synced last.
func TestARestartRunsWhatWasSyncedLast(t *testing.T) {
	sup, prog, out, first := startV1(t)
	if msg, err := replace(sup, map[string]string{prog: program("v2", out)}); err != nil {
		t.Fatalf("replace: %v\n%s", err, msg)
	}
	waitFor(t, out, "v2 started")
	first.cmd.Process.Signal(syscall.SIGTERM)
	if code := exitCode(t, first); code != 0 {
		t.Fatalf("stopped with SIGTERM, the supervisor exited %d, want the program's 0", code)
	}
	waitFor(t, out, "v2 stopped")

	os.WriteFile(prog, []byte(program("v1", out)), 0o755) // a new container: the image's file again
	os.WriteFile(out, nil, 0o644)
	runUnder(t, sup, prog)
	waitFor(t, out, "v2 started")
	if data, _ := os.ReadFile(out); strings.Contains(string(data), "v1") {
		t.Errorf("the restarted container ran the image's file: %q", data)
	}
}

func TestTheProgramsExitIsTheSupervisors(t *testing.T) {
	sup := build(t)
	prog := filepath.Join(t.TempDir(), "crash")
	os.WriteFile(prog, []byte("#!/bin/sh\nexit 3\n"), 0o755)
	if code := exitCode(t, runUnder(t, sup, prog)); code != 3 {
		t.Errorf("exit %d, want the program's 3", code)
	}
	os.WriteFile(prog, []byte("#!/bin/sh\nkill -KILL $$\n"), 0o755)
	if code := exitCode(t, runUnder(t, sup, prog)); code != 128+9 {
		t.Errorf("exit %d, want 137 for a program killed by SIGKILL", code)
	}
}

func TestReplaceRefusesBadInput(t *testing.T) {
	sup, prog, out, _ := startV1(t)
	notADir := filepath.Join(prog, "sub", "server") // below a file: cannot be put in place
	for _, args := range [][]string{{"replace", "server:3"}, {"replace", prog + ":x"}, {"replace", prog + ":100"}, {"replace", notADir + ":3"}} {
		cmd := exec.Command(sup, args...)
		cmd.Stdin = strings.NewReader("abc")
		if msg, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("%v succeeded: %s", args, msg)
		}
	}
	if data, _ := os.ReadFile(out); string(data) != "v1 started\n" {
		t.Errorf("bad input restarted the program: %q", data)
	}
	if data, _ := os.ReadFile(prog); string(data) != program("v1", out) {
		t.Errorf("bad input replaced the file")
	}
	if kept, _ := filepath.Glob(filepath.Join(filepath.Dir(sup), "sync", "*")); len(kept) > 0 {
		t.Errorf("bad input left kept files, which every restart would install: %v", kept)
	}
}

func TestAProgramThatCannotStartIsReported(t *testing.T) {
	sup, prog, _, s := startV1(t)
	msg, err := replace(sup, map[string]string{prog: "\x7fELF not really"})
	if err == nil || !strings.Contains(string(msg), "exec format error") {
		t.Errorf("replace with a program that cannot run: %v\n%s", err, msg)
	}
	if code := exitCode(t, s); code != 127 {
		t.Errorf("exit %d, want 127", code)
	}
}
