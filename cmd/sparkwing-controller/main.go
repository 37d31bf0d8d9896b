// Command sparkwing-controller is the sparkwing server: remote runs, the
// runners' queue, the git cache and live logs (see internal/controller).
package main

import (
	"os"

	"github.com/sparkwing-dev/sparkwing/internal/controller"
)

func main() {
	os.Exit(controller.Main(os.Args[1:], os.Stdout, os.Stderr))
}
