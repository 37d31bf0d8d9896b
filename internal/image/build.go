// Package image runs image jobs: it tags them by content, asks registries
// whether an image already exists so that an unchanged image is neither
// built nor pushed, and hands the builds themselves to sparkwing-image,
// the helper that speaks to BuildKit (internal/buildkit). The helper is a
// separate program so that BuildKit's client, gRPC and protobuf never
// slow the start of a sparkwing run that builds no image.
//
// The content tag is commit-<sha12>-files-<hash12>[-dirty]: hash12 is the
// image job's cache key, computed over exactly the build context BuildKit
// receives (see internal/buildctx), the Dockerfile and the build settings.
package image

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// DefaultAddr is where buildkitd listens when nothing says otherwise, as
// for buildctl.
const DefaultAddr = "unix:///run/buildkit/buildkitd.sock"

// Request is one build.
type Request struct {
	Root   string // the project root
	Image  *plan.Image
	Refs   []string // push to each of these (REGISTRY/REPO:TAG); none: build only
	OCITar string   // also write the image as an OCI tar here ("" none)
	// ExportDir, when set, receives the target's files (BuildKit's local
	// exporter) instead of an image; an existing, empty directory.
	ExportDir string
	Log       io.Writer
	Warn      func(msg string) // problems that do not fail the build (a cache export)
}

// Result is what BuildKit did.
type Result struct {
	Digest string // the image manifest's digest, when exported
	Steps  []Step
}

// Step is one BuildKit vertex: a Dockerfile instruction or internal work.
type Step struct {
	Name     string
	Cached   bool
	Duration time.Duration
}

// UnreachableError says buildkitd could not be reached: a setup problem,
// not a failed build.
type UnreachableError struct {
	Addr string
	Err  error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach buildkitd at %s: %v", e.Addr, e.Err)
}

// Hint says how to get a buildkitd to talk to.
func (e *UnreachableError) Hint() string {
	return fmt.Sprintf("start one (as root): buildkitd --addr %s\n"+
		"or in Docker: docker run -d --privileged --name buildkitd moby/buildkit, with BUILDKIT_HOST=docker-container://buildkitd;\n"+
		"sparkwing uses BUILDKIT_HOST, else `buildkit: ADDRESS` in .sparkwing/sparkwing.yaml, else %s", listenAddr(e.Addr), DefaultAddr)
}

func listenAddr(addr string) string {
	if strings.HasPrefix(addr, "unix://") || strings.HasPrefix(addr, "tcp://") {
		return addr
	}
	return DefaultAddr
}

// Loopback reports whether a registry host is this machine; such
// registries are spoken to over plain HTTP, as Docker does.
func Loopback(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// LoopbackRef reports whether a reference (HOST/REPO:TAG) names a registry
// on this machine.
func LoopbackRef(ref string) bool {
	host, _, _ := strings.Cut(ref, "/")
	return Loopback(host)
}

// Address picks the buildkitd address: BUILDKIT_HOST, else the project
// file's `buildkit:`, else the default socket.
func Address(env, file string) string {
	switch {
	case env != "":
		return env
	case file != "":
		return file
	}
	return DefaultAddr
}

// CheckAddress rejects an address BuildKit's client cannot use.
func CheckAddress(addr string) error {
	u, err := url.Parse(addr)
	if err == nil {
		switch u.Scheme {
		case "unix", "tcp", "docker-container", "kube-pod", "podman-container", "nerdctl-container", "ssh":
			return nil
		}
	}
	return fmt.Errorf("buildkit address %q: use unix:///PATH, tcp://HOST:PORT or docker-container://NAME", addr)
}
