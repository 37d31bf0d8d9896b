package engine

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sparkwing-dev/sparkwing/internal/gobuild"
	"github.com/sparkwing-dev/sparkwing/internal/goinput"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
	"github.com/sparkwing-dev/sparkwing/internal/ui"
)

// With a go builder (sparkwing dev), a go build job whose function bodies
// changed is rebuilt from its last build's record, and stored as any
// result: a run without the builder (sparkwing run) restores it.
func TestAReplayedGoBuild(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	root, p, store := testProject(t, plan.Job{ID: "m", Run: "go build -o bin/m .", Outputs: []string{"bin/m"},
		GoInputs: []plan.GoInput{{Packages: []string{"."}}}, Passthrough: []string{"GOCACHE", "GOPATH", "GOMODCACHE", "GOFLAGS"}})
	write := func(word string) {
		os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/m\n\ngo 1.22\n"), 0o644)
		src := "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"" + word + "\") }\n"
		if err := os.WriteFile(filepath.Join(root, "main.go"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := testCache(root, store)
	c.Go = &goinput.Resolver{Root: root}
	builds := gobuild.New(filepath.Join(root, ".sparkwing", "state", "go-builds"))
	defer builds.Close()
	run := func(b *gobuild.Builder, want string) (runrec.Job, string) {
		t.Helper()
		rec, err := Run(context.Background(), p, Options{Root: root, Workers: 2, LookupEnv: os.LookupEnv,
			Observer: ui.New("plain", io.Discard, false, nil, "sparkwing"), Cache: c, GoBuilds: b})
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(filepath.Join(root, "bin", "m")).Output()
		if err != nil || strings.TrimSpace(string(out)) != want {
			t.Fatalf("bin/m printed %q (%v), want %q", out, err, want)
		}
		log, _ := os.ReadFile(filepath.Join(root, ".sparkwing", "runs", rec.ID, "logs", "m.log"))
		return rec.Jobs[0], string(log)
	}

	write("one")
	if j, log := run(builds, "one"); j.Status != runrec.Ran || strings.Contains(log, "without the go command") {
		t.Fatalf("first build: %s, log %q", j.Status, log)
	}
	write("two")
	if j, log := run(builds, "two"); j.Status != runrec.Ran || !strings.Contains(log, "sparkwing: rebuilt without the go command: compiled example.com/m; linked") {
		t.Fatalf("a body edit: %s, log %q", j.Status, log)
	}
	if j, _ := run(nil, "two"); j.Status != runrec.Cached {
		t.Fatalf("sparkwing run after the replay: %s, want its result restored", j.Status)
	}
	write("three")
	if j, log := run(nil, "three"); j.Status != runrec.Ran || strings.Contains(log, "without the go command") {
		t.Fatalf("sparkwing run after an edit: %s, log %q; want the go command to build", j.Status, log)
	}
}

// A file changed while the go command built and recorded: the result is
// not stored, and the record is dropped (its archives may hold what the
// key does not say), so the next build goes through the go command. The
// go on PATH is a wrapper that runs the real one, then edits main.go.
func TestAGoBuildWhoseInputsChangedWhileItRan(t *testing.T) {
	real, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	root, p, store := testProject(t, plan.Job{ID: "m", Run: "go build -o bin/m .", Outputs: []string{"bin/m"},
		GoInputs: []plan.GoInput{{Packages: []string{"."}}}, Passthrough: []string{"GOCACHE", "GOPATH", "GOMODCACHE", "GOFLAGS"}})
	os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/m\n\ngo 1.22\n"), 0o644)
	main := filepath.Join(root, "main.go")
	os.WriteFile(main, []byte("package main\n\nfunc main() { println(\"one\") }\n"), 0o644)
	bin := t.TempDir()
	wrapper := "#!/bin/sh\n" + real + " \"$@\" || exit\n" +
		"case \"$*\" in *-debug-actiongraph*) echo '// changed while it built' >> " + main + ";; esac\n"
	if err := os.WriteFile(filepath.Join(bin, "go"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	c := testCache(root, store)
	c.Go = &goinput.Resolver{Root: root}
	builds := gobuild.New(filepath.Join(root, ".sparkwing", "state", "go-builds"))
	defer builds.Close()
	run := func() string {
		t.Helper()
		rec, err := Run(context.Background(), p, Options{Root: root, Workers: 2, LookupEnv: os.LookupEnv,
			Observer: ui.New("plain", io.Discard, false, nil, "sparkwing"), Cache: c, GoBuilds: builds})
		if err != nil || rec.Jobs[0].Status != runrec.Ran {
			t.Fatalf("run: %v, %+v", err, rec.Jobs)
		}
		log, _ := os.ReadFile(filepath.Join(root, ".sparkwing", "runs", rec.ID, "logs", "m.log"))
		return string(log)
	}
	run()
	os.WriteFile(main, []byte("package main\n\nfunc main() { println(\"two\") }\n"), 0o644)
	if log := run(); strings.Contains(log, "without the go command") {
		t.Fatalf("replayed a record whose inputs changed while it was made: %q", log)
	}
}
