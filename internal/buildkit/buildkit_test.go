package buildkit_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/buildkit/client"
	"github.com/tonistiigi/fsutil"

	"github.com/sparkwing-dev/sparkwing/internal/buildctx"
	"github.com/sparkwing-dev/sparkwing/internal/buildkit"
	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/image"
	"github.com/sparkwing-dev/sparkwing/internal/image/imagetest"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/registry"
)

func TestMain(m *testing.M) {
	code := m.Run()
	imagetest.StopShared()
	os.Exit(code)
}

// tree writes files (a trailing / makes a directory, "-> T" a symlink to T).
func tree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case strings.HasSuffix(name, "/"):
			err = os.MkdirAll(p, 0o750)
		case strings.HasPrefix(body, "-> "):
			err = os.Symlink(strings.TrimPrefix(body, "-> "), p)
		case strings.HasSuffix(name, ".sh"):
			err = os.WriteFile(p, []byte(body), 0o755)
		default:
			err = os.WriteFile(p, []byte(body), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func hashFile(dir string) buildctx.Hasher {
	return func(rel string) (fileset.Digest, error) { return fileset.HashFile(filepath.Join(dir, rel)) }
}

// received builds `COPY . /ctx/` from contextDir with BuildKit and exports
// the result to a directory: exactly the files BuildKit received.
func received(t *testing.T, c *client.Client, contextDir, dockerfileDir, dockerfileName string) string {
	t.Helper()
	out := t.TempDir()
	ctxFS, err := fsutil.NewFS(contextDir)
	if err != nil {
		t.Fatal(err)
	}
	dfFS, err := fsutil.NewFS(dockerfileDir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Solve(context.Background(), nil, client.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: map[string]string{"filename": dockerfileName},
		LocalMounts:   map[string]fsutil.FS{"context": ctxFS, "dockerfile": dfFS},
		Exports:       []client.ExportEntry{{Type: client.ExporterLocal, OutputDir: out}},
	}, nil)
	if err != nil {
		t.Fatalf("solve: %v", err)
	}
	return filepath.Join(out, "ctx")
}

// The files hash is over exactly what BuildKit receives: for each tricky
// .dockerignore, the listing sparkwing hashes equals the tree BuildKit
// copied into an image, path by path, with modes, contents and links.
func TestContextListingMatchesWhatBuildKitReceives(t *testing.T) {
	srv := imagetest.Require(t)
	c, err := buildkit.Connect(context.Background(), srv.Buildkit)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	files := map[string]string{
		"main.go": "package main", "run.sh": "#!/bin/sh", "with space.txt": "s",
		"a.log": "x", "keep.log": "k", "sub/b.log": "x", "sub/deep/important.log": "i",
		"build/out.bin": "o", "build/keep/k.txt": "k", "build/keep/sub/z.txt": "z",
		"abs.txt": "root only", "sub/abs.txt": "nested", "rel.txt": "r",
		"tmp": "t", "x/temp1": "t", "x/y/temp2": "deeper", "temp9": "q",
		"docs/a.md": "a", "docs/drafts/b.md": "b", "empty/": "", "link": "-> main.go",
		"dangling": "-> nowhere", "node_modules/m/index.js": "m", "src/node_modules/n.js": "n",
	}
	cases := []struct {
		name, ignore string
	}{
		{"none", ""},
		{"exceptions", "*.log\n**/*.log\n!keep.log\n!**/important.log\n"},
		{"exception inside an excluded directory", "build\n!build/keep\nbuild/keep/sub\n"},
		{"anchors, comments and spaces", "# a comment\n\n/abs.txt\n./rel.txt\ntmp   \n"},
		{"single-level and ? globs", "*/temp*\ntemp?\n"},
		{"allowlist", "**\n!main.go\n!sub/**\n!docs\n"},
		{"double star in the middle", "**/node_modules\ndocs/**/b.md\n"},
		{"the ignore file and links themselves", ".dockerignore\nlink\nempty\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tree(t, dir, files)
			if tc.ignore != "" {
				tree(t, dir, map[string]string{".dockerignore": tc.ignore})
			}
			dfDir := t.TempDir()
			tree(t, dfDir, map[string]string{"Dockerfile": "FROM scratch\nCOPY . /ctx/\n"})

			excludes, err := buildctx.Excludes(buildctx.IgnoreFile(dir, filepath.Join(dfDir, "Dockerfile")))
			if err != nil {
				t.Fatal(err)
			}
			want, _, err := buildctx.List(context.Background(), buildkit.ListContext, dir, excludes, nil, hashFile(dir))
			if err != nil {
				t.Fatal(err)
			}
			got := received(t, c, dir, dfDir, "Dockerfile")
			have, _, err := buildctx.List(context.Background(), buildkit.ListContext, got, nil, nil, hashFile(got))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(lines(want), lines(have)); diff != "" {
				t.Errorf("sparkwing's listing (-) differs from what BuildKit received (+):\n%s", diff)
			}
			if buildctx.Digest(want) != buildctx.Digest(have) {
				t.Errorf("files hash differs from the hash of what BuildKit received")
			}
		})
	}
}

