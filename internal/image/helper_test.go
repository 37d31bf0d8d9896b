package image_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sparkwing-dev/sparkwing/internal/buildctx"
	"github.com/sparkwing-dev/sparkwing/internal/buildkit"
	"github.com/sparkwing-dev/sparkwing/internal/image"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// The test binary is also the helper: started with this variable set, it
// is sparkwing-image, so these tests speak to the real program over the
// real pipes.
const asHelper = "SPARKWING_TEST_AS_IMAGE_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(asHelper) == "1" {
		os.Exit(buildkit.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func helper(t *testing.T) image.Helper {
	t.Setenv(asHelper, "1")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return image.Helper{Path: exe}
}

// The helper lists a build context exactly as the in-process lister does
// (which the buildkit tests hold to what BuildKit receives), entries and
// all, through its process boundary.
func TestHelperListsLikeBuildKitsWalk(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"a.txt": "a", "skip.log": "x", "sub/b.txt": "b", "sub/keep.log": "k"} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	excludes := []string{"**/*.log", "!sub/keep.log"}
	want, _, err := buildkit.ListContext(context.Background(), dir, excludes, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := helper(t).List(context.Background(), dir, excludes, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("helper listing differs (-in process +helper):\n%s", diff)
	}
	if len(got) != 5 { // a.txt link sub sub/b.txt sub/keep.log
		t.Errorf("listing = %v, want 5 entries", got)
	}

	scope := &buildctx.Scope{Dockerfile: "Dockerfile", Content: []byte("FROM scratch\nCOPY sub/ /s/\n")}
	want, wantN, err := buildkit.ListContext(context.Background(), dir, excludes, scope)
	if err != nil {
		t.Fatal(err)
	}
	got, gotN, err := helper(t).List(context.Background(), dir, excludes, scope)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("narrowed helper listing differs (-in process +helper):\n%s", diff)
	}
	if diff := cmp.Diff(wantN, gotN); diff != "" || gotN.Whole || len(got) != 3 { // sub sub/b.txt sub/keep.log
		t.Errorf("narrowed listing = %v, %+v (-in process +helper: %s)", got, gotN, diff)
	}

	empty, _, err := helper(t).List(context.Background(), t.TempDir(), nil, nil)
	if err != nil || len(empty) != 0 {
		t.Errorf("empty context: %v, %v", empty, err)
	}
	if _, _, err := helper(t).List(context.Background(), filepath.Join(dir, "missing"), nil, nil); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing context: err = %v, want one naming it", err)
	}
}

func TestUnreachableBuildkitdSaysHowToStartOne(t *testing.T) {
	addr := "unix://" + filepath.Join(t.TempDir(), "no.sock")
	h := helper(t)
	h.Addr = addr
	var log bytes.Buffer
	_, err := h.Build(context.Background(), image.Request{Root: t.TempDir(), Image: &plan.Image{NoDoctor: true}, Log: &log})
	var ue *image.UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v, want UnreachableError", err)
	}
	if want := "cannot reach buildkitd at " + addr + ": dial unix "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %q, want it to start %q", err, want)
	}
	for _, want := range []string{"buildkitd --addr " + addr, "BUILDKIT_HOST"} {
		if !strings.Contains(ue.Hint(), want) {
			t.Errorf("hint lacks %q:\n%s", want, ue.Hint())
		}
	}
}

// Cancelling a build stops the helper: a buildkitd that accepts the
// connection and never answers holds the helper until the context ends.
func TestCancelStopsTheHelper(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	h := helper(t)
	h.Addr = "tcp://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		c := <-accepted // the helper is connected: now cancel
		defer c.Close()
		cancel()
	}()
	_, err = h.Build(ctx, image.Request{Root: t.TempDir(), Image: &plan.Image{NoDoctor: true}, Log: &bytes.Buffer{}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// A helper that dies without answering is reported with what it said on
// stderr; one from another version of sparkwing refuses the request.
func TestHelperFailuresAreNamed(t *testing.T) {
	dir := t.TempDir()
	crash := filepath.Join(dir, "crash")
	if err := os.WriteFile(crash, []byte("#!/bin/sh\necho 'panic: boom' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, _, err := image.Helper{Path: crash}.List(context.Background(), dir, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "panic: boom") {
		t.Errorf("crashed helper: err = %v", err)
	}

	_, err = image.DecodeRequest("list", strings.NewReader(`{"V": 1, "Dir": "/x"}`))
	if err == nil || !strings.Contains(err.Error(), "version 1, this") || !strings.Contains(err.Error(), "go install ./cmd/...") {
		t.Errorf("other version: err = %v", err)
	}
}

func TestFindHelper(t *testing.T) {
	bin := t.TempDir()
	t.Setenv("PATH", bin)
	_, err := image.FindHelper("")
	var me *image.MissingHelperError
	if !errors.As(err, &me) || !strings.Contains(me.Hint(), "go install ./cmd/...") {
		t.Fatalf("FindHelper with none installed: %v", err)
	}
	p := filepath.Join(bin, image.HelperName)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := image.FindHelper(""); err != nil || got != p {
		t.Errorf("FindHelper on PATH = %q, %v; want %s", got, err, p)
	}
	if _, err := image.FindHelper(filepath.Join(bin, "nope")); err == nil || !strings.Contains(err.Error(), "SPARKWING_IMAGE_HELPER") {
		t.Errorf("explicit helper that is missing: err = %v", err)
	}
}

// The helper's request decoder never panics, and what it accepts is a
// request it can act on.
func FuzzDecodeRequest(f *testing.F) {
	f.Add("build", `{"V":2,"Addr":"unix:///x.sock","Root":"/p","Image":{"Dockerfile":"Dockerfile"}}`)
	f.Add("list", `{"V":2,"Dir":"/p","Excludes":["*.log","!a.log"]}`)
	f.Add("build", `{"V":2,"Root":"rel","Image":{}}`)
	f.Add("list", `{"V":2,"Dir":"/p"} {"V":1}`)
	f.Add("exists", `{"V":2,"Check":[{"Host":"127.0.0.1:5000","Repo":"a","Tag":"t"}],"PerRegistry":1,"Files":"files-abc"}`)
	f.Fuzz(func(t *testing.T, op, body string) {
		req, err := image.DecodeRequest(op, strings.NewReader(body))
		if err != nil {
			return
		}
		if req.V != image.WireVersion {
			t.Fatalf("accepted version %d", req.V)
		}
		switch op {
		case "list":
			if !filepath.IsAbs(req.Dir) {
				t.Fatalf("accepted a relative directory %q", req.Dir)
			}
			return
		case "exists":
			if req.PerRegistry < 1 || len(req.Check)%req.PerRegistry != 0 || len(req.Check) == 0 {
				t.Fatalf("accepted %d references, %d a registry", len(req.Check), req.PerRegistry)
			}
			return
		}
		if req.Image == nil || !filepath.IsAbs(req.Root) || image.CheckAddress(req.Addr) != nil {
			t.Fatalf("accepted an unusable build request %+v", req)
		}
	})
}
