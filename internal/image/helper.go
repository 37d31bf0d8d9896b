package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"

	"github.com/sparkwing-dev/sparkwing/internal/buildctx"
	"github.com/sparkwing-dev/sparkwing/internal/helperproc"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// HelperName is the program that builds images; sparkwing looks for it
// in $SPARKWING_IMAGE_HELPER, next to its own executable, then on PATH.
const HelperName = "sparkwing-image"

// WireVersion is the version of the request sparkwing sends the helper.
// A helper from another version of sparkwing refuses it, rather than
// build something other than what was asked.
const WireVersion = 2

// WireRequest is what sparkwing writes to the helper's standard input:
// `sparkwing-image build` builds Image, `sparkwing-image list` lists the
// build context Dir as BuildKit would receive it, `sparkwing-image exists`
// asks the registries whether they hold an image (registry.Client.Ensure).
type WireRequest struct {
	V int

	// build
	Addr      string // buildkitd
	Root      string // the project root, absolute
	Image     *plan.Image
	Refs      []string
	OCITar    string
	ExportDir string

	// list
	Dir      string // absolute
	Excludes []string
	Scope    *buildctx.Scope // narrow to what this build reads; nil: the whole context

	// exists
	Check       []Ref
	PerRegistry int
	Files       string // the content tag's files part (FilesPart)
}

// Message is one line the helper writes to file descriptor 3: warnings
// while it builds, then the answer (OK, with the Result or Entries) or the
// Error. Its standard output is the build's log.
type Message struct {
	Warn        string              `json:",omitempty"`
	OK          bool                `json:",omitempty"`
	Result      *Result             `json:",omitempty"`
	Entries     []buildctx.Entry    `json:",omitempty"`
	Narrowing   *buildctx.Narrowing `json:",omitempty"`
	Found       bool                `json:",omitempty"`
	Error       string              `json:",omitempty"`
	Unreachable bool                `json:",omitempty"` // Error is about reaching buildkitd
}

// maxRequest bounds what the helper reads; a real request is a few KiB.
const maxRequest = 16 << 20

// DecodeRequest reads and checks the helper's request for op ("build",
// "list" or "exists").
func DecodeRequest(op string, r io.Reader) (*WireRequest, error) {
	var req WireRequest
	if err := helperproc.Decode(r, maxRequest, &req); err != nil {
		return nil, err
	}
	if req.V != WireVersion {
		return nil, fmt.Errorf("request version %d, this %s speaks %d: install the %s that matches sparkwing (go install ./cmd/... in one checkout)", req.V, HelperName, WireVersion, HelperName)
	}
	switch op {
	case "list":
		if !filepath.IsAbs(req.Dir) {
			return nil, fmt.Errorf("request directory %q is not absolute", req.Dir)
		}
		return &req, nil
	case "exists":
		if req.PerRegistry < 1 || len(req.Check) == 0 || len(req.Check)%req.PerRegistry != 0 {
			return nil, fmt.Errorf("request checks %d references, %d a registry", len(req.Check), req.PerRegistry)
		}
		if !strings.HasPrefix(req.Files, "files-") {
			return nil, fmt.Errorf("request files part %q is not files-HASH", req.Files)
		}
		return &req, nil
	}
	switch {
	case req.Image == nil:
		return nil, errors.New("request names no image")
	case !filepath.IsAbs(req.Root):
		return nil, fmt.Errorf("request root %q is not absolute", req.Root)
	case req.OCITar != "" && !filepath.IsAbs(req.OCITar):
		return nil, fmt.Errorf("request OCI tar %q is not absolute", req.OCITar)
	case req.ExportDir != "" && !filepath.IsAbs(req.ExportDir):
		return nil, fmt.Errorf("request export directory %q is not absolute", req.ExportDir)
	case req.ExportDir != "" && (len(req.Refs) > 0 || req.OCITar != ""):
		return nil, errors.New("request exports files and also an image")
	}
	if err := CheckAddress(req.Addr); err != nil {
		return nil, err
	}
	return &req, nil
}

