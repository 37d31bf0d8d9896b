package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Workers is the parallelism every tool is given: the machine's 2 cores.
const Workers = 2

// A Tool is one build tool configured for one workload: it writes its own
// configuration the way its documentation recommends (caching on where it
// has one), builds everything, and empties its caches for a cold run.
type Tool interface {
	Name() string
	// Setup writes the tool's configuration into p.Dir (sources are there).
	Setup(p *Project) error
	// Build is the command that builds every job, Workers at a time.
	Build(p *Project) []string
	// Clean empties the tool's caches and removes every output.
	Clean(p *Project) error
	// Output is where job i's output lands, relative to p.Dir.
	Output(p *Project, i int) string
	// Cache says whether the tool can restore outputs it did not rebuild.
	Cache() bool
}

// Project is one tool's copy of one workload.
type Project struct {
	Dir   string
	W     *Workload   // a synthetic workload, or
	Go    *GoWorkload // a real Go one
	Paths Paths
	// Scratch is a directory outside Dir for caches and servers' state.
	Scratch string
}

// Paths locates each tool's program.
type Paths struct {
	Sparkwing, Make, Task, Mage, Turbo, Nx, Bazel, Find string
	NodeModules                                         string // where turbo and nx are installed
	GoModCache                                          string
	// Spawn is the helper every measured run goes through (BuildSpawn);
	// without it runs are timed by the harness and their peak memory is
	// not known.
	Spawn string
}

func removeOutputs(p *Project) error {
	for i := range p.W.Jobs {
		if err := os.RemoveAll(filepath.Join(p.Dir, p.W.Dir(i), "out")); err != nil {
			return err
		}
	}
	return nil
}

func removeAll(p *Project, paths ...string) error {
	for _, rel := range paths {
		if err := os.RemoveAll(filepath.Join(p.Dir, rel)); err != nil {
			return err
		}
	}
	return removeOutputs(p)
}

func write(dir, name, content string) error {
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o644)
}

func writeJSON(dir, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return write(dir, name, string(b)+"\n")
}

