package gobuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		run  string
		ok   bool
		env  []string
		args []string
	}{
		{run: "go build -o bin/server ./cmd/server", ok: true, args: []string{"-o", "bin/server", "./cmd/server"}},
		{run: "CGO_ENABLED=0 go build -trimpath -ldflags=-buildid= -o dist/server ./cmd/server # no build ID", ok: true,
			env: []string{"CGO_ENABLED=0"}, args: []string{"-trimpath", "-ldflags=-buildid=", "-o", "dist/server", "./cmd/server"}},
		{run: "  go build .\n", ok: true, args: []string{"."}},
		{run: "go build -buildmode=exe .", ok: true, args: []string{"-buildmode=exe", "."}},
		{run: "go test ./..."},
		{run: "go build ./a && go build ./b"},
		{run: "go build -o \"bin/my server\" ."},
		{run: "go build -ldflags '-X main.v=1' ."},
		{run: "go build -o $OUT ."},
		{run: "go build -n ."},
		{run: "go build -toolexec=echo ."},
		{run: "go build -overlay=o.json ."},
		{run: "go build -C sub ."},
		{run: "go build -buildmode=plugin ."},
		{run: "go build -work ."},
		{run: "go build\ngo vet"},
		{run: "gofmt build ."},
		{run: "1X=2 go build ."},
		{run: "PATH=/opt/go/bin go build ."},
		{run: "go"},
	} {
		c, ok := Parse(tc.run)
		if ok != tc.ok || !slices.Equal(c.Env, tc.env) || !slices.Equal(c.Args, tc.args) {
			t.Errorf("Parse(%q) = %q %q %v, want %q %q %v", tc.run, c.Env, c.Args, ok, tc.env, tc.args, tc.ok)
		}
	}
}

func TestCoveredBy(t *testing.T) {
	for _, tc := range []struct {
		run      string
		patterns []string
		want     bool
	}{
		{"go build -o bin/server ./cmd/server", []string{"./cmd/server"}, true},
		{"go build -o bin/server ./cmd/server", []string{"./..."}, true},
		{"go build -o bin/server -tags netgo ./cmd/server", []string{"./cmd/server"}, true},
		{"go build -o ./cmd/server ./cmd/other", []string{"./cmd/server"}, false}, // -o's value is not a package
		{"go build -o bin/m", []string{"."}, true},
		{"go build -trimpath -o bin/m . ./b", []string{"."}, false},
		{"go build ./cmd/server", nil, false}, // globs only
	} {
		c, ok := Parse(tc.run)
		if !ok {
			t.Fatalf("Parse(%q) refused it", tc.run)
		}
		if got := c.CoveredBy(tc.patterns); got != tc.want {
			t.Errorf("%q covered by %q: %v, want %v (packages %q)", tc.run, tc.patterns, got, tc.want, c.Packages())
		}
	}
}

// join quotes as the go command prints its commands.
func join(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if q := strconv.Quote(a); a == "" || strings.ContainsAny(a, " ()>;") || len(q) > len(a)+2 {
			b.WriteString(q)
		} else {
			b.WriteString(a)
		}
	}
	return b.String()
}

func TestSplitCmd(t *testing.T) {
	argv := []string{"/go/pkg/tool/linux_amd64/compile", "-o", "/w/b002/_pkg_.a", "-trimpath", "/w/b002=>",
		"-p", "example.com/m/a", "-D", "", "-importcfg", "/w/b002/importcfg", "-pack", "/src/a b/a.go", "tab\there"}
	if got := splitCmd(join(argv)); !slices.Equal(got, argv) {
		t.Fatalf("splitCmd(join(%q)) = %q", argv, got)
	}
	for _, bad := range []string{`"unterminated`, `"a"b`} {
		if got := splitCmd(bad); got != nil {
			t.Errorf("splitCmd(%q) = %q, want nil", bad, got)
		}
	}
}

func FuzzSplitCmd(f *testing.F) {
	f.Add("compile -o x \"a b\" -trimpath \"$WORK/b001=>\"")
	f.Add(`"\x00" "" z`)
	f.Fuzz(func(t *testing.T, line string) {
		argv := splitCmd(line)
		if argv == nil {
			return
		}
		if again := splitCmd(join(argv)); !slices.Equal(again, argv) {
			t.Fatalf("splitCmd(join(%q)) = %q", argv, again)
		}
	})
}

func FuzzParse(f *testing.F) {
	f.Add("CGO_ENABLED=0 go build -o bin/x ./cmd/x # a comment")
	f.Add("go build -toolexec=x .")
	f.Fuzz(func(t *testing.T, run string) {
		c, ok := Parse(run)
		if !ok {
			return
		}
		for _, a := range c.Args {
			if strings.ContainsAny(a, "\"'$`;&|<>\n") {
				t.Fatalf("Parse(%q) took %q", run, a)
			}
		}
	})
}

