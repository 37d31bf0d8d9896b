package engine

import (
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
	"github.com/sparkwing-dev/sparkwing/internal/sched"
)

// record assembles the run record from what each job reported and when the
// scheduler started and ended it.
func (e *execution) record(started time.Time, results []sched.Result, interrupted bool) *runrec.Record {
	wall := time.Since(started)
	rec := &runrec.Record{
		ID: e.run.ID, Pipeline: e.plan.Name, Args: e.opts.Args, Started: started.UTC(),
		WallMS: wall.Milliseconds(), Workers: e.opts.Workers, Status: runrec.Success,
	}
	durations := make([]time.Duration, len(results))
	var total time.Duration
	for i, r := range results {
		rj := e.jobs[i]
		rj.ID, rj.Needs = e.plan.Jobs[i].ID, e.plan.Jobs[i].Needs
		if r.Status == sched.Skipped {
			rj = runrec.Job{ID: rj.ID, Needs: rj.Needs, Status: runrec.Skipped, Cache: runrec.Cache{Result: "off", Reason: "disabled"}}
		} else {
			d := r.End.Sub(r.Start)
			durations[i], total = d, total+d
			rj.Worker = r.Worker
			rj.StartMS = r.Start.Sub(started).Milliseconds()
			rj.DurationMS = d.Milliseconds()
			rj.QueuedMS = r.Start.Sub(r.Ready).Milliseconds()
			if d, ok := e.outputs[rj.ID]; ok {
				rj.Output = d.String()
			}
		}
		if rj.Status == runrec.Failed && rec.Status == runrec.Success {
			rec.Status = runrec.RunFailed
		}
		rec.Jobs = append(rec.Jobs, rj)
	}
	if interrupted {
		rec.Status = runrec.Interrupted
	}
	rec.JobMSTotal = total.Milliseconds()
	if wall > 0 {
		rec.ParallelEfficiency = float64(total) / float64(wall)
	}
	path, length := plan.CriticalPath(e.plan.Deps(), durations)
	rec.CriticalPathMS = length.Milliseconds()
	for _, i := range path {
		if durations[i] > 0 {
			rec.CriticalPath = append(rec.CriticalPath, e.plan.Jobs[i].ID)
		}
	}
	return rec
}
