package pipeline

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path"
	"strings"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/plan"
	sw "github.com/sparkwing-dev/sparkwing/sparkwing"
)

// ArgError is a pipeline argument (or plan) the program rejected: Msg is
// its explanation. Pipeline is the project's name for it, set by the
// caller; Type the Go type.
type ArgError struct {
	Pipeline, Type string
	Msg            string
}

func (e *ArgError) Error() string {
	name := e.Pipeline
	if name == "" {
		name = e.Type
	}
	return fmt.Sprintf("pipeline %s: %s", name, strings.TrimRight(e.Msg, "\n"))
}

// List returns the Go pipeline types the program registers.
func (p *Program) List(ctx context.Context, root string, environ []string) ([]string, error) {
	var names []string
	return names, p.call(ctx, root, environ, &names, "list")
}

// Args returns the arguments of Go pipeline type name, with their defaults
// as values.
func (p *Program) Args(ctx context.Context, root, name string, environ []string) ([]sw.WireArg, error) {
	var args []sw.WireArg
	return args, p.call(ctx, root, environ, &args, "args", name)
}

// call runs the program with args and decodes what it prints into v.
func (p *Program) call(ctx context.Context, root string, environ []string, v any, args ...string) error {
	cmd := exec.CommandContext(ctx, p.Path, args...)
	cmd.Dir, cmd.Env = root, environ
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 2 && len(args) > 1 {
			return &ArgError{Type: args[1], Msg: stderr.String()}
		}
		return fmt.Errorf("the pipeline program failed (%s): %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), v); err != nil {
		return fmt.Errorf("the pipeline program printed no valid answer to %s: %v", strings.Join(args, " "), err)
	}
	return nil
}

// Plan asks the program for the jobs of the Go pipeline type name, given
// its arguments, and resolves them into plan jobs whose Go steps run this
// program.
func (p *Program) Plan(ctx context.Context, root, name string, args, environ []string) ([]plan.Job, error) {
	var wire sw.WirePlan
	if err := p.call(ctx, root, environ, &wire, append([]string{"plan", name}, args...)...); err != nil {
		return nil, err
	}
	if wire.Protocol != sw.ProtocolVersion {
		return nil, fmt.Errorf("pipeline %s: plan protocol %d, want %d", name, wire.Protocol, sw.ProtocolVersion)
	}
	return p.jobs(name, args, wire.Jobs)
}

