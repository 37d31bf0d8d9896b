package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/sparkwing-dev/sparkwing/internal/engine"
	"github.com/sparkwing-dev/sparkwing/internal/pipeline"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/project"
)

// startDir is -C, checked, or the working directory.
func (g *globals) startDir() (string, error) {
	if g.dir == "" {
		return os.Getwd()
	}
	st, err := os.Stat(g.dir)
	if err != nil || !st.IsDir() {
		return "", usageError("-C %s: no such directory", g.dir)
	}
	return filepath.Abs(g.dir)
}

// loadProject finds the project root and parses its project file, through
// the plan cache under the cache directory (project.LoadCached).
func (e *env) loadProject(g *globals) (string, *project.File, error) {
	root, err := findRoot(g)
	if err != nil {
		return "", nil, err
	}
	f, err := e.loadFile(root)
	return root, f, err
}

func findRoot(g *globals) (string, error) {
	dir, err := g.startDir()
	if err != nil {
		return "", err
	}
	return project.FindRoot(dir)
}

// loadFile parses the project file of the project at root.
func (e *env) loadFile(root string) (*project.File, error) {
	display := displayPath(filepath.Join(root, project.Dir, project.FileName))
	cachePath := ""
	if cacheDir, err := e.cacheDir(); err == nil {
		sum := sha256.Sum256([]byte(root))
		cachePath = filepath.Join(cacheDir, "plans", hex.EncodeToString(sum[:8]))
	}
	return project.LoadCached(root, display, cachePath, programIdentity())
}

// programIdentity names this binary for caches of what it computed: its
// path, size and modification time (a rebuilt binary has new ones).
func programIdentity() string {
	exe, err := os.Executable()
	if err != nil {
		return Version
	}
	st, err := os.Stat(exe)
	if err != nil {
		return Version
	}
	return fmt.Sprintf("%s %s %d %d", Version, exe, st.Size(), st.ModTime().UnixNano())
}

