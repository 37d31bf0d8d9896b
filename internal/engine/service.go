package engine

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/health"
	"github.com/sparkwing-dev/sparkwing/internal/job"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
	"github.com/sparkwing-dev/sparkwing/internal/sched"
)

// ReasonService is the cache reason of a service: it is never cached.
const ReasonService = "service"

// unchecked is how long a service without a health check must keep
// running to count as healthy.
const unchecked = time.Second

// service is a service a run started, kept until the run ends.
type service struct {
	job   plan.Job
	proc  *job.Process
	close func() // its log
}

// services are a run's running services, in the order they became
// healthy.
type services struct {
	mu   sync.Mutex
	list []service
}

// doService starts a service and waits until it is healthy; the jobs that
// need it then run while it serves, and the run stops it at its end.
func (e *execution) doService(ctx context.Context, j plan.Job) (runrec.Job, sched.Status) {
	rj := runrec.Job{Cache: runrec.Cache{Result: "off", Reason: ReasonService}}
	log, closeLog, err := e.output(j)
	if err != nil {
		return e.fail(j, rj, err)
	}
	out := &lockedWriter{w: log} // the service's output and sparkwing's lines, from two goroutines
	warn := func(msg string) { e.opts.Observer.Warn(j.ID, msg) }
	t0 := time.Now()
	proc, err := StartService(ctx, e.runner, j, out, warn)
	if err != nil {
		closeLog()
		if ctx.Err() != nil {
			rj.Status, rj.Error = runrec.Cancelled, "cancelled"
			return rj, sched.Cancelled
		}
		return e.fail(j, rj, err)
	}
	fmt.Fprintf(out, "sparkwing: %s is healthy after %v; it serves until the run ends\n", j.ID, time.Since(t0).Round(time.Millisecond))
	e.services.mu.Lock()
	e.services.list = append(e.services.list, service{j, proc, closeLog})
	e.services.mu.Unlock()
	rj.Status = runrec.Ran
	return rj, sched.Succeeded
}

// lockedWriter serializes writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// stopServices stops the run's services, the last started first.
func (e *execution) stopServices() {
	e.services.mu.Lock()
	list := e.services.list
	e.services.list = nil
	e.services.mu.Unlock()
	for _, s := range slices.Backward(list) {
		select {
		case <-s.proc.Done():
			e.opts.Observer.Warn(s.job.ID, fmt.Sprintf("the service exited while the run went on: %v", s.proc.Err()))
		default:
			StopService(s.job, s.proc)
		}
		s.close()
	}
}

// StopService stops a service as its settings say.
func StopService(j plan.Job, p *job.Process) (killed bool) {
	timeout := j.Service.StopTimeout
	if timeout == 0 {
		timeout = plan.DefaultStopTimeout
	}
	return p.Stop(job.Signal(j.Service.StopSignal), timeout)
}

// StartService starts service j, its output to log, and returns once its
// health check passes (a service without one: once it has kept running
// for a second). A service that exits first, or is not healthy within its
// ready timeout, is stopped and reported with the last check's error.
func StartService(ctx context.Context, r *job.Runner, j plan.Job, log io.Writer, warn func(string)) (*job.Process, error) {
	svc := j.Service
	var check *plan.Health
	if svc.Health == "" {
		warn(fmt.Sprintf("no health check: healthy means still running after %v; add `health: http://127.0.0.1:PORT/PATH`, `tcp:HOST:PORT` or `exec: CMD`", unchecked))
	} else {
		h, err := plan.ParseHealth(svc.Health)
		if err != nil {
			return nil, err
		}
		check = &h
		if h.Addr != "" && !h.Loopback() {
			fmt.Fprintf(log, "sparkwing: note: the health check reaches %s, which is not this machine\n", h.Addr)
		}
		if h.Addr != "" && h.Loopback() && health.Listening(h.Addr) {
			if who := health.PortHolder(h.Addr); who != "" {
				return nil, fmt.Errorf("%s is already in use, by process %s: stop it, or give the service another port", h.Addr, who)
			}
			return nil, fmt.Errorf("%s is already in use: stop what listens there, or give the service another port", h.Addr)
		}
	}
	proc, err := r.Start(j, log)
	if err != nil {
		return nil, err
	}
	timeout := svc.ReadyTimeout
	if timeout == 0 {
		timeout = plan.DefaultReadyTimeout
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	if check == nil {
		select {
		case <-proc.Done():
			return nil, fmt.Errorf("exited before it was up for %v: %v", unchecked, proc.Err())
		case <-ctx.Done():
			StopService(j, proc)
			return nil, ctx.Err()
		case <-time.After(unchecked):
			return proc, nil
		}
	}
	env := r.Env(j)
	interval := 5 * time.Millisecond
	var last error
	for {
		if last = health.Check(ctx, *check, r.Root, env); last == nil {
			return proc, nil
		}
		select {
		case <-proc.Done():
			return nil, fmt.Errorf("exited before it was healthy: %v", proc.Err())
		case <-ctx.Done():
			StopService(j, proc)
			return nil, ctx.Err()
		case <-deadline.C:
			StopService(j, proc)
			return nil, fmt.Errorf("not healthy after %v (last check: %v); it is stopped. Raise `ready_timeout`, or fix the check", timeout, last)
		case <-time.After(interval):
		}
		interval = min(interval*2, 100*time.Millisecond)
	}
}
