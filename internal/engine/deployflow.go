package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/sparkwing-dev/sparkwing/internal/deploy"
	"github.com/sparkwing-dev/sparkwing/internal/helperproc"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
	"github.com/sparkwing-dev/sparkwing/internal/sched"
)

// ReasonApplied is the cache reason of a deploy the cluster already runs.
const ReasonApplied = "already applied"

// ReasonAsksCluster is what a plan predicts of a deploy: only the cluster
// can say whether it already runs what the job would apply.
const ReasonAsksCluster = "asks the cluster"

// deploys is what deploy jobs of one run share: one search for the
// helper, the references image jobs produced, and the first setup error.
type deploys struct {
	helper string // $SPARKWING_DEPLOY_HELPER, or "" to look for it

	mu       sync.Mutex
	path     string
	refs     map[string]string // image job → REGISTRY/REPO:CONTENT-TAG
	setupErr error             // no helper, or a deploy's configuration: exit 2
}

// setRef records what image job id produced, for the deploys that pin it.
func (s *deploys) setRef(id, ref string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refs == nil {
		s.refs = map[string]string{}
	}
	s.refs[id] = ref
}

func (s *deploys) ref(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refs[id]
}

// program finds the helper once per run.
func (s *deploys) program() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path == "" && s.setupErr == nil {
		s.path, s.setupErr = deploy.FindHelper(s.helper)
	}
	return s.path, s.setupErr
}

func (s *deploys) failedSetup(err error) {
	var ce *deploy.ConfigError
	var me *helperproc.MissingError
	if errors.As(err, &ce) || errors.As(err, &me) {
		s.mu.Lock()
		if s.setupErr == nil {
			s.setupErr = err
		}
		s.mu.Unlock()
	}
}

func (s *deploys) setupError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setupErr
}

// doDeploy runs a deploy job through sparkwing-deploy: render the overlay
// with the images the run built, apply, wait, check, roll back on failure.
// It is a hit (already applied) when the cluster runs exactly what it
// would apply; it never enters the last-run record, so every run asks the
// cluster.
func (e *execution) doDeploy(ctx context.Context, j plan.Job) (runrec.Job, sched.Status) {
	rj := runrec.Job{Cache: runrec.Cache{Result: "miss", Reason: "not applied"}}
	if e.opts.NoCache {
		rj.Cache.Reason = "disabled"
	}
	req := deploy.Request{Root: e.opts.Root, Pipeline: e.plan.Name, Job: j.ID, RunID: e.run.ID, Profile: e.opts.Images.Profile,
		Force: e.opts.NoCache, Deploy: j.Deploy, Images: map[string]string{}, Expects: expectedWorkloads(e.plan, j)}
	for _, name := range j.Deploy.ImageNames() {
		id := j.Deploy.Images[name]
		ref := e.deploys.ref(id)
		if ref == "" {
			err := &deploy.ConfigError{Job: j.ID, Msg: fmt.Sprintf("image %s comes from job %s, which pushes to no registry in profile %s", name, id, req.Profile),
				Fix: fmt.Sprintf("add a registry the cluster pulls from to %s's `push: {%s: [...]}`", id, req.Profile)}
			e.deploys.failedSetup(err)
			return e.fail(j, rj, err)
		}
		req.Images[name] = ref
	}
	if s := e.opts.DeploySync; s != nil {
		if files := deploy.SyncFiles(e.plan, j, e.opts.Root); len(files) > 0 {
			req.Sync = &deploy.Sync{Supervisor: s.Supervisor, Generation: s.Generation, Files: files}
		}
	}
	program, err := e.deploys.program()
	if err != nil {
		return e.fail(j, rj, err)
	}
	out, done, err := e.output(j)
	if err != nil {
		return e.fail(j, rj, err)
	}
	m, err := deploy.Run(ctx, program, "apply", req, out)
	done()
	if m != nil {
		rj.Key = m.Key
	}
	switch {
	case err != nil && ctx.Err() != nil:
		rj.Status, rj.Error = runrec.Cancelled, "cancelled"
		return rj, sched.Cancelled
	case err != nil:
		e.deploys.failedSetup(err)
		return e.fail(j, rj, err)
	case !m.Applied:
		rj.Cache = runrec.Cache{Result: "hit", Reason: cmp.Or(m.Reason, ReasonApplied)}
		rj.Status = runrec.Cached
		return rj, sched.Succeeded
	}
	rj.Status, rj.Deploy = runrec.Ran, m.Phases
	return rj, sched.Succeeded
}
