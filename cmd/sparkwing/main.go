// Command sparkwing runs build pipelines as a DAG of cached, parallel jobs.
package main

import (
	"os"

	"github.com/sparkwing-dev/sparkwing/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
