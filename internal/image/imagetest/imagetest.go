// Package imagetest starts the real components image tests run against: a
// buildkitd (OCI worker, runc) and a distribution registry, both on this
// machine, both built by scripts/test-tools.sh.
//
// Where the binaries or root are missing, tests skip with the command that
// fixes it, unless SPARKWING_REQUIRE_IMAGE_TESTS=1 (set by scripts/test.sh),
// which makes that a failure: CI must never pass by skipping.
package imagetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/buildkit"
	"github.com/sparkwing-dev/sparkwing/internal/mounts"
	"github.com/sparkwing-dev/sparkwing/internal/piddir"
)

// Servers are running test components.
type Servers struct {
	Buildkit string // buildkitd address, unix://…
	Registry string // registry host:port on 127.0.0.1

	dir   string
	procs []*exec.Cmd
}

var (
	once    sync.Once
	shared  *Servers
	sharedE error
)

// Require returns the process's servers, starting them on first use, or
// skips (fails, under SPARKWING_REQUIRE_IMAGE_TESTS=1) when they cannot run.
func Require(t testing.TB) *Servers {
	t.Helper()
	once.Do(func() { shared, sharedE = Start() })
	if sharedE != nil {
		unavailable(t, sharedE)
	}
	return shared
}

// unavailable skips t, or fails it under SPARKWING_REQUIRE_IMAGE_TESTS=1,
// because the components cannot run here (err says why).
func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("SPARKWING_REQUIRE_IMAGE_TESTS") == "1" {
		t.Fatalf("image test components: %v", err)
	}
	t.Skipf("image test components unavailable: %v", err)
}

// StopShared stops what Require started; a later Require starts them
// again.
func StopShared() {
	if shared != nil {
		shared.Stop()
	}
	once, shared, sharedE = sync.Once{}, nil, nil
}

// Start starts a buildkitd and a registry in a new temporary directory.
func Start() (*Servers, error) { return StartIn("", "") }

// tempRoot holds Start's directories, each named after the process that
// made it: a test binary killed mid-build (a timeout) leaves its servers'
// directory there, and the next Start cleans it (sweep).
var tempRoot = filepath.Join(os.TempDir(), "sparkwing-imagetest")

// tempDir is a new directory for this process's servers.
func tempDir() (string, error) {
	sweep(tempRoot)
	return piddir.New(tempRoot)
}

// sweep cleans the directories in root whose process is gone.
func sweep(root string) {
	for _, dir := range piddir.Orphans(root) {
		Clean(dir)
	}
}

// StartIn is Start in dir ("" for a new temporary directory), which a
// program that may be killed names so that Clean can remove what it left,
// with the registry on registry (HOST:PORT; "" for a free port on
// 127.0.0.1).
func StartIn(dir, registry string) (*Servers, error) {
	bk, reg, err := binaries()
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("buildkitd with the OCI worker needs root")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		return nil, errors.New("runc is not installed (apt-get install runc, or run scripts/test-tools.sh)")
	}
	if dir == "" {
		dir, err = tempDir()
	} else {
		err = os.Mkdir(dir, 0o700)
	}
	if err != nil {
		return nil, err
	}
	s := &Servers{dir: dir, Buildkit: "unix://" + filepath.Join(dir, "buildkitd.sock")}
	if err := s.startRegistry(reg, registry); err != nil {
		s.Stop()
		return nil, err
	}
	if err := s.startBuildkitd(bk); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// binaries finds buildkitd and registry: $SPARKWING_TEST_BUILDKITD and
// $SPARKWING_TEST_REGISTRY, else .tools/ of this repository.
func binaries() (bk, reg string, err error) {
	bk, reg = os.Getenv("SPARKWING_TEST_BUILDKITD"), os.Getenv("SPARKWING_TEST_REGISTRY")
	if bk == "" || reg == "" {
		root, err := repoRoot()
		if err != nil {
			return "", "", err
		}
		bk = filepath.Join(root, ".tools/buildkit-v0.33.0/buildkitd")
		reg = filepath.Join(root, ".tools/registry-v3.1.2/registry")
	}
	for _, p := range []string{bk, reg} {
		if _, err := os.Stat(p); err != nil {
			return "", "", fmt.Errorf("%s is missing: run scripts/test-tools.sh", p)
		}
	}
	return bk, reg, nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("no go.mod above " + dir)
		}
	}
}

