package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/plan"
	sw "github.com/sparkwing-dev/sparkwing/sparkwing"
)

// ArgError is a pipeline argument the program rejected; Msg is its
// explanation (with usage).
type ArgError struct {
	Pipeline string
	Msg      string
}

func (e *ArgError) Error() string {
	return fmt.Sprintf("pipeline %s: %s", e.Pipeline, strings.TrimRight(e.Msg, "\n"))
}

// Help runs the program's argument help for pipeline name and returns it.
func (p *Program) Help(ctx context.Context, root, name string, environ []string) (string, error) {
	cmd := exec.CommandContext(ctx, p.Path, "plan", name, "-help")
	cmd.Dir, cmd.Env = root, environ
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Plan asks the program for the jobs of the Go pipeline type name, given
// its arguments, and resolves them into plan jobs whose Go steps run this
// program.
func (p *Program) Plan(ctx context.Context, root, name string, args, environ []string) ([]plan.Job, error) {
	cmd := exec.CommandContext(ctx, p.Path, append([]string{"plan", name}, args...)...)
	cmd.Dir, cmd.Env = root, environ
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 2 {
			return nil, &ArgError{Pipeline: name, Msg: stderr.String()}
		}
		return nil, fmt.Errorf("pipeline %s: planning failed: %v\n%s", name, err, stderr.String())
	}
	var wire sw.WirePlan
	if err := json.Unmarshal(stdout.Bytes(), &wire); err != nil {
		return nil, fmt.Errorf("pipeline %s: the program printed no valid plan: %v", name, err)
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
			Tools: w.Tools, Cache: w.Cache, Retries: w.Retries,
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
		if w.Image != nil {
			im, err := imageOf(w.Image)
			if err != nil {
				return nil, &plan.JobError{Job: w.ID, Msg: "has a bad image: " + err.Error()}
			}
			j.Image = im
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// imageOf converts the SDK's image spec, checking it as the project file's
// `image:` is checked.
func imageOf(s *sw.ImageSpec) (*plan.Image, error) {
	im := &plan.Image{Dockerfile: s.Dockerfile, Context: s.Context, Contexts: s.Contexts, Target: s.Target,
		Args: s.Args, Platforms: s.Platforms, Repository: s.Repository, Push: s.Push, NoDoctor: s.NoDoctor}
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
	return im, im.Check()
}
