package goinput_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/goinput"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// A module layout with each kind of file a `go:` input must follow: a
// dependency package, a package embedding a git-ignored directory, a test
// file, a file only a build tag brings in (and a package only it
// imports), a cgo package with its header, a module replaced by a
// directory, and a package nothing imports.
var layout = map[string]string{
	"go.mod": "module example.com/app\n\ngo 1.22\n\nrequire example.com/lib v0.0.0\n\nreplace example.com/lib => ./lib\n",
	"cmd/server/main.go": `package main

import (
	"fmt"

	"example.com/app/internal/core"
	"example.com/app/internal/native"
	"example.com/app/web"
	"example.com/lib"
)

var version = "dev"

func main() { fmt.Println(core.Name(), lib.Name(), native.Answer(), web.Static, version) }
`,
	"internal/core/core.go":      "package core\n\nfunc Name() string { return \"core\" }\n",
	"internal/core/core_test.go": "package core\n\nimport \"testing\"\n\nfunc TestName(t *testing.T) {}\n",
	"internal/core/tagged.go":    "//go:build extra\n\npackage core\n\nimport _ \"example.com/app/internal/extra\"\n",
	"internal/extra/extra.go":    "package extra\n\nvar Extra = 1\n",
	"internal/native/native.go":  "package native\n\n// #include \"native.h\"\nimport \"C\"\n\nfunc Answer() int { return int(C.answer()) }\n",
	"internal/native/native.h":   "static int answer(void) { return 42; }\n",
	"web/web.go":                 "package web\n\nimport \"embed\"\n\n//go:embed all:static\nvar Static embed.FS\n",
	"web/static/index.html":      "<p>hello</p>\n",
	".gitignore":                 "web/static/\n",
	"lib/go.mod":                 "module example.com/lib\n\ngo 1.22\n",
	"lib/lib.go":                 "package lib\n\nfunc Name() string { return \"lib\" }\n",
	"unrelated/notes.go":         "package unrelated\n",
}

// project is one module tree and how the go command runs in it.
type project struct {
	t     *testing.T
	root  string
	kept  string // where the kept resolutions live across "runs"
	env   map[string]string
	stamp int64 // a fake, increasing mtime for each edit
}

func newProject(t *testing.T, files map[string]string) *project {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal("the go command is needed:", err)
	}
	p := &project{t: t, root: t.TempDir(), kept: t.TempDir(), stamp: time.Now().Add(-time.Hour).Unix()}
	home := t.TempDir()
	p.env = map[string]string{"PATH": os.Getenv("PATH"), "HOME": home, "GOFLAGS": "-mod=mod",
		"GOCACHE": goEnv(t, "GOCACHE"), "GOMODCACHE": goEnv(t, "GOMODCACHE"), "GOPROXY": "off", "GOTOOLCHAIN": "local"}
	for path, content := range files {
		p.write(path, content)
	}
	return p
}

