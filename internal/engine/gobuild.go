package engine

import (
	"context"
	"errors"
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

// goBuild builds j's binary through the go builder. (store drops the
// record of a build whose inputs changed while it ran.)
func (e *execution) goBuild(ctx context.Context, j plan.Job, c gobuild.Command, comp *cache.Computed, started func(int)) job.Result {
	out, done, err := e.output(j)
	if err != nil {
		return job.Result{Status: job.Failed, Err: err}
	}
	defer done()
	if j.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, j.Timeout)
		defer cancel()
	}
	err = e.opts.GoBuilds.Build(ctx, gobuild.Job{ID: j.ID, Dir: e.opts.Root, Command: c, Env: e.runner.Env(j),
		Manifest: comp.Manifest, Out: out,
		Exec: func(ctx context.Context, cmd *exec.Cmd, w io.Writer) error {
			return e.runner.Exec(ctx, cmd, w, started)
		}})
	switch {
	case err == nil:
		return job.Result{Status: job.OK, Attempts: 1}
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return job.Result{Status: job.Failed, Err: errors.New("timed out after " + j.Timeout.String()), Attempts: 1}
	case ctx.Err() != nil:
		return job.Result{Status: job.Cancelled, Err: errors.New("cancelled"), Attempts: 1}
	}
	return job.Result{Status: job.Failed, Err: err, Attempts: 1}
}