func quoteAll(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

// Name is the workload's name in results.
func (p *Project) Name() string {
	if p.Go != nil {
		return p.Go.Name
	}
	return p.W.Name()
}

func (p *Project) cd(i int) string { return "cd " + p.W.Dir(i) + " && " + p.W.Command(i) }

func (p *Project) depOutputs(i int) []string {
	var out []string
	for _, d := range p.W.Needs[i] {
		out = append(out, "../"+p.W.Names[d]+"/out/result.txt")
	}
	return out
}

// --- sparkwing ---

type sparkwing struct{}

func (sparkwing) Name() string { return "sparkwing" }
func (sparkwing) Cache() bool  { return true }

func (sparkwing) Setup(p *Project) error {
	var b strings.Builder
	b.WriteString("pipelines:\n  - name: build\n    jobs:\n")
	for i, name := range p.W.Names {
		fmt.Fprintf(&b, "      %s:\n", name)
		if len(p.W.Needs[i]) > 0 {
			var needs []string
			for _, d := range p.W.Needs[i] {
				needs = append(needs, p.W.Names[d])
			}
			fmt.Fprintf(&b, "        needs: [%s]\n", strings.Join(needs, ", "))
		}
		fmt.Fprintf(&b, "        run: %q\n", p.cd(i))
		fmt.Fprintf(&b, "        inputs: [%q]\n", p.W.Dir(i)+"/src/**")
		fmt.Fprintf(&b, "        outputs: [%q]\n", p.W.Dir(i)+"/out/**")
	}
	return write(p.Dir, ".sparkwing/sparkwing.yaml", b.String())
}

func (sparkwing) Build(p *Project) []string {
	return []string{p.Paths.Sparkwing, "run", "build", "-j", fmt.Sprint(Workers), "--output", "plain"}
}

func (sparkwing) Clean(p *Project) error {
	if err := os.RemoveAll(filepath.Join(p.Scratch, "sparkwing-cache")); err != nil {
		return err
	}
	return removeAll(p, ".sparkwing/runs")
}

func (sparkwing) Output(p *Project, i int) string { return p.W.Output(i) }

// --- GNU make ---

type gnuMake struct{}

func (gnuMake) Name() string { return "make" }
func (gnuMake) Cache() bool  { return false }

func (gnuMake) Setup(p *Project) error {
	// Without the built-in implicit rules, which make would otherwise try
	// on every source file (the manual's advice for large builds): 40x
	// faster no-op here.
	var b strings.Builder
	b.WriteString("MAKEFLAGS += --no-builtin-rules\n.SUFFIXES:\n\n.PHONY: all\nall:")
	for _, s := range p.W.Sinks() {
		b.WriteString(" " + p.W.Output(s))
	}
	b.WriteString("\n\n")
	for i := range p.W.Jobs {
		fmt.Fprintf(&b, "%s: $(wildcard %s/src/*.txt)", p.W.Output(i), p.W.Dir(i))
		for _, d := range p.W.Needs[i] {
			b.WriteString(" " + p.W.Output(d))
		}
		fmt.Fprintf(&b, "\n\t%s\n\n", p.cd(i))
	}
	return write(p.Dir, "Makefile", b.String())
}

func (gnuMake) Build(p *Project) []string {
	return []string{p.Paths.Make, "-s", "-j", fmt.Sprint(Workers)}
}

func (gnuMake) Clean(p *Project) error          { return removeOutputs(p) }
func (gnuMake) Output(p *Project, i int) string { return p.W.Output(i) }

// --- go-task ---

type goTask struct{}

func (goTask) Name() string { return "task" }
func (goTask) Cache() bool  { return false }

// Setup follows Task's guide: sources and generates make a task skip when
// its checksums are unchanged, and `run: once` makes a task needed by many
// run once per invocation.
func (goTask) Setup(p *Project) error {
	var b strings.Builder
	b.WriteString("version: '3'\nrun: once\ntasks:\n  default:\n    deps: [")
	var sinks []string
	for _, s := range p.W.Sinks() {
		sinks = append(sinks, p.W.Names[s])
	}
	b.WriteString(strings.Join(sinks, ", ") + "]\n")
	for i, name := range p.W.Names {
		fmt.Fprintf(&b, "  %s:\n    dir: %s\n", name, p.W.Dir(i))
		if len(p.W.Needs[i]) > 0 {
			var needs []string
			for _, d := range p.W.Needs[i] {
				needs = append(needs, p.W.Names[d])
			}
			fmt.Fprintf(&b, "    deps: [%s]\n", strings.Join(needs, ", "))
		}
		sources := append([]string{"src/*.txt"}, p.depOutputs(i)...)
		fmt.Fprintf(&b, "    sources: [%s]\n    generates: [out/result.txt]\n", quoteAll(sources))
		fmt.Fprintf(&b, "    cmds: [%q]\n", p.W.Command(i))
	}
	return write(p.Dir, "Taskfile.yml", b.String())
}

func (goTask) Build(p *Project) []string {
	return []string{p.Paths.Task, "--silent", "--concurrency", fmt.Sprint(Workers)}
}

func (goTask) Clean(p *Project) error          { return removeAll(p, ".task") }
func (goTask) Output(p *Project, i int) string { return p.W.Output(i) }

// --- mage ---

type mage struct{}

func (mage) Name() string { return "mage" }
func (mage) Cache() bool  { return false }

// Setup writes one target per job. mg.Deps runs a target's dependencies in
// parallel, once each; target.Glob skips a job whose output is newer than
// its sources, as mage's documentation shows for incremental builds.
func (mage) Setup(p *Project) error {
	var b strings.Builder
	b.WriteString("//go:build mage\n\npackage main\n\nimport (\n\t\"github.com/magefile/mage/mg\"\n" +
		"\t\"github.com/magefile/mage/sh\"\n\t\"github.com/magefile/mage/target\"\n)\n\n")
	b.WriteString("var Default = All\n\n// All builds every job.\nfunc All() {\n\tmg.Deps(")
	var sinks []string
	for _, s := range p.W.Sinks() {
		sinks = append(sinks, goName(p.W.Names[s]))
	}
	b.WriteString(strings.Join(sinks, ", ") + ")\n}\n\n")
	b.WriteString("func job(dir, cmd string, sources ...string) error {\n" +
		"\tstale, err := target.Glob(dir+\"/out/result.txt\", sources...)\n" +
		"\tif err != nil || !stale {\n\t\treturn err\n\t}\n" +
		"\treturn sh.Run(\"sh\", \"-c\", \"cd \"+dir+\" && \"+cmd)\n}\n")
	for i, name := range p.W.Names {
		fmt.Fprintf(&b, "\nfunc %s() error {\n", goName(name))
		var needs []string
		for _, d := range p.W.Needs[i] {
			needs = append(needs, goName(p.W.Names[d]))
		}
		if len(needs) > 0 {
			fmt.Fprintf(&b, "\tmg.Deps(%s)\n", strings.Join(needs, ", "))
		}
		sources := []string{p.W.Dir(i) + "/src/*.txt"}
		for _, d := range p.W.Needs[i] {
			sources = append(sources, p.W.Output(d))
		}
		fmt.Fprintf(&b, "\treturn job(%q, %q, %s)\n}\n", p.W.Dir(i), p.W.Command(i), quoteAll(sources))
	}
	if err := write(p.Dir, "magefile.go", b.String()); err != nil {
		return err
	}
	if err := write(p.Dir, "go.mod", "module benchmage\n\ngo 1.22\n\nrequire github.com/magefile/mage v1.17.2\n"); err != nil {
		return err
	}
	tidy := exec.Command("go", "mod", "tidy")
	tidy.Dir = p.Dir
	if out, err := tidy.CombinedOutput(); err != nil {
		return fmt.Errorf("go mod tidy for mage: %v\n%s", err, out)
	}
	return nil
}

// goName is a job's name as a mage target: a Go identifier, exported
// ("test-internal-errors" is TestInternalErrors).
func goName(job string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(job, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	}) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

func (mage) Build(p *Project) []string { return []string{p.Paths.Mage} }

// Clean removes mage's compiled magefile too: a cold mage run compiles it.
func (mage) Clean(p *Project) error {
	if err := os.RemoveAll(filepath.Join(p.Scratch, "mage-cache")); err != nil {
		return err
	}
	return removeOutputs(p)
}

func (mage) Output(p *Project, i int) string { return p.W.Output(i) }

// --- Turborepo ---

type turbo struct{}

func (turbo) Name() string { return "turbo" }
func (turbo) Cache() bool  { return true }

// Setup makes each job an npm workspace package whose build script is the
// job's command; turbo.json declares inputs and outputs, and build depends
// on the builds of the package's dependencies (^build). Outputs are
// git-ignored, as Turborepo's docs require for them not to count as inputs.
func (turbo) Setup(p *Project) error {
	root := map[string]any{
		"name": "bench", "private": true, "packageManager": "npm@11.19.1",
		"workspaces": []string{"pkgs/*"},
	}
	if err := writeJSON(p.Dir, "package.json", root); err != nil {
		return err
	}
	cfg := map[string]any{
		"$schema": "https://turbo.build/schema.json",
		"tasks": map[string]any{"build": map[string]any{
			"dependsOn": []string{"^build"}, "inputs": []string{"src/**"}, "outputs": []string{"out/**"},
		}},
	}
	if err := writeJSON(p.Dir, "turbo.json", cfg); err != nil {
		return err
	}
	for i, name := range p.W.Names {
		deps := map[string]string{}
		for _, d := range p.W.Needs[i] {
			deps[p.W.Names[d]] = "*"
		}
		pkg := map[string]any{"name": name, "version": "0.0.0", "private": true,
			"dependencies": deps, "scripts": map[string]string{"build": p.W.Command(i)}}
		if err := writeJSON(filepath.Join(p.Dir, p.W.Dir(i)), "package.json", pkg); err != nil {
			return err
		}
	}
	return nil
}

func (turbo) Build(p *Project) []string {
	return []string{p.Paths.Turbo, "run", "build", "--concurrency", fmt.Sprint(Workers), "--output-logs", "new-only"}
}

func (turbo) Clean(p *Project) error          { return removeAll(p, ".turbo") }
func (turbo) Output(p *Project, i int) string { return p.W.Output(i) }

// --- Nx ---

type nx struct{}

func (nx) Name() string { return "nx" }
func (nx) Cache() bool  { return true }

// Setup gives each job a project.json with a cached build target; nx.json's
// target defaults declare the inputs (the project's sources and, with
// ^default, its dependencies'), outputs and dependsOn ^build.
func (nx) Setup(p *Project) error {
	if err := writeJSON(p.Dir, "package.json", map[string]any{"name": "bench", "private": true}); err != nil {
		return err
	}
	cfg := map[string]any{
		"namedInputs": map[string]any{"default": []string{"{projectRoot}/src/**/*"}},
		"targetDefaults": map[string]any{"build": map[string]any{
			"cache": true, "dependsOn": []string{"^build"},
			"inputs": []string{"default", "^default"}, "outputs": []string{"{projectRoot}/out"},
		}},
	}
	if err := writeJSON(p.Dir, "nx.json", cfg); err != nil {
		return err
	}
	for i, name := range p.W.Names {
		var deps []string
		for _, d := range p.W.Needs[i] {
			deps = append(deps, p.W.Names[d])
		}
		proj := map[string]any{"name": name, "implicitDependencies": deps,
			"targets": map[string]any{"build": map[string]any{
				"command": p.W.Command(i), "options": map[string]string{"cwd": p.W.Dir(i)},
			}}}
		if err := writeJSON(filepath.Join(p.Dir, p.W.Dir(i)), "project.json", proj); err != nil {
			return err
		}
	}
	// Nx runs from the workspace's own node_modules.
	return os.Symlink(p.Paths.NodeModules, filepath.Join(p.Dir, "node_modules"))
}

func (nx) Build(p *Project) []string {
	return []string{p.Paths.Nx, "run-many", "-t", "build", "--parallel", fmt.Sprint(Workers), "--outputStyle", "static"}
}

func (nx) Clean(p *Project) error          { return removeAll(p, ".nx") }
func (nx) Output(p *Project, i int) string { return p.W.Output(i) }

// --- Bazel ---

type bazel struct{}

func (bazel) Name() string { return "bazel" }
func (bazel) Cache() bool  { return true }

// Setup writes one genrule per job and a .bazelrc with a disk cache (Bazel's
// documented local cache across clean builds). The server's state lives in
// Scratch, outside the workspace.
func (bazel) Setup(p *Project) error {
	if err := write(p.Dir, "WORKSPACE", ""); err != nil {
		return err
	}
	rc := fmt.Sprintf("startup --output_user_root=%s\nstartup --max_idle_secs=900\n"+
		"build --disk_cache=%s\nbuild --jobs=%d\n",
		filepath.Join(p.Scratch, "bazel-root"), filepath.Join(p.Scratch, "bazel-disk-cache"), Workers)
	if err := write(p.Dir, ".bazelrc", rc); err != nil {
		return err
	}
	for i, name := range p.W.Names {
		srcs := `glob(["src/*.txt"])`
		var deps []string
		for _, d := range p.W.Needs[i] {
			deps = append(deps, "//"+p.W.Dir(d)+":"+p.W.Names[d])
		}
		if len(deps) > 0 {
			srcs += " + [" + quoteAll(deps) + "]"
		}
		sleep := ""
		if p.W.Sleep != nil {
			sleep = fmt.Sprintf("sleep %g && ", p.W.Sleep[i])
		}
		rule := fmt.Sprintf("genrule(\n    name = %q,\n    srcs = %s,\n    outs = [\"out/result.txt\"],\n"+
			"    cmd = \"%scat $(SRCS) | cksum > $@\",\n    visibility = [\"//visibility:public\"],\n)\n", name, srcs, sleep)
		if err := write(filepath.Join(p.Dir, p.W.Dir(i)), "BUILD", rule); err != nil {
			return err
		}
	}
	return nil
}

func (bazel) Build(p *Project) []string {
	return []string{p.Paths.Bazel, "build", "//...", "--noshow_progress"}
}

// Clean is `bazel clean --expunge` and an empty disk cache: a cold Bazel
// run starts its server too.
func (bazel) Clean(p *Project) error {
	cmd := exec.Command(p.Paths.Bazel, "clean", "--expunge")
	cmd.Dir = p.Dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("bazel clean: %v\n%s", err, out)
	}
	return os.RemoveAll(filepath.Join(p.Scratch, "bazel-disk-cache"))
}