// displayPath is p relative to the working directory when it is below it,
// so error locations can be pasted into an editor.
func displayPath(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

// cacheDir is $SPARKWING_CACHE_DIR or the user cache directory.
func (e *env) cacheDir() (string, error) {
	if d := e.getenv("SPARKWING_CACHE_DIR"); d != "" {
		return filepath.Abs(d)
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: set SPARKWING_CACHE_DIR (%v)", err)
	}
	return filepath.Join(d, "sparkwing"), nil
}

func (e *env) getenv(name string) string {
	v, _ := e.lookupEnv(name)
	return v
}

// resolvePlan returns the validated plan of pipeline name: its YAML jobs,
// or the jobs its Go type adds given args, with the git facts its jobs
// stamp with. fresh compiles a Go pipeline even if its program is cached.
func (e *env) resolvePlan(ctx context.Context, root string, f *project.File, name string, args []string, fresh bool) (*plan.Plan, error) {
	pl, err := e.pipelinePlan(ctx, root, f, name, args, fresh)
	if err != nil {
		return nil, err
	}
	return pl, e.stamp(ctx, root, pl)
}

// stamp gives the jobs that stamp with git facts (stamp: [commit,
// describe]) those facts: each is read once, from git in root, put in
// sparkwing's environment under its plan.StampEnv name, and declared in
// the job's env, so it is in the job's key and its environment.
func (e *env) stamp(ctx context.Context, root string, pl *plan.Plan) error {
	facts := map[string]string{}
	for i := range pl.Jobs {
		j := &pl.Jobs[i]
		var names []string
		for _, fact := range j.Stamp {
			name := plan.StampEnv[fact]
			if _, done := facts[fact]; !done {
				args := map[string][]string{"commit": {"rev-parse", "--verify", "HEAD^{commit}"},
					"describe": {"describe", "--tags", "--always", "--dirty"}}[fact]
				cmd := exec.CommandContext(ctx, "git", args...)
				cmd.Dir, cmd.Env = root, e.environ
				out, err := cmd.Output()
				if err != nil {
					return usageError("job %s stamps with the git %s, but `git %s` in %s failed (%v): stamp needs the project in a git repository with a commit",
						j.ID, fact, strings.Join(args, " "), root, gitMessage(err))
				}
				facts[fact] = strings.TrimSpace(string(out))
				e.environ = append(e.environ, name+"="+facts[fact])
			}
			if !slices.Contains(j.Env, name) {
				names = append(names, name)
			}
		}
		if len(names) > 0 {
			j.Env = slices.Concat(j.Env, names)
		}
	}
	return nil
}

// gitMessage is what git said on stderr, or the error itself.
func gitMessage(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(bytes.TrimSpace(ee.Stderr)) > 0 {
		return strings.TrimSpace(string(ee.Stderr))
	}
	return err.Error()
}

// pipelinePlan is resolvePlan before the stamps.
func (e *env) pipelinePlan(ctx context.Context, root string, f *project.File, name string, args []string, fresh bool) (*plan.Plan, error) {
	p := f.Pipeline(name)
	if p == nil {
		return nil, usageError("no pipeline %q in %s%s; pipelines: %s", name, f.Path,
			suggest(name, f.Names()), strings.Join(f.Names(), ", "))
	}
	if p.Entrypoint == "" {
		if len(args) > 0 {
			return nil, usageError("pipeline %s takes no arguments (got %s); YAML pipelines have none", name, strings.Join(args, " "))
		}
		return p.Plan()
	}
	prog, err := e.program(ctx, root, f, fresh)
	if err != nil {
		return nil, err
	}
	return e.goPlan(ctx, root, f, p, prog, args)
}

// goPlan asks the compiled program for the jobs of Go pipeline p.
func (e *env) goPlan(ctx context.Context, root string, f *project.File, p *project.Pipeline, prog *pipeline.Program, args []string) (*plan.Plan, error) {
	jobs, err := prog.Plan(ctx, root, p.Entrypoint, args, e.environ)
	if ae := (*pipeline.ArgError)(nil); errors.As(err, &ae) {
		return nil, e.explainArgError(ctx, root, f, p, prog, ae)
	}
	if err != nil {
		return nil, err
	}
	pl, err := plan.New(p.Name, jobs)
	if err != nil {
		return nil, fmt.Errorf("%s: pipeline %s (Go type %s): %w", f.Path, p.Name, p.Entrypoint, err)
	}
	return pl, nil
}

// explainArgError adds to what a Go pipeline program rejected what only
// the project knows: where the entrypoint is named, when the program has
// no such type, and the argument meant, when one is unknown.
func (e *env) explainArgError(ctx context.Context, root string, f *project.File, p *project.Pipeline, prog *pipeline.Program, ae *pipeline.ArgError) error {
	ae.Pipeline = p.Name
	types, err := prog.List(ctx, root, e.environ)
	if err == nil && !slices.Contains(types, p.Entrypoint) {
		registered := "none"
		if len(types) > 0 {
			registered = strings.Join(types, ", ")
		}
		return &project.Error{Path: f.Path, Pos: p.EntryPos, Msg: fmt.Sprintf(
			"pipeline %s: entrypoint %s is not a Go pipeline type the module in %s registers%s; registered: %s (add sw.Register(&%s{}) to an init function, or fix the name)",
			p.Name, p.Entrypoint, project.Dir, suggest(p.Entrypoint, types), registered, p.Entrypoint)}
	}
	unknown, ok := strings.CutPrefix(strings.TrimSpace(ae.Msg), "unknown argument --")
	if !ok {
		return ae
	}
	args, err := prog.Args(ctx, root, p.Entrypoint, e.environ)
	if err != nil {
		return ae
	}
	names := make([]string, len(args))
	for i, a := range args {
		names[i] = a.Name
	}
	msg := "unknown argument --" + unknown
	if s := plan.Closest(unknown, names); s != "" {
		msg += fmt.Sprintf(" (did you mean --%s?)", s)
	}
	if len(names) == 0 {
		msg += "; it takes no arguments"
	} else {
		msg += "; its arguments: --" + strings.Join(names, ", --")
	}
	ae.Msg = msg + fmt.Sprintf(" (%s run %s --help)", e.command(), p.Name)
	return ae
}

// program compiles (or finds) the project's Go pipeline program, with
// the file's sparks resolved first.
func (e *env) program(ctx context.Context, root string, f *project.File, fresh bool) (*pipeline.Program, error) {
	cache, err := e.cacheDir()
	if err != nil {
		return nil, err
	}
	b := &pipeline.Builder{CacheDir: cache, Environ: e.environ, Fresh: fresh, Compiling: e.compiling}
	if b.Sparks, err = e.resolveSparks(ctx, root, f, nil); err != nil {
		return nil, err
	}
	prog, err := b.Build(ctx, filepath.Join(root, project.Dir))
	if cpe := (*pipeline.CompileError)(nil); errors.As(err, &cpe) {
		cpe.Dir = displayPath(cpe.Dir)
	}
	return prog, err
}

// compiling tells the user, on stderr in every output mode, that the Go
// pipeline is being compiled and how long that takes: a first compile
// with a cold Go build cache is silent for tens of seconds otherwise. On
// a terminal the elapsed time counts up.
func (e *env) compiling() func(error) {
	start := time.Now()
	const msg = "sparkwing: compiling .sparkwing (the first time: about 10–40 s)"
	f, isFile := e.stderr.(*os.File)
	if !isFile || !term.IsTerminal(int(f.Fd())) {
		fmt.Fprintln(e.stderr, msg)
		return func(err error) {
			if err == nil {
				fmt.Fprintf(e.stderr, "sparkwing: compiled .sparkwing in %s\n", time.Since(start).Round(100*time.Millisecond))
			}
		}
	}
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			fmt.Fprintf(e.stderr, "\r%s… %s", msg, time.Since(start).Round(time.Second))
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func(err error) {
		close(stop)
		<-finished
		fmt.Fprint(e.stderr, "\r\033[K")
		if err == nil {
			fmt.Fprintf(e.stderr, "sparkwing: compiled .sparkwing in %s\n", time.Since(start).Round(100*time.Millisecond))
		}
	}
}

func suggest(name string, names []string) string {
	if s := plan.Closest(name, names); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

// listPipelines prints each pipeline with its description.
func listPipelines(w io.Writer, f *project.File, command string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Pipelines (sparkwing run PIPELINE):")
	for _, p := range f.Pipelines {
		kind, about := fmt.Sprintf("%d jobs", len(p.Jobs)), p.Description
		if p.Entrypoint != "" {
			kind = "Go: " + p.Entrypoint
			if about == "" {
				about = fmt.Sprintf("(its arguments and jobs: %s run %s --help)", command, p.Name)
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", p.Name, kind, about)
	}
	tw.Flush()
}

// invocation is what run, plan and why share: sparkwing's own flags parsed
// out of the arguments, the pipeline's name and arguments, the project.
type invocation struct {
	name  string   // the pipeline, "" if none was given
	rest  []string // the pipeline's arguments
	root  string
	file  *project.File
	early *engine.Early // see invoke
}

// invoke parses args, runs check on the parsed flags, shows help if asked
// (returning a nil invocation) and loads the project. If early says so
// (asked once the flags are parsed), the pipeline's last-run record is read
// and checked while the project loads (engine.CheckEarly).
func (e *env) invoke(cmd *cobra.Command, g *globals, args []string, check func() error, early func() bool) (*invocation, error) {
	name, rest, err := parseOwnFlags(cmd, args)
	if err != nil {
		return nil, err
	}
	if check != nil {
		if err := check(); err != nil {
			return nil, err
		}
	}
	if help, _ := cmd.Flags().GetBool("help"); help {
		return nil, e.pipelineHelp(cmd, g, name)
	}
	inv := &invocation{name: name, rest: rest}
	if inv.root, err = findRoot(g); err != nil {
		return nil, err
	}
	if name != "" && early != nil && early() {
		inv.early = engine.CheckEarly(inv.root, name)
	}
	if inv.file, err = e.loadFile(inv.root); err != nil {
		return nil, err
	}
	return inv, nil
}
