// Command sparkwing-image builds sparkwing's image jobs with BuildKit.
// sparkwing starts it, one process a build; it is a program of its own so
// that BuildKit's client never slows the start of sparkwing itself.
package main

import (
	"os"

	"github.com/sparkwing-dev/sparkwing/internal/buildkit"
)

func main() {
	os.Exit(buildkit.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
