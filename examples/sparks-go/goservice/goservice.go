// Package goservice is an example spark: the jobs every Go service's
// pipeline needs (vet, test, build), added to a pipeline's plan in one
// call, so that the pipelines of many repositories share them and pick up
// a new release of this module without a go.mod change of their own.
//
// A project names it in .sparkwing/sparkwing.yaml:
//
//	sparks:
//	  - name: go-service
//	    source: github.com/sparkwing-dev/sparks-go
//	    version: ^1.0
//
// and its Go pipeline calls it:
//
//	jobs := goservice.Add(p, goservice.Options{Main: "./cmd/server", Binary: "bin/server"})
//	p.Go("smoke", smoke).Needs(jobs.Build)
package goservice

import (
	"fmt"
	"strings"

	sw "github.com/sparkwing-dev/sparkwing/sparkwing"
)

// Options says what to build and how.
type Options struct {
	Main    string    // the main package: ./cmd/server
	Binary  string    // where the binary goes: bin/server
	LDFlags string    // passed to go build -ldflags, such as "-X main.version=1.2.0"
	Needs   []*sw.Job // jobs to run first, such as code generation
	// Passthrough lists the environment the go command may see without
	// being part of the jobs' keys (its caches); default GOCACHE,
	// GOMODCACHE, GOPATH and GOPROXY. (The settings that change a build,
	// such as GOFLAGS and GOOS, are keyed: the jobs' inputs are Go
	// packages.)
	Passthrough []string
}

// Jobs are the jobs Add made, for the pipeline to build on.
type Jobs struct {
	Vet, Test, Build *sw.Job
}

var defaultPassthrough = []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOPROXY"}

// Add adds vet, test and build jobs for a Go service to p. A bad option
// is reported as a plan error (the run does not start).
func Add(p *sw.Plan, o Options) Jobs {
	if o.Main == "" || o.Binary == "" {
		p.Errorf("goservice: Options.Main and Options.Binary are required (such as ./cmd/server and bin/server)")
		return Jobs{}
	}
	if strings.ContainsAny(o.LDFlags, "'\n") {
		p.Errorf("goservice: LDFlags %q: no single quotes or newlines", o.LDFlags)
		return Jobs{}
	}
	pass := o.Passthrough
	if pass == nil {
		pass = defaultPassthrough
	}
	all := sw.GoPackages{Packages: []string{"./..."}, Tests: true}
	vet := p.Run("vet", "go vet ./...").Needs(o.Needs...).GoInput(all).Passthrough(pass...)
	test := p.Run("test", "go test ./...").Needs(o.Needs...).GoInput(all).Passthrough(pass...)
	build := fmt.Sprintf("go build -o %s %s", o.Binary, o.Main)
	if o.LDFlags != "" {
		build = fmt.Sprintf("go build -ldflags '%s' -o %s %s", o.LDFlags, o.Binary, o.Main)
	}
	server := p.Run("build", build).Needs(o.Needs...).GoInputs(o.Main).Outputs(o.Binary).Passthrough(pass...)
	return Jobs{Vet: vet, Test: test, Build: server}
}