// A Dockerfile's own NAME.dockerignore wins over the context's, as in
// BuildKit's frontend.
func TestDockerfileSpecificIgnoreFileWins(t *testing.T) {
	srv := imagetest.Require(t)
	c, err := buildkit.Connect(context.Background(), srv.Buildkit)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dir := t.TempDir()
	tree(t, dir, map[string]string{"a.txt": "a", "b.txt": "b", ".dockerignore": "a.txt\n"})
	dfDir := t.TempDir()
	tree(t, dfDir, map[string]string{"api.Dockerfile": "FROM scratch\nCOPY . /ctx/\n", "api.Dockerfile.dockerignore": "b.txt\n"})

	ignore := buildctx.IgnoreFile(dir, filepath.Join(dfDir, "api.Dockerfile"))
	if filepath.Base(ignore) != "api.Dockerfile.dockerignore" {
		t.Fatalf("ignore file = %s", ignore)
	}
	excludes, _ := buildctx.Excludes(ignore)
	want, _, err := buildctx.List(context.Background(), buildkit.ListContext, dir, excludes, nil, hashFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	got := received(t, c, dir, dfDir, "api.Dockerfile")
	have, _, _ := buildctx.List(context.Background(), buildkit.ListContext, got, nil, nil, hashFile(got))
	if diff := cmp.Diff(lines(want), lines(have)); diff != "" {
		t.Errorf("listing differs from what BuildKit received:\n%s", diff)
	}
	if !strings.Contains(strings.Join(lines(want), "\n"), `"a.txt"`) {
		t.Errorf("a.txt should be sent (only the Dockerfile's own ignore file applies)")
	}
}

func lines(es []buildctx.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Line())
	}
	return out
}

func build(t *testing.T, srv *imagetest.Servers, req image.Request) (*image.Result, string, error) {
	t.Helper()
	c, err := buildkit.Connect(context.Background(), srv.Buildkit)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var log bytes.Buffer
	req.Log = &log
	if req.Warn == nil {
		req.Warn = func(msg string) { t.Errorf("unexpected warning: %s", msg) }
	}
	res, err := buildkit.Build(context.Background(), c, req)
	return res, log.String(), err
}

