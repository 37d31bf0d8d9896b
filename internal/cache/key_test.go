package cache

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/buildkit"
	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// world is everything outside the job definition that a key can see.
type world struct {
	files map[string]string
	env   map[string]string
	needs map[string]fileset.Digest
}

func (w world) clone() world {
	c := world{files: map[string]string{}, env: map[string]string{}, needs: map[string]fileset.Digest{}}
	for k, v := range w.files {
		c.files[k] = v
	}
	for k, v := range w.env {
		c.env[k] = v
	}
	for k, v := range w.needs {
		c.needs[k] = v
	}
	return c
}

func baseJob() plan.Job {
	return plan.Job{
		ID: "server", Run: "go build -o bin/server ./cmd/server", Description: "build",
		Needs: []string{"generate"}, Inputs: []string{"src/**", "go.mod"}, Outputs: []string{"bin/server"},
		Env: []string{"GOOS"}, Passthrough: []string{"GOCACHE"}, Tools: []string{"cat tool.txt"},
		Timeout: time.Minute, Retries: 1,
	}
}

func baseWorld() world {
	return world{
		files: map[string]string{"src/a.go": "package a", "src/b.go": "package b", "go.mod": "module x",
			"tool.txt": "go1.26", "unrelated.txt": "x"},
		env:   map[string]string{"GOOS": "linux", "GOCACHE": "/c", "UNDECLARED": "1", "LANG": "C.UTF-8", "HOME": "/h"},
		needs: map[string]fileset.Digest{"generate": {1}},
	}
}

