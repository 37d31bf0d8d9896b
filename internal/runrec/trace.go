package runrec

import "strconv"

// TraceEvent is one event of the Chrome trace event format (the JSON that
// Perfetto and chrome://tracing open). Times are in microseconds.
type TraceEvent struct {
	Name string         `json:"name"`
	Cat  string         `json:"cat,omitempty"`
	Ph   string         `json:"ph"`
	Ts   int64          `json:"ts"`
	Dur  int64          `json:"dur,omitempty"`
	Pid  int            `json:"pid"`
	Tid  int            `json:"tid"`
	Args map[string]any `json:"args,omitempty"`
}

// TraceFile is trace.json.
type TraceFile struct {
	TraceEvents     []TraceEvent `json:"traceEvents"`
	DisplayTimeUnit string       `json:"displayTimeUnit"`
}

// Trace returns one complete ("X") span per job that started, on the track
// of the worker that ran it, so parallel jobs show side by side.
func Trace(rec *Record) TraceFile {
	events := []TraceEvent{{Name: "process_name", Ph: "M", Pid: 1, Args: map[string]any{"name": "sparkwing " + rec.Pipeline + " " + rec.ID}}}
	named := map[int]bool{}
	for _, j := range rec.Jobs {
		if j.Status == Skipped {
			continue
		}
		tid := j.Worker + 1
		if !named[tid] {
			named[tid] = true
			events = append(events, TraceEvent{Name: "thread_name", Ph: "M", Pid: 1, Tid: tid,
				Args: map[string]any{"name": "worker " + strconv.Itoa(tid)}})
		}
		events = append(events, TraceEvent{
			Name: j.ID, Cat: "job", Ph: "X", Pid: 1, Tid: tid,
			Ts: j.StartMS * 1000, Dur: max(j.DurationMS*1000, 1),
			Args: map[string]any{"status": j.Status, "queued_ms": j.QueuedMS, "cache": j.Cache.Result},
		})
	}
	return TraceFile{TraceEvents: events, DisplayTimeUnit: "ms"}
}
