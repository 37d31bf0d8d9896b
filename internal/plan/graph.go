package plan

import (
	"slices"
	"time"
)

// findCycle returns a dependency cycle as a path of ids whose first and
// last element are the same job, or nil. Depth-first, in declaration order,
// so the reported cycle is stable.
func (p *Plan) findCycle() []string {
	const (
		unseen = iota
		active
		done
	)
	state := make([]int, len(p.Jobs))
	var stack []int
	var found []string
	var visit func(i int) bool
	visit = func(i int) bool {
		state[i] = active
		stack = append(stack, i)
		for _, n := range p.Jobs[i].Needs {
			k := p.index[n]
			switch state[k] {
			case active:
				found = p.cyclePath(stack, k)
				return true
			case unseen:
				if visit(k) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[i] = done
		return false
	}
	for i := range p.Jobs {
		if state[i] == unseen && visit(i) {
			return found
		}
	}
	return nil
}

// cyclePath turns the tail of the DFS stack starting at job k into a path in
// dependency order: a needs b needs ... needs a.
func (p *Plan) cyclePath(stack []int, k int) []string {
	start := 0
	for s, i := range stack {
		if i == k {
			start = s
		}
	}
	var path []string
	for _, i := range stack[start:] {
		path = append(path, p.Jobs[i].ID)
	}
	return append(path, p.Jobs[k].ID)
}

// Topo returns job indices so that every job comes after all it needs.
func Topo(deps [][]int) []int {
	order := make([]int, 0, len(deps))
	seen := make([]bool, len(deps))
	var visit func(i int)
	visit = func(i int) {
		if seen[i] {
			return
		}
		seen[i] = true
		for _, d := range deps[i] {
			visit(d)
		}
		order = append(order, i)
	}
	for i := range deps {
		visit(i)
	}
	return order
}

// RemainingPath returns, for each job, the length of the longest path from
// its start to the end of the run: its own duration plus the longest
// remaining path among the jobs that need it. Scheduling the ready job with
// the longest remaining path first keeps the critical path moving.
func RemainingPath(deps [][]int, dur []time.Duration) []time.Duration {
	dependents := make([][]int, len(deps))
	for i, ds := range deps {
		for _, d := range ds {
			dependents[d] = append(dependents[d], i)
		}
	}
	rem := make([]time.Duration, len(deps))
	order := Topo(deps)
	for k := len(order) - 1; k >= 0; k-- {
		i := order[k]
		var longest time.Duration
		for _, d := range dependents[i] {
			longest = max(longest, rem[d])
		}
		rem[i] = dur[i] + longest
	}
	return rem
}

// CriticalPath returns the chain of jobs, in run order, whose durations add
// up to the longest, and that sum.
func CriticalPath(deps [][]int, dur []time.Duration) ([]int, time.Duration) {
	if len(deps) == 0 {
		return nil, 0
	}
	finish := make([]time.Duration, len(deps))
	prev := make([]int, len(deps))
	end := -1
	for _, i := range Topo(deps) {
		prev[i] = -1
		for _, d := range deps[i] {
			if prev[i] < 0 || finish[d] > finish[prev[i]] {
				prev[i] = d
			}
		}
		finish[i] = dur[i]
		if prev[i] >= 0 {
			finish[i] += finish[prev[i]]
		}
		if end < 0 || finish[i] > finish[end] {
			end = i
		}
	}
	var path []int
	for i := end; i >= 0; i = prev[i] {
		path = append(path, i)
	}
	slices.Reverse(path)
	return path, finish[end]
}
