// Command sparkwing-deploy runs sparkwing's deploy jobs against
// Kubernetes. sparkwing starts it, one process a deploy; it is a program
// of its own so that Kubernetes' and kustomize's clients never slow the
// start of sparkwing itself.
package main

import (
	"os"

	"github.com/sparkwing-dev/sparkwing/internal/kube"
)

func main() {
	os.Exit(kube.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
