package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sparkwing-dev/sparkwing/internal/engine"
	"github.com/sparkwing-dev/sparkwing/internal/image"
	"github.com/sparkwing-dev/sparkwing/internal/project"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
	"github.com/sparkwing-dev/sparkwing/internal/ui"
)

type runFlags struct {
	jobs      int
	keepGoing bool
	noCache   bool
	only      []string
	output    string
	logs      string // --output-logs
	profile   string
	load      bool
	dryRun    bool
	list      bool
	verbose   bool
	remote    string
}

func newRunCmd(e *env, g *globals) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run PIPELINE [flags] [PIPELINE ARGUMENTS]",
		Short: "Plan and run a pipeline",
		Long: `Run a pipeline's jobs as a graph: a job starts once every job it needs has
succeeded; independent jobs run in parallel, those on the longest remaining
path first (durations are learned from past runs).

After a failure no new job starts (unless --keep-going) and the jobs that
depend on it are skipped. Ctrl-C stops every running job and its processes.

A job that declares inputs is cached by their content (and its command,
env, tools and the outputs of the jobs it needs): when nothing changed, its
outputs are restored and its log replayed instead of running it.
'sparkwing why PIPELINE JOB' names what changed.

An image job builds a Dockerfile with BuildKit (buildkitd at BUILDKIT_HOST,
else 'buildkit:' in the project file, else unix:///run/buildkit/buildkitd.sock)
and tags it commit-<sha12>-files-<hash12>, the hash being over the build
context BuildKit receives. If every registry of the profile already has that
tag, nothing is built or pushed.

Every run is recorded under .sparkwing/runs/ (see 'sparkwing runs').
Arguments after the pipeline name that are not sparkwing's own flags go to
a Go pipeline: sparkwing run release --version 1.2.0

With no PIPELINE, lists the pipelines.

Exit status: 0 success, 1 a job failed, 2 usage or configuration error,
130 interrupted.`,
		Example:            "  sparkwing run build\n  sparkwing run build -j 4 --only server\n  sparkwing run release --version 1.2.0 --output plain",
		DisableFlagParsing: true, // pipeline arguments pass through; see splitArgs
		ValidArgsFunction:  e.completePipelineArgs(g, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.run(cmd, g, f, args)
		},
	}
	fl := cmd.Flags()
	fl.IntVarP(&f.jobs, "jobs", "j", runtime.NumCPU(), "run up to `N` jobs at once")
	fl.BoolVar(&f.keepGoing, "keep-going", false, "after a failure, still run every job that does not depend on it")
	fl.BoolVar(&f.noCache, "no-cache", false, "run every job even when its result is cached (results are still stored), and compile a Go pipeline again")
	fl.StringSliceVar(&f.only, "only", nil, "run only these `JOB`s (comma-separated or repeated) and the jobs they need")
	fl.StringVar(&f.output, "output", ui.Auto, "how to show progress: auto (live on a terminal, else plain), tty, plain, or json (one event per line)")
	fl.StringVar(&f.logs, "output-logs", ui.LogsFull, "which jobs' logs to show: full (every job's, cached ones replayed), new (only jobs that run), errors (only jobs that fail), none; the run's record keeps them all")
	fl.StringVar(&f.profile, "profile", "", "the `PROFILE` whose registries image jobs push to (default $SPARKWING_PROFILE, else local)")
	fl.BoolVar(&f.load, "load", false, "also write each image job's image to .sparkwing/images/JOB.tar (OCI layout) for a local runtime")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print what would run and what is cached (as 'sparkwing plan'), and run nothing")
	fl.BoolVar(&f.list, "list", false, "list the pipelines with their descriptions")
	fl.StringVar(&f.remote, "remote-cache", "", "use the shared cache at `URL` behind the local one: http(s)://HOST/PREFIX (bazel-remote) or s3://BUCKET/PREFIX; off for none (overrides SPARKWING_REMOTE_CACHE and the project file's cache.remote)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "at the end, print what each job's cache key was made of: every input file hashed, with its digest")
	return cmd
}

