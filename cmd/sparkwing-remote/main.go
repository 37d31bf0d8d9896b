// Command sparkwing-remote is the program sparkwing starts to reach what
// is remote: its remote cache (bazel-remote's HTTP protocol, or S3), and
// a controller (pipeline trigger, runner, runs --remote). It is a program
// of its own so that the HTTP, TLS and S3 clients never slow the start of
// sparkwing itself.
package main

import (
	"os"

	"github.com/sparkwing-dev/sparkwing/internal/cli"
	"github.com/sparkwing-dev/sparkwing/internal/remote"
	"github.com/sparkwing-dev/sparkwing/internal/remote/helper"
	"github.com/sparkwing-dev/sparkwing/internal/remoterun"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == remote.HelperCLIArg {
		os.Exit(cli.MainRemote(args[1:], os.Stdin, os.Stdout, os.Stderr, remoterun.Verbs{}))
	}
	os.Exit(helper.Main(args, os.Stdin, os.Stdout, os.Stderr))
}
