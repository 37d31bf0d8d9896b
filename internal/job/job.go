// Package job runs one job: a shell command or a Go step, in its own process
// group, with a strict environment, a timeout and retries, its combined
// output written to a log.
//
// A job's processes never outlive it. When the job's main process exits,
// whatever it left running in its process group is killed; when the run is
// cancelled or the job times out, the whole group gets SIGTERM and, after a
// grace period, SIGKILL.
package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// Status is how a job ended.
type Status int

const (
	OK        Status = iota
	Failed           // non-zero exit, timeout, or could not start
	Cancelled        // the run was cancelled while it ran
)

// Result is the outcome of all attempts of one job.
type Result struct {
	Status   Status
	Err      error // why it failed or was cancelled; nil when OK
	Attempts int
}

// BaseEnv names the variables every job sees, whatever it declares.
var BaseEnv = []string{"PATH", "HOME", "TMPDIR", "LANG"}

// Runner runs jobs. Its fields are read-only once jobs run; one Runner
// serves many goroutines.
type Runner struct {
	Root      string                           // working directory of every job
	LookupEnv func(name string) (string, bool) // the caller's environment; os.LookupEnv if nil
	KillGrace time.Duration                    // SIGTERM to SIGKILL; 5s if zero
	Watchdog  *Watchdog                        // kills jobs if sparkwing dies; nil for none
}

// Run runs j until it succeeds, its retries are used up, or ctx is done.
// Output of every attempt goes to log, from one goroutine at a time.
// started, if not nil, is told the process group of each attempt.
func (r *Runner) Run(ctx context.Context, j plan.Job, log io.Writer, started func(pgid int)) Result {
	return r.RunFunc(ctx, j, log, func(ctx context.Context) error { return r.exec(ctx, r.command(j), log, started) })
}

// RunFunc is Run for a job whose attempt is do rather than one sh -c of
// its command (the go builds sparkwing dev replays, each process of which
// goes through Exec): the same retries, timeout and result.
func (r *Runner) RunFunc(ctx context.Context, j plan.Job, log io.Writer, do func(context.Context) error) Result {
	var err error
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			fmt.Fprintf(log, "sparkwing: %v; attempt %d of %d\n", err, attempt, j.Retries+1)
		}
		err = r.attempt(ctx, j, do)
		switch {
		case err == nil:
			return Result{Status: OK, Attempts: attempt}
		case ctx.Err() != nil:
			return Result{Status: Cancelled, Err: errors.New("cancelled"), Attempts: attempt}
		case attempt > j.Retries:
			return Result{Status: Failed, Err: err, Attempts: attempt}
		}
	}
}

func (r *Runner) attempt(ctx context.Context, j plan.Job, do func(context.Context) error) error {
	actx := ctx
	if j.Timeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, j.Timeout)
		defer cancel()
	}
	err := do(actx)
	if err != nil && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("timed out after %v", j.Timeout)
	}
	return err
}

// Exec runs cmd as one process of a job's own: in its own process group,
// watched, stopped (SIGTERM, then SIGKILL) when ctx is done, its output
// to log.
func (r *Runner) Exec(ctx context.Context, cmd *exec.Cmd, log io.Writer, started func(pgid int)) error {
	cmd.SysProcAttr = ownGroup()
	return r.exec(ctx, cmd, log, started)
}

// ownGroup puts a job's process in a process group of its own, killed
// if the thread that started it (sparkwing) dies.
func ownGroup() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// command builds the process for one attempt of j.
func (r *Runner) command(j plan.Job) *exec.Cmd {
	var cmd *exec.Cmd
	if j.Step != nil {
		args := append([]string{"step", j.Step.Pipeline, j.ID}, j.Step.Args...)
		cmd = exec.Command(j.Step.Program, args...)
	} else {
		cmd = exec.Command("/bin/sh", "-e", "-c", j.Run)
	}
	cmd.Dir = r.Root
	cmd.Env = r.Env(j)
	cmd.SysProcAttr = ownGroup()
	return cmd
}

// start starts cmd and registers its process group with the watchdog.
//
// PR_SET_PDEATHSIG fires when the thread that started the child exits, not
// the process, so the calling goroutine must stay locked to its thread
// until the child is reaped (exec does so).
func (r *Runner) start(cmd *exec.Cmd, started func(int)) error {
	r.Watchdog.ready() // before the job exists, so it is watched from its first instant
	if err := cmd.Start(); err != nil {
		return err
	}
	r.Watchdog.watch(cmd.Process.Pid)
	if started != nil {
		started(cmd.Process.Pid)
	}
	return nil
}

// Env is the environment j runs with: the base variables, its declared env
// and passthrough variables (those that are set), and SPARKWING_JOB.
func (r *Runner) Env(j plan.Job) []string {
	lookup := r.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	seen := map[string]bool{}
	var env []string
	for _, names := range [][]string{BaseEnv, j.Env, j.Passthrough} {
		for _, n := range names {
			if v, ok := lookup(n); ok && !seen[n] {
				seen[n] = true
				env = append(env, n+"="+v)
			}
		}
	}
	return append(env, "SPARKWING=1", "SPARKWING_JOB="+j.ID)
}
