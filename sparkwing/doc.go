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
//			Inputs("**/*.go", "go.mod").Outputs("bin/app")
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
package sparkwing
