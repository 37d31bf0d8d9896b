// Package sched runs a DAG of tasks on a fixed pool of workers.
//
// The design follows the go command's Builder.Do: a count of unfinished
// dependencies per task, the inverse edges, a priority heap of ready tasks
// and one mutex. The heap is ordered by each task's priority (the engine
// passes the longest remaining path, so the critical path starts first),
// ties by index. A failed task's dependents are skipped; without KeepGoing a
// failure also stops new tasks from starting, and cancelling the context
// does the same while running tasks see their context cancelled.
package sched

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// Status is what became of one task.
type Status int

const (
	Skipped   Status = iota // never started
	Succeeded               // Func returned Succeeded
	Failed                  // Func returned Failed
	Cancelled               // Func returned Cancelled: the run was interrupted
)

func (s Status) String() string {
	return [...]string{"skipped", "succeeded", "failed", "cancelled"}[s]
}

// Func runs task i on the given worker (0 ≤ worker < Workers) and reports
// how it ended. It is called from Workers goroutines at once, exactly once
// per task that starts, and only after every task i depends on succeeded.
// It should return Cancelled when ctx was cancelled under it.
type Func func(ctx context.Context, i, worker int) Status

// Options tune a run.
type Options struct {
	Workers   int       // at least 1
	KeepGoing bool      // after a failure, go on with everything not downstream of it
	Priority  []float64 // higher runs first among ready tasks; nil: index order
	// Done, if set, marks the tasks already done (succeeded) before Run:
	// they are not run, and count as finished for the tasks that need them.
	// A done task's needs must be done too.
	Done []bool
}

// Result is the outcome of one task.
type Result struct {
	Status Status
	Worker int
	Ready  time.Time // when its last dependency finished (zero if never ready)
	Start  time.Time
	End    time.Time
}

// Run runs every task of the graph whose dependencies allow it. deps[i]
// lists the tasks i needs; the graph must be acyclic. It returns when no
// task is running and none can start.
func Run(ctx context.Context, deps [][]int, opts Options, fn Func) []Result {
	s := newState(deps, opts)
	var wg sync.WaitGroup
	stopWatch := context.AfterFunc(ctx, s.stop)
	defer stopWatch()
	for w := 0; w < max(opts.Workers, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.work(ctx, w, fn)
		}()
	}
	wg.Wait()
	return s.results
}

type state struct {
	mu         sync.Mutex
	cond       *sync.Cond
	pending    []int   // unfinished dependencies per task
	dependents [][]int // inverse edges
	ready      readyHeap
	running    int
	stopped    bool
	keepGoing  bool
	results    []Result
}

func newState(deps [][]int, opts Options) *state {
	s := &state{
		pending:    make([]int, len(deps)),
		dependents: make([][]int, len(deps)),
		results:    make([]Result, len(deps)),
		keepGoing:  opts.KeepGoing,
	}
	s.cond = sync.NewCond(&s.mu)
	s.ready.prio = opts.Priority
	now := time.Now()
	done := func(i int) bool { return opts.Done != nil && opts.Done[i] }
	for i, ds := range deps {
		if done(i) {
			s.results[i] = Result{Status: Succeeded, Ready: now, Start: now, End: now}
			continue
		}
		for _, d := range ds {
			if !done(d) {
				s.pending[i]++
				s.dependents[d] = append(s.dependents[d], i)
			}
		}
		if s.pending[i] == 0 {
			s.results[i].Ready = now
			heap.Push(&s.ready, i)
		}
	}
	return s
}

func (s *state) stop() {
	s.mu.Lock()
	s.stopped = true
	s.cond.Broadcast()
	s.mu.Unlock()
}

// work is one worker's loop: take the best ready task, run it, release its
// dependents.
func (s *state) work(ctx context.Context, worker int, fn Func) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		for s.ready.Len() == 0 && s.running > 0 && !s.stopped {
			s.cond.Wait()
		}
		// ctx.Err too: stop runs on its own goroutine after the cancel,
		// and a worker back from a task in between must not start one.
		if s.stopped || ctx.Err() != nil || s.ready.Len() == 0 {
			s.cond.Broadcast()
			return
		}
		i := heap.Pop(&s.ready).(int)
		s.running++
		s.results[i].Worker = worker
		s.results[i].Start = time.Now()
		s.mu.Unlock()
		st := fn(ctx, i, worker)
		s.mu.Lock()
		s.finish(i, st)
	}
}

func (s *state) finish(i int, st Status) {
	s.running--
	r := &s.results[i]
	r.Status, r.End = st, time.Now()
	if st != Succeeded {
		if !s.keepGoing || st == Cancelled {
			s.stopped = true
		}
		s.cond.Broadcast()
		return
	}
	for _, d := range s.dependents[i] {
		s.pending[d]--
		if s.pending[d] == 0 {
			s.results[d].Ready = r.End
			heap.Push(&s.ready, d)
		}
	}
	s.cond.Broadcast()
}

// readyHeap is a max-heap of task indices by priority, then min index.
type readyHeap struct {
	items []int
	prio  []float64
}

func (h *readyHeap) Len() int { return len(h.items) }
func (h *readyHeap) Less(a, b int) bool {
	x, y := h.items[a], h.items[b]
	if h.prio != nil && h.prio[x] != h.prio[y] {
		return h.prio[x] > h.prio[y]
	}
	return x < y
}
func (h *readyHeap) Swap(a, b int) { h.items[a], h.items[b] = h.items[b], h.items[a] }
func (h *readyHeap) Push(x any)    { h.items = append(h.items, x.(int)) }
func (h *readyHeap) Pop() any {
	n := len(h.items) - 1
	x := h.items[n]
	h.items = h.items[:n]
	return x
}
