package job

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// Process is a service's running process group.
type Process struct {
	pgid int
	done chan struct{} // closed once the main process exited, the group is killed and the output drained
	err  error         // how the main process ended; read after done
}

// Start starts service j's command in its own process group, its
// combined output copied to log, and returns once it is running. It runs
// until it exits or Stop; whatever it leaves in its group is killed when
// its main process exits, and the watchdog kills it if sparkwing dies.
func (r *Runner) Start(j plan.Job, log io.Writer) (*Process, error) {
	sj := j
	sj.Run, sj.Step = j.Service.Run, nil
	p := &Process{done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// PR_SET_PDEATHSIG fires when the starting thread exits: this
		// goroutine keeps its thread for the life of the process.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer close(p.done)
		pr, pw, err := os.Pipe()
		if err != nil {
			started <- err
			return
		}
		cmd := r.command(sj)
		cmd.Stdout, cmd.Stderr = pw, pw
		if err := r.start(cmd, nil); err != nil {
			pr.Close()
			pw.Close()
			started <- err
			return
		}
		pw.Close()
		p.pgid = cmd.Process.Pid
		started <- nil
		copied := make(chan struct{})
		go func() {
			drain(log, pr)
			close(copied)
		}()
		p.err = describe(cmd.Wait())
		syscall.Kill(-p.pgid, syscall.SIGKILL)
		r.Watchdog.forget(p.pgid)
		select {
		case <-copied:
		case <-time.After(drainWait):
		}
		pr.Close()
		<-copied
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("cannot start: %w", err)
	}
	return p, nil
}

// Done is closed when the process has exited and nothing of its group is
// left.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is how the process ended ("exit status 1", "killed by signal
// terminated"); valid once Done is closed.
func (p *Process) Err() error { return p.err }

// Stop sends sig to the process group and waits up to timeout for the
// main process to exit, then kills the group. It returns once the process
// is gone, and whether it had to be killed.
func (p *Process) Stop(sig syscall.Signal, timeout time.Duration) (killed bool) {
	select {
	case <-p.done:
		return false
	default:
	}
	syscall.Kill(-p.pgid, sig)
	select {
	case <-p.done:
		return false
	case <-time.After(timeout):
		syscall.Kill(-p.pgid, syscall.SIGKILL)
		<-p.done
		return true
	}
}

// Signal is the signal a service's stop_signal names (TERM if "").
func Signal(name string) syscall.Signal {
	switch name {
	case "INT":
		return syscall.SIGINT
	case "QUIT":
		return syscall.SIGQUIT
	case "HUP":
		return syscall.SIGHUP
	case "KILL":
		return syscall.SIGKILL
	case "USR1":
		return syscall.SIGUSR1
	case "USR2":
		return syscall.SIGUSR2
	}
	return syscall.SIGTERM
}
