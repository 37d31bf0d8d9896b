package engine

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/job"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
	"github.com/sparkwing-dev/sparkwing/internal/ui"
)

// A job's result is stored beside its dependents, but a run returns only
// once every result is stored and the job's state names it. The output is
// large and random so that storing it takes long after the job ends: a
// run that did not wait would return before the entry is there.
func TestRunWaitsForItsStores(t *testing.T) {
	root, p, store := testProject(t,
		plan.Job{ID: "big", Run: "head -c 50000000 /dev/urandom > big.bin", Inputs: []string{"in.txt"}, Outputs: []string{"big.bin"}},
		plan.Job{ID: "after", Needs: []string{"big"}, Run: "true", Inputs: []string{"in.txt"}})
	c := testCache(root, store)
	run := func() runrec.Job {
		for _, j := range testRun(t, p, root, c).Jobs {
			if j.ID == "big" {
				return j
			}
		}
		t.Fatal("no job big in the record")
		return runrec.Job{}
	}
	big := run()
	key, err := cache.ParseKey(big.Key)
	if err != nil || big.Status != runrec.Ran {
		t.Fatalf("first run: big %s, key %q", big.Status, big.Key)
	}
	if !store.Has(key) {
		t.Fatal("the run returned before the job's result was stored")
	}
	os.Remove(filepath.Join(root, "big.bin"))
	if big = run(); big.Status != runrec.Cached {
		t.Fatalf("second run: big %s, want it restored", big.Status)
	}
}

// testProject is a project holding in.txt whose pipeline "p" has jobs,
// and an empty store.
func testProject(t *testing.T, jobs ...plan.Job) (root string, p *plan.Plan, store *cache.Store) {
	t.Helper()
	root = t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "in.txt"), []byte("in\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := plan.New("p", jobs)
	if err != nil {
		t.Fatal(err)
	}
	if store, err = cache.OpenStore(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	return root, p, store
}

// testCache is a cache on store for the project at root, as the CLI sets
// one up (no stat caches on disk).
func testCache(root string, store *cache.Store) *cache.Cache {
	return &cache.Cache{Store: store, Root: root, Tree: fileset.NewTree(root), Hasher: fileset.NewHasher(root, ""),
		Env: os.LookupEnv, JobEnv: (&job.Runner{Root: root, LookupEnv: os.LookupEnv}).Env}
}

// testRun runs p in root with c, two jobs at a time, and returns its record.
func testRun(t *testing.T, p *plan.Plan, root string, c *cache.Cache) *runrec.Record {
	t.Helper()
	rec, err := Run(context.Background(), p, Options{Root: root, Workers: 2, LookupEnv: os.LookupEnv,
		Observer: ui.New("plain", io.Discard, false, nil, "sparkwing"), Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}
