package buildkit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/moby/buildkit/client"
	"github.com/tonistiigi/fsutil"

	"github.com/sparkwing-dev/sparkwing/internal/buildctx"
	"github.com/sparkwing-dev/sparkwing/internal/buildkit"
	"github.com/sparkwing-dev/sparkwing/internal/image/imagetest"
)

// recordingFS is a build context that remembers every file BuildKit asked
// for the content of: what it received.
type recordingFS struct {
	fsutil.FS
	mu     sync.Mutex
	opened []string
}

func (r *recordingFS) Open(p string) (io.ReadCloser, error) {
	r.mu.Lock()
	r.opened = append(r.opened, filepath.ToSlash(p))
	r.mu.Unlock()
	return r.FS.Open(p)
}

// receivedFiles builds target of the Dockerfile in dir with BuildKit and
// returns the regular files of the context it received. A fresh shared
// key keeps BuildKit from reusing an earlier copy of the context, so it
// asks for every file it needs.
func receivedFiles(t *testing.T, c *client.Client, dir, target string, args map[string]string, platforms []string) []string {
	t.Helper()
	base, err := fsutil.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctxFS := &recordingFS{FS: base}
	dfFS, err := fsutil.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	attrs := map[string]string{"filename": "Dockerfile"}
	if target != "" {
		attrs["target"] = target
	}
	for k, v := range args {
		attrs["build-arg:"+k] = v
	}
	if len(platforms) > 0 {
		attrs["platform"] = strings.Join(platforms, ",")
	}
	key := make([]byte, 8)
	rand.Read(key)
	_, err = c.Solve(context.Background(), nil, client.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: attrs,
		SharedKey:     hex.EncodeToString(key),
		LocalMounts:   map[string]fsutil.FS{"context": ctxFS, "dockerfile": dfFS},
	}, nil)
	if err != nil {
		t.Fatalf("solve: %v", err)
	}
	slices.Sort(ctxFS.opened)
	return slices.Compact(ctxFS.opened)
}

// regularFiles are the paths of a listing's regular files.
func regularFiles(entries []buildctx.Entry) []string {
	var out []string
	for _, e := range entries {
		if e.Mode.IsRegular() {
			out = append(out, e.Path)
		}
	}
	return out
}

// staticTool builds a program for RUN in a scratch image: it fails
// unless every path it is given exists.
func staticTool(t *testing.T, dir string) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "main.go")
	os.WriteFile(src, []byte("package main\nimport \"os\"\nfunc main() {\n\tfor _, p := range os.Args[1:] {\n\t\tif _, err := os.Stat(p); err != nil {\n\t\t\tpanic(err)\n\t\t}\n\t}\n}\n"), 0o644)
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "tool"), src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the RUN tool: %v\n%s", err, out)
	}
}

// twoTargets builds gateway and cluster from one dependency stage.
const twoTargets = `
FROM scratch AS deps
COPY go.mod go.sum /src/
FROM scratch AS gateway
COPY --from=deps /src /src
COPY gateway/ /app/
FROM scratch AS cluster
COPY --from=deps /src /src
COPY cluster/ /app/
`

