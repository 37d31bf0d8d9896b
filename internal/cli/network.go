package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/project"
	"github.com/sparkwing-dev/sparkwing/internal/remote"
	"github.com/sparkwing-dev/sparkwing/internal/ui"
)

// Remote is the side of sparkwing that talks to a controller over HTTP:
// pipeline trigger, runner and runs --remote. The lean sparkwing has none
// (net/http alone costs every run milliseconds to start): it parses those
// verbs' flags, so --help and mistakes stay fast, then hands the command
// line to sparkwing-remote, which runs MainRemote with one.
type Remote interface {
	Trigger(ctx context.Context, s Streams, o TriggerOptions) error
	Runner(ctx context.Context, s Streams, o RunnerOptions) error
	Runs(ctx context.Context, s Streams, o RemoteRunsOptions) error
}

// Streams is what a remote verb gets from the process.
type Streams struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Environ        []string
	// Observer makes the view of a run for --output mode, as a local run's.
	Observer func(mode string) ui.Observer
	Command  string // how to run sparkwing again from here
	// Self runs this program as sparkwing: the runner's pipelines use it.
	Self []string
}

// Controller is the controller a verb talks to, and how.
type Controller struct {
	URL, Token string
	Profile    string // the profile it came from, if any
}

// TriggerOptions are `sparkwing pipeline trigger`'s.
type TriggerOptions struct {
	Controller
	Dir            string // the project root: its git work tree is what runs
	Pipeline       string
	Args           []string
	RunsOn         map[string]string // the pipeline's runs_on
	RepoURL        string            // default: the origin remote's URL
	NoAutoRegister bool
	AllowDirty     bool
	WaitTimeout    time.Duration
	Output         string
}

// RunnerOptions are `sparkwing runner`'s.
type RunnerOptions struct {
	Controller
	Name   string
	Labels map[string]string
	Slots  int
	Dir    string
	Run    string // only this run, then exit
}

// RemoteRunsOptions are `sparkwing runs --remote`'s: list, or show ID.
type RemoteRunsOptions struct {
	Controller
	ID     string // "" lists
	LogJob string // with ID: print that job's log
	Limit  int
	JSON   bool
}

// ExitError ends a command with code, err being what to print (nil when
// the command already said everything). For Remote's implementations.
func ExitError(code int, err error) error { return &exitError{code: code, err: err} }

// MainRemote is Main for sparkwing-remote: the same command line, with
// the verbs that reach a controller working instead of handed off.
func MainRemote(args []string, stdin io.Reader, stdout, stderr io.Writer, r Remote) int {
	return mainWith(args, stdin, stdout, stderr, r)
}

// handOff runs this command line in sparkwing-remote, replacing this
// process: signals, streams and the exit status are the helper's own.
func (e *env) handOff() error {
	path, err := remote.FindHelper(e.getenv("SPARKWING_REMOTE_HELPER"))
	if se, ok := err.(*remote.SetupError); ok {
		return &exitError{code: exitUsage, err: fmt.Errorf("%v: %s", se, se.Hint())}
	}
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	argv := append([]string{path, remote.HelperCLIArg}, e.args...)
	env := e.environ
	if self, err := os.Executable(); err == nil {
		env = append(env, leanEnv+"="+self)
	}
	err = syscall.Exec(path, argv, env)
	return fmt.Errorf("start %s: %w", path, err)
}

// leanEnv names, for sparkwing-remote, the sparkwing that handed it the
// command: the runner runs pipelines with it, which starts faster than
// sparkwing-remote would as sparkwing.
const leanEnv = "SPARKWING_CLI"

// streams gives a remote verb its process side.
func (e *env) streams(g *globals) Streams {
	self, _ := os.Executable()
	sw := []string{self, remote.HelperCLIArg}
	if lean := e.getenv(leanEnv); lean != "" {
		sw = []string{lean}
	}
	return Streams{Stdin: e.stdin, Stdout: e.stdout, Stderr: e.stderr, Environ: e.environ, Command: g.command(),
		Observer: func(mode string) ui.Observer { return e.observer(mode, g) }, Self: sw}
}

// parseLabels reads "k=v,k2=v2".
func parseLabels(s string) (map[string]string, error) {
	out, err := project.ParseLabels(s)
	if err != nil {
		return nil, usageError("%v", err)
	}
	return out, nil
}
