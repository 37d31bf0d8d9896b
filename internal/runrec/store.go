package runrec

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
)

// Keep is how many runs a project keeps by default.
const Keep = 50

// maxRecord bounds a summary or history file sparkwing reads back.
const maxRecord = 256 << 20

// Store is the runs directory of one project.
type Store struct {
	Dir string
}

// Open returns the store of the project rooted at root (.sparkwing/runs).
func Open(root string) *Store {
	return &Store{Dir: filepath.Join(root, ".sparkwing", "runs")}
}

// Run is the directory of one run being written.
type Run struct {
	ID  string
	Dir string
}

// Create makes the directory of a new run. The runs directory ignores
// itself for git, so records never show up as changes.
func (s *Store) Create(started time.Time) (*Run, error) {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return nil, err
	}
	ignore := filepath.Join(s.Dir, ".gitignore")
	if _, err := os.Stat(ignore); err != nil {
		os.WriteFile(ignore, []byte("# written by sparkwing: run records are not sources\n*\n"), 0o644)
	}
	// Ids sort in start order (to the millisecond); the random suffix keeps
	// concurrent runs apart.
	var b [2]byte
	rand.Read(b[:])
	id := started.UTC().Format("20060102-150405.000") + "-" + hex.EncodeToString(b[:])
	dir := filepath.Join(s.Dir, id)
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	return &Run{ID: id, Dir: dir}, nil
}

// LogPath is where the log of job id goes.
func (r *Run) LogPath(id string) string { return filepath.Join(r.Dir, "logs", id+".log") }

// Write stores the summary and the trace of a finished run, the two at
// once (each is a new file, which on some disks costs more than its
// content).
func (r *Run) Write(rec *Record) error {
	var traceErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		trace, err := json.Marshal(Trace(rec))
		if err == nil {
			err = fileset.WriteAtomic(filepath.Join(r.Dir, "trace.json"), trace, 0o600)
		}
		traceErr = err
	})
	summary, err := json.MarshalIndent(rec, "", "  ")
	if err == nil {
		err = fileset.WriteAtomic(filepath.Join(r.Dir, "summary.json"), append(summary, '\n'), 0o600)
	}
	wg.Wait()
	return errors.Join(err, traceErr)
}

// IDs returns the ids of the stored runs that have a summary, oldest first.
func (s *Store) IDs() ([]string, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			ids = append(ids, e.Name())
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// Load reads the record of run id; "last" is the newest run.
func (s *Store) Load(id string) (*Record, error) {
	if id == "last" {
		ids, err := s.IDs()
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			return nil, fmt.Errorf("no runs recorded yet in %s", s.Dir)
		}
		id = ids[len(ids)-1]
	}
	if strings.ContainsAny(id, `/\`) || strings.HasPrefix(id, ".") {
		return nil, fmt.Errorf("%q is not a run id (see `sparkwing runs`)", id)
	}
	data, err := fileset.ReadRegular(filepath.Join(s.Dir, id, "summary.json"), maxRecord)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no run %q (see `sparkwing runs`)", id)
	}
	if err != nil {
		return nil, err
	}
	var rec Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("run %s: corrupt summary.json: %v", id, err)
	}
	return &rec, nil
}

// Prune removes the oldest runs beyond keep.
func (s *Store) Prune(keep int) error {
	ids, err := s.IDs()
	if err != nil || len(ids) <= keep {
		return err
	}
	var errs []error
	for _, id := range ids[:len(ids)-keep] {
		errs = append(errs, os.RemoveAll(filepath.Join(s.Dir, id)))
	}
	return errors.Join(errs...)
}

// Tail returns up to n last lines of the file at path (nil if unreadable).
// It reads at most the last 64 KiB.
func Tail(path string, n int) []string {
	f, _, err := fileset.OpenRegular(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	const window = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > window {
		f.Seek(st.Size()-window, 0)
	}
	data, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// LastKeys returns the cache key each job of pipeline had in the newest
// recorded run of that pipeline.
func (s *Store) LastKeys(pipeline string) map[string]string {
	keys := map[string]string{}
	s.Newest(pipeline, func(rec *Record) bool {
		for _, j := range rec.Jobs {
			if j.Key != "" {
				keys[j.ID] = j.Key
			}
		}
		return false
	})
	return keys
}

// Newest calls fn with the readable records of pipeline, newest first,
// until fn returns false.
func (s *Store) Newest(pipeline string, fn func(*Record) bool) {
	ids, _ := s.IDs()
	for k := len(ids) - 1; k >= 0; k-- {
		if rec, err := s.Load(ids[k]); err == nil && rec.Pipeline == pipeline && !fn(rec) {
			return
		}
	}
}