func goEnv(t *testing.T, name string) string {
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// write writes a file and gives it (and, for a new file, its directory)
// a new mtime, so a stat can tell the edit from what was there (as a real
// edit seconds apart would; the test's edits come faster than the clock's
// granularity). An edit to a file that exists leaves its directory alone,
// as an editor writing in place does.
func (p *project) write(path, content string) {
	abs := filepath.Join(p.root, path)
	_, err := os.Stat(abs)
	existed := err == nil
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(abs, []byte(content), 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.touch(path)
	if !existed {
		for d := filepath.Dir(path); d != "."; d = filepath.Dir(d) {
			p.touch(d)
		}
		p.touch(".")
	}
}

func (p *project) touch(path string) {
	p.stamp++
	at := time.Unix(p.stamp, 0)
	if err := os.Chtimes(filepath.Join(p.root, path), at, at); err != nil {
		p.t.Fatal(err)
	}
}

func (p *project) environ() []string {
	var out []string
	for k, v := range p.env {
		out = append(out, k+"="+v)
	}
	return out
}

// key is the job's key, computed twice: with the resolution kept from
// earlier keys (as a later run uses it) and with a fresh `go list`; the
// two must agree.
func (p *project) key(in plan.GoInput) (cache.Key, *cache.Computed) {
	p.t.Helper()
	var keys [2]cache.Key
	var comp *cache.Computed
	for i, dir := range []string{p.kept, ""} {
		pl, err := plan.New("t", []plan.Job{{ID: "server", Run: "go build -o bin/server ./cmd/server",
			GoInputs: []plan.GoInput{in}, Outputs: []string{"bin/server"}}})
		if err != nil {
			p.t.Fatal(err)
		}
		later := func() time.Time { return time.Now().Add(time.Hour) } // every edit here is settled
		c := &cache.Cache{Root: p.root, Tree: fileset.NewTree(p.root), Hasher: fileset.NewHasher(p.root, ""),
			Env:    func(n string) (string, bool) { v, ok := p.env[n]; return v, ok },
			JobEnv: func(plan.Job) []string { return p.environ() },
			Go:     &goinput.Resolver{Root: p.root, Dir: dir, Clock: later}}
		comp, err = c.Compute(context.Background(), pl.Jobs[0], nil)
		if err != nil {
			p.t.Fatal(err)
		}
		keys[i] = comp.Key
	}
	if keys[0] != keys[1] {
		p.t.Fatalf("the kept resolution gives another key than a fresh go list:\n%s", comp.Manifest)
	}
	return keys[0], comp
}

// buildID builds the server as the job would and returns the go
// command's build ID of the binary: what changes exactly when the go
// command would build something else.
func (p *project) buildID() string {
	p.t.Helper()
	bin := filepath.Join(p.t.TempDir(), "server")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/server")
	cmd.Dir, cmd.Env = p.root, p.environ()
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command("go", "tool", "buildid", bin).Output()
	if err != nil {
		p.t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// TestTheKeyChangesExactlyWhenTheBuildDoes edits a real module one kind
// of change at a time and compares the job's key with the go command's
// build ID of the binary it makes: each changes exactly when the other
// does. A key that stayed while the build ID changed would be a wrong
// hit, the worst bug a cache can have.
func TestTheKeyChangesExactlyWhenTheBuildDoes(t *testing.T) {
	p := newProject(t, layout)
	in := plan.GoInput{Packages: []string{"./cmd/server"}}
	key, _ := p.key(in)
	id := p.buildID()
	for _, step := range []struct {
		name    string
		edit    func()
		changes bool // the build (and so the key) changes
	}{
		{"a dependency package edited", func() { p.write("internal/core/core.go", "package core\n\nfunc Name() string { return \"core2\" }\n") }, true},
		{"an embedded, git-ignored file edited", func() { p.write("web/static/index.html", "<p>hello, world</p>\n") }, true},
		{"an embedded file added", func() { p.write("web/static/app/app.js", "let x = 1\n") }, true},
		{"a test file edited", func() {
			p.write("internal/core/core_test.go", "package core\n\nimport \"testing\"\n\nfunc TestName(t *testing.T) { t.Log(1) }\n")
		}, false},
		{"a package nothing imports edited", func() { p.write("unrelated/notes.go", "package unrelated\n\nvar N = 2\n") }, false},
		{"a package added that nothing imports yet", func() { p.write("internal/fresh/fresh.go", "package fresh\n\nfunc F() int { return 1 }\n") }, false},
		{"an import added that pulls that package in", func() {
			p.write("internal/core/core.go", "package core\n\nimport \"example.com/app/internal/fresh\"\n\nfunc Name() string { _ = fresh.F(); return \"core2\" }\n")
		}, true},
		{"the newly imported package edited", func() { p.write("internal/fresh/fresh.go", "package fresh\n\nfunc F() int { return 2 }\n") }, true},
		{"a cgo header edited", func() { p.write("internal/native/native.h", "static int answer(void) { return 43; }\n") }, true},
		{"the replaced module's directory edited", func() { p.write("lib/lib.go", "package lib\n\nfunc Name() string { return \"lib2\" }\n") }, true},
		{"a build tag flipped on", func() { p.env["GOFLAGS"] = "-mod=mod -tags=extra" }, true},
		{"a package only that tag brings in edited", func() { p.write("internal/extra/extra.go", "package extra\n\nvar Extra = 2\n") }, true},
		{"GOFLAGS changed", func() { p.env["GOFLAGS"] = "-mod=mod -tags=extra -ldflags=-X=main.version=2" }, true},
		{"nothing changed", func() {}, false},
	} {
		step.edit()
		newKey, comp := p.key(in)
		newID := p.buildID()
		if built := newID != id; built != step.changes {
			t.Fatalf("%s: the build ID changed: %t, expected %t (the test's premise is wrong)", step.name, built, step.changes)
		}
		if keyed := newKey != key; keyed != step.changes {
			t.Fatalf("%s: the key changed: %t, the build ID: %t\n%s", step.name, keyed, step.changes, comp.Manifest)
		}
		key, id = newKey, newID
	}
}

// TestFilesTheBuildLeavesOutStillCount: with the build tag off, a package
// only a tagged file imports is in the key anyway, so building with the
// tag on the command line (which the key sees only as the command) can
// never restore a binary built from that package's old content.
func TestFilesTheBuildLeavesOutStillCount(t *testing.T) {
	p := newProject(t, layout)
	_, comp := p.key(plan.GoInput{Packages: []string{"./cmd/server"}})
	for _, f := range []string{"internal/core/tagged.go", "internal/extra/extra.go"} {
		if !hasInput(comp, f) {
			t.Errorf("%s is not an input:\n%s", f, comp.Manifest)
		}
	}
	for _, f := range []string{"internal/core/core_test.go", "unrelated/notes.go", "bin/server"} {
		if hasInput(comp, f) {
			t.Errorf("%s is an input:\n%s", f, comp.Manifest)
		}
	}
}

func TestTestsBringTestFilesAndTestdata(t *testing.T) {
	files := map[string]string{"internal/core/testdata/golden.txt": "x\n"}
	for k, v := range layout {
		files[k] = v
	}
	p := newProject(t, files)
	_, comp := p.key(plan.GoInput{Packages: []string{"./internal/..."}, Tests: true})
	for _, f := range []string{"internal/core/core_test.go", "internal/core/testdata/golden.txt", "internal/extra/extra.go"} {
		if !hasInput(comp, f) {
			t.Errorf("%s is not an input:\n%s", f, comp.Manifest)
		}
	}
	if hasInput(comp, "cmd/server/main.go") {
		t.Errorf("./internal/... brought in cmd/server:\n%s", comp.Manifest)
	}
	// A new package under the pattern is seen by the kept resolution.
	p.write("internal/more/more.go", "package more\n")
	if _, comp = p.key(plan.GoInput{Packages: []string{"./internal/..."}, Tests: true}); !hasInput(comp, "internal/more/more.go") {
		t.Errorf("a new package under ./internal/... is not an input:\n%s", comp.Manifest)
	}
}

// TestAWorkspaceCountsItsModules: in a go.work workspace, a module it
// uses counts by file, and go.work itself is an input.
func TestAWorkspaceCountsItsModules(t *testing.T) {
	p := newProject(t, map[string]string{
		"go.work":           "go 1.22\n\nuse (\n\t./app\n\t./lib\n)\n",
		"app/go.mod":        "module example.com/app\n\ngo 1.22\n\nrequire example.com/lib v0.0.0\n",
		"app/main.go":       "package main\n\nimport \"example.com/lib\"\n\nfunc main() { println(lib.Name()) }\n",
		"lib/go.mod":        "module example.com/lib\n\ngo 1.22\n",
		"lib/lib.go":        "package lib\n\nfunc Name() string { return \"lib\" }\n",
		"lib/lib_test.go":   "package lib\n",
		"other/go.mod":      "module example.com/other\n\ngo 1.22\n",
		"other/other.go":    "package other\n",
		"app/cmd/server/.k": "",
	})
	p.env["GOFLAGS"] = ""
	in := plan.GoInput{Packages: []string{"."}, Dir: "app"}
	key, comp := p.key(in)
	for _, f := range []string{"go.work", "app/go.mod", "app/main.go", "lib/go.mod", "lib/lib.go"} {
		if !hasInput(comp, f) {
			t.Errorf("%s is not an input:\n%s", f, comp.Manifest)
		}
	}
	p.write("lib/lib.go", "package lib\n\nfunc Name() string { return \"lib2\" }\n")
	if k, _ := p.key(in); k == key {
		t.Error("an edit to a module the workspace uses left the key as it was")
	}
}

func TestMistakesAreTheGoCommandsMessage(t *testing.T) {
	p := newProject(t, layout)
	for _, tc := range []struct {
		in   plan.GoInput
		edit func()
		want string
	}{
		{in: plan.GoInput{Packages: []string{"./cmd/nope"}}, want: "cmd/nope"},
		{in: plan.GoInput{Packages: []string{"./nothing/..."}}, want: "nothing"},
		{in: plan.GoInput{Packages: []string{"./empty/..."}}, edit: func() { p.write("empty/README", "") }, want: "matched no packages"},
		{in: plan.GoInput{Packages: []string{"./cmd/server"}, Dir: "unrelated/none"}, want: "not a directory"},
		{in: plan.GoInput{Packages: []string{"./cmd/server"}},
			edit: func() { p.write("internal/core/core.go", "package core\n\nimport \"example.com/app/internal/gone\"\n") },
			want: "internal/gone"},
		{in: plan.GoInput{Packages: []string{"./cmd/server"}},
			edit: func() { p.write("internal/core/core.go", "package core\n\nimport (\n\t\"fmt\n") }, want: "core.go"},
	} {
		if tc.edit != nil {
			tc.edit()
		}
		r := &goinput.Resolver{Root: p.root}
		_, err := r.Resolve(context.Background(), tc.in, p.environ(), nil)
		var bad *goinput.Error
		if !errors.As(err, &bad) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("{%s}: got %v, want a goinput.Error mentioning %q", tc.in, err, tc.want)
		}
	}
}

func hasInput(comp *cache.Computed, path string) bool {
	for _, f := range comp.Inputs {
		if f.Path == path {
			return true
		}
	}
	return false
}

// TestALaterResolutionSeesWhatAJobWrote: within one run, a job that needs
// another resolves its Go input after that job ran, so it must see the Go
// files it wrote even when an earlier job resolved the same input.
func TestALaterResolutionSeesWhatAJobWrote(t *testing.T) {
	p := newProject(t, layout)
	r := &goinput.Resolver{Root: p.root, Dir: p.kept, Clock: func() time.Time { return time.Now().Add(time.Hour) }}
	in := plan.GoInput{Packages: []string{"./cmd/server"}}
	first, err := r.Resolve(context.Background(), in, p.environ(), nil)
	if err != nil {
		t.Fatal(err)
	}
	p.write("internal/gen/gen.go", "package gen\n")
	p.write("internal/core/core.go", "package core\n\nimport _ \"example.com/app/internal/gen\"\n\nfunc Name() string { return \"core\" }\n")
	second, err := r.Resolve(context.Background(), in, p.environ(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(first.Files, "internal/gen/gen.go") || !slices.Contains(second.Files, "internal/gen/gen.go") {
		t.Errorf("the generated package is not an input of the later resolution: %q", second.Files)
	}
}

func TestHeadIsWhatTheListingReads(t *testing.T) {
	base := "//go:build linux\n\n// Package a does things.\npackage a\n\n// #include <stdio.h>\nimport \"C\"\n\nimport \"fmt\"\n\n//go:embed static\nvar s string\n\nfunc F() { fmt.Println(1) }\n"
	want, ok := goinput.Head([]byte(base))
	if !ok {
		t.Fatal("the base file does not parse")
	}
	for _, tc := range []struct {
		name, from, to string
		same           bool
	}{
		{"a body edit", "Println(1)", "Println(2)", true},
		{"a comment after the imports", "func F()", "// F prints.\nfunc F()", true},
		{"an import added", "import \"fmt\"", "import (\n\t\"fmt\"\n\t\"os\"\n)\nvar _ = os.Args", false},
		{"a build constraint", "linux", "darwin", false},
		{"the package clause", "package a", "package b", false},
		{"the cgo preamble", "stdio.h", "stdlib.h", false},
		{"an embed pattern", "//go:embed static", "//go:embed static other", false},
	} {
		got, ok := goinput.Head([]byte(strings.Replace(base, tc.from, tc.to, 1)))
		if !ok || (got == want) != tc.same {
			t.Errorf("%s: same head %t, want %t (parsed: %t)", tc.name, got == want, tc.same, ok)
		}
	}
	if _, ok := goinput.Head([]byte("package a\n\nimport (\n\t\"fmt\n")); ok {
		t.Error("a file whose imports do not parse has a head")
	}
}

// TestAReplaceOutsideTheProjectCounts: a module replaced by a directory
// beside the project (../lib) counts by file, named by its path from the
// project root.
func TestAReplaceOutsideTheProjectCounts(t *testing.T) {
	p := newProject(t, map[string]string{
		"app/go.mod":  "module example.com/app\n\ngo 1.22\n\nrequire example.com/lib v0.0.0\n\nreplace example.com/lib => ../lib\n",
		"app/main.go": "package main\n\nimport \"example.com/lib\"\n\nfunc main() { println(lib.Name()) }\n",
		"lib/go.mod":  "module example.com/lib\n\ngo 1.22\n",
		"lib/lib.go":  "package lib\n\nfunc Name() string { return \"lib\" }\n",
	})
	p.root = filepath.Join(p.root, "app") // the project is app/; lib/ is beside it
	in := plan.GoInput{Packages: []string{"."}}
	key, comp := p.key(in)
	if !hasInput(comp, "../lib/lib.go") || !hasInput(comp, "../lib/go.mod") {
		t.Fatalf("the replaced directory's files are not inputs:\n%s", comp.Manifest)
	}
	p.root = filepath.Dir(p.root)
	p.write("lib/lib.go", "package lib\n\nfunc Name() string { return \"lib2\" }\n")
	p.root = filepath.Join(p.root, "app")
	if k, _ := p.key(in); k == key {
		t.Error("an edit to the replaced directory left the key as it was")
	}
}

// FuzzHead: any file content: no panic, the same head twice, and a head
// only for what parses.
func FuzzHead(f *testing.F) {
	f.Add([]byte("//go:build linux\n\npackage a\n\nimport \"C\"\n\nimport (\n\t\"fmt\"\n)\n\n//go:embed x\nvar s string\n"))
	f.Add([]byte("package a\n"))
	f.Add([]byte("package"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d1, ok1 := goinput.Head(data)
		d2, ok2 := goinput.Head(data)
		if d1 != d2 || ok1 != ok2 {
			t.Fatalf("two heads of one file: %q %t, %q %t", d1, ok1, d2, ok2)
		}
		if !ok1 && d1 != "" {
			t.Fatalf("a head %q for a file that does not parse", d1)
		}
	})
}

// TestRacilyCleanFilesAreCheckedByContent: files written just before a
// listing (as in sparkwing dev, where every run follows an edit) keep the
// resolution, with their stat unknown: the next resolution reads their
// heads instead of running go list again. A body edit then costs no go
// list; an edit that adds an import does, and is seen.
func TestRacilyCleanFilesAreCheckedByContent(t *testing.T) {
	p := newProject(t, layout)
	lists := countLists(t, p)
	// The clock is the last edit's time: what was just written is too
	// recent to trust. Each resolution follows an edit, as in sparkwing
	// dev; the first follows the writing of the whole module.
	r := &goinput.Resolver{Root: p.root, Dir: p.kept, Clock: func() time.Time { return time.Unix(p.stamp, 0) }}
	in := plan.GoInput{Packages: []string{"./cmd/server"}}
	first, err := r.Resolve(context.Background(), in, p.environ(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if first.Racy == "" || lists() == 0 {
		t.Fatalf("racy = %q after %d listings; want a racy resolution from a listing", first.Racy, lists())
	}
	p.stamp += 3600 // an hour later, the module has settled
	var before int
	for i, body := range []string{"edited", "edited again", "edited once more"} {
		p.write("internal/core/core.go", "package core\n\nfunc Name() string { return \""+body+"\" }\n")
		before = lists()
		again, err := r.Resolve(context.Background(), in, p.environ(), nil)
		if err != nil {
			t.Fatal(err)
		}
		// The first edit's resolution lists again (every path was racy);
		// after it, only the edited file is, and its head is read instead.
		if again.Racy != "internal/core/core.go" || (i > 0 && lists() != before) || !slices.Equal(first.Files, again.Files) {
			t.Errorf("body edit %d: racy %q, %d more listings, files %q", i+1, again.Racy, lists()-before, again.Files)
		}
	}
	p.write("internal/gen/gen.go", "package gen\n")
	p.write("internal/core/core.go", "package core\n\nimport _ \"example.com/app/internal/gen\"\n\nfunc Name() string { return \"core\" }\n")
	third, err := r.Resolve(context.Background(), in, p.environ(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if lists() == before || !slices.Contains(third.Files, "internal/gen/gen.go") {
		t.Errorf("an added import: %d more listings, files %q", lists()-before, third.Files)
	}
}

// TestASaveThroughARenameIsABodyEdit: an editor (or sed -i) that saves a
// file by renaming a new one over it changes the directory too. Once a
// listing has seen the directory's names, such a save costs no go list;
// a file added to the directory, removed from it or renamed does, and is
// seen.
func TestASaveThroughARenameIsABodyEdit(t *testing.T) {
	p := newProject(t, layout)
	lists := countLists(t, p)
	resolve := serverResolver(t, p)
	save := func(path, content string) { // as sed -i does
		tmp := filepath.Join(p.root, filepath.Dir(path), "sedXYZ")
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(p.root, path)); err != nil {
			t.Fatal(err)
		}
		p.touch(path)
		p.touch(filepath.Dir(path))
	}
	first := resolve()
	p.stamp += 3600
	for i := range 4 {
		before := lists()
		save("internal/core/core.go", fmt.Sprintf("package core\n\nfunc Name() string { return \"edit %d\" }\n", i))
		again := resolve()
		// The first two list: the directory's names are not known until
		// one listing finds them the same before and after it.
		if (i >= 2 && lists() != before) || !slices.Equal(first.Files, again.Files) {
			t.Errorf("save %d: %d more listings, files %q", i+1, lists()-before, again.Files)
		}
	}
	before := lists()
	p.write("internal/core/more.go", "package core\n\nfunc More() int { return 1 }\n")
	if got := resolve(); lists() == before || !slices.Contains(got.Files, "internal/core/more.go") {
		t.Errorf("a file added: %d more listings, files %q", lists()-before, got.Files)
	}
	resolve() // its names known from here on
	before = lists()
	if err := os.Rename(filepath.Join(p.root, "internal/core/more.go"), filepath.Join(p.root, "internal/core/most.go")); err != nil {
		t.Fatal(err)
	}
	p.touch("internal/core")
	if got := resolve(); lists() == before || !slices.Contains(got.Files, "internal/core/most.go") || slices.Contains(got.Files, "internal/core/more.go") {
		t.Errorf("a file renamed: %d more listings, files %q", lists()-before, got.Files)
	}
	resolve()
	before = lists()
	os.Remove(filepath.Join(p.root, "internal/core/most.go"))
	p.touch("internal/core")
	if got := resolve(); lists() == before || slices.Contains(got.Files, "internal/core/most.go") {
		t.Errorf("a file removed: %d more listings, files %q", lists()-before, got.Files)
	}
}

// countLists puts a go command that counts its listings first on the
// project's PATH, and returns the count so far.
func countLists(t *testing.T, p *project) func() int {
	bin, log := t.TempDir(), filepath.Join(t.TempDir(), "go.log")
	real, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	wrapper := fmt.Sprintf("#!/bin/sh\n[ \"$1\" = list ] && echo list >> %s\nexec %s \"$@\"\n", log, real)
	if err := os.WriteFile(filepath.Join(bin, "go"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	p.env["PATH"] = bin + string(os.PathListSeparator) + p.env["PATH"]
	return func() int {
		data, _ := os.ReadFile(log)
		return strings.Count(string(data), "list\n")
	}
}

// TestAFileAddedDuringAListingIsSeen: a file that appears in a package
// directory while go list runs (after it read the directory) is not in
// that listing, so the directory's names from after it must not vouch
// for it: the next resolution lists again and finds the file.
func TestAFileAddedDuringAListingIsSeen(t *testing.T) {
	p := newProject(t, layout)
	bin := t.TempDir()
	real, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	p.env["PATH"] = bin + string(os.PathListSeparator) + p.env["PATH"]
	late := filepath.Join(p.root, "internal/core/late.go")
	// With a time in the file flag, the go command on PATH adds late.go
	// after its next listing, at that time (when the listing started).
	flag := filepath.Join(t.TempDir(), "flag")
	script := fmt.Sprintf("#!/bin/sh\n%s \"$@\" || exit\n[ \"$1\" = list ] && [ -e %s ] || exit 0\n"+
		"at=$(cat %s); rm %s; printf 'package core\\n' > %s && touch -d @$at %s %s\n", real, flag, flag, flag, late, late, filepath.Dir(late))
	if err := os.WriteFile(filepath.Join(bin, "go"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	addAfterList := func() { os.WriteFile(flag, fmt.Appendf(nil, "%d", p.stamp), 0o644) }
	resolve := serverResolver(t, p)
	resolve()
	p.stamp += 3600
	p.write("internal/core/core.go", "package core\n\nfunc Name() string { return \"one\" }\n")
	p.touch("internal/core")
	addAfterList()
	if got := resolve(); slices.Contains(got.Files, "internal/core/late.go") {
		t.Fatal("the listing already has the file added after it")
	}
	if _, err := os.Stat(late); err != nil {
		t.Fatalf("the go command did not add the file: %v", err)
	}
	if got := resolve(); !slices.Contains(got.Files, "internal/core/late.go") {
		t.Errorf("a file added during the last listing is not seen: files %q", got.Files)
	}
}

// serverResolver resolves ./cmd/server's go input in p, keeping its
// listings, on a clock at p's latest edit.
func serverResolver(t *testing.T, p *project) func() *goinput.Resolution {
	r := &goinput.Resolver{Root: p.root, Dir: p.kept, Clock: func() time.Time { return time.Unix(p.stamp, 0) }}
	in := plan.GoInput{Packages: []string{"./cmd/server"}}
	return func() *goinput.Resolution {
		t.Helper()
		res, err := r.Resolve(context.Background(), in, p.environ(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
}
