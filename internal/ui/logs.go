package ui

import (
	"sync"

	"github.com/sparkwing-dev/sparkwing/internal/runrec"
)

// Choices of --output-logs: which jobs' logs a run shows.
const (
	LogsFull   = "full"   // every job's, replayed from the cache or not
	LogsNew    = "new"    // only the jobs that run; cached ones stay quiet
	LogsErrors = "errors" // only the jobs that fail, once they have
	LogsNone   = "none"   // none; every log is still in the run's record
)

// LogModes lists the valid --output-logs values.
var LogModes = []string{LogsFull, LogsNew, LogsErrors, LogsNone}

// FilterLogs shows the lines of the jobs that run as mode says (the
// engine leaves cached jobs' replays out for every mode but full): none
// drops them, errors holds each job's lines until it ends and shows them
// only if it failed.
func FilterLogs(obs Observer, mode string) Observer {
	switch mode {
	case LogsNone, LogsErrors:
		return &logFilter{Observer: obs, mode: mode, held: map[string][][]byte{}}
	}
	return obs
}

type logFilter struct {
	Observer
	mode string

	mu   sync.Mutex
	held map[string][][]byte // errors: each running job's lines so far
}

func (f *logFilter) JobLine(id string, line []byte) {
	if f.mode == LogsNone {
		return
	}
	f.mu.Lock()
	f.held[id] = append(f.held[id], append([]byte(nil), line...))
	f.mu.Unlock()
}

func (f *logFilter) JobFinished(j runrec.Job, logPath string) {
	f.mu.Lock()
	lines := f.held[j.ID]
	delete(f.held, j.ID)
	f.mu.Unlock()
	if j.Status == runrec.Failed {
		for _, l := range lines {
			f.Observer.JobLine(j.ID, l)
		}
	}
	f.Observer.JobFinished(j, logPath)
}
