package kubetest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
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
