// Command kubecluster is scripts/kube-cluster.sh's program: it keeps the
// test cluster (kubetest), a registry it pulls from and a buildkitd
// (imagetest) running for a person to use, and undoes what they left on
// the host.
//
//	kubecluster serve STATE REGISTRY  start them (the registry on
//	                                  REGISTRY, HOST:PORT; theirs in
//	                                  STATE/servers), write STATE/env,
//	                                  run until SIGTERM
//	kubecluster clean [STATE]         undo what a killed cluster left on
//	                                  the host, and in STATE/servers
package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/sparkwing-dev/sparkwing/internal/deploy/kubetest"
	"github.com/sparkwing-dev/sparkwing/internal/image/imagetest"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "kube-cluster:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	switch {
	case len(args) == 3 && args[0] == "serve":
		return serve(args[1], args[2])
	case len(args) <= 2 && len(args) > 0 && args[0] == "clean":
		var err error
		if len(args) == 2 {
			err = imagetest.Clean(servers(args[1]))
		}
		switch kerr := kubetest.Clean(); {
		case errors.Is(kerr, kubetest.ErrRunning):
			fmt.Println("kube-cluster: another cluster runs now; starting, it cleaned what an earlier one left")
		case kerr != nil:
			err = kerr
		}
		return err
	}
	return fmt.Errorf("usage: kubecluster serve STATE_DIR REGISTRY | kubecluster clean [STATE_DIR]")
}

// serve starts the servers and the cluster, says how to reach them in
// state/env (written last: its presence means ready), and stops them all
// on SIGTERM or SIGINT.
func serve(state, registry string) error {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	if err := imagetest.Clean(servers(state)); err != nil { // what a killed one left
		return err
	}
	srv, err := imagetest.StartIn(servers(state), registry)
	if err != nil {
		return fmt.Errorf("%v (another registry there? set SPARKWING_KUBE_REGISTRY=HOST:PORT, and the example's push: local to it)", err)
	}
	defer srv.Stop()
	cluster, err := kubetest.Start(srv.Registry)
	if err != nil {
		return err
	}
	defer cluster.Stop()
	env := filepath.Join(state, "env")
	defer os.Remove(env)
	text := fmt.Sprintf("export KUBECONFIG=%s\nexport REGISTRY=%s\nexport BUILDKIT_HOST=%s\nexport KUBECTL=%s\n",
		cluster.Kubeconfig, srv.Registry, srv.Buildkit, cluster.Kubectl)
	if err := os.WriteFile(env+".tmp", []byte(text), 0o644); err != nil {
		return err
	}
	if err := os.Rename(env+".tmp", env); err != nil {
		return err
	}
	fmt.Printf("kube-cluster: up (API server %s, registry %s)\n", cluster.Server, srv.Registry)
	<-stop
	fmt.Println("kube-cluster: stopping")
	return nil
}

// servers is where the registry and buildkitd keep their files.
func servers(state string) string { return filepath.Join(state, "servers") }
