package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/spf13/cobra"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
	"github.com/sparkwing-dev/sparkwing/internal/deploy"
	"github.com/sparkwing-dev/sparkwing/internal/devloop"
	"github.com/sparkwing-dev/sparkwing/internal/engine"
	"github.com/sparkwing-dev/sparkwing/internal/gobuild"
	"github.com/sparkwing-dev/sparkwing/internal/helperproc"
	"github.com/sparkwing-dev/sparkwing/internal/job"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
	"github.com/sparkwing-dev/sparkwing/internal/supervisor"
	"github.com/sparkwing-dev/sparkwing/internal/ui"
)

type devFlags struct {
	jobs    int
	profile string
	stats   bool
	sync    bool
}

func newDevCmd(e *env, g *globals) *cobra.Command {
	f := &devFlags{}
	cmd := &cobra.Command{
		Use:   "dev PIPELINE [flags] [PIPELINE ARGUMENTS]",
		Short: "Rebuild on every save and keep the pipeline's services running and healthy",
		Long: `Run a pipeline, keep its services running, and after every save run it
again through the same engine and cache as 'sparkwing run': only the jobs
whose inputs changed run, and a job whose output did not change stops the
wave. A service is restarted only when a job it restarts on (restart_on,
default its needs) produced a new output, so a comment-only edit that
leaves the binary identical restarts nothing.

Every change ends with one line:
  edit → healthy in 0.84 s (detect 12 ms · build 0.61 s · restart 0.15 s · health 0.07 s)
and is appended to .sparkwing/dev/PIPELINE.jsonl; --stats prints the median
and p95 of this and past sessions, and which phase dominates.

A failed build leaves the running services as they are; a service that
exits is shown with its last lines and restarted with a back-off (1 s,
doubling to 30 s); the next save retries either way. Jobs that need a
service are not run by dev (sparkwing run runs them). Changes under
.sparkwing/, .git/, the jobs' outputs and git-ignored paths are not
watched; a burst of events (an editor's save, a checkout) is one change.

A job whose command is one 'go build' of the packages its go: inputs
name keeps the record of its last build through the go command (its
action graph and work directory, under .sparkwing/state/go-builds). A
save that changes only the bodies of Go files that build compiled is
rebuilt from it: those packages compiled again, their importers if a
package's export data changed, and the link, with the go command's own
compiler and linker commands but without its start (loading the package
graph, checking its cache). Anything else goes through the go command.
The job's log says which.

When the pipeline deploys, every save that changes what it applies
builds the images, pushes them, applies and waits for the rollout and the
health checks; the pods' logs stream into dev's output, each line after
the deploy job and the pod (deploy │ POD │ LINE). With --sync, a save
that changes only the files an image job lists in 'sync' (such as a Go
binary: sync: {dist/image/server: /server}) copies them into the running
pods and restarts the process there instead (live update): the pods run
under sparkwing-supervisor, put in by an init container, and a restarted
container keeps the synced files. Any other change (the Dockerfile,
another file of the image, the manifests), or a sync that fails or is not
healthy, builds and rolls out as without --sync, and that rollout
replaces every synced pod. Synced changes are timed and summarized apart
(--stats).

Ctrl-C stops the services, the last started first, and exits 130.`,
		Example:            "  sparkwing dev serve\n  sparkwing dev serve --stats\n  sparkwing dev ship --profile local --sync",
		DisableFlagParsing: true,
		ValidArgsFunction:  e.completePipelineArgs(g, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.dev(cmd, g, f, args)
		},
	}
	fl := cmd.Flags()
	fl.IntVarP(&f.jobs, "jobs", "j", runtime.NumCPU(), "run up to `N` jobs at once")
	fl.StringVar(&f.profile, "profile", "", "the `PROFILE` image jobs push to (default $SPARKWING_PROFILE, else local)")
	fl.BoolVar(&f.stats, "stats", false, "print the edit → healthy times of the last session and of all sessions, and exit")
	fl.BoolVar(&f.sync, "sync", false, "copy new builds of the files image jobs list under sync into the running pods and restart the process there, instead of a new image and a rollout")
	return cmd
}

