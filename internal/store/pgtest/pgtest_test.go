package pgtest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if os.Getenv("PGTEST_CHILD") == "1" { // a test binary that starts the cluster and is then killed
		if _, err := NewDatabase(); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		pid, _ := os.ReadFile(filepath.Join(cluster.dir, "data", "postmaster.pid"))
		first, _, _ := strings.Cut(string(pid), "\n")
		fmt.Println(cluster.dir, first)
		select {}
	}
	os.Exit(m.Run())
}

// A test binary killed outright (SIGKILL, as a go test timeout does)
// leaves no postgres running, and the next start removes its directory.
func TestAKilledTestBinaryLeavesNothing(t *testing.T) {
	if _, err := bin("postgres"); err != nil {
		if os.Getenv("SPARKWING_REQUIRE_CONTROLLER_TESTS") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	tmp := t.TempDir()
	for _, d := range []string{tmp, filepath.Dir(tmp)} {
		os.Chmod(d, 0o755) // postgres runs as another user
	}
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "PGTEST_CHILD=1", "TMPDIR="+tmp)
	out, _ := child.StdoutPipe()
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		child.Process.Kill()
		t.Fatalf("the child said nothing: %v", err)
	}
	var dir string
	var pid int
	if _, err := fmt.Sscan(line, &dir, &pid); err != nil || !strings.HasPrefix(dir, tmp) {
		child.Process.Kill()
		t.Fatalf("the child said %q", line)
	}
	child.Process.Kill()
	child.Wait()
	deadline, bounded := t.Deadline() // go test's -timeout; fail before it panics
	for syscall.Kill(pid, 0) != syscall.ESRCH {
		if bounded && time.Until(deadline) < 5*time.Second {
			t.Fatalf("postgres (pid %d) still runs after its test binary was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the killed run's directory should still be there to sweep: %v", err)
	}
	live := filepath.Join(tmp, "sparkwing-pg", strconv.Itoa(os.Getpid())+"-1")
	os.MkdirAll(live, 0o755)
	sweep(filepath.Join(tmp, "sparkwing-pg"))
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("sweep left %s: %v", dir, err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("sweep removed the directory of a running cluster: %v", err)
	}
}
