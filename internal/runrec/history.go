package runrec

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
)

// Durations are the last known run time of each job, by pipeline then job.
type Durations map[string]map[string]int64

func (s *Store) durationsPath() string { return filepath.Join(s.Dir, "durations.json") }

// Durations returns what past runs learned; missing or unreadable history
// is empty, never an error: it only orders work.
func (s *Store) Durations() Durations {
	d := Durations{}
	if data, err := fileset.ReadRegular(s.durationsPath(), maxRecord); err == nil {
		json.Unmarshal(data, &d)
	}
	return d
}

// Estimate returns the expected duration of a job, or def when unknown.
func (d Durations) Estimate(pipeline, job string, def time.Duration) time.Duration {
	if ms, ok := d[pipeline][job]; ok {
		return time.Duration(ms) * time.Millisecond
	}
	return def
}

// Learn records the durations of the jobs that ran in rec and saves them.
// Cached jobs teach nothing about how long the work takes.
func (s *Store) Learn(rec *Record) error {
	if !slices.ContainsFunc(rec.Jobs, func(j Job) bool { return j.Status == Ran }) {
		return nil
	}
	d := s.Durations()
	if d[rec.Pipeline] == nil {
		d[rec.Pipeline] = map[string]int64{}
	}
	for _, j := range rec.Jobs {
		if j.Status == Ran {
			d[rec.Pipeline][j.ID] = j.DurationMS
		}
	}
	data, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return fileset.WriteAtomic(s.durationsPath(), data, 0o600)
}