func (e *env) run(cmd *cobra.Command, g *globals, f *runFlags, args []string) error {
	inv, err := e.invoke(cmd, g, args, f.check, func() bool { return !f.noCache && !f.dryRun && !f.list })
	if inv == nil || err != nil {
		return err
	}
	if inv.name == "" || f.list {
		listPipelines(e.stdout, inv.file, g.command())
		return nil
	}
	root, name, rest := inv.root, inv.name, inv.rest
	ctx, stop := signal.NotifyContext(e.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	pl, err := e.resolvePlan(ctx, root, inv.file, name, rest, f.noCache)
	if err == nil && len(f.only) > 0 {
		pl, err = pl.Only(f.only)
		if err != nil {
			err = usageError("%v", err)
		}
	}
	if err != nil {
		return interrupted(ctx, err)
	}
	if f.dryRun {
		return e.printPlan(root, pl, e.imageOptions(inv.file, f.profile, f.load), f.output == ui.JSON, f.verbose)
	}
	c, err := e.newCache(root)
	if err != nil {
		return fmt.Errorf("opening the cache: %w", err)
	}
	var keys *keyLog
	var explain func(string)
	if f.verbose {
		keys = &keyLog{}
		c.Keyed, explain = keys.keyed, keys.explain
	}
	images := e.imageOptions(inv.file, f.profile, f.load)
	if err := image.CheckAddress(images.Buildkit); err != nil {
		return usageError("%v", err)
	}
	opener, remoteID, err := e.remoteCache(root, inv.file, f.remote)
	if err != nil {
		return err
	}
	var uploadWait time.Duration
	if v := e.getenv("SPARKWING_REMOTE_UPLOAD_WAIT"); v != "" {
		if uploadWait, err = time.ParseDuration(v); err != nil || uploadWait <= 0 {
			return usageError("SPARKWING_REMOTE_UPLOAD_WAIT=%s: not a duration (write it as 30s or 2m)", v)
		}
	}
	gcRoom(len(pl.Jobs))
	exe, _ := os.Executable()
	rec, err := engine.Run(ctx, pl, engine.Options{
		Root: root, Early: inv.early, Workers: f.jobs, KeepGoing: f.keepGoing, Args: rest,
		LookupEnv: e.lookupEnv, Observer: ui.FilterLogs(e.observer(f.output, g), f.logs), Cache: c, NoCache: f.noCache,
		Images: images, DeployHelper: e.getenv("SPARKWING_DEPLOY_HELPER"), Watchdog: exe, Explain: explain, Remote: opener, RemoteID: remoteID, UploadWait: uploadWait,
		HideCachedLogs: f.logs != ui.LogsFull,
	})
	if err != nil {
		if setup := withHint(err); setup != err {
			return setup
		}
		return fmt.Errorf("writing the run record: %w", err)
	}
	if keys != nil {
		w := e.stdout
		if f.output == ui.JSON {
			w = e.stderr // stdout is one JSON event per line
		}
		recorded, noKey := map[string]string{}, map[string]string{}
		for _, j := range rec.Jobs {
			recorded[j.ID] = j.Key
			noKey[j.ID] = cmp.Or(j.Cache.Reason, j.Status)
		}
		writeHashed(w, pl, recorded, keys.manifests(), noKey)
		writeExplained(w, keys.explained())
	}
	switch rec.Status {
	case runrec.Interrupted:
		return &exitError{code: exitInterrupted}
	case runrec.RunFailed:
		return &exitError{code: exitFailed}
	}
	return nil
}

// imageOptions are how image jobs reach BuildKit and registries: the
// profile given (else $SPARKWING_PROFILE, else local) selects each image's
// registries.
func (e *env) imageOptions(file *project.File, profile string, load bool) engine.ImageOptions {
	return engine.ImageOptions{
		Buildkit: image.Address(e.getenv("BUILDKIT_HOST"), file.Buildkit),
		Helper:   e.getenv("SPARKWING_IMAGE_HELPER"),
		Profile:  cmp.Or(profile, e.getenv("SPARKWING_PROFILE"), "local"),
		Load:     load,
	}
}

func (f *runFlags) check() error {
	if f.jobs < 1 {
		return usageError("-j %d: the number of parallel jobs must be at least 1", f.jobs)
	}
	if !slices.Contains(ui.Modes, f.output) {
		return usageError("--output %s: choose one of %s", f.output, strings.Join(ui.Modes, ", "))
	}
	if !slices.Contains(ui.LogModes, f.logs) {
		return usageError("--output-logs %s: choose one of %s", f.logs, strings.Join(ui.LogModes, ", "))
	}
	return nil
}

// parseOwnFlags parses sparkwing's flags out of args and returns the
// pipeline name and the pipeline's arguments.
func parseOwnFlags(cmd *cobra.Command, args []string) (string, []string, error) {
	fs := cmd.Flags()
	fs.AddFlagSet(cmd.InheritedFlags())
	own, name, rest, err := splitArgs(fs, args)
	if err != nil {
		return "", nil, err
	}
	if err := fs.Parse(own); err != nil {
		return "", nil, usageError("%v (see sparkwing %s --help)", err, cmd.Name())
	}
	return name, rest, nil
}

// interrupted turns an error caused by Ctrl-C into exit 130.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return &exitError{code: exitInterrupted, err: errors.New("interrupted")}
	}
	return err
}

// observer picks the output mode; the live view needs a terminal width.
func (e *env) observer(mode string, g *globals) ui.Observer {
	out, isFile := e.stdout.(*os.File)
	tty := isFile && term.IsTerminal(int(out.Fd()))
	width := func() int {
		if isFile {
			if w, _, err := term.GetSize(int(out.Fd())); err == nil && w > 0 {
				return w
			}
		}
		return 100
	}
	return ui.New(mode, e.stdout, tty, width, g.command())
}