// compute builds w in a fresh directory and returns j's key and manifest.
func compute(t *testing.T, j plan.Job, w world) *Computed {
	t.Helper()
	root := t.TempDir()
	for p, content := range w.files {
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		mode := os.FileMode(0o644)
		if filepath.Ext(p) == ".sh" {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	lookup := func(n string) (string, bool) { v, ok := w.env[n]; return v, ok }
	c := &Cache{Root: root, Tree: fileset.NewTree(root), Hasher: fileset.NewHasher(root, ""), Env: lookup,
		JobEnv: func(plan.Job) []string { return []string{"PATH=" + os.Getenv("PATH")} }}
	comp, err := c.Compute(context.Background(), j, w.needs)
	if err != nil {
		t.Fatal(err)
	}
	return comp
}

func TestEveryInputChangesTheKeyAndWhyNamesIt(t *testing.T) {
	base := compute(t, baseJob(), baseWorld())
	for _, tc := range []struct {
		name   string
		job    func(*plan.Job)
		world  func(*world)
		kind   string
		detail string // Change.Name
	}{
		{name: "file changed", world: func(w *world) { w.files["src/a.go"] = "package a // edit" }, kind: "file", detail: "src/a.go"},
		{name: "file added", world: func(w *world) { w.files["src/c.go"] = "package c" }, kind: "file", detail: "src/c.go"},
		{name: "file removed", world: func(w *world) { delete(w.files, "src/b.go") }, kind: "file", detail: "src/b.go"},
		{name: "file mode", world: func(w *world) { w.files["src/run.sh"] = "x" }, kind: "file", detail: "src/run.sh"},
		{name: "env changed", world: func(w *world) { w.env["GOOS"] = "darwin" }, kind: "env", detail: "GOOS"},
		{name: "env unset", world: func(w *world) { delete(w.env, "GOOS") }, kind: "env", detail: "GOOS"},
		{name: "locale", world: func(w *world) { w.env["LANG"] = "C" }, kind: "env", detail: "LANG"},
		{name: "tool version", world: func(w *world) { w.files["tool.txt"] = "go1.27" }, kind: "tool", detail: "cat tool.txt"},
		{name: "upstream output", world: func(w *world) { w.needs["generate"] = fileset.Digest{2} }, kind: "need", detail: "generate"},
		{name: "command", job: func(j *plan.Job) { j.Run += " -v" }, kind: "run"},
		{name: "declared output", job: func(j *plan.Job) { j.Outputs = append(j.Outputs, "bin/extra") }, kind: "output", detail: "bin/extra"},
		{name: "env declared", job: func(j *plan.Job) { j.Env = append(j.Env, "CGO_ENABLED") }, kind: "env", detail: "CGO_ENABLED"},
		{name: "go step args", job: func(j *plan.Job) {
			j.Run, j.Step = "", &plan.GoStep{Pipeline: "P", Args: []string{"--v", "1"}, Digest: "d1"}
		}, kind: "step"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j, w := baseJob(), baseWorld().clone()
			if tc.job != nil {
				tc.job(&j)
			}
			if tc.world != nil {
				tc.world(&w)
			}
			got := compute(t, j, w)
			if got.Key == base.Key {
				t.Fatal("key did not change")
			}
			changes := Diff(base.Manifest, got.Manifest)
			if tc.kind == "step" { // run replaced by step, args and source: all about the Go step
				for _, c := range changes {
					if c.Kind != "run" && c.Kind != "step" && c.Kind != "args" && c.Kind != "pipeline-source" {
						t.Fatalf("unexpected change %v", c)
					}
				}
				return
			}
			if len(changes) != 1 || changes[0].Kind != tc.kind || changes[0].Name != tc.detail {
				t.Fatalf("changes = %v, want one %s %s", changes, tc.kind, tc.detail)
			}
		})
	}
}

func TestGoStepSourceAndArgsAreInTheKey(t *testing.T) {
	step := func(args []string, digest string) plan.Job {
		j := baseJob()
		j.Run, j.Step = "", &plan.GoStep{Program: "/x/" + digest, Pipeline: "P", Args: args, Digest: digest}
		return j
	}
	a := compute(t, step([]string{"--v", "1"}, "d1"), baseWorld())
	b := compute(t, step([]string{"--v", "2"}, "d1"), baseWorld())
	c := compute(t, step([]string{"--v", "1"}, "d2"), baseWorld())
	if a.Key == b.Key || a.Key == c.Key {
		t.Fatal("Go step arguments or pipeline source are not in the key")
	}
	if ch := Diff(a.Manifest, c.Manifest); len(ch) != 1 || ch[0].Kind != "pipeline-source" {
		t.Fatalf("changes %v", ch)
	}
}

func TestIrrelevantChangesKeepTheKey(t *testing.T) {
	base := compute(t, baseJob(), baseWorld())
	for name, mutate := range map[string]func(*plan.Job, *world){
		"passthrough value": func(j *plan.Job, w *world) { w.env["GOCACHE"] = "/elsewhere" },
		"undeclared env":    func(j *plan.Job, w *world) { w.env["UNDECLARED"] = "2" },
		"unrelated file":    func(j *plan.Job, w *world) { w.files["unrelated.txt"] = "y" },
		"description":       func(j *plan.Job, w *world) { j.Description = "other" },
		"timeout, retries":  func(j *plan.Job, w *world) { j.Timeout, j.Retries = time.Hour, 3 },
		"job id":            func(j *plan.Job, w *world) { j.ID = "renamed" },
		// bin/** matches bin/server, but a job's outputs are never its inputs.
		"output as input":    func(j *plan.Job, w *world) { j.Inputs = append(j.Inputs, "bin/**"); w.files["bin/server"] = "binary" },
		"passthrough listed": func(j *plan.Job, w *world) { j.Passthrough = append(j.Passthrough, "HOME") },
		"home":               func(j *plan.Job, w *world) { w.env["HOME"] = "/home/other" }, // where, not what: see hashedBase
		"LANG declared too":  func(j *plan.Job, w *world) { j.Env = append(j.Env, "LANG") },
	} {
		t.Run(name, func(t *testing.T) {
			j, w := baseJob(), baseWorld().clone()
			mutate(&j, &w)
			if got := compute(t, j, w); got.Key != base.Key {
				t.Fatalf("key changed:\n%v", Diff(base.Manifest, got.Manifest))
			}
		})
	}
}

func TestKeysAreRelocatable(t *testing.T) {
	a := compute(t, baseJob(), baseWorld())
	b := compute(t, baseJob(), baseWorld()) // another temporary directory
	if a.Key != b.Key {
		t.Fatalf("same tree at another path gave another key:\n%v", Diff(a.Manifest, b.Manifest))
	}
}

// SyncKey leaves out only the synced files' content: what else the image
// is built from still changes it, so dev --sync never copies a binary
// into a container whose image would differ in more than that file.
func TestSyncKeyLeavesOutOnlyTheSyncedFiles(t *testing.T) {
	j := plan.Job{ID: "image", Image: &plan.Image{Context: "dist", Sync: map[string]string{"dist/server": "/server"}}}
	base := world{files: map[string]string{
		"dist/Dockerfile": "FROM scratch\nCOPY . /\nENTRYPOINT [\"/server\"]\n",
		"dist/server":     "binary v1", "dist/config.txt": "port 80",
	}}
	syncKey := func(w world) (Key, Key) {
		t.Helper()
		root := t.TempDir()
		for p, content := range w.files {
			os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
			os.WriteFile(filepath.Join(root, p), []byte(content), 0o644)
		}
		c := &Cache{Root: root, Tree: fileset.NewTree(root), Hasher: fileset.NewHasher(root, ""), ListContext: buildkit.ListContext}
		k, err := c.SyncKey(context.Background(), j)
		if err != nil {
			t.Fatal(err)
		}
		comp, err := c.Compute(context.Background(), j, nil)
		if err != nil {
			t.Fatal(err)
		}
		return k, comp.Key
	}
	sync0, key0 := syncKey(base)
	edited := base.clone()
	edited.files["dist/server"] = "binary v2"
	if sync1, key1 := syncKey(edited); sync1 != sync0 || key1 == key0 {
		t.Errorf("a new build of the synced file: sync key changed %v, image key changed %v; want false, true", sync1 != sync0, key1 != key0)
	}
	for name, change := range map[string]func(w world){
		"another file of the context": func(w world) { w.files["dist/config.txt"] = "port 81" },
		"the Dockerfile":              func(w world) { w.files["dist/Dockerfile"] += "USER 1000\n" },
		"a new file in the context":   func(w world) { w.files["dist/extra"] = "x" },
	} {
		w := edited.clone()
		change(w)
		if k, _ := syncKey(w); k == sync0 {
			t.Errorf("%s left the sync key as it was", name)
		}
	}
}
