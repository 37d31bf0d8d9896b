package kube

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/sparkwing-dev/sparkwing/internal/buildkit"
	"github.com/sparkwing-dev/sparkwing/internal/cli"
	"github.com/sparkwing-dev/sparkwing/internal/deploy/kubetest"
	"github.com/sparkwing-dev/sparkwing/internal/image/imagetest"
	"github.com/sparkwing-dev/sparkwing/internal/scripttest"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"sparkwing":        func() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
		"sparkwing-image":  func() { os.Exit(buildkit.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
		"sparkwing-deploy": func() { os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestDeployScripts runs the deploy scenarios in testdata/deploy end to end:
// sparkwing builds images with a real buildkitd, pushes them to a real
// registry, and deploys them to a real single-node Kubernetes cluster
// (kubetest) whose kubelet pulls from that registry. $REGISTRY,
// $BUILDKIT_HOST and $KUBECONFIG point at them.
func TestDeployScripts(t *testing.T) {
	srv := imagetest.Require(t)
	t.Cleanup(imagetest.StopShared)
	cluster := kubetest.Require(t, srv.Registry)
	t.Cleanup(kubetest.StopShared)
	supervisor := buildSupervisor(t)
	argo, argoServer := newFakeArgoCD("argo-token")
	t.Cleanup(argoServer.Close)
	testscript.Run(t, testscript.Params{
		Dir: "testdata/deploy",
		Setup: func(env *testscript.Env) error {
			env.Vars = append(env.Vars, scripttest.GoEnv...)
			env.Vars = append(env.Vars,
				"SPARKWING_CACHE_DIR="+filepath.Join(env.WorkDir, ".cache"),
				"BUILDKIT_HOST="+srv.Buildkit,
				"REGISTRY="+srv.Registry,
				"KUBECONFIG="+cluster.Kubeconfig,
				"KUBECTL="+cluster.Kubectl,
				"SPARKWING_SUPERVISOR="+supervisor,
				"ARGOCD_SERVER="+argoServer.URL, "ARGOCD_AUTH_TOKEN=argo-token",
				"NO_COLOR=1",
				"GOPROXY=off",
				"GOFLAGS=-buildvcs=false",
				"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
				"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com",
			)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":  scripttest.Exitcode,
			"probe":     scripttest.Probe,
			"waitline":  scripttest.WaitLine,
			"freeport":  cmdFreePort,
			"argocdapp": argo.cmd,
		},
	})
}

// buildSupervisor builds sparkwing-supervisor as users install it
// (statically linked), for the pods of sparkwing dev --sync.
func buildSupervisor(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "sparkwing-supervisor")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/sparkwing-dev/sparkwing/cmd/sparkwing-supervisor")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building sparkwing-supervisor: %v\n%s", err, out)
	}
	return bin
}

// freeport NAME: set $NAME to a free TCP port on 127.0.0.1.
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeport NAME")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ts.Setenv(args[0], strconv.Itoa(port))
}
