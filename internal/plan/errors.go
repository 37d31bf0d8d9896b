package plan

import (
	"fmt"
	"strings"
)

// JobError is a problem with one job's own definition. Output, when set,
// is the output glob the problem is about.
type JobError struct {
	Job    string
	Msg    string
	Output string
}

func (e *JobError) Error() string { return fmt.Sprintf("job %q %s", e.Job, e.Msg) }

// NeedError is a `needs` entry that names no job, or names one twice.
type NeedError struct {
	Job, Need string
	Index     int    // position in the job's needs list
	Suggest   string // closest job id, if any is close
	Dup       bool
}

func (e *NeedError) Error() string {
	if e.Dup {
		return fmt.Sprintf("job %q needs %q twice", e.Job, e.Need)
	}
	return fmt.Sprintf("job %q needs %q, which is not a job%s", e.Job, e.Need, didYouMean(e.Suggest))
}

// CycleError is a dependency cycle; Path starts and ends with the same job.
type CycleError struct {
	Path []string
}

func (e *CycleError) Error() string {
	return "dependency cycle: " + strings.Join(e.Path, " -> ")
}

func didYouMean(s string) string {
	if s == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", s)
}

// closest returns the candidate nearest to s by edit distance, if it is
// near enough to be a plausible typo: about one edit in three, and never
// a rewrite of the whole candidate ("zz" is not a typo of "a").
func closest(s string, candidates []string) string {
	best, bestD := "", (len(s)+2)/3+1
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD && d < max(len(s), len(c)) {
			best, bestD = c, d
		}
	}
	return best
}

// SuggestOrList is " (did you mean X?)" for the name closest to name, or
// when none is close, "; WHAT: a, b, c" (the first ten).
func SuggestOrList(name string, names []string, what string) string {
	if s := closest(name, names); s != "" {
		return didYouMean(s)
	}
	list := names
	more := ""
	if len(list) > 10 {
		list, more = list[:10], fmt.Sprintf(", … (%d in all)", len(names))
	}
	return fmt.Sprintf("; %s: %s%s", what, strings.Join(list, ", "), more)
}

// Closest is closest, for other packages that suggest names.
func Closest(s string, candidates []string) string { return closest(s, candidates) }

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
