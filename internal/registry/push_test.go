package registry_test

import (
	"archive/tar"
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/sparkwing-dev/sparkwing/internal/image"
	"github.com/sparkwing-dev/sparkwing/internal/image/imagetest"
	"github.com/sparkwing-dev/sparkwing/internal/registry"
)

func oneFileTar(t *testing.T, name, content string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(content)), Typeflag: tar.TypeReg})
	tw.Write([]byte(content))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestPushImageThenReadItsConfig pushes a one-layer image to a real
// registry and reads back what it runs, by tag and by digest.
func TestPushImageThenReadItsConfig(t *testing.T) {
	srv := imagetest.Require(t)
	t.Cleanup(imagetest.StopShared)
	ctx := t.Context()
	r := registry.New()
	ref := image.Ref{Host: srv.Registry, Repo: "push-test/tool", Tag: "v1"}
	layer := oneFileTar(t, "tool", "#!/bin/true\n")
	want := registry.Config{Entrypoint: []string{"/tool", "serve"}, Cmd: []string{"--port", "1"}}
	digest, err := r.PushImage(ctx, ref, layer, want)
	if err != nil {
		t.Fatal(err)
	}
	again, err := r.PushImage(ctx, ref, layer, want)
	if err != nil || again != digest {
		t.Fatalf("pushing the same image again: %s, %v; want %s", again, err, digest)
	}
	if got, err := r.Digest(ctx, ref); err != nil || got != digest {
		t.Fatalf("the registry has %q (%v) under the tag, want %s", got, err, digest)
	}
	for _, tag := range []string{"v1", digest} {
		c, err := r.Config(ctx, image.Ref{Host: ref.Host, Repo: ref.Repo, Tag: tag})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.Entrypoint, want.Entrypoint) || !slices.Equal(c.Cmd, want.Cmd) {
			t.Errorf("by %s: config %+v, want %+v", tag, c, want)
		}
	}
	if _, err := r.Config(ctx, image.Ref{Host: ref.Host, Repo: ref.Repo, Tag: "missing"}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("a missing tag: %v", err)
	}
}

func TestSplitPinned(t *testing.T) {
	for in, want := range map[string]image.Ref{
		"127.0.0.1:5000/hello:c1":           {Host: "127.0.0.1:5000", Repo: "hello", Tag: "c1"},
		"127.0.0.1:5000/a/b:c1@sha256:00ff": {Host: "127.0.0.1:5000", Repo: "a/b", Tag: "sha256:00ff"},
		"ghcr.io/acme/api":                  {Host: "ghcr.io", Repo: "acme/api", Tag: "latest"},
	} {
		got, err := registry.SplitPinned(in)
		if err != nil || got != want {
			t.Errorf("%s: %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"hello", "/hello", "host/", "host/:tag"} {
		if got, err := registry.SplitPinned(bad); err == nil {
			t.Errorf("%q: %+v, want an error", bad, got)
		}
	}
}

func FuzzSplitPinned(f *testing.F) {
	f.Add("127.0.0.1:5000/a/b:c1@sha256:00ff")
	f.Add("ghcr.io/acme/api")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := registry.SplitPinned(s)
		if err != nil {
			return
		}
		if r.Host == "" || r.Repo == "" || r.Tag == "" || strings.Contains(r.Host, "/") {
			t.Errorf("%q split into %+v", s, r)
		}
	})
}
