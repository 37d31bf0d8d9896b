package pipeline

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		abs := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(abs), 0o755)
		if err := os.WriteFile(abs, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const goMod = "module example.com/pipelines\n\ngo 1.22\n"

// TestSourceDigestCoversWhatGoReads: an edit the go command would see in
// the program changes its key, through a symlinked source file, a
// symlinked directory, or a module the go.mod replaces with a directory
// outside .sparkwing/ (issue 11, item 5).
func TestSourceDigestCoversWhatGoReads(t *testing.T) {
	project := t.TempDir()
	mod := filepath.Join(project, ".sparkwing")
	write(t, project, map[string]string{
		".sparkwing/go.mod":     goMod + "\nrequire example.com/lib v0.0.0\n\nreplace example.com/lib => ../lib\n",
		".sparkwing/main.go":    "package main\n",
		"shared/linked.go":      "package main\n",
		"shared/dir/helper.go":  "package dir\n",
		"lib/go.mod":            "module example.com/lib\n",
		"lib/lib.go":            "package lib\n",
		".sparkwing/runs/x.log": "run records are not sources",
	})
	os.Symlink("../shared/linked.go", filepath.Join(mod, "linked.go"))
	os.Symlink("../shared/dir", filepath.Join(mod, "dir"))
	os.Symlink(".", filepath.Join(mod, "loop"))
	b := &Builder{CacheDir: t.TempDir()}
	digest := func() string {
		t.Helper()
		d, err := b.sourceDigest(mod)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	prev := digest()
	for _, edit := range []struct{ name, file, content string }{
		{"a symlinked file's target", "shared/linked.go", "package main // edited\n"},
		{"a file in a symlinked directory", "shared/dir/helper.go", "package dir // edited\n"},
		{"a replaced module's file", "lib/lib.go", "package lib // edited\n"},
		{"a new file in a replaced module", "lib/extra.go", "package lib\n"},
		{"a file of the module", ".sparkwing/main.go", "package main // edited\n"},
	} {
		write(t, project, map[string]string{edit.file: edit.content})
		if now := digest(); now == prev {
			t.Errorf("editing %s left the program's key unchanged", edit.name)
		} else {
			prev = now
		}
	}
	write(t, project, map[string]string{".sparkwing/runs/y.log": "another run", ".sparkwing/state/jobs/p/j": "{}"})
	if digest() != prev {
		t.Error("sparkwing's own files under .sparkwing/ changed the program's key")
	}
}

// TestDamagedProgramsAreRebuilt: a truncated program is noticed before it
// is run and compiled again (item 14); Fresh compiles even when the
// program is cached (--no-cache, item 5).
func TestDamagedProgramsAreRebuilt(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	mod := t.TempDir()
	write(t, mod, map[string]string{
		"go.mod": goMod,
		"p.go": `package main

import sw "github.com/sparkwing-dev/sparkwing/sparkwing"

type P struct{}

func (P) Plan(p *sw.Plan) { p.Run("hello", "echo hi") }

func init() { sw.Register(&P{}) }
`,
	})
	b := &Builder{CacheDir: t.TempDir(), Environ: append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off")}
	build := func() *Program {
		t.Helper()
		prog, err := b.Build(context.Background(), mod)
		if err != nil {
			t.Fatal(err)
		}
		return prog
	}
	if !build().Compiled {
		t.Fatal("the first build did not compile")
	}
	prog := build()
	if prog.Compiled {
		t.Fatal("an intact cached program was compiled again")
	}
	st, _ := os.Stat(prog.Path)
	if err := os.Truncate(prog.Path, st.Size()/2); err != nil {
		t.Fatal(err)
	}
	if prog = build(); !prog.Compiled {
		t.Fatal("a truncated program was trusted")
	}
	if _, err := prog.Plan(context.Background(), mod, "P", nil, os.Environ()); err != nil {
		t.Fatalf("the rebuilt program does not run: %v", err)
	}
	for _, damaged := range []string{"", "x", "sparkwing program v1 1 2\n"} { // a torn sum is not trusted, and does not crash
		os.WriteFile(sumPath(prog.Path), []byte(damaged), 0o644)
		if !build().Compiled {
			t.Fatalf("a program with the sum %q was trusted", damaged)
		}
	}
	os.Chtimes(prog.Path, st.ModTime(), st.ModTime()) // same bytes, other stat
	if build().Compiled {
		t.Fatal("a program whose bytes are intact was compiled again")
	}
	b.Fresh = true
	if !build().Compiled {
		t.Fatal("Fresh did not compile")
	}
}
