// Command sparkwing-supervisor runs a pod's process under `sparkwing dev
// --sync`, so that a new build of a file can be copied into the running
// container and the process restarted on it, without a new image and a
// rollout. sparkwing-deploy puts it in the pod; it is not run by hand.
// Build it with CGO_ENABLED=0: it runs in images FROM scratch.
package main

import (
	"os"

	"github.com/sparkwing-dev/sparkwing/internal/supervisor"
)

func main() {
	os.Exit(supervisor.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