func (e *env) dev(cmd *cobra.Command, g *globals, f *devFlags, args []string) error {
	inv, err := e.invoke(cmd, g, args, func() error {
		if f.jobs < 1 {
			return usageError("-j %d: the number of parallel jobs must be at least 1", f.jobs)
		}
		return nil
	}, nil)
	if inv == nil || err != nil {
		return err
	}
	if inv.name == "" {
		return usageError("usage: sparkwing dev PIPELINE (see sparkwing dev --help)")
	}
	root, name := inv.root, inv.name
	stats := filepath.Join(root, ".sparkwing", "dev", name+".jsonl")
	if f.stats {
		return writeDevStats(e.stdout, stats)
	}
	ctx, stop := signal.NotifyContext(e.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	pl, err := e.resolvePlan(ctx, root, inv.file, name, inv.rest, false)
	if err != nil {
		return interrupted(ctx, err)
	}
	c, err := e.newCache(root)
	if err != nil {
		return fmt.Errorf("opening the cache: %w", err)
	}
	exe, _ := os.Executable()
	watchdog := &job.Watchdog{Exe: exe, Warn: func(msg string) { fmt.Fprintf(e.stderr, "warning: %s\n", msg) }}
	defer watchdog.Close()
	obs := &devObserver{w: e.stdout}
	images := e.imageOptions(inv.file, f.profile, false)
	helper, helperErr := deploy.FindHelper(e.getenv("SPARKWING_DEPLOY_HELPER")) // a deploy job says so when it is missing
	var deploySync *deploy.Sync
	var syncer *devloop.Sync
	if f.sync {
		if deploySync, syncer, err = e.devSync(root, pl, images.Profile, c, helper, helperErr); err != nil {
			return err
		}
	}
	goBuilds := gobuild.New(filepath.Join(root, filepath.FromSlash(cache.StateDir), "go-builds"))
	defer goBuilds.Close()
	err = devloop.Loop(ctx, devloop.Options{
		Root: root, Plan: pl, Out: obs.locked(),
		Runner: &job.Runner{Root: root, LookupEnv: e.lookupEnv, Watchdog: watchdog},
		Build: func(ctx context.Context, p *plan.Plan, onDone func(job, output string)) (*runrec.Record, error) {
			return engine.Run(ctx, p, engine.Options{Root: root, Workers: f.jobs, Args: inv.rest, LookupEnv: e.lookupEnv,
				Observer: obs, Cache: c, Images: images, DeployHelper: e.getenv("SPARKWING_DEPLOY_HELPER"), Watching: watchdog, HideCachedLogs: true,
				OnDone: onDone, DeploySync: deploySync, GoBuilds: goBuilds})
		},
		Ignore:   e.devIgnore(root, pl),
		Stats:    stats,
		ReliedOn: func(p *plan.Plan) func(string) bool { return engine.ReliedOn(root, p) },
		Sync:     syncer,
		Logs:     devLogs(root, pl, images.Profile, helper),
	})
	if err != nil {
		return err
	}
	return &exitError{code: exitInterrupted}
}

// devLogs follows the logs of the pods of a deploy job through the deploy
// helper at program; nil when there is none (its deploys say so).
func devLogs(root string, pl *plan.Plan, profile, program string) func(context.Context, plan.Job, time.Time, io.Writer) error {
	if program == "" {
		return nil
	}
	return func(ctx context.Context, d plan.Job, since time.Time, out io.Writer) error {
		if _, ok := d.Deploy.GitOps[profile]; ok {
			return nil // its pods are the gitops controller's
		}
		_, err := deploy.Run(ctx, program, "logs", deploy.Request{Root: root, Pipeline: pl.Name, Job: d.ID, Profile: profile,
			Deploy: d.Deploy, Since: since}, out)
		return err
	}
}

// devSync sets up sparkwing dev --sync: the settings the engine's deploys
// carry, and what the dev loop calls to sync through the deploy helper
// at program (helperErr: why there is none).
func (e *env) devSync(root string, pl *plan.Plan, profile string, c *cache.Cache, program string, helperErr error) (*deploy.Sync, *devloop.Sync, error) {
	images, deploys := devloop.SyncTargets(pl)
	if len(images) == 0 {
		return nil, nil, usageError("--sync: no deploy job of %s pins an image job with files to sync; list them in the image job, such as\n"+
			"  image: {context: dist/image, sync: {dist/image/server: /server}}", pl.Name)
	}
	for _, d := range deploys {
		if _, ok := d.Deploy.GitOps[profile]; ok {
			return nil, nil, usageError("--sync: %s deploys to profile %s through git (gitops), so there is no pod to sync into; drop --sync or pick another profile", d.ID, profile)
		}
	}
	for _, j := range pl.Jobs {
		if j.Service != nil {
			return nil, nil, usageError("--sync: %s also runs service %s here; sync works on pipelines whose services are deployed, not local ones", pl.Name, j.ID)
		}
	}
	sup, err := helperproc.Find(supervisor.Name, "sparkwing dev --sync", "SPARKWING_SUPERVISOR", e.getenv("SPARKWING_SUPERVISOR"))
	if err != nil {
		return nil, nil, err
	}
	if sup, err = filepath.Abs(sup); err != nil {
		return nil, nil, err
	}
	if helperErr != nil {
		return nil, nil, helperErr
	}
	settings := &deploy.Sync{Supervisor: sup}
	return settings, &devloop.Sync{
		Key: func(ctx context.Context, im plan.Job) (string, error) {
			k, err := c.SyncKey(ctx, im)
			return k.String(), err
		},
		Copy: func(ctx context.Context, d plan.Job, checkOnly bool) (*deploy.Message, error) {
			s := *settings
			s.Files, s.CheckOnly = deploy.SyncFiles(pl, d, root), checkOnly
			return deploy.Run(ctx, program, "sync", deploy.Request{Root: root, Pipeline: pl.Name, Job: d.ID, Profile: profile,
				Deploy: d.Deploy, Sync: &s}, io.Discard)
		},
		SetGeneration: func(g string) { settings.Generation = g },
	}, nil
}

// devIgnore is what the dev loop does not watch: sparkwing's and git's
// directories, the cache, the jobs' outputs, git-ignored paths and
// editors' scratch files.
func (e *env) devIgnore(root string, pl *plan.Plan) func(string, bool) bool {
	prefixes := []string{".sparkwing", ".git"}
	dirs := []string{os.TempDir()}
	if dir, err := e.cacheDir(); err == nil {
		dirs = append(dirs, dir)
	}
	if tmp, ok := e.lookupEnv("TMPDIR"); ok {
		dirs = append(dirs, tmp)
	}
	for _, dir := range dirs {
		if rel, err := filepath.Rel(root, dir); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
			prefixes = append(prefixes, filepath.ToSlash(rel))
		}
	}
	var globs []string
	parents := map[string]bool{} // the directories outputs are made in: their creation is not a change
	for _, j := range pl.Jobs {
		for _, o := range j.Outputs {
			base := plan.LiteralBase(o)
			if base == path.Clean(o) && base != "" {
				prefixes = append(prefixes, base)
			} else {
				globs = append(globs, o)
			}
			for p := path.Dir(base); p != "." && p != "/"; p = path.Dir(p) {
				parents[p] = true
			}
			parents[base] = true
		}
	}
	ignored := gitIgnored(root)
	return func(rel string, event bool) bool {
		if editorScratch(path.Base(rel)) {
			return true
		}
		if event && parents[rel] {
			return true
		}
		for _, p := range prefixes {
			if rel == p || strings.HasPrefix(rel, p+"/") {
				return true
			}
		}
		for _, g := range globs {
			if ok, _ := doublestar.Match(g, rel); ok {
				return true
			}
		}
		for p := rel; p != "." && p != "/" && p != ""; p = path.Dir(p) {
			if ignored[p] {
				return true
			}
		}
		return false
	}
}

