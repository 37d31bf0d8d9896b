// Command sparkwing-s3 is the gateway sparkwing starts for an s3:// remote
// cache: it speaks bazel-remote's HTTP protocol on the loopback and keeps
// entries and blobs in the bucket. It is a program of its own so that the
// S3 client never slows the start of sparkwing itself.
package main

import (
	"os"

	"github.com/sparkwing-dev/sparkwing/internal/remote/s3gw"
)

func main() {
	os.Exit(s3gw.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
