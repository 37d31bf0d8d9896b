// Package sparkwing is the SDK for sparkwing pipelines written in Go.
//
// A pipeline is a type with a Plan method. It lives in the .sparkwing/ Go
// module of a project (package main, with no main function: sparkwing
// supplies it) and is registered from an init function:
//
//	type Release struct {
//		Version string `help:"version to stamp into the binary"`
//	}
//
//	func (r *Release) Plan(p *sw.Plan) {
//		build := p.Run("build", "go build -o bin/app ./cmd/app").
//			GoInputs("./cmd/app").Outputs("bin/app")
//		p.Go("notes", func(ctx context.Context, j *sw.JobContext) error {
//			j.Logf("releasing %s", r.Version)
//			return nil
//		}).Needs(build)
//	}
//
//	func init() { sw.Register(&Release{Version: "dev"}) }
//
// The exported fields of a pipeline struct are its typed arguments:
// `sparkwing run release --version 1.2.0` sets Version before Plan is called.
//
// The program only describes: it prints its plan and runs one Go step when
// asked. Scheduling, caching and logs belong to the sparkwing engine. This
// package therefore depends on the standard library alone.
//
// # Go inputs
//
// Job.GoInputs makes a job's inputs the files the go command reads to build
// the packages named (and everything they import), as `go list -deps` finds
// them: Go files for this platform and these tags, embedded files even when
// git-ignored, replaced and workspace modules' files; modules from the
// module cache count by version, and the toolchain and the Go settings
// (GOFLAGS, GOOS, CGO_ENABLED, ...) are in the key. Job.GoInput takes the
// options: a directory to run the go command in, and whether the packages'
// tests count:
//
//	p.Run("vet", "go vet ./...").GoInput(sw.GoPackages{Packages: []string{"./..."}, Tests: true})
//
// Plan.GoTest adds a job that runs Go tests with each package's result
// cached on its own, the packages that must run tested in one go test
// process:
//
//	p.GoTest("test", sw.GoTests{Packages: []string{"./..."}, Flags: []string{"-race"}})
//
// # Sparks: pipeline code shared between projects
//
// A spark is an ordinary Go module whose packages add jobs to a *Plan. A
// project names it in the sparks: block of its sparkwing.yaml, with a
// version or a range, and imports its packages from the Go pipeline;
// sparkwing resolves the version through the module proxy when it
// compiles the pipeline, so a new release of the spark reaches every
// project without a go.mod change in any of them.
//
// A spark's packages export functions that take the *Plan and typed
// options and return the jobs they added, so the calling pipeline can
// make its own jobs need them:
//
//	// Package goservice: vet, test and build for a Go service.
//	package goservice
//
//	type Options struct {
//		Main, Binary string    // ./cmd/server, bin/server
//		Needs        []*sw.Job // jobs to run first
//	}
//
//	type Jobs struct{ Vet, Test, Build *sw.Job }
//
//	func Add(p *sw.Plan, o Options) Jobs {
//		if o.Main == "" {
//			p.Errorf("goservice: Options.Main is required")
//			return Jobs{}
//		}
//		...
//	}
//
// Report bad options with Plan.Errorf: the run then stops before any job
// starts, with the message. Choose job ids the calling pipeline will not
// reuse, or take them as options. The spark's go.mod requires
// github.com/sparkwing-dev/sparkwing at v0.0.0: a pipeline is always
// compiled against the SDK inside the sparkwing that runs it, whatever
// version a spark names. Keep the spark's go.mod tidy (go mod tidy): its
// requirements are the ones the pipeline is built with.
//
// While developing a spark next to a pipeline that uses it, point the
// module at the directory with a go.work (use ./sparks-go) or a replace
// directive in .sparkwing/go.mod; sparkwing then builds from that
// directory, recompiling when its files change, and `sparkwing pipeline
// sparks list` says so. examples/sparks-go in sparkwing's repository is a
// complete spark, and examples/hello-service uses it.
package sparkwing
