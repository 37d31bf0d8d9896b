package bench

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// A GoJob is one job of a real Go workload.
type GoJob struct {
	Name    string
	Run     string
	Inputs  []string // doublestar globs, relative to the project root
	Outputs []string // files (not globs)
	Needs   []string
	// Go, if set, are the job's inputs for sparkwing instead of Inputs:
	// package patterns, as a `go:` input (with GoTests, their tests).
	Go      []string
	GoTests bool
	// Sources are the files and directories whose mtimes decide for mage
	// (target.Dir); mage runs a job without them every time.
	Sources []string
}

// GoWorkload is a real Go project built as jobs by sparkwing, make and
// go-task (the Go peers; Turborepo and Nx are JavaScript monorepo tools,
// and Bazel would need rules_go from the network).
type GoWorkload struct {
	Name string
	Src  string // directory copied into each tool's project
	Jobs []GoJob
	Edit string // the file the edit scenario appends a comment to
	// CoreEdit is the file the core edit scenario appends a comment to: one
	// most packages import.
	CoreEdit string
}

// fzfVersion is the release of github.com/junegunn/fzf the go-fzf workload
// builds, fetched from the module proxy.
const fzfVersion = "v0.65.2"

// FZF is github.com/junegunn/fzf from the module proxy at fzfVersion, the
// way its Makefile builds it: the binary from the main package, and the
// tests of src/... . sparkwing's inputs are the package graph ({go: .}
// and {go: ./src/..., tests: true}); make's and go-task's are globs of
// every Go file with go.mod and go.sum (the build's) or those under src/
// (the tests'), mage's the same directories by mtime. The edit is to
// main.go (only the build reads it), the core edit to src/util/util.go,
// which every package imports.
func FZF() (*GoWorkload, error) {
	cmd := exec.Command("go", "mod", "download", "-json", "github.com/junegunn/fzf@"+fzfVersion)
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go mod download github.com/junegunn/fzf@%s: %w", fzfVersion, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil {
		return nil, err
	}
	// Its dependencies, so that the tools' runs (GOPROXY=off) fetch nothing.
	deps := exec.Command("go", "mod", "download")
	deps.Dir, deps.Env = mod.Dir, cmd.Env
	if out, err := deps.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go mod download in %s: %v\n%s", mod.Dir, err, out)
	}
	return &GoWorkload{
		Name: "go-fzf", Src: mod.Dir, Edit: "main.go", CoreEdit: "src/util/util.go",
		Jobs: []GoJob{
			{Name: "build", Run: "go build -o bin/fzf .", Inputs: []string{"**/*.go", "go.mod", "go.sum"},
				Go: []string{"."}, Sources: []string{"main.go", "src", "go.mod", "go.sum"}, Outputs: []string{"bin/fzf"}},
			{Name: "test", Run: "go test ./src/...", Inputs: []string{"src/**", "go.mod", "go.sum"},
				Go: []string{"./src/..."}, GoTests: true, Sources: []string{"src", "go.mod", "go.sum"}},
		},
	}, nil
}

// HelloService is the bundled example's build pipeline.
func HelloService(repo string) *GoWorkload {
	goSrc := []string{"**/*.go", "go.mod"}
	return &GoWorkload{
		Name: "go-hello-service", Src: filepath.Join(repo, "examples", "hello-service"),
		Edit: "cmd/server/main.go",
		Jobs: []GoJob{
			{Name: "generate", Run: "go run ./tools/gen", Inputs: []string{"api/greetings.txt", "tools/gen/**"},
				Outputs: []string{"internal/gen/greetings.go"}},
			{Name: "vet", Run: "go vet ./...", Inputs: goSrc, Needs: []string{"generate"}},
			{Name: "test", Run: "go test ./...", Inputs: goSrc, Needs: []string{"generate"}},
			{Name: "server", Run: "go build -o bin/server ./cmd/server", Inputs: goSrc, Needs: []string{"generate"},
				Outputs: []string{"bin/server"}},
			{Name: "package", Run: "mkdir -p dist && tar -czf dist/hello-service.tar.gz -C bin server",
				Inputs: []string{"bin/server"}, Needs: []string{"test", "vet", "server"},
				Outputs: []string{"dist/hello-service.tar.gz"}},
		},
	}
}