func FuzzExportData(f *testing.F) {
	f.Add([]byte("!<arch>\n__.PKGDEF       0           0     0     644     4         `\ngo o"))
	f.Add([]byte("!<arch>\n__.PKGDEF       0           0     0     644     30        `\ngo o\nbuild id \"x\"\n\n$$B\nzz"))
	f.Add([]byte("!<arch>\nx"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := archiveExport(data)
		if err == nil && (len(got) > len(data) || !bytes.Equal(withoutBuildID(got), got)) {
			t.Fatalf("export data %q: longer than the archive, or with a build ID line", got)
		}
	})
}

// A module of three packages: main imports b, which imports a.
var module = map[string]string{
	"go.mod": "module example.com/m\n\ngo 1.22\n",
	"a/a.go": `package a

// Word is inlined into b: its body is in a's export data.
func Word() string { return "one" }

//go:noinline
func Tail() string { return "-tail" }
`,
	"b/b.go": `package b

import "example.com/m/a"

func Say() string { return "b says " + a.Word() + a.Tail() }
`,
	"main.go": `package main

import (
	"fmt"
	"os"
	"runtime"

	"example.com/m/b"
)

func main() {
	fmt.Println(b.Say())
	if len(os.Args) > 1 {
		fmt.Println(runtime.GOROOT()) // the linker's default, which -trimpath leaves out
	}
}
`,
}

type fixture struct {
	t   *testing.T
	cmd string // the job's command; "go build -o bin/m ." if empty
	dir string
	b   *Builder
	log bytes.Buffer
}

func newFixture(t *testing.T) *fixture {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	f := &fixture{t: t, dir: t.TempDir()}
	for name, text := range module {
		f.write(name, text)
	}
	f.b = New(filepath.Join(f.dir, ".sparkwing", "state", "go-builds"))
	t.Cleanup(f.b.Close)
	return f
}