func (s *Servers) start(name string, args ...string) (*exec.Cmd, error) {
	log, err := os.Create(filepath.Join(s.dir, filepath.Base(name)+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s.procs = append(s.procs, cmd)
	pid := filepath.Join(s.dir, filepath.Base(name)+".pid") // for Clean
	return cmd, os.WriteFile(pid, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
}

func (s *Servers) startRegistry(bin, addr string) error {
	s.Registry = addr
	if addr == "" {
		port, err := freePort()
		if err != nil {
			return err
		}
		s.Registry = fmt.Sprintf("127.0.0.1:%d", port)
	} else if l, err := net.Listen("tcp", addr); err != nil {
		return fmt.Errorf("the registry's address: %w", err)
	} else {
		l.Close()
	}
	cfg := filepath.Join(s.dir, "registry.yml")
	err := os.WriteFile(cfg, []byte(fmt.Sprintf(`version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: %s}
  delete: {enabled: true}
http: {addr: %q}
`, filepath.Join(s.dir, "registry"), s.Registry)), 0o644)
	if err != nil {
		return err
	}
	if _, err := s.start(bin, "serve", cfg); err != nil {
		return err
	}
	return s.wait("registry", func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.Registry+"/v2/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	})
}

func (s *Servers) startBuildkitd(bin string) error {
	_, err := s.start(bin, "--root", filepath.Join(s.dir, "buildkit"), "--addr", s.Buildkit,
		"--oci-worker=true", "--containerd-worker=false")
	if err != nil {
		return err
	}
	return s.wait("buildkitd", func(ctx context.Context) error {
		c, err := buildkit.Connect(ctx, s.Buildkit)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

func (s *Servers) wait(what string, ready func(context.Context) error) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := ready(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.dir, filepath.Base(what)+".log"))
			return fmt.Errorf("%s did not start: %v\n%s", what, err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop stops the servers and removes their directory.
func (s *Servers) Stop() {
	for _, p := range s.procs {
		syscall.Kill(-p.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	os.RemoveAll(s.dir)
}

// Clean removes dir, a StartIn directory whose program was killed before
// it could Stop, with what it left: the servers recorded there that still
// run (each killed with its process group, then waited for), and, when
// buildkitd was killed mid-build, the build's container (its processes,
// which outlive buildkitd, its mounts below dir and its cgroups).
func Clean(dir string) error {
	pids, _ := filepath.Glob(filepath.Join(dir, "*.pid"))
	for _, p := range pids {
		data, _ := os.ReadFile(p)
		pid, err := strconv.Atoi(string(data))
		name := strings.TrimSuffix(filepath.Base(p), ".pid")
		if err != nil || !running(pid, name) {
			continue // gone, or the pid is another program's now
		}
		syscall.Kill(-pid, syscall.SIGKILL)
		for i := 0; i < 500 && running(pid, name); i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
	containers := containers(dir)
	for i := 0; i < 500; i++ {
		procs := containerProcs(containers)
		if len(procs) == 0 {
			break
		}
		for _, pid := range procs {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mounts.UnmountUnder(dir)
	for _, id := range containers {
		for _, c := range containerCgroups(id) {
			os.Remove(c) // empty now
		}
	}
	return os.RemoveAll(dir)
}

// containers are the ids of the build containers buildkitd made in dir,
// each also the name of its cgroup (buildkit/ID).
func containers(dir string) []string {
	entries, _ := os.ReadDir(filepath.Join(dir, "buildkit", "runc-overlayfs", "executor"))
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.Name())
	}
	return ids
}

// containerCgroups are the cgroup directories of container id: one in
// each hierarchy under cgroup v1, one under v2.
func containerCgroups(id string) []string {
	v1, _ := filepath.Glob("/sys/fs/cgroup/*/buildkit/" + id)
	v2, _ := filepath.Glob("/sys/fs/cgroup/buildkit/" + id)
	return append(v1, v2...)
}

// containerProcs are the live processes of the containers ids, found by
// their cgroup.
func containerProcs(ids []string) []int {
	if len(ids) == 0 {
		return nil
	}
	var pids []int
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		if _, err := os.Readlink(p + "/exe"); err != nil {
			continue // gone, a zombie or a kernel thread
		}
		cgroups, _ := os.ReadFile(p + "/cgroup")
		for _, id := range ids {
			if strings.Contains(string(cgroups), ":/buildkit/"+id+"\n") {
				pid, _ := strconv.Atoi(filepath.Base(p))
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// running reports whether pid is a live process of the program name (a
// zombie has no executable).
func running(pid int, name string) bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return err == nil && filepath.Base(exe) == name
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
