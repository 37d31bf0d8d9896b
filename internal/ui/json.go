package ui

import (
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/runrec"
)

// jsonUI writes one JSON object per line. Every event has "event" and
// "time"; the last one, "run_end", carries the whole run record.
type jsonUI struct {
	mu sync.Mutex
	w  io.Writer
}

type event struct {
	Event    string         `json:"event"`
	Time     time.Time      `json:"time"`
	Run      string         `json:"run,omitempty"`
	Pipeline string         `json:"pipeline,omitempty"`
	Jobs     int            `json:"jobs,omitempty"`
	Workers  int            `json:"workers,omitempty"`
	Job      string         `json:"job,omitempty"`
	Line     string         `json:"line,omitempty"`
	Result   *runrec.Job    `json:"result,omitempty"`
	Record   *runrec.Record `json:"record,omitempty"`
}

func (j *jsonUI) emit(e event) {
	e.Time = time.Now().UTC()
	j.mu.Lock()
	defer j.mu.Unlock()
	data, _ := json.Marshal(e)
	j.w.Write(append(data, '\n'))
}

func (j *jsonUI) RunStarted(r RunInfo) {
	j.emit(event{Event: "run_start", Run: r.ID, Pipeline: r.Pipeline, Jobs: r.Jobs, Workers: r.Workers})
}
func (j *jsonUI) JobStarted(id string) { j.emit(event{Event: "job_start", Job: id}) }
func (j *jsonUI) JobLine(id string, line []byte) {
	j.emit(event{Event: "log", Job: id, Line: string(line)})
}
func (j *jsonUI) JobFinished(r runrec.Job, _ string) {
	j.emit(event{Event: "job_end", Job: r.ID, Result: &r})
}
func (j *jsonUI) Warn(job, msg string) {
	j.emit(event{Event: "warning", Job: job, Line: msg})
}
func (j *jsonUI) RunFinished(rec *runrec.Record, _ string) {
	j.emit(event{Event: "run_end", Run: rec.ID, Record: rec})
}