// MissingHelperError says sparkwing-image is not installed: a setup
// problem, not a failed build.
type MissingHelperError = helperproc.MissingError

// FindHelper locates sparkwing-image: explicit (from
// $SPARKWING_IMAGE_HELPER) if set, else beside this executable, else on
// PATH.
func FindHelper(explicit string) (string, error) {
	return helperproc.Find(HelperName, "image jobs", "SPARKWING_IMAGE_HELPER", explicit)
}

// HelperLister is a buildctx.Lister through sparkwing-image, found (see
// FindHelper) on first use.
func HelperLister(explicit string) buildctx.Lister {
	var once sync.Once
	var h Helper
	var err error
	return func(ctx context.Context, dir string, excludes []string, scope *buildctx.Scope) ([]buildctx.Entry, *buildctx.Narrowing, error) {
		once.Do(func() { h.Path, err = FindHelper(explicit) })
		if err != nil {
			return nil, nil, err
		}
		return h.List(ctx, dir, excludes, scope)
	}
}

// Helper builds images and lists build contexts by starting
// sparkwing-image, one process a request.
type Helper struct {
	Path string // the program
	Addr string // buildkitd
}

// Build runs one build to the end: the helper's log goes to req.Log as it
// comes, warnings to req.Warn. Cancelling ctx stops the helper, which
// cancels the build in buildkitd.
func (h Helper) Build(ctx context.Context, req Request) (*Result, error) {
	m, err := h.call(ctx, "build", WireRequest{V: WireVersion, Addr: h.Addr, Root: req.Root, Image: req.Image,
		Refs: req.Refs, OCITar: req.OCITar, ExportDir: req.ExportDir}, req.Log, req.Warn)
	if m == nil {
		return nil, err
	}
	return m.Result, err
}

// List is a buildctx.Lister.
func (h Helper) List(ctx context.Context, dir string, excludes []string, scope *buildctx.Scope) ([]buildctx.Entry, *buildctx.Narrowing, error) {
	m, err := h.call(ctx, "list", WireRequest{V: WireVersion, Dir: dir, Excludes: excludes, Scope: scope}, io.Discard, nil)
	if err != nil {
		return nil, nil, err
	}
	if scope != nil && m.Narrowing == nil {
		return nil, nil, fmt.Errorf("%s did not say which part of the context the build reads", HelperName)
	}
	return m.Entries, m.Narrowing, nil
}

// Exists asks, through the helper, whether every registry holds the
// image: refs are perRegistry references a registry, the content tag
// first; files is its files part. See registry.Client.Ensure.
func (h Helper) Exists(ctx context.Context, refs []Ref, perRegistry int, files string) (bool, error) {
	m, err := h.call(ctx, "exists", WireRequest{V: WireVersion, Check: refs, PerRegistry: perRegistry, Files: files}, io.Discard, nil)
	if err != nil {
		return false, err
	}
	return m.Found, nil
}

// call runs the helper for op. The message returned is the last result
// or error it sent, nil if it sent none.
func (h Helper) call(ctx context.Context, op string, req WireRequest, log io.Writer, warn func(string)) (*Message, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var last *Message
	runErr := helperproc.Run(ctx, h.Path, op, body, log, func(line []byte) {
		var m Message
		if json.Unmarshal(line, &m) != nil {
			return
		}
		if m.Warn != "" && warn != nil {
			warn(m.Warn)
		}
		if m.OK || m.Error != "" {
			last = &m
		}
	})
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case last != nil && last.Unreachable:
		return nil, &UnreachableError{Addr: h.Addr, Err: errors.New(last.Error)}
	case last != nil && last.Error != "":
		return last, errors.New(last.Error)
	case last != nil && last.OK && runErr == nil:
		return last, nil
	case runErr != nil:
		return nil, runErr
	}
	return nil, fmt.Errorf("%s %s exited without a result", HelperName, op)
}
