package runrec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCreateWriteLoadPrune(t *testing.T) {
	s := Open(t.TempDir())
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var ids []string
	for i := 0; i < 5; i++ {
		r, err := s.Create(t0.Add(time.Duration(i) * time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		rec := &Record{ID: r.ID, Pipeline: "p", Status: Success, Jobs: []Job{
			{ID: "a", Status: Ran, StartMS: 0, DurationMS: 10, Worker: 0},
			{ID: "b", Status: Ran, StartMS: 2, DurationMS: 10, Worker: 1},
			{ID: "c", Status: Skipped},
		}}
		if err := r.Write(rec); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	last, err := s.Load("last")
	if err != nil || last.ID != ids[4] {
		t.Fatalf("last = %v, %v; want %s", last, err, ids[4])
	}
	if err := s.Prune(2); err != nil {
		t.Fatal(err)
	}
	got, _ := s.IDs()
	if len(got) != 2 || got[0] != ids[3] {
		t.Fatalf("after prune: %v", got)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, ".gitignore")); err != nil {
		t.Fatal("runs directory does not ignore itself")
	}
}

func TestTraceHasOneSpanPerStartedJobOnItsWorker(t *testing.T) {
	tr := Trace(&Record{Jobs: []Job{
		{ID: "a", Status: Ran, StartMS: 1, DurationMS: 10, Worker: 0},
		{ID: "b", Status: Failed, StartMS: 2, DurationMS: 5, Worker: 1},
		{ID: "c", Status: Skipped},
	}})
	spans := map[string]TraceEvent{}
	for _, e := range tr.TraceEvents {
		if e.Ph == "X" {
			spans[e.Name] = e
		}
	}
	if len(spans) != 2 || spans["a"].Ts != 1000 || spans["a"].Dur != 10000 || spans["b"].Tid != 2 {
		t.Fatalf("spans %+v", spans)
	}
}

func TestLearnAndTail(t *testing.T) {
	s := Open(t.TempDir())
	os.MkdirAll(s.Dir, 0o755)
	s.Learn(&Record{Pipeline: "p", Jobs: []Job{{ID: "a", Status: Ran, DurationMS: 1500}, {ID: "b", Status: Skipped}}})
	d := s.Durations()
	if d.Estimate("p", "a", time.Second) != 1500*time.Millisecond || d.Estimate("p", "b", time.Second) != time.Second {
		t.Fatalf("durations %v", d)
	}
	log := filepath.Join(t.TempDir(), "x.log")
	os.WriteFile(log, []byte(strings.Repeat("line\n", 30)+"last\n"), 0o644)
	if tail := Tail(log, 3); len(tail) != 3 || tail[2] != "last" {
		t.Fatalf("tail %q", tail)
	}
}