// The narrowed listing, from which an image's key is made, holds exactly
// the files BuildKit receives for the target, across tricky Dockerfiles;
// where sparkwing cannot narrow, the listing is the whole context, a
// superset, and the reason names the instruction.
func TestNarrowedContextIsWhatBuildKitReceives(t *testing.T) {
	srv := imagetest.Require(t)
	c, err := buildkit.Connect(context.Background(), srv.Buildkit)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	files := map[string]string{
		"go.mod": "module x", "go.sum": "sum", "README.md": "readme",
		"gateway/main.go": "gw", "gateway/util.go": "gwu", "cluster/main.go": "cl", "cluster/extra/x.go": "clx",
		"services/api/a.txt": "api", "services/api/debug.log": "dbg", "services/api/keep.log": "keep",
		"services/worker/w.txt": "worker", "src/one/main.go": "1", "src/two/main.go": "2", "src/two/other.go": "o",
		"conf/app.yaml": "conf", "conf/nested/more.yaml": "more", "real/r.txt": "r", "link": "-> real",
		"a1.cfg": "a", "b2.cfg": "b", "c3.cfg": "c", "bin/amd64/app": "amd", "bin/arm64/app": "arm",
		".dockerignore": "services/**/*.log\n!services/api/keep.log\n",
	}
	cases := []struct {
		name, dockerfile, target string
		args                     map[string]string
		platforms                []string
		whole                    string // the reason's instruction when the narrowing is whole
	}{
		{name: "multi-stage --from, one target", target: "gateway", dockerfile: twoTargets},
		{name: "multi-stage --from, the other target", target: "cluster", dockerfile: twoTargets},
		{name: "heredocs", dockerfile: `
FROM scratch
COPY <<EOF /greeting
hello
EOF
COPY <<one <<two /docs/
first
one
second
two
COPY README.md /
`},
		{name: "--parents and wildcards", dockerfile: `
FROM scratch
COPY --parents src/*/main.go /out/
COPY [ab]*.cfg /cfg/
`},
		{name: "ARG in paths", args: map[string]string{"APP": "worker"}, dockerfile: `
ARG APP=api
FROM scratch
ARG APP
COPY services/${APP}/ /app/
`},
		{name: ".dockerignore exceptions", dockerfile: `
FROM scratch
COPY services/ /s/
`},
		{name: "a symlinked directory", dockerfile: `
FROM scratch
COPY link/ /l/
`},
		{name: "RUN --mount=type=bind", dockerfile: `
FROM scratch
COPY tool /tool
RUN --mount=type=bind,source=conf,target=/conf ["/tool", "/conf/app.yaml", "/conf/nested/more.yaml"]
`},
		{name: "platform in a path, platforms named", platforms: []string{"linux/arm64"}, dockerfile: `
FROM scratch
ARG TARGETARCH
COPY bin/$TARGETARCH/ /bin/
`},
		{name: "no file of the context", dockerfile: `
FROM scratch
COPY <<EOF /x
x
EOF
`},
		{name: "COPY . is the whole context", whole: "COPY . /all/", dockerfile: `
FROM scratch AS unused
COPY gateway/ /g/
FROM scratch
COPY go.mod /
COPY . /all/
`},
		{name: "a variable the base image may set", whole: "COPY $GOPATH/src /s/", dockerfile: `
FROM scratch
COPY $GOPATH/src /s/
`},
		{name: "a tmpfs mount makes BuildKit send everything", whole: "RUN --mount=type=tmpfs,target=/tmp", dockerfile: `
FROM scratch
COPY tool /tool
RUN --mount=type=tmpfs,target=/tmp ["/tool", "/tmp"]
`},
		{name: "platform in a path, platforms not named", whole: "depend on the target platform", dockerfile: `
FROM scratch
ARG TARGETARCH
COPY bin/$TARGETARCH/ /bin/
`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tree(t, dir, files)
			if strings.Contains(tc.dockerfile, "/tool") {
				staticTool(t, dir)
			}
			df := strings.TrimPrefix(tc.dockerfile, "\n")
			tree(t, dir, map[string]string{"Dockerfile": df})
			excludes, err := buildctx.Excludes(buildctx.IgnoreFile(dir, filepath.Join(dir, "Dockerfile")))
			if err != nil {
				t.Fatal(err)
			}
			scope := &buildctx.Scope{Dockerfile: "Dockerfile", Content: []byte(df), Target: tc.target, Args: tc.args, Platforms: tc.platforms}
			listing, n, err := buildkit.ListContext(context.Background(), dir, excludes, scope)
			if err != nil {
				t.Fatal(err)
			}
			ours := regularFiles(listing)
			// BuildKit also reads the ignore file from the context; the
			// key holds it on a line of its own.
			received := slices.DeleteFunc(receivedFiles(t, c, dir, tc.target, tc.args, tc.platforms),
				func(f string) bool { return f == ".dockerignore" })
			if tc.whole != "" {
				if !n.Whole || !strings.Contains(n.Reason, tc.whole) {
					t.Fatalf("narrowing = %+v, want whole because of %q", n, tc.whole)
				}
				for _, f := range received {
					if !slices.Contains(ours, f) {
						t.Errorf("BuildKit received %s, which the whole listing lacks", f)
					}
				}
				return
			}
			if n.Whole {
				t.Fatalf("narrowing is whole (%s); want it narrowed", n.Reason)
			}
			if diff := cmp.Diff(received, ours, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("narrowed to %q; listed files (+) differ from what BuildKit received (-):\n%s", n.Paths, diff)
			}
			if len(n.Paths) > 0 {
				// The comparison can fail: reading one path less than
				// BuildKit asks for is caught.
				mutated, err := buildkit.WalkFollowing(context.Background(), dir, excludes, n.Paths[1:])
				if err != nil {
					t.Fatal(err)
				}
				if cmp.Equal(received, regularFiles(mutated)) {
					t.Errorf("dropping %q from the narrowing went unnoticed", n.Paths[0])
				}
			}
		})
	}
}

