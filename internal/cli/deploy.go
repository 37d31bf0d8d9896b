package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sparkwing-dev/sparkwing/internal/deploy"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

func newDeployCmd(e *env, g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Look at what a pipeline's deploy jobs apply to Kubernetes",
	}
	var profile string
	diff := &cobra.Command{
		Use:   "diff PIPELINE JOB [--profile PROFILE] [PIPELINE ARGUMENTS]",
		Short: "Print how the cluster differs from what a deploy job would apply",
		Long: `Render the deploy job's overlay for the profile with its images pinned to
the content tags its image jobs would push (as they are on disk now), ask
the API server for a dry run of applying it, and print, object by object, a
unified diff from the live object to that result (server-managed fields
left out). Nothing is applied and nothing is built.

Exits 0 when the cluster already runs what the job would apply, 1 when it
differs, 2 on a configuration error (the same checks a run makes).`,
		DisableFlagParsing: true,
		ValidArgsFunction:  e.completePipelineArgs(g, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			inv, err := e.invoke(cmd, g, args, nil, nil)
			if inv == nil || err != nil {
				return err
			}
			if inv.name == "" || len(inv.rest) == 0 {
				return usageError("usage: sparkwing deploy diff PIPELINE JOB [--profile PROFILE]")
			}
			pl, err := e.resolvePlan(e.ctx, inv.root, inv.file, inv.name, inv.rest[1:], false)
			if err != nil {
				return err
			}
			id := inv.rest[0]
			i := pl.Index(id)
			switch {
			case i < 0:
				return usageError("pipeline %s has no job %q%s", pl.Name, id, plan.SuggestOrList(id, jobIDs(pl), "jobs"))
			case pl.Jobs[i].Deploy == nil:
				return usageError("job %s of pipeline %s is not a deploy job", id, pl.Name)
			}
			images := e.imageOptions(inv.file, profile, false)
			preds, err := e.predict(inv.root, pl, images, true)
			if err != nil {
				return err
			}
			j := pl.Jobs[i]
			req := deploy.Request{Root: inv.root, Pipeline: pl.Name, Job: id, Profile: images.Profile, Deploy: j.Deploy,
				Images: map[string]string{}}
			for _, name := range j.Deploy.ImageNames() {
				p := preds[pl.Index(j.Deploy.Images[name])]
				if p.Image == "" {
					return usageError("image %s comes from job %s, which pushes to no registry in profile %s", name, p.ID, images.Profile)
				}
				req.Images[name] = p.Image
			}
			program, err := deploy.FindHelper(e.getenv("SPARKWING_DEPLOY_HELPER"))
			if err != nil {
				return withHint(err)
			}
			m, err := deploy.Run(e.ctx, program, "diff", req, e.stdout)
			if err != nil {
				return withHint(err)
			}
			if m.Differs {
				return &exitError{code: exitFailed}
			}
			return nil
		},
	}
	diff.Flags().StringVar(&profile, "profile", "", "the `PROFILE` whose overlay and registries to use, as run --profile (default $SPARKWING_PROFILE, else local)")
	cmd.AddCommand(diff)
	return cmd
}

// withHint makes a setup error (one with a Hint: a missing helper, a
// deploy's configuration) exit 2 with its fix.
func withHint(err error) error {
	var setup interface{ Hint() string }
	if errors.As(err, &setup) {
		return &exitError{code: exitUsage, err: fmt.Errorf("%w\n%s", err, setup.Hint())}
	}
	return err
}
