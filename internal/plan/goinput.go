package plan

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
)

// GoInput is a `go:` input: every file the go command reads to build
// Packages and what they import, inside the main module and the
// directories it replaces modules with (internal/goinput resolves it with
// `go list -deps`). Modules from the module cache are keyed by version.
type GoInput struct {
	Packages []string `json:"packages"`        // package patterns, as `go list` takes them: ./cmd/server, ./...
	Dir      string   `json:"dir,omitempty"`   // where the go command runs, relative to the root; "" is the root
	Tests    bool     `json:"tests,omitempty"` // the packages' test files (and testdata) too
}

// Check reports a GoInput that cannot be resolved as written.
func (g GoInput) Check() error {
	if len(g.Packages) == 0 {
		return errors.New("it names no package (write go: ./cmd/server, or go: ./... for every package)")
	}
	for _, p := range g.Packages {
		if p == "" || strings.HasPrefix(p, "-") || strings.ContainsAny(p, " \t\n") {
			return fmt.Errorf("%q is not a package pattern (write ./cmd/server, ./..., or an import path)", p)
		}
	}
	if d := path.Clean(g.Dir); g.Dir != "" && (path.IsAbs(g.Dir) || d == ".." || strings.HasPrefix(d, "../")) {
		return fmt.Errorf("dir %q must be a directory inside the project, relative to its root", g.Dir)
	}
	return nil
}

// String is the input as a user would write it in a project file.
func (g GoInput) String() string {
	s := "go: " + strings.Join(g.Packages, " ")
	if g.Dir != "" && path.Clean(g.Dir) != "." {
		s += ", dir: " + g.Dir
	}
	if g.Tests {
		s += ", tests: true"
	}
	return s
}

// GoEnv are the variables that change what the go command builds. A job
// with `go:` inputs sees them and is keyed by them, as if it had declared
// them in `env`. (The go env file's settings are keyed by goinput.)
var GoEnv = []string{
	"GOOS", "GOARCH", "GOFLAGS", "CGO_ENABLED", "GOEXPERIMENT", "GOTOOLCHAIN", "GOROOT", "GOWORK", "GOENV",
	"GOFIPS140", "GO386", "GOAMD64", "GOARM", "GOARM64", "GOMIPS", "GOMIPS64", "GOPPC64", "GORISCV64", "GOWASM",
	"CC", "CXX", "CGO_CFLAGS", "CGO_CPPFLAGS", "CGO_CXXFLAGS", "CGO_FFLAGS", "CGO_LDFLAGS", "PKG_CONFIG",
}

// withGoEnv adds GoEnv to the env of a job with `go:` inputs or Go
// tests, and gives a Go test job its command.
func withGoEnv(j Job) Job {
	if j.GoTest != nil && j.Run == "" && j.Step == nil && j.Image == nil {
		j.Run = j.GoTest.Command(false)
	}
	if len(j.GoInputs) == 0 && j.GoTest == nil {
		return j
	}
	env := slices.Clone(j.Env)
	for _, name := range GoEnv {
		if !slices.Contains(env, name) {
			env = append(env, name)
		}
	}
	j.Env = env
	return j
}

// GoTest makes a job run the tests of Packages with `go test`, one process
// for every package that must run, while each package's result is cached
// on its own (internal/engine/gotest.go): after an edit, only the packages
// whose files changed are tested, and they still share compilation.
type GoTest struct {
	Packages []string `json:"packages"`        // patterns, as go test takes them: ./...
	Flags    []string `json:"flags,omitempty"` // go test flags, such as -race or -count=1
	Dir      string   `json:"dir,omitempty"`   // where the go command runs, relative to the root
}

// goTestFlagsRefused are the go test flags that would change what its
// output is made of: sparkwing reads it as go test -json prints it.
var goTestFlagsRefused = []string{"-json", "-c", "-o", "-exec", "-i", "-n"}

// Check reports a GoTest that cannot run as written.
func (t GoTest) Check() error {
	if err := t.Input().Check(); err != nil {
		return err
	}
	for _, f := range t.Flags {
		name, _, _ := strings.Cut(f, "=")
		switch {
		case !strings.HasPrefix(f, "-"):
			return fmt.Errorf("flag %q is not a go test flag (write -race, -count=1, -run=TestX)", f)
		case slices.Contains(goTestFlagsRefused, strings.Replace(name, "--", "-", 1)):
			return fmt.Errorf("flag %q changes what go test prints, which sparkwing reads package by package: drop it", f)
		}
	}
	return nil
}

// Input is what the tests read: the packages and their tests.
func (t GoTest) Input() GoInput { return GoInput{Packages: t.Packages, Dir: t.Dir, Tests: true} }

// Command is the shell command that tests packages (t.Packages when none
// are given), with -json when json is set.
func (t GoTest) Command(json bool, packages ...string) string {
	if len(packages) == 0 {
		packages = t.Packages
	}
	args := []string{"go", "test"}
	if json {
		args = append(args, "-json")
	}
	args = append(append(args, t.Flags...), packages...)
	for i, a := range args {
		args[i] = shellQuote(a)
	}
	cmd := strings.Join(args, " ")
	if d := path.Clean(t.Dir); t.Dir != "" && d != "." {
		cmd = "cd " + shellQuote(d) + " && " + cmd
	}
	return cmd
}

// shellQuote quotes s for /bin/sh when it holds anything but plain
// characters.
func shellQuote(s string) string {
	plain := s != ""
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./=:,+@%", c)) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
