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

// withGoEnv adds GoEnv to the env of a job with `go:` inputs.
func withGoEnv(j Job) Job {
	if len(j.GoInputs) == 0 {
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
