package engine

import (
	"context"
	"io"
	"os/exec"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
	"github.com/sparkwing-dev/sparkwing/internal/gobuild"
	"github.com/sparkwing-dev/sparkwing/internal/job"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// goBuildable says whether j is a `go build` the run's go builder may
// take over (sparkwing dev): a keyed job, its command one go build of
// packages its `go:` inputs hold.
func (e *execution) goBuildable(j plan.Job, comp *cache.Computed) (gobuild.Command, bool) {
	if e.opts.GoBuilds == nil || comp == nil || j.Step != nil || j.Retries > 0 {
		return gobuild.Command{}, false
	}
	c, ok := gobuild.Parse(j.Run)
	var patterns []string
	for _, g := range j.GoInputs {
		if g.Dir == "" {
			patterns = append(patterns, g.Packages...)
		}
	}
	return c, ok && c.CoveredBy(patterns)
}

// goBuild builds j's binary through the go builder, with the job's
// timeout and retries. (store drops the record of a build whose inputs
// changed while it ran.)
func (e *execution) goBuild(ctx context.Context, j plan.Job, c gobuild.Command, comp *cache.Computed, started func(int)) job.Result {
	out, done, err := e.output(j)
	if err != nil {
		return job.Result{Status: job.Failed, Err: err}
	}
	defer done()
	return e.runner.RunFunc(ctx, j, out, func(ctx context.Context) error {
		return e.opts.GoBuilds.Build(ctx, gobuild.Job{ID: j.ID, Dir: e.opts.Root, Command: c, Env: e.runner.Env(j),
			Manifest: comp.Manifest, Out: out,
			Exec: func(ctx context.Context, cmd *exec.Cmd, w io.Writer) error {
				return e.runner.Exec(ctx, cmd, w, started)
			}})
	})
}
