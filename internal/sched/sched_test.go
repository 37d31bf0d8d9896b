package sched

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// randomDAG returns n tasks where each may need some earlier ones.
func randomDAG(r *rand.Rand, n int) [][]int {
	deps := make([][]int, n)
	for i := 1; i < n; i++ {
		for k := r.IntN(min(i, 4) + 1); k > 0; k-- {
			d := r.IntN(i)
			if !contains(deps[i], d) {
				deps[i] = append(deps[i], d)
			}
		}
	}
	// Shuffle indices so "earlier" is not index order.
	perm := r.Perm(n)
	out := make([][]int, n)
	for i, ds := range deps {
		for _, d := range ds {
			out[perm[i]] = append(out[perm[i]], perm[d])
		}
	}
	return out
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// downstream reports whether task i depends, transitively, on any task in bad.
func downstream(deps [][]int, i int, bad map[int]bool) bool {
	for _, d := range deps[i] {
		if bad[d] || downstream(deps, d, bad) {
			return true
		}
	}
	return false
}

func TestRandomDAGsRunEachTaskOnceAfterItsDeps(t *testing.T) {
	for seed := uint64(0); seed < 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 1))
		deps := randomDAG(r, 1+r.IntN(40))
		workers := 1 + r.IntN(6)
		var mu sync.Mutex
		done := make([]bool, len(deps))
		calls := make([]int, len(deps))
		var running, peak atomic.Int32
		res := Run(context.Background(), deps, Options{Workers: workers}, func(ctx context.Context, i, w int) Status {
			if n := running.Add(1); n > peak.Load() {
				peak.Store(n)
			}
			defer running.Add(-1)
			mu.Lock()
			calls[i]++
			for _, d := range deps[i] {
				if !done[d] {
					t.Errorf("seed %d: task %d started before its dependency %d finished", seed, i, d)
				}
			}
			mu.Unlock()
			if w < 0 || w >= workers {
				t.Errorf("worker %d out of range", w)
			}
			time.Sleep(time.Duration(r2(i)) * time.Microsecond)
			mu.Lock()
			done[i] = true
			mu.Unlock()
			return Succeeded
		})
		for i := range deps {
			if calls[i] != 1 || res[i].Status != Succeeded {
				t.Fatalf("seed %d: task %d ran %d times, status %v", seed, i, calls[i], res[i].Status)
			}
		}
		if int(peak.Load()) > workers {
			t.Fatalf("seed %d: %d tasks ran at once with %d workers", seed, peak.Load(), workers)
		}
	}
}

func r2(i int) int { return (i * 7919) % 300 }

func TestFailurePropagation(t *testing.T) {
	for seed := uint64(0); seed < 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 2))
		deps := randomDAG(r, 2+r.IntN(40))
		bad := map[int]bool{r.IntN(len(deps)): true, r.IntN(len(deps)): true}
		for _, keepGoing := range []bool{false, true} {
			res := Run(context.Background(), deps, Options{Workers: 1 + r.IntN(4), KeepGoing: keepGoing},
				func(ctx context.Context, i, w int) Status {
					if bad[i] {
						return Failed
					}
					return Succeeded
				})
			failed := map[int]bool{}
			for i, rr := range res {
				if rr.Status == Failed {
					failed[i] = true
					if !bad[i] {
						t.Fatalf("seed %d: task %d failed but was not made to", seed, i)
					}
				}
			}
			if len(failed) == 0 {
				t.Fatalf("seed %d: no failure recorded", seed)
			}
			for i, rr := range res {
				down := downstream(deps, i, failed)
				switch {
				case down && rr.Status != Skipped:
					t.Fatalf("seed %d: task %d is downstream of a failure but %v", seed, i, rr.Status)
				case keepGoing && !down && !bad[i] && rr.Status != Succeeded:
					t.Fatalf("seed %d keep-going: independent task %d is %v", seed, i, rr.Status)
				}
			}
		}
	}
}

func TestFailFastStartsNothingAfterAFailure(t *testing.T) {
	// Two independent chains, one worker: after a fails, b must not start.
	deps := [][]int{nil, nil}
	var started []int
	res := Run(context.Background(), deps, Options{Workers: 1}, func(ctx context.Context, i, w int) Status {
		started = append(started, i)
		return Failed
	})
	if len(started) != 1 || res[1].Status != Skipped {
		t.Fatalf("started %v, results %+v", started, res)
	}
}

func TestCancelStopsAndReportsRunningTasks(t *testing.T) {
	for seed := uint64(0); seed < 50; seed++ {
		r := rand.New(rand.NewPCG(seed, 3))
		deps := randomDAG(r, 5+r.IntN(30))
		ctx, cancel := context.WithCancel(context.Background())
		var n atomic.Int32
		cancelAt := int32(1 + r.IntN(len(deps)))
		res := Run(ctx, deps, Options{Workers: 3}, func(ctx context.Context, i, w int) Status {
			if n.Add(1) == cancelAt {
				cancel()
			}
			select {
			case <-ctx.Done():
				return Cancelled
			case <-time.After(time.Millisecond):
				return Succeeded
			}
		})
		cancel()
		for i, rr := range res {
			if rr.Status == Skipped && !rr.Start.IsZero() {
				t.Fatalf("seed %d: task %d started but reported skipped", seed, i)
			}
			if rr.Status == Cancelled && rr.End.IsZero() {
				t.Fatalf("seed %d: cancelled task %d has no end", seed, i)
			}
		}
		if int(n.Load()) > int(cancelAt)+2 {
			t.Fatalf("seed %d: %d tasks started after cancel at %d (workers 3)", seed, n.Load(), cancelAt)
		}
	}
}

func TestPriorityOrdersReadyTasks(t *testing.T) {
	deps := [][]int{nil, nil, nil, nil}
	var order []int
	Run(context.Background(), deps, Options{Workers: 1, Priority: []float64{1, 4, 2, 3}},
		func(ctx context.Context, i, w int) Status {
			order = append(order, i)
			return Succeeded
		})
	want := []int{1, 3, 2, 0}
	for k := range want {
		if order[k] != want[k] {
			t.Fatalf("order %v, want %v", order, want)
		}
	}
}

func TestEmptyGraph(t *testing.T) {
	if res := Run(context.Background(), nil, Options{Workers: 2}, nil); len(res) != 0 {
		t.Fatal(res)
	}
}

// TestDoneTasksAreNotRun: tasks marked done are reported succeeded and
// never run, and the tasks that need them run at once, on random graphs
// where a closed-downward set (every done task's needs done) is marked.
func TestDoneTasksAreNotRun(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for range 50 {
		deps := randomDAG(r, 30)
		done := make([]bool, len(deps))
		for _, i := range r.Perm(len(deps)) {
			if r.IntN(2) == 0 && !slices.ContainsFunc(deps[i], func(d int) bool { return !done[d] }) {
				done[i] = true
			}
		}
		var mu sync.Mutex
		ran := map[int]bool{}
		res := Run(context.Background(), deps, Options{Workers: 3, Done: done}, func(_ context.Context, i, _ int) Status {
			mu.Lock()
			defer mu.Unlock()
			for _, d := range deps[i] {
				if !done[d] && !ran[d] {
					t.Errorf("task %d ran before its need %d", i, d)
				}
			}
			ran[i] = true
			return Succeeded
		})
		for i := range deps {
			if done[i] == ran[i] {
				t.Fatalf("task %d: done %v, ran %v", i, done[i], ran[i])
			}
			if res[i].Status != Succeeded {
				t.Fatalf("task %d: %v", i, res[i].Status)
			}
		}
	}
}
