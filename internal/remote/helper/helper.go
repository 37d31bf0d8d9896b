// Package helper is sparkwing-remote: the program sparkwing starts to
// reach its remote cache. It holds the heavy clients (net/http and TLS for
// bazel-remote's HTTP protocol, minio-go for S3), so sparkwing's own
// binary and start-up stay small, and answers sparkwing over a unix socket
// in the protocol of remote.Serve.
package helper

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/remote"
)

// Main is `sparkwing-remote serve --url URL [--timeout D]`; the
// Authorization header for HTTP comes in SPARKWING_REMOTE_AUTH, S3's
// settings as the AWS tools read them. It prints one line (see
// remote.startHelper), serves until stdin closes, and exits.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "serve" && args[0] != "prune") {
		fmt.Fprintln(stderr, "usage: sparkwing-remote serve|prune --url URL [--timeout 10s] [--max-age D --dry-run]\n(sparkwing starts it for a remote cache)")
		return 2
	}
	fs := flag.NewFlagSet("sparkwing-remote "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	raw := fs.String("url", "", "the remote cache: http(s)://HOST/PREFIX or s3://BUCKET/PREFIX")
	timeout := fs.Duration("timeout", remote.DefaultTimeout, "a request's timeout, and a stalled transfer's")
	maxAge := fs.Duration("max-age", 0, "prune: remove what was not used for this long")
	dry := fs.Bool("dry-run", false, "prune: say what would be removed")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	u, err := url.Parse(*raw)
	if err != nil || u.Host == "" {
		fmt.Fprintf(stdout, "setup --url\t%q is not a remote cache URL\tlet sparkwing start it\n", remote.Display(*raw))
		return 2
	}
	var b remote.Backend
	switch u.Scheme {
	case "http", "https":
		b = newHTTPBackend(u.String(), os.Getenv("SPARKWING_REMOTE_AUTH"), *timeout)
	case "s3":
		s3, line := openS3(u.Host, u.Path, os.Getenv, *timeout)
		if s3 == nil {
			fmt.Fprintln(stdout, line)
			return 2
		}
		if v := os.Getenv("SPARKWING_REMOTE_REFRESH"); v != "" { // tests: how stale a last-use mark may grow
			if d, err := time.ParseDuration(v); err == nil {
				s3.refresh = d
			}
		}
		if args[0] == "prune" {
			if err := s3.prune(context.Background(), *maxAge, *dry, stdout); err != nil {
				fmt.Fprintf(stdout, "error %s %v\n", Classify(err), err)
				return 1
			}
			return 0
		}
		b = s3
	default:
		fmt.Fprintf(stdout, "setup --url\tunknown scheme %q\tlet sparkwing start it\n", u.Scheme)
		return 2
	}
	if args[0] == "prune" {
		fmt.Fprintln(stdout, "bazel-remote bounds its own size (its --max_size, least recently used first): nothing to prune")
		return 0
	}
	dir, err := os.MkdirTemp("", "sparkwing-remote-") // 0700: only this user reaches the socket
	if err != nil {
		fmt.Fprintf(stdout, "unavailable %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "socket")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Fprintf(stdout, "unavailable %v\n", err)
		return 1
	}
	go remote.Serve(ln, b, Classify)
	fmt.Fprintf(stdout, "ready %s\n", sock)
	io.Copy(io.Discard, stdin) // until sparkwing closes it, or exits
	ln.Close()
	if s3, ok := b.(*s3Backend); ok {
		s3.touches.Wait() // each bounded by its own timeout
	}
	return 0
}

// Classify names the class of a backend's failure.
func Classify(err error) string {
	var ce *remote.ClassError
	var se *StatusError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		return ce.Class
	case errors.As(err, &se):
		switch {
		case se.Code == 401 || se.Code == 403:
			return remote.ClassAuth
		case se.Code == 507 || se.Code == 413:
			return remote.ClassFull
		}
		return remote.ClassUnavailable
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.As(err, &ne) && ne.Timeout(), strings.Contains(err.Error(), "timeout awaiting response headers"):
		return remote.ClassTimeout
	}
	return remote.ClassUnavailable
}