// GoYAML is github.com/goccy/go-yaml v1.19.2 from the module cache: one
// test job per package (its inputs are the Go files of the packages it
// imports from the module, as `go list -deps` gives them), vet and build.
func GoYAML(modCache string) (*GoWorkload, error) {
	src := filepath.Join(modCache, "github.com", "goccy", "go-yaml@v1.19.2")
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, "./...")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list in %s (go mod download github.com/goccy/go-yaml@v1.19.2 fetches it): %w", src, err)
	}
	const mod = "github.com/goccy/go-yaml"
	w := &GoWorkload{Name: "go-yaml", Src: src, Edit: "lexer/lexer.go"}
	all := []string{"**/*.go", "go.mod", "go.sum"}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], mod), "/")
		inputs := []string{"go.mod", "go.sum", dirGlob(pkg, "*.go"), dirGlob(pkg, "testdata/**")}
		for _, dep := range fields[1:] {
			if rest, ok := strings.CutPrefix(dep, mod); ok {
				inputs = append(inputs, dirGlob(strings.TrimPrefix(rest, "/"), "*.go"))
			}
		}
		name := "test-" + strings.ReplaceAll(pkg, "/", "-")
		if pkg == "" {
			name = "test-yaml"
		}
		w.Jobs = append(w.Jobs, GoJob{Name: name, Run: "go test ./" + pkg, Inputs: inputs})
	}
	w.Jobs = append(w.Jobs,
		GoJob{Name: "vet", Run: "go vet ./...", Inputs: all},
		GoJob{Name: "build", Run: "go build ./...", Inputs: all})
	return w, nil
}

func dirGlob(dir, glob string) string {
	if dir == "" {
		return glob
	}
	return dir + "/" + glob
}

// copyTree copies src into dst, leaving out build outputs and run records,
// with files writable (the module cache's are read-only).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() && (rel == "bin" || rel == "dist" || rel == ".sparkwing" || d.Name() == ".git") {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}

// expand lists the files a job's input globs match in dir, for make,
// whose $(wildcard) has no **.
func expand(dir string, globs []string) ([]string, error) {
	var out []string
	for _, g := range globs {
		matches, err := doublestar.Glob(os.DirFS(dir), g, doublestar.WithFilesOnly())
		if err != nil {
			return nil, err
		}
		out = append(out, matches...)
	}
	sort.Strings(out)
	return out, nil
}