// Narrowing without a builder: what makes it whole, and what does not.
func TestNarrowReasons(t *testing.T) {
	cases := []struct {
		name, dockerfile string
		args             map[string]string
		paths            []string // want narrowed to these
		whole            string   // else want whole, the reason containing this
	}{
		{"the Dockerfile frontend named", "# syntax=docker/dockerfile:1.9\nFROM scratch\nCOPY a /a\n", nil, []string{"a"}, ""},
		{"another frontend", "# syntax=example.com/frontends/yaml:2\nFROM scratch\nCOPY a /a\n", nil, nil, "syntax=example.com/frontends/yaml:2, a frontend other"},
		{"another frontend by build arg", "FROM scratch\nCOPY a /a\n", map[string]string{"BUILDKIT_SYNTAX": "example.com/f"}, nil, "syntax=example.com/f"},
		{"a check directive cannot hide an undefined variable", "# check=skip=UndefinedVar\nFROM scratch\nCOPY $HOME/a /a\n", nil, nil, "Dockerfile:3: COPY $HOME/a /a: "},
		{"nor a check comment on the instruction", "FROM scratch\n# check=skip=all\nCOPY ${DIR:-src}/a /a\n", nil, nil, "Dockerfile:3: COPY ${DIR:-src}/a /a: "},
		{"a variable the Dockerfile sets", "FROM scratch\nENV DIR=src\nCOPY $DIR/a /a\n", nil, []string{"src/a"}, ""},
		{"a bind mount of the whole context", "FROM scratch AS b\nRUN --mount=type=bind,target=/src [\"/x\"]\nFROM b\n", nil, nil, "Dockerfile:2: RUN --mount=type=bind,target=/src"},
		{"a stage the target does not reach", "FROM scratch AS other\nCOPY . /\nFROM scratch\nCOPY a /a\n", nil, []string{"a"}, ""},
		{"a Dockerfile that does not parse", "FROM scratch\nCOPY --bogus=1 a /a\n", nil, nil, "Dockerfile: "},
		{"a target that does not exist", "FROM scratch AS a\nCOPY a /a\n", map[string]string{}, nil, "Dockerfile: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			scope := &buildctx.Scope{Dockerfile: "Dockerfile", Content: []byte(tc.dockerfile), Args: tc.args}
			if tc.name == "a target that does not exist" {
				scope.Target = "nope"
			}
			n := buildkit.Narrow(context.Background(), scope)
			if tc.whole != "" {
				if !n.Whole || !strings.Contains(n.Reason, tc.whole) {
					t.Errorf("narrowing = %+v, want whole with %q", n, tc.whole)
				}
				return
			}
			if n.Whole || !slices.Equal(n.Paths, tc.paths) {
				t.Errorf("narrowing = %+v, want paths %q", n, tc.paths)
			}
		})
	}
}
