// Package cli is the sparkwing command line: one file per verb, and errors
// mapped to exit codes in exactly one place (exit.go).
package cli

import (
	"context"
	"io"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sparkwing-dev/sparkwing/internal/job"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// Version is the sparkwing version, set at link time for releases.
var Version = "0.1.0-dev"

// env is what a command gets from the process: streams and environment.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	environ        []string
	ctx            context.Context
	command        func() string // how to run sparkwing again from here: "sparkwing" and its -C
	args           []string      // the command line, for handOff
	remote         Remote        // nil in the lean sparkwing: see handOff
}

// Main runs sparkwing with args (without the program name) and returns the
// process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return mainWith(args, stdin, stdout, stderr, nil)
}

func mainWith(args []string, stdin io.Reader, stdout, stderr io.Writer, r Remote) int {
	if len(args) == 1 && args[0] == job.WatchdogArg {
		return job.WatchdogMain(stdin)
	}
	if !job.PassGate() { // the runner called the run off before it began
		return 0
	}
	gcRoom(0)
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, environ: os.Environ(), ctx: context.Background(), args: args, remote: r}
	if path := e.getenv("SPARKWING_CPUPROFILE"); path != "" {
		if stop, err := startCPUProfile(path); err == nil {
			defer stop()
		}
	}
	if path := e.getenv("SPARKWING_MEMPROFILE"); path != "" {
		defer writeHeapProfile(path)
	}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	return exitCode(err, stderr)
}

// globals are the flags every verb accepts.
type globals struct {
	dir string // -C
}

// command is how the user started sparkwing, for the commands output
// suggests: with -C DIR when given, so they work from where the user is.
func (g *globals) command() string {
	if g.dir == "" {
		return "sparkwing"
	}
	return "sparkwing -C " + shellQuote(g.dir)
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./+=:,@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func newRoot(e *env) *cobra.Command {
	g := &globals{}
	e.command = g.command
	root := &cobra.Command{
		Use:   "sparkwing",
		Short: "Build pipelines as a DAG of cached, parallel jobs",
		Long: `sparkwing runs a project's pipelines, declared in .sparkwing/sparkwing.yaml
or in Go, as a graph of jobs: independent jobs run in parallel, the longest
path first, with a live view, a timing report and a record of every run.

Start with 'sparkwing init', then 'sparkwing run PIPELINE'.

Shell completion of commands, pipelines and jobs: sparkwing completion --help
(for bash: source <(sparkwing completion bash)).`,
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&g.dir, "dir", "C", "", "run as if started in `DIR` (the project root or below it)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError("%v (see --help)", err) })
	root.AddCommand(newRunCmd(e, g), newDevCmd(e, g), newPlanCmd(e, g), newWhyCmd(e, g), newDeployCmd(e, g), newRunsCmd(e, g), newCacheCmd(e, g), newInitCmd(e, g), newDoctorCmd(e, g), newSchemaCmd(e),
		newPipelineCmd(e, g), newRunnerCmd(e, g), newProfileCmd(e))
	root.RunE = func(c *cobra.Command, args []string) error { return c.Help() }
	root.Args = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		if args[0] == "version" {
			return usageError("unknown command \"version\" (did you mean --version?)")
		}
		var names []string
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		return usageError("unknown command %q%s (see sparkwing --help)", args[0], plan.SuggestOrList(args[0], names, "commands"))
	}
	usageArgs(root)
	return root
}

// usageArgs makes a wrong number of arguments, on any command, a usage
// error (exit 2) that says where the usage is.
func usageArgs(c *cobra.Command) {
	for _, sub := range c.Commands() {
		if check := sub.Args; check != nil {
			sub.Args = func(cmd *cobra.Command, args []string) error {
				if err := check(cmd, args); err != nil {
					return usageError("%s: %v (see %s --help)", strings.TrimPrefix(cmd.CommandPath(), "sparkwing "), err, cmd.CommandPath())
				}
				return nil
			}
		}
		usageArgs(sub)
	}
}

// gcRoom sets how far the heap grows between collections for a plan of
// the given number of jobs (0: not known yet), unless GOGC is set. A run
// that edits allocates a few MiB, and at the runtime's default (GOGC=100,
// a first collection at 4 MiB) collected twice, 8% of an edit's time on
// 100 jobs; twice the room costs it none. On a plan of thousands of jobs
// that room costs a third more peak memory (a no-op of 10,000 jobs: about
// 115 MB against 143), so big plans keep the default.
func gcRoom(jobs int) {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	if jobs <= 2000 {
		debug.SetGCPercent(200)
	} else {
		debug.SetGCPercent(100)
	}
}

// startCPUProfile writes a pprof CPU profile of this process to path, for
// finding where a slow command spends its time (SPARKWING_CPUPROFILE).
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// writeHeapProfile writes a pprof heap profile of this process to path as
// the command ends (SPARKWING_MEMPROFILE): what a run kept, for finding
// what makes a big pipeline's memory grow.
func writeHeapProfile(path string) {
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	pprof.Lookup("heap").WriteTo(f, 0)
}
