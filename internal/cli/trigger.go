package cli

import (
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sparkwing-dev/sparkwing/internal/project"
	"github.com/sparkwing-dev/sparkwing/internal/ui"
)

func newPipelineCmd(e *env, g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pipeline",
		Short: "Run pipelines elsewhere (trigger one on a controller); manage their sparks",
	}
	cmd.AddCommand(newTriggerCmd(e, g), newSparksCmd(e, g))
	return cmd
}

func newTriggerCmd(e *env, g *globals) *cobra.Command {
	var cf controllerFlags
	var o TriggerOptions
	cmd := &cobra.Command{
		Use:   "trigger PIPELINE [flags] [PIPELINE ARGUMENTS]",
		Short: "Run a pipeline on a controller's runners against your commit, with live logs",
		Long: `Run PIPELINE on the controller of --profile against the commit you have
checked out, and show it here as a local run shows: the live view, the
logs, the summary. The controller fetches the commit from your repository's
upstream first; a commit you have not pushed is sent along as a git bundle.
Uncommitted changes are refused unless --allow-dirty, which sends them as
a patch and marks the run dirty.

Ctrl-C once cancels the run (its jobs are stopped on the runner) and waits
for it to end; twice leaves it running and returns.

Arguments after PIPELINE that are not the trigger's own flags are passed
to 'sparkwing run PIPELINE' on the runner.

Exit status: the run's (0 success, 1 a job failed, 2 usage, configuration
or plan error, 130 cancelled), or 3 when the outcome is unknown: the
controller did not answer for --wait-timeout.`,
		Example:            "  sparkwing pipeline trigger build-deploy --profile prod\n  sparkwing pipeline trigger test --profile ci --only unit",
		DisableFlagParsing: true, // pipeline arguments pass through; see splitArgs
		RunE: func(c *cobra.Command, args []string) error {
			name, rest, err := parseOwnFlags(c, args)
			if err != nil {
				return err
			}
			if help, _ := c.Flags().GetBool("help"); help {
				return c.Help()
			}
			if name == "" {
				return usageError("pipeline trigger needs the PIPELINE to run (see sparkwing pipeline trigger --help)")
			}
			if e.remote == nil {
				return e.handOff()
			}
			ctl, err := e.controller(&cf)
			if err != nil {
				return err
			}
			dir, err := g.startDir()
			if err != nil {
				return err
			}
			root, err := project.FindRoot(dir)
			if err != nil {
				return err
			}
			o.Controller, o.Dir, o.Pipeline, o.Args = ctl, root, name, rest
			// The labels a runner needs come from the work tree's file, which
			// is the commit's (or, with --allow-dirty, what is sent). A
			// pipeline the file lacks is the runner's plan error to report.
			if f, err := project.Load(root, displayPath(filepath.Join(root, project.Dir, project.FileName))); err == nil {
				if p := f.Pipeline(name); p != nil {
					o.RunsOn = p.RunsOn
				}
			}
			if ctl.Profile != "" {
				o.Args = append([]string{"--profile", ctl.Profile}, o.Args...) // the project's settings of that profile
			}
			return e.remote.Trigger(e.ctx, e.streams(g), o) // it decides what Ctrl-C means

		},
	}
	cf.add(cmd.Flags(), true)
	fl := cmd.Flags()
	fl.StringVar(&o.RepoURL, "repo", "", "the repository `URL` the controller fetches from (default: the origin remote's)")
	fl.BoolVar(&o.NoAutoRegister, "no-auto-register", false, "fail if the controller does not know the repository, instead of registering it")
	fl.BoolVar(&o.AllowDirty, "allow-dirty", false, "send uncommitted changes as a patch (the run is marked dirty)")
	fl.DurationVar(&o.WaitTimeout, "wait-timeout", 60*time.Second, "give up (exit 3) when the controller has not answered for this long")
	fl.StringVar(&o.Output, "output", ui.Auto, "how to show the run: auto, tty, plain or json")
	return cmd
}

func newRunnerCmd(e *env, g *globals) *cobra.Command {
	var cf controllerFlags
	var o RunnerOptions
	var labels string
	cmd := &cobra.Command{
		Use:   "runner --controller URL --token-file FILE",
		Short: "Run the pipelines a controller queues",
		Long: `Claim runs from the controller (a long-poll: a run starts the moment it is
queued), check each commit out from the controller's git cache, run the
pipeline with the same engine as 'sparkwing run', and stream its log back.
A run whose runner dies goes to another runner when its lease ends.

--labels are matched against a pipeline's runs_on. Stop with Ctrl-C: runs in
progress are stopped and go back to the queue.

With --run ID the runner takes that run only and exits when it ends (or at
once, with status 0, when the run is no longer queued): this is how the
controller's Kubernetes Jobs run (sparkwing-controller serve --kube).`,
		Example: "  sparkwing runner --controller https://ci.example.com --token-file runner.token --labels os=linux --slots 2",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if e.remote == nil {
				return e.handOff()
			}
			ctl, err := e.controller(&cf)
			if err != nil {
				return err
			}
			if o.Labels, err = parseLabels(labels); err != nil {
				return err
			}
			if o.Slots < 1 {
				return usageError("--slots %d: a runner needs at least one slot", o.Slots)
			}
			if o.Name == "" {
				host, _ := os.Hostname()
				o.Name = host + "-" + strconv.Itoa(os.Getpid())
			}
			if o.Dir == "" {
				cache, err := e.cacheDir()
				if err != nil {
					return err
				}
				o.Dir = filepath.Join(cache, "runner")
			}
			if o.Dir, err = filepath.Abs(o.Dir); err != nil { // git runs in other directories
				return err
			}
			o.Controller = ctl
			ctx, stop := signal.NotifyContext(e.ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			return e.remote.Runner(ctx, e.streams(g), o)
		},
	}
	cf.add(cmd.Flags(), false)
	fl := cmd.Flags()
	fl.StringVar(&labels, "labels", "", "this runner's `LABELS`, KEY=VALUE,… (matched against runs_on)")
	fl.IntVar(&o.Slots, "slots", 1, "run up to `N` runs at once")
	fl.StringVar(&o.Name, "name", "", "the runner's `NAME` in the controller's records (default HOST-PID)")
	fl.StringVar(&o.Dir, "dir", "", "where mirrors and checkouts go (default the user cache dir's sparkwing/runner)")
	fl.StringVar(&o.Run, "run", "", "take only the run `ID`, then exit")
	return cmd
}
