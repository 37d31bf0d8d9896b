package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// drainWait bounds how long output is read after the job's process group
// is gone; only a process that left the group can hold the pipe longer.
const drainWait = 2 * time.Second

// errStopped is what an attempt sparkwing signalled returns, whatever the
// process's exit status: a job that traps SIGTERM and exits 0 may have
// written half its outputs.
var errStopped = errors.New("stopped by sparkwing")

// exec starts cmd in its own process group with stdout and stderr on one
// pipe copied to log, and waits for it. On ctx done the group is
// terminated. However it ends, the group is killed afterwards, so nothing
// the job started keeps running.
func (r *Runner) exec(ctx context.Context, cmd *exec.Cmd, log io.Writer, started func(int)) error {
	runtime.LockOSThread() // see start
	defer runtime.UnlockOSThread()
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := r.start(cmd, started); err != nil {
		pr.Close()
		pw.Close()
		return fmt.Errorf("cannot start: %w", err)
	}
	pw.Close()
	pgid := cmd.Process.Pid
	defer r.Watchdog.forget(pgid)
	var logErr error
	copied := make(chan struct{})
	go func() {
		logErr = drain(log, pr)
		close(copied)
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	select {
	case err = <-exited:
	case <-ctx.Done():
		r.terminate(pgid, exited)
		err = errStopped
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-copied:
	case <-time.After(drainWait):
	}
	pr.Close()
	<-copied
	if err == nil && logErr != nil {
		return fmt.Errorf("could not write its log: %w", logErr)
	}
	return describe(err)
}

// drain copies the job's output to log until the job closes its end. A
// failed write (a full disk) does not stop the reading, or the job would
// block on a full pipe forever; the first error is returned at the end.
func drain(log io.Writer, pr io.Reader) error {
	buf := make([]byte, 32<<10)
	var werr error
	for {
		n, err := pr.Read(buf)
		if n > 0 && werr == nil {
			_, werr = log.Write(buf[:n])
		}
		if err != nil {
			return werr
		}
	}
}

// terminate sends SIGTERM to the process group, then SIGKILL if the main
// process has not exited within the grace period.
func (r *Runner) terminate(pgid int, exited <-chan error) {
	grace := r.KillGrace
	if grace == 0 {
		grace = 5 * time.Second
	}
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(grace):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	}
}

// describe turns a wait error into a short reason.
func describe(err error) error {
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Errorf("killed by signal %v", ws.Signal())
		}
		return fmt.Errorf("exit status %d", ee.ExitCode())
	}
	return err
}
