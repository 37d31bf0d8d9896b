package store_test

// The conformance suite: every test runs on SQLite and on a real
// PostgreSQL (pgtest), because the controller promises the same
// behaviour on both.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/store"
	"github.com/sparkwing-dev/sparkwing/internal/store/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

var ctx = context.Background()

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

type backend struct {
	name string
	dsn  func(t *testing.T) string
}

var backends = []backend{
	{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "state.db") }},
	{"postgres", func(t *testing.T) string { return pgtest.DSN(t) }},
}

// each runs fn against a fresh store of every backend.
func each(t *testing.T, fn func(t *testing.T, s *store.SQL)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s, err := store.Open(ctx, b.dsn(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			fn(t, s)
		})
	}
}

func queue(t *testing.T, s *store.SQL, r store.Run) store.Run {
	t.Helper()
	if r.Created.IsZero() {
		r.Created = t0
	}
	run, created, err := s.CreateRun(ctx, r)
	if err != nil || !created {
		t.Fatalf("CreateRun: %v (created %v)", err, created)
	}
	return run
}

func claim(t *testing.T, s *store.SQL, runner string, now time.Time, labels map[string]string) (store.Run, bool) {
	t.Helper()
	r, ok, err := s.Claim(ctx, store.Claim{Runner: runner, Labels: labels, Lease: 10 * time.Second, Now: now})
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	return r, ok
}

