package ui

import (
	"encoding/json"
	"fmt"
	"io"
)

// Replay feeds the events a run wrote with --output json (one JSON object
// a line, as jsonUI writes them) to an Observer, so a run that happened
// elsewhere, such as on a runner, shows as a local one does. Lines that
// are not events (a message printed before the run started, a runner's
// note) go to other as they are.
type Replay struct {
	obs   Observer
	other io.Writer
}

// NewReplay returns a Replay into obs.
func NewReplay(obs Observer, other io.Writer) *Replay { return &Replay{obs: obs, other: other} }

// attemptEvent is what the controller writes into a run's log when the
// run starts again on another runner.
type attemptEvent struct {
	Attempt int    `json:"attempt"`
	Runner  string `json:"runner"`
}

// Line takes one line of the log, with or without its newline.
func (r *Replay) Line(line []byte) {
	var e event
	if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil || e.Event == "" {
		r.other.Write(line)
		if len(line) > 0 && line[len(line)-1] != '\n' {
			r.other.Write([]byte{'\n'})
		}
		return
	}
	switch e.Event {
	case "run_start":
		r.obs.RunStarted(RunInfo{ID: e.Run, Pipeline: e.Pipeline, Jobs: e.Jobs, Workers: e.Workers})
	case "job_start":
		r.obs.JobStarted(e.Job)
	case "log":
		r.obs.JobLine(e.Job, []byte(e.Line))
	case "job_end":
		if e.Result != nil {
			r.obs.JobFinished(*e.Result, "")
		}
	case "warning":
		r.obs.Warn(e.Job, e.Line)
	case "run_end":
		if e.Record != nil {
			r.obs.RunFinished(e.Record, "")
		}
	case "attempt":
		var a attemptEvent
		json.Unmarshal(line, &a)
		fmt.Fprintf(r.other, "sparkwing: the runner was lost; the run starts again (attempt %d, on %s)\n", a.Attempt, a.Runner)
	}
}
