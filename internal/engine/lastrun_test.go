package engine

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
)

// A no-op whose record is older than touchAfter still takes the shortcut,
// marks every job's entry used, as the full path would, and dates the
// record anew; a record dated in the future is not used.
func TestOldRecordTouchesTheEntries(t *testing.T) {
	root, p, store := testProject(t,
		plan.Job{ID: "a", Run: "cp in.txt a.txt", Inputs: []string{"in.txt"}, Outputs: []string{"a.txt"}},
		plan.Job{ID: "b", Needs: []string{"a"}, Run: "cp a.txt b.txt", Inputs: []string{"in.txt"}, Outputs: []string{"b.txt"}})
	run := func() *runrec.Record { return testRun(t, p, root, testCache(root, store)) }
	// A record is written once every stat it holds has settled.
	for i := 0; !run().UpToDate; i++ {
		if i == 50 {
			t.Fatal("no run took the shortcut")
		}
		time.Sleep(100 * time.Millisecond)
	}

	redate := func(when time.Time) {
		path := LastRunPath(root, "p")
		lr, err := loadLastRun(path)
		if err != nil {
			t.Fatal(err)
		}
		lr.written = when
		if err := fileset.WriteAtomic(path, lr.file(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-3 * touchAfter)
	redate(old)
	entries, _, err := store.Entries()
	if err != nil || len(entries) != 2 {
		t.Fatalf("%d entries (%v), want 2", len(entries), err)
	}
	for _, e := range entries {
		// The store's layout, which no API sets a time through.
		os.Chtimes(filepath.Join(store.Dir, "entries", e.Key+".json"), old, old)
	}
	if !run().UpToDate {
		t.Fatal("a no-op with an old record took the full path")
	}
	if entries, _, _ = store.Entries(); len(entries) != 2 {
		t.Fatalf("%d entries, want 2", len(entries))
	}
	for _, e := range entries {
		if !e.LastUsed.After(old.Add(touchAfter)) {
			t.Errorf("entry of job %s last used %v, before the no-op that used it", e.Job, e.LastUsed)
		}
	}
	lr, err := loadLastRun(LastRunPath(root, "p"))
	if err != nil || time.Since(lr.written) > touchAfter {
		t.Fatalf("the record was not dated anew: %v (%v)", lr.written, err)
	}

	redate(time.Now().Add(touchAfter))
	if rec := run(); rec.UpToDate {
		t.Fatal("a record dated in the future was used")
	}
}
