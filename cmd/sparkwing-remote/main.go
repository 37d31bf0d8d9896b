// Command sparkwing-remote is the program sparkwing starts to reach its
// remote cache (bazel-remote's HTTP protocol, or S3): a program of its
// own so that the HTTP, TLS and S3 clients never slow the start of
// sparkwing itself.
package main

import (
	"os"

	"github.com/sparkwing-dev/sparkwing/internal/remote/helper"
)

func main() {
	os.Exit(helper.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
