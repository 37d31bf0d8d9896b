package job

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// drainWait bounds how long output is read after the job's process group
// is gone; only a process that left the group can hold the pipe longer.
const drainWait = 2 * time.Second

// exec starts cmd in its own process group with stdout and stderr on one
// pipe copied to log, and waits for it. On ctx done the group is
// terminated. However it ends, the group is killed afterwards, so nothing
// the job started keeps running.
func (r *Runner) exec(ctx context.Context, cmd *exec.Cmd, log io.Writer) error {
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return fmt.Errorf("cannot start: %w", err)
	}
	pw.Close()
	copied := make(chan struct{})
	go func() {
		io.Copy(log, pr)
		close(copied)
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	pgid := cmd.Process.Pid
	select {
	case err = <-exited:
	case <-ctx.Done():
		err = r.terminate(pgid, exited)
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-copied:
	case <-time.After(drainWait):
	}
	pr.Close()
	<-copied
	return describe(err)
}

// terminate sends SIGTERM to the process group, then SIGKILL if the main
// process has not exited within the grace period.
func (r *Runner) terminate(pgid int, exited <-chan error) error {
	grace := r.KillGrace
	if grace == 0 {
		grace = 5 * time.Second
	}
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case err := <-exited:
		return err
	case <-time.After(grace):
		syscall.Kill(-pgid, syscall.SIGKILL)
		return <-exited
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