func TestRunRoundTrip(t *testing.T) {
	each(t, func(t *testing.T, s *store.SQL) {
		in := store.Run{Repo: "app", Branch: "main", SHA: "abc123", Pipeline: "build", Args: []string{"--x", "y"},
			RunsOn: map[string]string{"os": "linux"}, Bundle: []byte("bundle bytes"), Patch: []byte("diff"), Dirty: true, Created: t0}
		r := queue(t, s, in)
		got, err := s.Run(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Repo != "app" || got.SHA != "abc123" || got.Pipeline != "build" || len(got.Args) != 2 || got.Args[1] != "y" ||
			got.RunsOn["os"] != "linux" || string(got.Bundle) != "bundle bytes" || string(got.Patch) != "diff" || !got.Dirty ||
			got.Status != store.Queued || !got.Created.Equal(t0) {
			t.Errorf("stored %+v, read back %+v", in, got)
		}
		if _, err := s.Run(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing run: %v, want ErrNotFound", err)
		}
		list, err := s.Runs(ctx, 10)
		if err != nil || len(list) != 1 || list[0].ID != r.ID {
			t.Errorf("Runs = %v, %v", list, err)
		}
	})
}

func TestIdempotencyKey(t *testing.T) {
	each(t, func(t *testing.T, s *store.SQL) {
		first := queue(t, s, store.Run{Repo: "app", Pipeline: "build", Key: "k1"})
		// Retries, some at the same moment, make no second run.
		var wg sync.WaitGroup
		ids := make([]string, 8)
		for i := range ids {
			wg.Go(func() {
				r, created, err := s.CreateRun(ctx, store.Run{Repo: "app", Pipeline: "build", Key: "k1", Created: t0})
				if err != nil || created {
					t.Errorf("retry %d: created=%v err=%v", i, created, err)
				}
				ids[i] = r.ID
			})
		}
		wg.Wait()
		for i, id := range ids {
			if id != first.ID {
				t.Errorf("retry %d returned run %q, want %q", i, id, first.ID)
			}
		}
		queue(t, s, store.Run{Repo: "app", Pipeline: "build", Key: "k2"})
		queue(t, s, store.Run{Repo: "app", Pipeline: "build"}) // no key: always new
		queue(t, s, store.Run{Repo: "app", Pipeline: "build"})
		if list, _ := s.Runs(ctx, 10); len(list) != 4 {
			t.Errorf("%d runs, want 4", len(list))
		}
	})
}

// Many runners claim at once: every run goes to exactly one of them.
func TestClaimUnderContention(t *testing.T) {
	each(t, func(t *testing.T, s *store.SQL) {
		const runs, runners = 40, 12
		for i := range runs {
			queue(t, s, store.Run{Repo: "app", Pipeline: "p", Created: t0.Add(time.Duration(i) * time.Millisecond)})
		}
		var mu sync.Mutex
		owner := map[string]string{}
		var wg sync.WaitGroup
		for w := range runners {
			wg.Go(func() {
				name := fmt.Sprintf("runner-%d", w)
				for {
					r, ok, err := s.Claim(ctx, store.Claim{Runner: name, Lease: time.Minute, Now: t0})
					if err != nil {
						t.Errorf("%s: %v", name, err)
						return
					}
					if !ok {
						return
					}
					mu.Lock()
					if prev, dup := owner[r.ID]; dup {
						t.Errorf("run %s claimed by %s and by %s", r.ID, prev, name)
					}
					owner[r.ID] = name
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(owner) != runs {
			t.Errorf("%d runs claimed, want %d", len(owner), runs)
		}
	})
}

func TestClaimOrderAndLabels(t *testing.T) {
	each(t, func(t *testing.T, s *store.SQL) {
		gpu := queue(t, s, store.Run{Repo: "app", Pipeline: "train", RunsOn: map[string]string{"gpu": "yes"}, Created: t0})
		plain := queue(t, s, store.Run{Repo: "app", Pipeline: "build", Created: t0.Add(time.Second)})
		if r, ok := claim(t, s, "cpu-box", t0, map[string]string{"os": "linux"}); !ok || r.ID != plain.ID {
			t.Errorf("a runner without gpu=yes took %v (ok %v), want the build run", r.ID, ok)
		}
		if _, ok := claim(t, s, "cpu-box", t0, map[string]string{"os": "linux"}); ok {
			t.Errorf("a runner without gpu=yes took the gpu run")
		}
		if r, ok := claim(t, s, "gpu-box", t0, map[string]string{"gpu": "yes"}); !ok || r.ID != gpu.ID || r.Attempt != 1 || r.Runner != "gpu-box" {
			t.Errorf("gpu runner got %+v (ok %v)", r, ok)
		}
	})
}

// A runner whose lease lapsed cannot write to the run it lost, and the
// run goes to another runner with a new fence.
func TestLeaseExpiryAndFencing(t *testing.T) {
	each(t, func(t *testing.T, s *store.SQL) {
		queue(t, s, store.Run{Repo: "app", Pipeline: "p"})
		a, _ := claim(t, s, "a", t0, nil)
		if _, err := s.AppendLog(ctx, a.ID, a.Fence, 0, []byte("a's line\n")); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.ExpireLeases(ctx, t0.Add(5*time.Second)); len(got) != 0 {
			t.Fatalf("lease expired early: %v", got)
		}
		if _, err := s.Heartbeat(ctx, a.ID, a.Fence, t0.Add(15*time.Second)); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.ExpireLeases(ctx, t0.Add(12*time.Second)); len(got) != 0 {
			t.Fatalf("heartbeat did not extend the lease")
		}
		expired, err := s.ExpireLeases(ctx, t0.Add(16*time.Second))
		if err != nil || len(expired) != 1 || expired[0].Status != store.Queued {
			t.Fatalf("ExpireLeases = %+v, %v", expired, err)
		}
		// a, lapsed, comes back: every write is refused.
		if _, err := s.Heartbeat(ctx, a.ID, a.Fence, t0.Add(30*time.Second)); !errors.Is(err, store.ErrFenced) {
			t.Errorf("lapsed heartbeat: %v, want ErrFenced", err)
		}
		b, ok := claim(t, s, "b", t0.Add(17*time.Second), nil)
		if !ok || b.ID != a.ID || b.Attempt != 2 || b.Fence <= a.Fence {
			t.Fatalf("second claim: %+v ok=%v", b, ok)
		}
		if _, err := s.AppendLog(ctx, a.ID, a.Fence, 9, []byte("late\n")); !errors.Is(err, store.ErrFenced) {
			t.Errorf("lapsed log write: %v, want ErrFenced", err)
		}
		if err := s.Finish(ctx, a.ID, a.Fence, store.Succeeded, 0, "", t0); !errors.Is(err, store.ErrFenced) {
			t.Errorf("lapsed finish: %v, want ErrFenced", err)
		}
		// b's log starts after a's and a line saying a new attempt began.
		if n, err := s.AppendLog(ctx, b.ID, b.Fence, 0, []byte("b's line\n")); err != nil || n != 9 {
			t.Fatalf("AppendLog b = %d, %v", n, err)
		}
		if err := s.Finish(ctx, b.ID, b.Fence, store.Succeeded, 0, "", t0.Add(20*time.Second)); err != nil {
			t.Fatal(err)
		}
		log, _ := s.ReadLog(ctx, b.ID, 0, 1<<20)
		want := "a's line\n" + `{"event":"attempt","attempt":2,"runner":"b","time":"2026-12-01T10:00:17Z"}` + "\nb's line\n"
		if string(log) != want {
			t.Errorf("log:\n%s\nwant:\n%s", log, want)
		}
		got, _ := s.Run(ctx, b.ID)
		if got.Status != store.Succeeded || got.Runner != "b" { // the runner of the last attempt stays on record
			t.Errorf("finished run: %+v", got)
		}
	})
}

// A runner started for one run (a Kubernetes Job) takes only that run;
// when its pod is gone the run is queued again at once, and a run no
// runner can ever take is ended with the reason.
func TestClaimOneRunLoseRunnerFailQueued(t *testing.T) {
	each(t, func(t *testing.T, s *store.SQL) {
		older := queue(t, s, store.Run{Repo: "app", Pipeline: "old", Created: t0})
		mine := queue(t, s, store.Run{Repo: "app", Pipeline: "mine", Created: t0.Add(time.Second)})
		if q, err := s.Queued(ctx, 10); err != nil || len(q) != 2 || q[0].ID != older.ID {
			t.Fatalf("Queued = %+v, %v; want the two runs, oldest first", q, err)
		}
		r, ok, err := s.Claim(ctx, store.Claim{Runner: "pod-1", Run: mine.ID, Lease: time.Minute, Now: t0})
		if err != nil || !ok || r.ID != mine.ID {
			t.Fatalf("claim of one run = %+v ok=%v %v, want %s", r, ok, err, mine.ID)
		}
		if _, ok, _ := s.Claim(ctx, store.Claim{Runner: "pod-2", Run: mine.ID, Lease: time.Minute, Now: t0}); ok {
			t.Fatalf("a run already held was claimed again by id")
		}
		lost, err := s.LoseRunner(ctx, "pod-1", t0.Add(time.Second))
		if err != nil || len(lost) != 1 || lost[0].ID != mine.ID || lost[0].Status != store.Queued {
			t.Fatalf("LoseRunner = %+v, %v", lost, err)
		}
		if _, err := s.Heartbeat(ctx, r.ID, r.Fence, t0.Add(time.Minute)); !errors.Is(err, store.ErrFenced) {
			t.Errorf("the lost runner's heartbeat: %v, want ErrFenced", err)
		}
		if again, _ := s.LoseRunner(ctx, "pod-1", t0.Add(time.Second)); len(again) != 0 {
			t.Errorf("losing the runner twice changed %+v", again)
		}
		// The run is queued after attempt 1: failing it "after attempt 0"
		// (a stale view) does nothing; after attempt 1 it ends it.
		if ok, err := s.FailQueued(ctx, mine.ID, 0, "stale", t0); ok || err != nil {
			t.Errorf("FailQueued with a stale attempt = %v, %v", ok, err)
		}
		if ok, err := s.FailQueued(ctx, mine.ID, 1, "image does not pull", t0); !ok || err != nil {
			t.Fatalf("FailQueued = %v, %v", ok, err)
		}
		got, _ := s.Run(ctx, mine.ID)
		if got.Status != store.Error || got.ExitCode != 2 || got.Message != "image does not pull" {
			t.Errorf("failed queued run: %+v", got)
		}
		if q, _ := s.Queued(ctx, 10); len(q) != 1 || q[0].ID != older.ID {
			t.Errorf("queue after: %+v, want only the older run", q)
		}
	})
}

func TestLostTooOftenFails(t *testing.T) {
	each(t, func(t *testing.T, s *store.SQL) {
		queue(t, s, store.Run{Repo: "app", Pipeline: "p"})
		now := t0
		for i := range store.MaxAttempts {
			if _, ok := claim(t, s, fmt.Sprint("r", i), now, nil); !ok {
				t.Fatalf("claim %d: nothing queued", i)
			}
			now = now.Add(time.Minute)
			s.ExpireLeases(ctx, now)
		}
		if _, ok := claim(t, s, "last", now, nil); ok {
			t.Fatalf("run queued again after %d lost attempts", store.MaxAttempts)
		}
		runs, _ := s.Runs(ctx, 1)
		if runs[0].Status != store.Failed || runs[0].Message == "" {
			t.Errorf("run after %d lost attempts: %+v", store.MaxAttempts, runs[0])
		}
	})
}

func TestLogChunksRetriedAndGaps(t *testing.T) {
	each(t, func(t *testing.T, s *store.SQL) {
		queue(t, s, store.Run{Repo: "app", Pipeline: "p"})
		r, _ := claim(t, s, "a", t0, nil)
		steps := []struct {
			off  int64
			data string
			size int64
			err  error
		}{
			{0, "hello ", 6, nil},
			{0, "hello ", 6, nil},           // a retry: accepted, not copied
			{3, "lo world", 11, nil},        // overlaps: only the new tail is kept
			{20, "far", 0, store.ErrLogGap}, // past the end
			{11, "\r50%\r100%\n", 21, nil},  // carriage returns kept as they are
		}
		for _, st := range steps {
			n, err := s.AppendLog(ctx, r.ID, r.Fence, st.off, []byte(st.data))
			if !errors.Is(err, st.err) || (err == nil && n != st.size) {
				t.Errorf("AppendLog(%d, %q) = %d, %v; want %d, %v", st.off, st.data, n, err, st.size, st.err)
			}
		}
		log, _ := s.ReadLog(ctx, r.ID, 0, 1<<20)
		if string(log) != "hello world\r50%\r100%\n" {
			t.Errorf("log = %q", log)
		}
		tail, _ := s.ReadLog(ctx, r.ID, 8, 1<<20)
		if string(tail) != "rld\r50%\r100%\n" {
			t.Errorf("log from 8 = %q", tail)
		}
	})
}

func TestCancel(t *testing.T) {
	each(t, func(t *testing.T, s *store.SQL) {
		queued := queue(t, s, store.Run{Repo: "app", Pipeline: "p", Created: t0.Add(time.Second)})
		running := queue(t, s, store.Run{Repo: "app", Pipeline: "p", Created: t0})
		r, _ := claim(t, s, "a", t0, nil)
		if r.ID != running.ID {
			t.Fatalf("claimed %s, want the oldest %s", r.ID, running.ID)
		}
		got, err := s.RequestCancel(ctx, queued.ID, t0)
		if err != nil || got.Status != store.Cancelled || got.ExitCode != 130 {
			t.Errorf("cancel queued: %+v, %v", got, err)
		}
		got, err = s.RequestCancel(ctx, running.ID, t0)
		if err != nil || got.Status != store.Running || !got.Cancel {
			t.Errorf("cancel running: %+v, %v", got, err)
		}
		hb, err := s.Heartbeat(ctx, r.ID, r.Fence, t0.Add(time.Minute))
		if err != nil || !hb.Cancel {
			t.Errorf("heartbeat after cancel: %+v, %v", hb, err)
		}
		if _, ok := claim(t, s, "b", t0, nil); ok {
			t.Errorf("a cancelled run was claimed")
		}
	})
}

func TestTokens(t *testing.T) {
	each(t, func(t *testing.T, s *store.SQL) {
		tok := store.Token{ID: "t1", Name: "ci", Hash: "h1", Scopes: []string{store.ScopeTrigger, store.ScopeRunner}, Created: t0}
		if err := s.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateToken(ctx, store.Token{ID: "t2", Name: "ci", Hash: "h2", Scopes: []string{"admin"}, Created: t0}); !errors.Is(err, store.ErrExists) {
			t.Errorf("duplicate name: %v, want ErrExists", err)
		}
		got, err := s.TokenByHash(ctx, "h1")
		if err != nil || got.Name != "ci" || !got.Has(store.ScopeRunner) || got.Has(store.ScopeAdmin) || !got.Revoked.IsZero() {
			t.Errorf("TokenByHash = %+v, %v", got, err)
		}
		if err := s.RevokeToken(ctx, "ci", t0); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.TokenByHash(ctx, "h1"); got.Revoked.IsZero() {
			t.Errorf("revoked token reads as valid")
		}
		if err := s.RevokeToken(ctx, "ci", t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second revoke: %v", err)
		}
		if list, _ := s.Tokens(ctx); len(list) != 1 {
			t.Errorf("Tokens = %v", list)
		}
	})
}

func TestReposDeliveriesTicks(t *testing.T) {
	each(t, func(t *testing.T, s *store.SQL) {
		s.PutRepo(ctx, store.Repo{Name: "app", URL: "https://a", Created: t0})
		s.PutRepo(ctx, store.Repo{Name: "app", URL: "https://b", Created: t0})
		if r, err := s.Repo(ctx, "app"); err != nil || r.URL != "https://b" {
			t.Errorf("Repo = %+v, %v", r, err)
		}
		if err := s.DeleteRepo(ctx, "app"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Repo(ctx, "app"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleted repo: %v", err)
		}
		first, _ := s.FirstDelivery(ctx, "d1", t0)
		again, _ := s.FirstDelivery(ctx, "d1", t0)
		if !first || again {
			t.Errorf("deliveries: first %v, again %v", first, again)
		}
		if at, _ := s.Tick(ctx, "nightly"); !at.IsZero() {
			t.Errorf("unset tick = %v", at)
		}
		s.SetTick(ctx, "nightly", t0)
		s.SetTick(ctx, "nightly", t0.Add(time.Hour))
		if at, _ := s.Tick(ctx, "nightly"); !at.Equal(t0.Add(time.Hour)) {
			t.Errorf("tick = %v", at)
		}
	})
}

// A database made by the previous schema keeps its rows through the
// upgrade; a database newer than the binary is refused.
func TestMigrations(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.dsn(t)
			old, err := store.OpenAt(ctx, dsn, store.Version-1)
			if err != nil {
				t.Fatal(err)
			}
			old.PutRepo(ctx, store.Repo{Name: "kept", URL: "https://k", Created: t0})
			old.Close()
			s, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatalf("upgrade: %v", err)
			}
			defer s.Close()
			if r, err := s.Repo(ctx, "kept"); err != nil || r.URL != "https://k" {
				t.Errorf("after upgrade: %+v, %v", r, err)
			}
			queue(t, s, store.Run{Repo: "kept", Pipeline: "p", Dirty: true}) // uses the new columns
			s.Close()
			again, err := store.Open(ctx, dsn) // migrating twice is a no-op
			if err != nil {
				t.Fatal(err)
			}
			again.Close()
		})
	}
}