func (p *Program) jobs(name string, args []string, wjobs []sw.WireJob) ([]plan.Job, error) {
	jobs := make([]plan.Job, 0, len(wjobs))
	for _, w := range wjobs {
		j := plan.Job{
			ID: w.ID, Description: w.Description, Run: w.Run, Needs: w.Needs,
			Inputs: w.Inputs, Outputs: w.Outputs, Env: w.Env, Passthrough: w.Passthrough,
			Tools: w.Tools, Cache: w.Cache, Retries: w.Retries, Stamp: w.Stamp,
		}
		for _, g := range w.GoInputs {
			j.GoInputs = append(j.GoInputs, plan.GoInput{Packages: g.Packages, Dir: g.Dir, Tests: g.Tests})
		}
		if t := w.GoTest; t != nil {
			j.GoTest = &plan.GoTest{Packages: t.Packages, Flags: t.Flags, Dir: t.Dir}
		}
		for _, s := range w.Stamp {
			if _, ok := plan.StampEnv[s]; !ok {
				return nil, &plan.JobError{Job: w.ID, Msg: fmt.Sprintf("stamps with %q: a job can stamp with commit or describe", s)}
			}
		}
		if w.Timeout != "" {
			d, err := time.ParseDuration(w.Timeout)
			if err != nil {
				return nil, fmt.Errorf("pipeline %s, job %s: bad timeout %q", name, w.ID, w.Timeout)
			}
			j.Timeout = d
		}
		if w.Step {
			j.Step = &plan.GoStep{Program: p.Path, Pipeline: name, Args: args, Digest: p.Digest}
		}
		if s := w.Service; s != nil {
			svc := &plan.Service{Run: s.Run, Health: s.Health, StopSignal: s.StopSignal, RestartOn: s.RestartOn}
			for _, d := range []struct {
				text string
				into *time.Duration
			}{{s.ReadyTimeout, &svc.ReadyTimeout}, {s.StopTimeout, &svc.StopTimeout}} {
				if d.text == "" {
					continue
				}
				v, err := time.ParseDuration(d.text)
				if err != nil || v <= 0 {
					return nil, &plan.JobError{Job: w.ID, Msg: fmt.Sprintf("has a bad service timeout %q: write a duration such as 30s", d.text)}
				}
				*d.into = v
			}
			j.Service = svc
		}
		if w.Deploy != nil {
			d, err := deployOf(w.Deploy)
			if err != nil {
				return nil, &plan.JobError{Job: w.ID, Msg: "has a bad deploy: " + err.Error()}
			}
			j.Deploy = d
		}
		if w.Image != nil {
			im, err := imageOf(w.Image)
			if err != nil {
				return nil, &plan.JobError{Job: w.ID, Msg: "has a bad image: " + err.Error()}
			}
			j.Image = im
			if im.Export != "" {
				j.Outputs = []string{path.Clean(im.Export)}
			}
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// deployOf converts the SDK's deploy spec, checking it as the project
// file's `deploy:` is checked.
func deployOf(s *sw.DeploySpec) (*plan.Deploy, error) {
	d := &plan.Deploy{Kustomize: s.Kustomize, Images: s.Images, Context: s.Context, Rollout: !s.NoRolloutWait,
		Health: s.Health, Expects: s.Expects, Prune: s.Prune, OnFailure: plan.OnFailureRollback}
	if s.KeepOnFailure {
		d.OnFailure = plan.OnFailureKeep
	}
	for profile, g := range s.GitOps {
		if d.GitOps == nil {
			d.GitOps = map[string]plan.GitOps{}
		}
		d.GitOps[profile] = plan.GitOps{Repo: g.Repo, Path: g.Path, Branch: cmp.Or(g.Branch, plan.DefaultGitOpsBranch), ArgoCD: g.ArgoCD}
	}
	for _, t := range []struct {
		text string
		into *time.Duration
	}{{s.Timeout, &d.Timeout}, {s.HealthTimeout, &d.HealthTimeout}} {
		if t.text == "" {
			continue
		}
		v, err := time.ParseDuration(t.text)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("timeout %q: write a duration such as 2m", t.text)
		}
		*t.into = v
	}
	return d, d.Check()
}

// imageOf converts the SDK's image spec, checking it as the project file's
// `image:` is checked.
func imageOf(s *sw.ImageSpec) (*plan.Image, error) {
	im := &plan.Image{Dockerfile: s.Dockerfile, Context: s.Context, Contexts: s.Contexts, Target: s.Target,
		Args: s.Args, Platforms: s.Platforms, Repository: s.Repository, Push: s.Push, NoDoctor: s.NoDoctor, WholeContext: s.WholeContext,
		Sync: s.Sync}
	for _, t := range s.Tags {
		im.Tags = append(im.Tags, plan.Tag{Name: t.Name, UsedBy: t.UsedBy})
	}
	for _, list := range []struct {
		texts []string
		into  *[]plan.CacheSpec
	}{{s.CacheFrom, &im.CacheFrom}, {s.CacheTo, &im.CacheTo}} {
		for _, text := range list.texts {
			c, err := plan.ParseCacheSpec(text)
			if err != nil {
				return nil, err
			}
			*list.into = append(*list.into, c)
		}
	}
	if e := s.Export; e != nil {
		switch {
		case e.To == "":
			return nil, fmt.Errorf("export needs To: the directory the target's files go to, such as dist/out")
		case e.Target != "" && im.Target != "" && e.Target != im.Target:
			return nil, fmt.Errorf("export target %q and image target %q differ: the export builds one target; keep one of them", e.Target, im.Target)
		case e.Target != "":
			im.Target = e.Target
		}
		im.Export = e.To
	}
	return im, im.Check()
}
