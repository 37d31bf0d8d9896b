package kubetest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestClusterRunsAPod: the cluster schedules a pod and the kubelet runs it
// on containerd (with the imported pause image as its program), and Stop
// leaves nothing of it behind.
func TestClusterRunsAPod(t *testing.T) {
	c := Require(t, "127.0.0.1:1") // no image is pulled
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pod := filepath.Join(t.TempDir(), "pod.yaml")
	os.WriteFile(pod, []byte(`apiVersion: v1
kind: Pod
metadata: {name: sleeper}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  containers:
  - {name: sleeper, image: `+PauseImage+`, imagePullPolicy: Never}
`), 0o644)
	if _, err := c.KubectlOut(ctx, "apply", "-f", pod); err != nil {
		t.Fatal(err)
	}
	if _, err := c.KubectlOut(ctx, "wait", "--for=condition=Ready", "pod/sleeper", "--timeout=90s"); err != nil {
		t.Fatal(err)
	}
	StopShared()
	if _, err := os.Stat(Dir); !os.IsNotExist(err) {
		t.Errorf("%s is still there after Stop: %v", Dir, err)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), Dir) {
		t.Errorf("mounts under %s remain after Stop", Dir)
	}
}

// TestKubeClusterScript: scripts/kube-cluster.sh up starts a cluster a
// person can use (its node Ready through the environment it prints), and
// down, after the cluster's program was killed (a crash), stops what is
// left and leaves the host as it was.
func TestKubeClusterScript(t *testing.T) {
	if os.Getenv("SPARKWING_TEST_KUBE") == "" && os.Getenv("SPARKWING_REQUIRE_KUBE_TESTS") != "1" {
		t.Skip("SPARKWING_TEST_KUBE is not set: eval \"$(scripts/test-tools.sh)\"")
	}
	StopShared() // the machine runs one cluster at a time
	state := t.TempDir()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	script := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("bash", append([]string{"../../../scripts/kube-cluster.sh"}, args...)...)
		cmd.Env = append(os.Environ(), "SPARKWING_KUBE_CLUSTER_STATE="+state, fmt.Sprintf("SPARKWING_KUBE_REGISTRY=127.0.0.1:%d", port))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kube-cluster.sh %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	t.Cleanup(func() { exec.Command("bash", "../../../scripts/kube-cluster.sh", "down").Run() })
	if out := script("up"); !strings.Contains(out, fmt.Sprintf("export REGISTRY=127.0.0.1:%d", port)) {
		t.Fatalf("up printed no environment with the registry asked for:\n%s", out)
	}
	if out := script("status"); !regexp.MustCompile(`(?m)^\S+\s+Ready\s`).MatchString(out) {
		t.Fatalf("status shows no Ready node:\n%s", out)
	}
	// The cluster's processes, to check after down that none is left.
	var pids []int
	for _, name := range []string{"kubelet", "containerd", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"} {
		data, err := os.ReadFile(filepath.Join(Dir, "logs", name+".pid"))
		if err != nil {
			t.Fatalf("no pid file for %s while up: %v", name, err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		pids = append(pids, pid)
	}
	for _, name := range []string{"registry", "buildkitd"} { // and its image servers'
		data, err := os.ReadFile(filepath.Join(state, "servers", name+".pid"))
		if err != nil {
			t.Fatalf("no pid file for %s while up: %v", name, err)
		}
		pid, _ := strconv.Atoi(string(data))
		pids = append(pids, pid)
	}
	server, err := os.ReadFile(filepath.Join(state, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	exec.Command("kill", "-KILL", strings.TrimSpace(string(server))).Run() // a crash: its Stop never runs
	script("down")
	for _, pid := range pids {
		if running(pid) {
			exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
			t.Errorf("process %d (%s) of the cluster still runs after down", pid, exe)
		}
	}
	if _, err := os.Stat(filepath.Join(state, "servers")); !os.IsNotExist(err) {
		t.Errorf("the registry's and buildkitd's files are still there after down: %v", err)
	}
	// Unless another test's cluster has started since (it may, once the
	// machine lock is free), nothing of Dir is left.
	lock, err := os.Open(Dir + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
		if _, err := os.Stat(Dir); !os.IsNotExist(err) {
			t.Errorf("%s is still there after down: %v", Dir, err)
		}
	}
}

// running reports whether pid is a live process: a zombie (killed, not
// yet reaped by whoever inherited it) is not.
func running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command, which is in parentheses.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}