// A pushed image is visible to the registry client; tags that were never
// pushed are not; retagging points a new tag at the same manifest.
func TestPushThenRegistrySeesIt(t *testing.T) {
	srv := imagetest.Require(t)
	root := t.TempDir()
	tree(t, root, map[string]string{"Dockerfile": "FROM scratch\nCOPY a.txt /a.txt\n", "a.txt": "hello"})
	ref := srv.Registry + "/test/push:one"
	res, log, err := build(t, srv, image.Request{Root: root, Image: &plan.Image{}, Refs: []string{ref}})
	if err != nil {
		t.Fatalf("build: %v\n%s", err, log)
	}
	if !strings.HasPrefix(res.Digest, "sha256:") {
		t.Errorf("digest = %q", res.Digest)
	}
	reg := registry.New()
	ctx := context.Background()
	r := image.RefIn(srv.Registry, "test/push", "one")
	if r.String() != ref {
		t.Fatalf("RefIn = %s, want %s", r, ref)
	}
	if d, err := reg.Digest(ctx, r); err != nil || d != res.Digest {
		t.Fatalf("Digest(%s) = %q, %v; want %s", ref, d, err, res.Digest)
	}
	missing := r
	missing.Tag = "two"
	if d, err := reg.Digest(ctx, missing); err != nil || d != "" {
		t.Fatalf("Digest of a tag never pushed = %q, %v", d, err)
	}
	if err := reg.Retag(ctx, missing, "one"); err != nil {
		t.Fatal(err)
	}
	if d, _ := reg.Digest(ctx, missing); d != res.Digest {
		t.Fatalf("after retag, two = %q, want %s", d, res.Digest)
	}
	found, err := reg.FindTag(ctx, r, func(tag string) bool { return tag == "two" })
	if err != nil || found != "two" {
		t.Fatalf("FindTag = %q, %v", found, err)
	}
	other := image.RefIn(srv.Registry, "test/never", "x")
	if found, err := reg.FindTag(ctx, other, func(string) bool { return true }); err != nil || found != "" {
		t.Fatalf("FindTag in a missing repository = %q, %v", found, err)
	}
}

// A failing instruction is reported with its Dockerfile line.
func TestBuildErrorNamesTheDockerfileLine(t *testing.T) {
	srv := imagetest.Require(t)
	root := t.TempDir()
	tree(t, root, map[string]string{"Dockerfile": "FROM scratch\nCOPY a.txt /a.txt\nRUN [\"/no/such/program\"]\n", "a.txt": "a"})
	_, log, err := build(t, srv, image.Request{Root: root, Image: &plan.Image{}})
	if err == nil {
		t.Fatal("build succeeded")
	}
	if !strings.HasPrefix(err.Error(), "Dockerfile:3: ") {
		t.Errorf("error %q does not name Dockerfile:3", err)
	}
	if !strings.Contains(log, `>>> RUN ["/no/such/program"]`) {
		t.Errorf("log lacks BuildKit's excerpt of the failing line:\n%s", log)
	}
}

// A cache export that fails is a warning; the build succeeds. A local
// cache export writes an OCI layout; --load writes an OCI tar.
func TestCacheExportAndOCITar(t *testing.T) {
	srv := imagetest.Require(t)
	root := t.TempDir()
	tree(t, root, map[string]string{"Dockerfile": "FROM scratch\nCOPY a.txt /a.txt\n", "a.txt": "cache me"})
	unreachable, _ := plan.ParseCacheSpec("type=registry,ref=127.0.0.1:1/cache/x:c")
	local, _ := plan.ParseCacheSpec("type=local,dest=.buildcache")
	var warnings []string
	tar := filepath.Join(root, "out", "img.tar")
	_, log, err := build(t, srv, image.Request{Root: root, OCITar: tar,
		Image: &plan.Image{CacheTo: []plan.CacheSpec{unreachable, local}},
		Warn:  func(msg string) { warnings = append(warnings, msg) }})
	if err != nil {
		t.Fatalf("build failed although only a cache export failed: %v\n%s", err, log)
	}
	if len(warnings) == 0 {
		t.Errorf("no warning for the failed cache export; log:\n%s", log)
	}
	if _, err := os.Stat(filepath.Join(root, ".buildcache", "index.json")); err != nil {
		t.Errorf("local cache export: %v", err)
	}
	names := tarNames(t, tar)
	for _, want := range []string{"oci-layout", "index.json"} {
		if !names[want] {
			t.Errorf("OCI tar lacks %s (has %v)", want, names)
		}
	}
	if _, err := os.Stat(tar + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary tar left behind")
	}
}

func tarNames(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names[h.Name] = true
	}
	return names
}