// goTools writes each Go peer's configuration for w; every tool gets the
// same jobs, commands, inputs and outputs.
var goTools = map[string]func(p *Project, w *GoWorkload) error{
	"sparkwing": func(p *Project, w *GoWorkload) error {
		var b strings.Builder
		b.WriteString("pipelines:\n  - name: build\n    jobs:\n")
		for _, j := range w.Jobs {
			inputs := quoteAll(j.Inputs)
			if len(j.Go) > 0 {
				inputs = fmt.Sprintf("{go: [%s], tests: %t}", quoteAll(j.Go), j.GoTests)
			}
			fmt.Fprintf(&b, "      %s:\n        run: %q\n        inputs: [%s]\n", j.Name, j.Run, inputs)
			fmt.Fprintf(&b, "        passthrough: [GOCACHE, GOMODCACHE, GOPATH, GOFLAGS, GOPROXY, GOTOOLCHAIN]\n")
			if len(j.Needs) > 0 {
				fmt.Fprintf(&b, "        needs: [%s]\n", strings.Join(j.Needs, ", "))
			}
			if len(j.Outputs) > 0 {
				fmt.Fprintf(&b, "        outputs: [%s]\n", quoteAll(j.Outputs))
			}
		}
		return write(p.Dir, ".sparkwing/sparkwing.yaml", b.String())
	},
	// make: a stamp file per job without outputs; prerequisites are the
	// input files listed at generation time (make has no recursive glob).
	"make": func(p *Project, w *GoWorkload) error {
		var b strings.Builder
		b.WriteString("MAKEFLAGS += --no-builtin-rules\n.SUFFIXES:\n\n.PHONY: all\nall:")
		target := map[string]string{}
		for _, j := range w.Jobs {
			target[j.Name] = ".stamps/" + j.Name
			if len(j.Outputs) > 0 {
				target[j.Name] = j.Outputs[0]
			}
			b.WriteString(" " + target[j.Name])
		}
		b.WriteString("\n\n")
		for _, j := range w.Jobs {
			files, err := expand(p.Dir, j.Inputs)
			if err != nil {
				return err
			}
			var prereq []string
			for _, f := range files {
				if !isOutputOf(w, f) {
					prereq = append(prereq, f)
				}
			}
			for _, n := range j.Needs {
				prereq = append(prereq, target[n])
			}
			fmt.Fprintf(&b, "%s: %s\n\t%s\n", target[j.Name], strings.Join(prereq, " "), j.Run)
			if len(j.Outputs) == 0 {
				fmt.Fprintf(&b, "\t@mkdir -p .stamps && touch %s\n", target[j.Name])
			}
			b.WriteString("\n")
		}
		return write(p.Dir, "Makefile", b.String())
	},
	// mage: a target per job, mg.Deps for needs, target.Dir over the
	// job's sources to skip a fresh one (a stamp file for a job without
	// outputs); mage itself joins the project's go.mod, as in a project
	// that uses it.
	"mage": func(p *Project, w *GoWorkload) error {
		var b strings.Builder
		b.WriteString("//go:build mage\n\npackage main\n\nimport (\n\t\"os\"\n\n\t\"github.com/magefile/mage/mg\"\n" +
			"\t\"github.com/magefile/mage/sh\"\n\t\"github.com/magefile/mage/target\"\n)\n\n")
		var names []string
		for _, j := range w.Jobs {
			names = append(names, goName(j.Name))
		}
		fmt.Fprintf(&b, "var Default = All\n\n// All builds every job.\nfunc All() { mg.Deps(%s) }\n\n", strings.Join(names, ", "))
		// target.Dir with no sources calls an existing dest fresh: such
		// a job (go test of a package) must run every time instead.
		b.WriteString("func job(dest, cmd string, stamp bool, sources ...string) error {\n" +
			"\tif stale, err := target.Dir(dest, sources...); len(sources) > 0 && (err != nil || !stale) {\n\t\treturn err\n\t}\n" +
			"\tif err := sh.Run(\"sh\", \"-c\", cmd); err != nil || !stamp {\n\t\treturn err\n\t}\n" +
			"\tos.MkdirAll(\".stamps\", 0o755)\n\treturn os.WriteFile(dest, nil, 0o644)\n}\n")
		for _, j := range w.Jobs {
			fmt.Fprintf(&b, "\nfunc %s() error {\n", goName(j.Name))
			var needs []string
			for _, n := range j.Needs {
				needs = append(needs, goName(n))
			}
			if len(needs) > 0 {
				fmt.Fprintf(&b, "\tmg.Deps(%s)\n", strings.Join(needs, ", "))
			}
			dest, stamp := ".stamps/"+j.Name, len(j.Outputs) == 0
			if !stamp {
				dest = j.Outputs[0]
			}
			fmt.Fprintf(&b, "\treturn job(%q, %q, %t, %s)\n}\n", dest, j.Run, stamp, quoteAll(j.Sources))
		}
		if err := write(p.Dir, "magefile.go", b.String()); err != nil {
			return err
		}
		get := exec.Command("go", "get", "github.com/magefile/mage@v1.17.2")
		get.Dir, get.Env = p.Dir, append(os.Environ(), "GOFLAGS=-mod=mod")
		if out, err := get.CombinedOutput(); err != nil {
			return fmt.Errorf("go get mage: %v\n%s", err, out)
		}
		return nil
	},
	"task": func(p *Project, w *GoWorkload) error {
		var b strings.Builder
		b.WriteString("version: '3'\nrun: once\ntasks:\n  default:\n    deps: [")
		var names []string
		for _, j := range w.Jobs {
			names = append(names, j.Name)
		}
		b.WriteString(strings.Join(names, ", ") + "]\n")
		for _, j := range w.Jobs {
			fmt.Fprintf(&b, "  %s:\n    sources: [%s]\n    cmds: [%q]\n", j.Name, quoteAll(j.Inputs), j.Run)
			if len(j.Needs) > 0 {
				fmt.Fprintf(&b, "    deps: [%s]\n", strings.Join(j.Needs, ", "))
			}
			if len(j.Outputs) > 0 {
				fmt.Fprintf(&b, "    generates: [%s]\n", quoteAll(j.Outputs))
			}
		}
		return write(p.Dir, "Taskfile.yml", b.String())
	},
}

func isOutputOf(w *GoWorkload, f string) bool {
	for _, j := range w.Jobs {
		for _, o := range j.Outputs {
			if o == f {
				return true
			}
		}
	}
	return false
}

// goTool adapts a Go workload to the Tool interface for one peer.
type goTool struct {
	name string
	w    *GoWorkload
	base Tool // the synthetic tool whose Build command it shares
}

func (g goTool) Name() string              { return g.name }
func (g goTool) Cache() bool               { return g.base.Cache() }
func (g goTool) Build(p *Project) []string { return g.base.Build(p) }

func (g goTool) Setup(p *Project) error {
	if err := copyTree(g.w.Src, p.Dir); err != nil {
		return err
	}
	return goTools[g.name](p, g.w)
}

// Clean empties the tool's caches, the Go build cache it was given, and
// every output (generated code included).
func (g goTool) Clean(p *Project) error {
	for _, dir := range []string{"gocache", "sparkwing-cache"} {
		if err := os.RemoveAll(filepath.Join(p.Scratch, dir)); err != nil {
			return err
		}
	}
	paths := []string{".stamps", ".task", ".sparkwing/runs"}
	for _, j := range g.w.Jobs {
		paths = append(paths, j.Outputs...)
	}
	for _, rel := range paths {
		if err := os.RemoveAll(filepath.Join(p.Dir, rel)); err != nil {
			return err
		}
	}
	return nil
}

// Output is the last job's first output; only its existence is compared
// (Go binaries embed their directory, so bytes differ between copies).
func (g goTool) Output(p *Project, i int) string { return "" }