func (bazel) Output(p *Project, i int) string { return "bazel-bin/" + p.W.Output(i) }

// Shutdown stops the project's Bazel server.
func (bazel) Shutdown(p *Project) {
	cmd := exec.Command(p.Paths.Bazel, "shutdown")
	cmd.Dir = p.Dir
	_ = cmd.Run()
}

// AllTools is every tool, sparkwing first.
func AllTools() []Tool {
	return []Tool{sparkwing{}, gnuMake{}, goTask{}, mage{}, turbo{}, nx{}, bazel{}}
}

// --- the floor ---

// floor is not a build tool: it lstat-s every file of the workload once, in
// one process (find -printf %s needs each file's size). No tool that checks
// its inputs' metadata can do a no-op faster; sparkwing's no-op is held to a
// multiple of it.
type floor struct{}

func (floor) Name() string                    { return "floor" }
func (floor) Cache() bool                     { return false }
func (floor) Setup(p *Project) error          { return nil }
func (floor) Clean(p *Project) error          { return nil }
func (floor) Output(p *Project, i int) string { return p.W.Output(i) }
func (floor) Build(p *Project) []string {
	return []string{p.Paths.Find, "pkgs", "-type", "f", "-printf", "%s\n"}
}

// Resolve makes every path absolute, looks up make and find on PATH, and
// finds turbo and nx under NodeModules. A missing sparkwing is an error;
// a missing peer is left empty and reported by Missing.
func (p *Paths) Resolve() error {
	if p.Sparkwing == "" {
		return fmt.Errorf("no sparkwing binary: pass -sparkwing PATH (bench/run builds one)")
	}
	if p.NodeModules != "" {
		abs, err := filepath.Abs(p.NodeModules)
		if err != nil {
			return err
		}
		p.NodeModules = abs
		p.Turbo = filepath.Join(p.NodeModules, ".bin", "turbo")
		p.Nx = filepath.Join(p.NodeModules, ".bin", "nx")
	}
	if p.Make == "" {
		p.Make = "make"
	}
	if p.Find == "" {
		p.Find = "find"
	}
	for _, path := range []*string{&p.Sparkwing, &p.Make, &p.Task, &p.Mage, &p.Turbo, &p.Nx, &p.Bazel, &p.Find} {
		if *path == "" {
			continue
		}
		abs, err := exec.LookPath(*path)
		if err != nil {
			if path == &p.Sparkwing || path == &p.Find {
				return err
			}
			*path = ""
			continue
		}
		if *path, err = filepath.Abs(abs); err != nil {
			return err
		}
	}
	if p.Spawn == "" {
		spawn, err := BuildSpawn(filepath.Join(os.TempDir(), fmt.Sprintf("sparkwing-bench-%d", os.Getuid())))
		if err != nil {
			return err
		}
		p.Spawn = spawn
	}
	return nil
}

// BuildSpawn builds the spawn helper into dir and returns its path. Like
// the harness, it needs the go command and this module's source.
func BuildSpawn(dir string) (string, error) {
	out := filepath.Join(dir, "spawn")
	cmd := exec.Command("go", "build", "-o", out, "github.com/sparkwing-dev/sparkwing/internal/bench/spawn")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the spawn helper (go build ./internal/bench/spawn): %v\n%s", err, b)
	}
	return out, nil
}

// Installed says whether a tool's program was found.
func (p *Paths) Installed(tool string) bool {
	switch tool {
	case "make":
		return p.Make != ""
	case "task":
		return p.Task != ""
	case "mage":
		return p.Mage != ""
	case "turbo":
		return p.Turbo != ""
	case "nx":
		return p.Nx != ""
	case "bazel":
		return p.Bazel != ""
	}
	return true
}