// editorScratch reports whether name is one of the files editors write
// beside the one being saved: vim's swap files, backups and its 4913
// probe, Emacs's lock and auto-save files, JetBrains' safe-write
// copies, Kate's swap files and gedit's temporary files.
func editorScratch(name string) bool {
	for _, suffix := range []string{"~", ".swp", ".swx", "___jb_tmp___", "___jb_old___", ".kate-swp"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return name == "4913" || strings.HasPrefix(name, ".#") || strings.HasPrefix(name, ".goutputstream-") ||
		len(name) > 2 && name[0] == '#' && name[len(name)-1] == '#'
}

// gitIgnored lists the paths git ignores in the checkout at root (whole
// directories once); none outside git, or when the project itself is in
// an ignored directory of an enclosing checkout (then all of it would be).
func gitIgnored(root string) map[string]bool {
	set := map[string]bool{}
	if exec.Command("git", "-C", root, "check-ignore", "-q", ".").Run() == nil {
		return set
	}
	out, err := exec.Command("git", "-C", root, "ls-files", "--others", "--ignored", "--exclude-standard", "--directory", "-z").Output()
	if err != nil {
		return set
	}
	for _, p := range strings.Split(string(out), "\x00") {
		if p = strings.TrimSuffix(p, "/"); p != "" {
			set[p] = true
		}
	}
	return set
}

// devObserver shows what a dev build did in a few lines: each job that
// ran, and a failed job's last lines.
type devObserver struct {
	mu sync.Mutex
	w  io.Writer
}

func (o *devObserver) RunStarted(ui.RunInfo)  {}
func (o *devObserver) JobStarted(string)      {}
func (o *devObserver) JobLine(string, []byte) {}
func (o *devObserver) RunFinished(*runrec.Record, string) {
}

func (o *devObserver) JobFinished(j runrec.Job, logPath string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch j.Status {
	case runrec.Ran:
		fmt.Fprintf(o.w, "✓ %s %v\n", j.ID, time.Duration(j.DurationMS)*time.Millisecond)
	case runrec.Failed:
		fmt.Fprintf(o.w, "✗ %s failed: %s\n", j.ID, j.Error)
		for _, line := range runrec.Tail(logPath, 15) {
			fmt.Fprintf(o.w, "  │ %s\n", line)
		}
	}
}

func (o *devObserver) Warn(job, msg string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.w, "warning: %s: %s\n", job, msg)
}

