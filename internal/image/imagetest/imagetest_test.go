package imagetest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/mounts"
)

// TestCleanAfterACrashMidBuild: a program killed while its buildkitd runs
// a build's RUN leaves that container running (it outlives buildkitd),
// mounted below the servers' directory and in a cgroup of its own. Clean
// removes all of it, and the directory.
func TestCleanAfterACrashMidBuild(t *testing.T) {
	buildctl := os.Getenv("SPARKWING_TEST_BUILDCTL")
	if buildctl == "" {
		unavailable(t, errors.New("SPARKWING_TEST_BUILDCTL is not set: eval \"$(scripts/test-tools.sh)\""))
	}
	dir := filepath.Join(t.TempDir(), "servers")
	s, err := StartIn(dir, "")
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(func() { Clean(dir) }) // whatever the test leaves

	// A build whose RUN sleeps: a static program in a scratch image.
	ctx := t.TempDir()
	os.WriteFile(filepath.Join(ctx, "main.go"), []byte("package main\n\nimport \"time\"\n\nfunc main() { time.Sleep(time.Minute) }\n"), 0o644)
	os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM scratch\nCOPY sleeper /sleeper\nRUN [\"/sleeper\"]\n"), 0o644)
	gobuild := exec.Command("go", "build", "-o", "sleeper", "main.go")
	gobuild.Dir, gobuild.Env = ctx, append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := gobuild.CombinedOutput(); err != nil {
		t.Fatalf("building the RUN program: %v\n%s", err, out)
	}
	build := exec.Command(buildctl, "--addr", s.Buildkit, "build", "--frontend", "dockerfile.v0",
		"--local", "context="+ctx, "--local", "dockerfile="+ctx)
	if err := build.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { build.Process.Kill(); build.Wait() })
	// Until the container runs the program itself (runc's own process
	// would die with buildkitd's group).
	sleeping := func() bool {
		for _, pid := range containerProcs(containers(dir)) {
			if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); filepath.Base(exe) == "sleeper" {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(2 * time.Minute); !sleeping(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the RUN never started: mounts %v, containers %v", mounts.Under(dir), containers(dir))
		}
	}

	// The crash: the servers die, and nothing stops them cleanly.
	for _, p := range s.procs {
		syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
		p.Wait()
	}
	ids := containers(dir)
	if len(containerProcs(ids)) == 0 || len(mounts.Under(dir)) == 0 {
		t.Fatalf("after the crash, no container left to clean (mounts %v): the test shows nothing", mounts.Under(dir))
	}

	if err := Clean(dir); err != nil {
		t.Fatalf("Clean: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s is still there: %v", dir, err)
	}
	if m := mounts.Under(dir); len(m) > 0 {
		t.Errorf("still mounted: %v", m)
	}
	if p := containerProcs(ids); len(p) > 0 {
		t.Errorf("the build's processes %v still run", p)
	}
	for _, id := range ids {
		if left := containerCgroups(id); len(left) > 0 {
			t.Errorf("cgroups left: %s", strings.Join(left, ", "))
		}
	}
}

// TestSweepCleansWhatAKilledProcessLeft: Start's directories whose process
// is gone are removed, those of live processes kept.
func TestSweepCleansWhatAKilledProcessLeft(t *testing.T) {
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	dead := filepath.Join(root, fmt.Sprintf("%d-abc", gone.Process.Pid))
	live := filepath.Join(root, fmt.Sprintf("%d-def", os.Getpid()))
	other := filepath.Join(root, "not-ours")
	for _, d := range []string{dead, live, other} {
		if err := os.MkdirAll(filepath.Join(d, "registry"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sweep(root)
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("the directory of a process that is gone is still there: %v", err)
	}
	for _, d := range []string{live, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s was removed: %v", d, err)
		}
	}
}
