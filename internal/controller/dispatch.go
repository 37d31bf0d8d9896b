package controller

import (
	"context"
	"sync"

	"github.com/sparkwing-dev/sparkwing/internal/store"
)

// What a dispatcher (internal/kubedispatch: runners as Kubernetes Jobs)
// needs from the server. The queue's rules stay in the store; these only
// add what the server knows: who is waiting for work right now.

// Queued lists the runs waiting for a runner, oldest first.
func (s *Server) Queued(ctx context.Context) ([]store.Run, error) {
	return s.st.Queued(ctx, 200)
}

// QueueChanged is closed the next time a run may be waiting to be claimed.
func (s *Server) QueueChanged() <-chan struct{} { return s.wake.Wait(queueKey) }

// RunnerWaiting reports whether a runner that can take a run needing
// runsOn is in a claim long-poll now: such a run is claimed at once.
func (s *Server) RunnerWaiting(runsOn map[string]string) bool {
	return s.waiters.any(func(labels map[string]string) bool { return store.Matches(runsOn, labels) })
}

// LoseRunner queues again, at once, the runs the runner named holds: it
// is known to be gone (why says how), so its lease is not waited out.
func (s *Server) LoseRunner(ctx context.Context, name, why string) {
	runs, err := s.st.LoseRunner(ctx, name, s.now())
	if err != nil {
		s.log.Error("lose runner", "runner", name, "err", err)
		return
	}
	s.released(runs, why)
}

// FailQueued ends a run that is still queued after attempt claims in
// error with why: the runner started for it cannot take it.
func (s *Server) FailQueued(ctx context.Context, id string, attempt int, why string) {
	ok, err := s.st.FailQueued(ctx, id, attempt, why, s.now())
	if err != nil {
		s.log.Error("fail queued run", "run", id, "err", err)
		return
	}
	if ok {
		s.log.Warn("run not started: "+why, "run", id)
		s.wake.Notify(id)
	}
}

// waiters are the runners in a claim long-poll, by their labels.
type waiters struct {
	mu  sync.Mutex
	set map[*waiter]bool
}

type waiter struct{ labels map[string]string }

// add records one waiting runner; the func it returns removes it.
func (w *waiters) add(labels map[string]string) func() {
	one := &waiter{labels}
	w.mu.Lock()
	if w.set == nil {
		w.set = map[*waiter]bool{}
	}
	w.set[one] = true
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		delete(w.set, one)
		w.mu.Unlock()
	}
}

func (w *waiters) any(match func(map[string]string) bool) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for one := range w.set {
		if match(one.labels) {
			return true
		}
	}
	return false
}
