package engine

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
)

// The edit's shortcut. When the last-run record does not hold because
// some of its paths changed (a file edited), the jobs that cannot have
// read any of those paths, and that need no job that can, are what the
// record says: they are reported from it, as a no-op reports every job,
// and only the rest take the full path (where early cutoff still
// applies). Which jobs can have read a path is decided from the plan
// alone, generously: a path relates to a job when it lies on the way to,
// at, or below the literal start of one of its input or output globs (a
// .gitignore counts as its directory; a job reading Go packages relates
// to every path). A changed path no job relates to is a full run.
//
// The record the run then writes keeps, for the held jobs, the paths of
// the old one with their stats (unchanged, as just checked); the paths
// only the re-checked jobs relate to are left to them to add again.

// maxChanged bounds the changed paths looked at; more is a full run.
const maxChanged = 1000

// relation says which jobs may have relied on a path of the tree.
type relation struct {
	every []int            // jobs relying on files no glob names (Go packages)
	at    map[string][]int // a glob's literal start ("." for none) → its jobs
	above map[string][]int // each directory above such a start → the jobs
}

func relate(p *plan.Plan) *relation {
	r := &relation{at: map[string][]int{}, above: map[string][]int{}}
	for i, j := range p.Jobs {
		if len(j.GoInputs) > 0 || j.GoTest != nil || j.Image != nil {
			r.every = append(r.every, i)
			continue
		}
		include, _ := plan.SplitInputs(j.Inputs) // an exclude only narrows
		for _, g := range append(include, j.Outputs...) {
			start := literalStart(g)
			r.at[start] = append(r.at[start], i)
			for d := start; d != "."; {
				d = path.Dir(d)
				r.above[d] = append(r.above[d], i)
			}
		}
	}
	return r
}

// literalStart is the leading directories of glob g that hold no pattern
// character ("." when its first part has one).
func literalStart(g string) string {
	parts := strings.Split(g, "/")
	n := 0
	for n < len(parts) && !strings.ContainsAny(parts[n], `*?[]{}\`) {
		n++
	}
	return path.Clean(strings.Join(append([]string{"."}, parts[:n]...), "/"))
}

// jobs calls fn with every job that may have relied on rel (a job may
// come more than once).
func (r *relation) jobs(rel string, fn func(i int)) {
	if path.Base(rel) == ".gitignore" {
		rel = path.Dir(rel) // its rules apply to the whole directory
	}
	for _, i := range r.every {
		fn(i)
	}
	for _, i := range r.above[rel] {
		fn(i)
	}
	for d := rel; ; d = path.Dir(d) {
		for _, i := range r.at[d] {
			fn(i)
		}
		if d == "." {
			return
		}
	}
}

// holdUnaffected sets e.unaffected to the jobs of rec that none of the
// changed paths relates to, and that need no job one does; they are
// reported from the record. It says why when it holds none.
func (e *execution) holdUnaffected(rec *lastRun, changed []string) string {
	if len(changed) > maxChanged {
		return fmt.Sprintf("more than %d paths changed", maxChanged)
	}
	rel := relate(e.plan)
	affected := make([]bool, len(e.plan.Jobs))
	for _, p := range changed {
		any := false
		rel.jobs(p, func(i int) { affected[i], any = true, true })
		if !any {
			return p + " changed, and no job's inputs or outputs lead to it"
		}
	}
	deps := e.plan.Deps()
	held := make([]bool, len(e.plan.Jobs))
	n := 0
	for _, i := range plan.Topo(deps) { // needs first
		for _, d := range deps[i] {
			affected[i] = affected[i] || affected[d]
		}
		if !affected[i] {
			held[i] = true
			n++
		}
	}
	if n == 0 {
		return "every job relates to a changed path"
	}
	if e.opts.Explain != nil {
		return fmt.Sprintf("%d of %d jobs relate to none of the %d changed paths; --verbose computes every key anyway", n, len(held), len(changed))
	}
	e.unaffected, e.lastRec = held, rec
	// A path a held job relates to is unchanged (a changed one makes every
	// job it relates to re-checked); one that only re-checked jobs relate
	// to is theirs to add again, as they find it.
	e.carried = carriedBy(rel, held)
	return ""
}

// carriedBy says of a path of the old record whether the new one keeps it:
// when a held job relates to it, or no job does. (Relations are cached
// by directory: it is asked of every path the old record holds. Not safe
// for concurrent use.)
func carriedBy(rel *relation, held []bool) func(p string) bool {
	type sides struct{ held, others bool }
	add := func(s *sides, jobs []int) {
		for _, i := range jobs {
			s.held, s.others = s.held || held[i], s.others || !held[i]
		}
	}
	byDir := map[string]sides{} // the jobs with a start at or above each directory
	return func(p string) bool {
		if path.Base(p) == ".gitignore" {
			p = path.Dir(p) // as relation.jobs
		}
		var s sides
		if p != "." {
			dir := path.Dir(p)
			d, ok := byDir[dir]
			if !ok {
				for q := dir; ; q = path.Dir(q) {
					add(&d, rel.at[q])
					if q == "." {
						break
					}
				}
				byDir[dir] = d
			}
			s = d
		}
		add(&s, rel.at[p])
		add(&s, rel.every)
		add(&s, rel.above[p])
		return s.held || !s.others
	}
}

// holds says whether held job i can be reported from the record: not
// when the store no longer has its entry (pruned since the record was
// written), nor when a job it needs ended with other outputs than the
// record's (one that had to run after all, and made something else). The
// job then takes the full path.
func (e *execution) holds(i int) bool {
	j, lj := e.plan.Jobs[i], e.lastRec.jobs[i]
	for n, d := range e.needDigests(j) {
		if d != e.lastRec.jobs[e.plan.Index(n)].output {
			return false
		}
	}
	return e.cache.Store.Has(lj.key)
}

// fromRecord reports held job i as the record has it (holds said it
// can): a hit whose outputs are in place.
func (e *execution) fromRecord(i int) runrec.Job {
	j, lj := e.plan.Jobs[i], e.lastRec.jobs[i]
	e.showCached(j.ID, lj.text)
	e.setOutput(j.ID, lj.output)
	e.ended(j.ID)
	e.mu.Lock()
	e.last[j.ID] = lj
	e.touch = append(e.touch, lj.key) // used: pruned last (saveCaches)
	e.mu.Unlock()
	e.unchanged.Add(1)
	return runrec.Job{Status: runrec.Cached, Key: lj.key.String(), Cache: runrec.Cache{Result: "hit"}, LogDigest: lj.log}
}

// reportHeld reports from the record, before the scheduler starts and in
// the order of the plan's needs, every held job whose needs it reported
// too, and returns which. A chain of held jobs then costs no hand-off
// between workers per job. The others are left to the scheduler, with
// the jobs that need them.
func (e *execution) reportHeld(deps [][]int) []bool {
	done := make([]bool, len(deps))
	for _, i := range plan.Topo(deps) {
		if !e.unaffected[i] || slices.ContainsFunc(deps[i], func(d int) bool { return !done[d] }) || !e.holds(i) {
			continue
		}
		t0 := time.Now()
		e.opts.Observer.JobStarted(e.plan.Jobs[i].ID)
		e.finishJob(i, e.fromRecord(i), t0)
		done[i] = true
	}
	return done
}
