// Package runrec stores the record of each run under .sparkwing/runs/ID/:
// summary.json (the public contract in DESIGN.md), trace.json (Chrome trace
// event format, for Perfetto) and logs/JOB.log. It also keeps the durations
// learned from past runs, which the scheduler uses as priorities.
package runrec

import (
	"fmt"
	"strings"
	"time"
)

// Record is summary.json. Field names are a public contract.
type Record struct {
	ID                 string    `json:"id"`
	Pipeline           string    `json:"pipeline"`
	Args               []string  `json:"args,omitempty"`
	Status             string    `json:"status"` // success | failed | interrupted
	Started            time.Time `json:"started"`
	WallMS             int64     `json:"wall_ms"`
	JobMSTotal         int64     `json:"job_ms_total"`
	ParallelEfficiency float64   `json:"parallel_efficiency"`
	CriticalPathMS     int64     `json:"critical_path_ms"`
	CriticalPath       []string  `json:"critical_path"`
	Workers            int       `json:"workers"`
	// UpToDate: every job was a hit known from the last run's record,
	// with one lstat per path that run read (no keys computed).
	UpToDate bool `json:"up_to_date,omitempty"`
	// Unchanged counts the jobs none of whose paths changed since the last
	// run's record, reported from it with no key computed (the edit's
	// shortcut), in a run that was not up to date.
	Unchanged int          `json:"unchanged,omitempty"`
	Remote    *RemoteStats `json:"remote,omitempty"`
	Jobs      []Job        `json:"jobs"`
}

// RemoteStats are what a run did with the remote cache.
type RemoteStats struct {
	URL         string `json:"url"` // without credentials
	Namespace   string `json:"namespace"`
	Write       bool   `json:"write"`
	BytesDown   int64  `json:"bytes_down"`
	BytesUp     int64  `json:"bytes_up"`
	NotUploaded int    `json:"not_uploaded,omitempty"` // uploads stopped at the run's end
}

// Job is one job's line in the record.
type Job struct {
	ID         string   `json:"id"`
	Needs      []string `json:"needs,omitempty"`
	Status     string   `json:"status"` // ran | cached | failed | skipped | cancelled
	Error      string   `json:"error,omitempty"`
	Attempts   int      `json:"attempts,omitempty"`
	StartMS    int64    `json:"start_ms"` // since the run started
	DurationMS int64    `json:"duration_ms"`
	QueuedMS   int64    `json:"queued_ms"`
	Worker     int      `json:"worker"`
	Key        string   `json:"key,omitempty"`
	Cache      Cache    `json:"cache"`
	Log        string   `json:"log,omitempty"`        // relative to the run's directory
	LogDigest  string   `json:"log_digest,omitempty"` // cached jobs: their log is this blob of the cache
	Output     string   `json:"output,omitempty"`     // the digest of its outputs, when this run knew it
	// Deploy is a deploy job's split of its time, when it applied.
	Deploy *DeployPhases `json:"deploy,omitempty"`
}

// DeployPhases split a deploy job that applied: rendering and checking
// (kustomize, the registry's digests, the API server's dry run), applying,
// the rollout and the health checks.
type DeployPhases struct {
	CheckMS   int64 `json:"check_ms"`
	ApplyMS   int64 `json:"apply_ms"`
	RolloutMS int64 `json:"rollout_ms"`
	HealthMS  int64 `json:"health_ms"`
	SyncMS    int64 `json:"sync_ms,omitempty"` // sparkwing dev --sync: copying the files and restarting the process
}

// Cache says whether the job's result came from the cache, and why not.
type Cache struct {
	Result string `json:"result"` // hit | miss | off
	Reason string `json:"reason,omitempty"`
	// Remote is what the remote cache did, when the run had one and the
	// local store missed: hit | miss | skipped | error, and why.
	Remote       string `json:"remote,omitempty"`
	RemoteReason string `json:"remote_reason,omitempty"`
	// StoredMS is, on a hit, how long the job took when its result was
	// stored: what the hit saved, less the job's own duration (the restore).
	StoredMS int64 `json:"stored_ms,omitempty"`
}

// Job statuses.
const (
	Ran       = "ran"
	Cached    = "cached"
	Failed    = "failed"
	Skipped   = "skipped"
	Cancelled = "cancelled"
)

// Run statuses.
const (
	Success     = "success"
	RunFailed   = "failed"
	Interrupted = "interrupted"
)

// RemoteSummary is one line on what the run did with the remote cache:
// "remote cache URL (namespace main): 3 hits, 1 miss · 4.2 MiB down, 1.0 MiB up".
// "" when the run had none.
func (r *Record) RemoteSummary() string {
	if r.Remote == nil {
		return ""
	}
	n := map[string]int{}
	for _, j := range r.Jobs {
		if j.Cache.Remote != "" {
			n[j.Cache.Remote]++
		}
	}
	var parts []string
	for _, w := range [][2]string{{"hit", "hits"}, {"miss", "misses"}, {"skipped", "skipped"}, {"error", "errors"}} {
		switch c := n[w[0]]; {
		case c == 1:
			parts = append(parts, "1 "+w[0])
		case c > 1:
			parts = append(parts, fmt.Sprintf("%d %s", c, w[1]))
		}
	}
	if len(parts) == 0 {
		parts = []string{"not needed"}
	}
	line := fmt.Sprintf("remote cache %s (namespace %s): %s · %s down, %s up", r.Remote.URL, r.Remote.Namespace,
		strings.Join(parts, ", "), Bytes(r.Remote.BytesDown), Bytes(r.Remote.BytesUp))
	if !r.Remote.Write {
		line += " · read-only"
	}
	if r.Remote.NotUploaded > 0 {
		line += fmt.Sprintf(" · %d not uploaded", r.Remote.NotUploaded)
	}
	return line
}

// Bytes is n for people, in binary units: 512 B, 4.2 MiB.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