func (f *fixture) write(name, text string) {
	p := filepath.Join(f.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) edit(name, from, to string) {
	data, err := os.ReadFile(filepath.Join(f.dir, name))
	if err != nil || !bytes.Contains(data, []byte(from)) {
		f.t.Fatalf("%s has no %q (%v)", name, from, err)
	}
	f.write(name, strings.Replace(string(data), from, to, 1))
}

// manifest stands for the job's cache manifest: its command and one line
// per file of the module.
func (f *fixture) manifest() string {
	var b strings.Builder
	fmt.Fprintf(&b, "run %q\n", f.command())
	filepath.WalkDir(f.dir, func(p string, d fs.DirEntry, err error) error {
		if d.IsDir() && d.Name() == ".sparkwing" || d.IsDir() && d.Name() == "bin" {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			data, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(f.dir, p)
			fmt.Fprintf(&b, "file %q %x\n", filepath.ToSlash(rel), sha256.Sum256(data))
		}
		return nil
	})
	return b.String()
}

func (f *fixture) command() string {
	if f.cmd == "" {
		return "go build -o bin/m ."
	}
	return f.cmd
}

// build builds the module's binary through the builder and returns what
// it prints and whether it was replayed (as the job's log says).
func (f *fixture) build() (string, bool) {
	f.t.Helper()
	f.log.Reset()
	c, _ := Parse(f.command())
	err := f.b.Build(context.Background(), Job{ID: "m", Dir: f.dir, Command: c, Env: os.Environ(),
		Manifest: f.manifest(), Out: &f.log,
		Exec: func(ctx context.Context, cmd *exec.Cmd, out io.Writer) error {
			cmd.Stdout, cmd.Stderr = out, out
			return cmd.Run()
		}})
	if err != nil {
		f.t.Fatalf("build: %v\n%s", err, f.log.String())
	}
	replayed := strings.Contains(f.log.String(), "sparkwing: rebuilt without the go command")
	out, err := exec.Command(filepath.Join(f.dir, "bin", "m")).CombinedOutput()
	if err != nil {
		f.t.Fatalf("bin/m: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out)), replayed
}

// want builds the module with the go command alone, to another name, and
// checks that its binary prints what got did.
func (f *fixture) want(got string) {
	f.t.Helper()
	cmd := exec.Command("go", "build", "-o", "bin/plain", ".")
	cmd.Dir = f.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		f.t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(filepath.Join(f.dir, "bin", "plain")).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != got {
		f.t.Fatalf("the go command's binary prints %q (%v), the builder's %q", out, err, got)
	}
}

func TestReplayBuildsWhatTheGoCommandWould(t *testing.T) {
	f := newFixture(t)
	if got, replayed := f.build(); got != "b says one-tail" || replayed {
		t.Fatalf("first build: %q, replayed %v", got, replayed)
	}

	// A body that is not inlined: a alone is compiled again.
	f.edit("a/a.go", `"-tail"`, `"-end"`)
	got, replayed := f.build()
	if !replayed || got != "b says one-end" {
		t.Fatalf("after a body edit: %q, replayed %v\n%s", got, replayed, f.log.String())
	}
	if want := "compiled example.com/m/a; linked"; !strings.Contains(f.log.String(), want) {
		t.Errorf("log %q does not say %q", f.log.String(), want)
	}
	f.want(got)

	// An inlined body is export data: b is compiled again (and main, which
	// inlines b.Say).
	f.edit("a/a.go", `"one"`, `"two"`)
	got, replayed = f.build()
	if !replayed || got != "b says two-end" {
		t.Fatalf("after an inlined body edit: %q, replayed %v\n%s", got, replayed, f.log.String())
	}
	if want := "compiled example.com/m/a, example.com/m/b"; !strings.Contains(f.log.String(), want) {
		t.Errorf("log %q does not say %q", f.log.String(), want)
	}
	f.want(got)

	// The main package.
	f.edit("main.go", `fmt.Println(b.Say())`, `fmt.Println(b.Say() + "!")`)
	if got, replayed = f.build(); !replayed || got != "b says two-end!" {
		t.Fatalf("after a main edit: %q, replayed %v\n%s", got, replayed, f.log.String())
	}
	f.want(got)
}

func TestWhatTheRecordCannotReplay(t *testing.T) {
	f := newFixture(t)
	f.build()
	for i, tc := range []struct {
		name string
		do   func()
		want string
	}{
		{"a new import", func() {
			f.edit("a/a.go", "package a\n", "package a\n\nimport \"strings\"\n\nvar _ = strings.ToUpper\n")
		}, "b says one-tail"},
		{"a new file", func() { f.write("a/more.go", "package a\n\nfunc More() string { return \"more\" }\n") }, "b says one-tail"},
		{"a build constraint", func() { f.write("a/more.go", "//go:build ignore\n\npackage a\n\nfunc More() {}\n") }, "b says one-tail"},
		{"go.mod", func() { f.edit("go.mod", "go 1.22", "go 1.23") }, "b says one-tail"},
		{"a compile error, then its fix", func() { f.edit("a/a.go", `return "one"`, `return one`) }, ""},
	} {
		tc.do()
		if tc.want == "" {
			c, _ := Parse("go build -o bin/m .")
			err := f.b.Build(context.Background(), Job{ID: "m", Dir: f.dir, Command: c, Env: os.Environ(),
				Manifest: f.manifest(), Out: &f.log, Exec: func(ctx context.Context, cmd *exec.Cmd, out io.Writer) error {
					cmd.Stdout, cmd.Stderr = out, out
					return cmd.Run()
				}})
			if err == nil || !strings.Contains(f.log.String(), "undefined: one") {
				t.Fatalf("%s: err %v, log:\n%s", tc.name, err, f.log.String())
			}
			f.edit("a/a.go", `return one`, `return "one"`)
			tc.want = "b says one-tail"
		}
		got, replayed := f.build()
		if replayed || got != tc.want {
			t.Fatalf("%s: %q, replayed %v\n%s", tc.name, got, replayed, f.log.String())
		}
		// Recorded again: body edits replay. (The first may not: the go
		// command may have taken a from its cache, then the record has no
		// compile of it.)
		for n := range 2 {
			to := fmt.Sprintf("-%d.%d", i, n) // not in the go command's cache
			f.edit("a/a.go", `"-tail"`, `"`+to+`"`)
			got, replayed := f.build()
			if got != strings.Replace(tc.want, "-tail", to, 1) || n == 1 && !replayed {
				t.Fatalf("%s, then a body edit: %q, replayed %v\n%s", tc.name, got, replayed, f.log.String())
			}
			f.edit("a/a.go", `"`+to+`"`, `"-tail"`)
		}
		f.build()
	}
}

// An importer the record did not compile cannot be compiled again: the
// go command builds.
func TestAnImporterNotInTheRecord(t *testing.T) {
	f := newFixture(t)
	f.build()
	f.b.mu.Lock()
	delete(f.b.recs["m"].steps, "example.com/m/b")
	f.b.mu.Unlock()
	f.edit("a/a.go", `"-tail"`, `"-end"`) // a's export data stays: b need not be compiled
	if got, replayed := f.build(); !replayed || got != "b says one-end" {
		t.Fatalf("a body edit: %q, replayed %v", got, replayed)
	}
	f.b.mu.Lock()
	delete(f.b.recs["m"].steps, "example.com/m/b")
	f.b.mu.Unlock()
	f.edit("a/a.go", `"one"`, `"two"`) // an inlined body: b must be
	if got, replayed := f.build(); replayed || got != "b says two-end" {
		t.Fatalf("an inlined body edit: %q, replayed %v\n%s", got, replayed, f.log.String())
	}
}

func TestCloseRemovesTheRecords(t *testing.T) {
	f := newFixture(t)
	f.build()
	root := filepath.Join(f.dir, ".sparkwing", "state", "go-builds")
	if entries, _ := os.ReadDir(root); len(entries) != 1 {
		t.Fatalf("%s holds %d entries, want this process's directory", root, len(entries))
	}
	f.b.Close()
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Fatalf("%s holds %v after Close", root, entries)
	}
}

// A replay compares the next build with what it compiled, not with the
// record's build: a package edited back as it was then is compiled again.
func TestAnEditUndoneAfterAReplay(t *testing.T) {
	f := newFixture(t)
	f.build()
	f.edit("a/a.go", `"-tail"`, `"-end"`)
	if got, replayed := f.build(); !replayed || got != "b says one-end" {
		t.Fatalf("a body edit: %q, replayed %v", got, replayed)
	}
	f.edit("a/a.go", `"-end"`, `"-tail"`)
	f.edit("main.go", `fmt.Println(b.Say())`, `fmt.Println(b.Say() + "!")`)
	if got, replayed := f.build(); !replayed || got != "b says one-tail!" {
		t.Fatalf("a undone, main edited: %q, replayed %v\n%s", got, replayed, f.log.String())
	}
	f.want("b says one-tail!")
}

// Without build IDs, a replayed binary is the go command's, byte for byte:
// an edit that changes no code changes no byte, as with the go command.
func TestAReplayedBinaryIsTheGoCommands(t *testing.T) {
	f := newFixture(t)
	f.cmd = "go build -trimpath -ldflags=-buildid= -o bin/m ."
	f.edit("a/a.go", `"-tail"`, fmt.Sprintf(`"-%d"`, os.Getpid())) // new to the go command's cache: compiled, recorded
	f.build()
	before, _ := os.ReadFile(filepath.Join(f.dir, "bin", "m"))
	src, _ := os.ReadFile(filepath.Join(f.dir, "a", "a.go"))
	f.write("a/a.go", string(src)+"\n// a comment, after the code: no line moves\n")
	if _, replayed := f.build(); !replayed {
		t.Fatalf("a comment: not replayed\n%s", f.log.String())
	}
	after, _ := os.ReadFile(filepath.Join(f.dir, "bin", "m"))
	plain := exec.Command("go", "build", "-trimpath", "-ldflags=-buildid=", "-o", "bin/plain", ".")
	plain.Dir = f.dir
	if out, err := plain.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	want, _ := os.ReadFile(filepath.Join(f.dir, "bin", "plain"))
	if !bytes.Equal(after, want) || !bytes.Equal(before, want) {
		t.Fatalf("binaries differ: before the comment %d bytes, replayed %d, the go command's %d (equal: %v, %v)",
			len(before), len(after), len(want), bytes.Equal(before, want), bytes.Equal(after, want))
	}
}

// A go command without -debug-actiongraph (a stand-in script for a future
// toolchain that dropped the debug flag: this one has it) builds as the
// job says, every time, and is not asked again.
func TestAGoCommandWithoutTheActionGraph(t *testing.T) {
	f := newFixture(t)
	real, _ := exec.LookPath("go")
	bin := t.TempDir()
	script := "#!/bin/sh\necho \"$*\" >> " + filepath.Join(bin, "calls") + "\n" +
		"case \"$*\" in *-debug-actiongraph*) echo 'flag provided but not defined: -debug-actiongraph' >&2; exit 2;; esac\n" +
		"exec " + real + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "go"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	if got, replayed := f.build(); got != "b says one-tail" || replayed {
		t.Fatalf("first build: %q, replayed %v\n%s", got, replayed, f.log.String())
	}
	if strings.Contains(f.log.String(), "flag provided") {
		t.Errorf("the job's log shows the refused flag: %q", f.log.String())
	}
	f.edit("a/a.go", `"-tail"`, `"-end"`)
	if got, replayed := f.build(); got != "b says one-end" || replayed {
		t.Fatalf("second build: %q, replayed %v", got, replayed)
	}
	calls, _ := os.ReadFile(filepath.Join(bin, "calls"))
	if n := strings.Count(string(calls), "-debug-actiongraph"); n != 1 {
		t.Fatalf("asked for the action graph %d times, want once:\n%s", n, calls)
	}
}