// locked is a writer that shares the observer's lock.
func (o *devObserver) locked() io.Writer { return lockedWriter{o} }

type lockedWriter struct{ o *devObserver }

func (l lockedWriter) Write(p []byte) (int, error) {
	l.o.mu.Lock()
	defer l.o.mu.Unlock()
	return l.o.w.Write(p)
}

// writeDevStats prints the median and p95 of edit → healthy of the last
// session and of all, and the phase with the largest median; changes
// synced into pods (dev --sync) apart from those deployed, and those from
// services restarted here.
func writeDevStats(w io.Writer, file string) error {
	timings, err := devloop.ReadTimings(file)
	if os.IsNotExist(err) {
		return usageError("no dev session recorded yet (%s): run sparkwing dev first", file)
	}
	if err != nil {
		return err
	}
	lastSession := ""
	for _, t := range timings {
		if t.EditToHealthy() {
			lastSession = t.Session
		}
	}
	if lastSession == "" {
		fmt.Fprintf(w, "no edit that ended healthy is recorded yet in %s\n", file)
		return nil
	}
	modes := map[string]string{"local": "", "cluster": " (deployed)", "sync": " (synced)"}
	for _, mode := range []string{"local", "cluster", "sync"} {
		var all, last []devloop.Timing
		for _, t := range timings {
			if t.EditToHealthy() && t.Mode() == mode {
				all = append(all, t)
				if t.Session == lastSession {
					last = append(last, t)
				}
			}
		}
		writeStatsLines(w, modes[mode], last, all)
	}
	return nil
}

func writeStatsLines(w io.Writer, mode string, last, all []devloop.Timing) {
	for _, set := range []struct {
		name string
		ts   []devloop.Timing
	}{{"last session", last}, {"all sessions", all}} {
		if len(set.ts) == 0 {
			continue
		}
		total := func(t devloop.Timing) float64 { return t.TotalMS }
		fmt.Fprintf(w, "%s%s: %d edits, edit → healthy median %s, p95 %s", set.name, mode, len(set.ts),
			devloop.Secs(quantile(set.ts, total, 0.5)), devloop.Secs(quantile(set.ts, total, 0.95)))
		top, topMS := "", -1.0
		for i, p := range set.ts[0].Phases() {
			if m := quantile(set.ts, func(t devloop.Timing) float64 { return t.Phases()[i].MS }, 0.5); m > topMS {
				top, topMS = p.Name, m
			}
		}
		fmt.Fprintf(w, "; %s dominates (median %s)\n", top, devloop.Secs(topMS))
	}
}

func quantile(ts []devloop.Timing, field func(devloop.Timing) float64, q float64) float64 {
	xs := make([]float64, len(ts))
	for i, t := range ts {
		xs[i] = field(t)
	}
	slices.Sort(xs)
	return xs[min(int(q*float64(len(xs))), len(xs)-1)]
}
