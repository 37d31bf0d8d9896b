package devloop

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// The logs of a deploy's pods are followed by one follower for the
// session: not started again while it runs, started again after each
// build once it ended, and a failure it keeps ending with is said once.
// (Logs stands in for the deploy helper here; the cluster tests run the
// real one.)
func TestOneLogFollowerADeploy(t *testing.T) {
	p, err := plan.New("ship", []plan.Job{
		{ID: "server", Run: "x"},
		{ID: "deploy", Needs: []string{"server"}, Deploy: &plan.Deploy{Kustomize: "k", OnFailure: plan.OnFailureKeep}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	starts, fail := 0, false
	var out bytes.Buffer
	d := &dev{started: time.Now(), build: p, logs: map[string]*podLogs{}, o: Options{Out: &out,
		Logs: func(ctx context.Context, j plan.Job, since time.Time, w io.Writer) error {
			mu.Lock()
			starts++
			failing := fail
			mu.Unlock()
			if j.ID != "deploy" {
				t.Errorf("followed the pods of %s", j.ID)
			}
			if failing {
				return errors.New("pods/log is forbidden")
			}
			io.WriteString(w, "listening\n")
			<-ctx.Done()
			return nil
		}}}
	count := func() int { mu.Lock(); defer mu.Unlock(); return starts }
	ctx := t.Context()

	d.followLogs(ctx)
	d.followLogs(ctx) // the next build: the follower still runs
	d.logs["deploy"].stop()
	if n := count(); n != 1 {
		t.Fatalf("started %d followers while one ran, want 1", n)
	}
	mu.Lock()
	fail = true
	mu.Unlock()
	for range 3 { // three builds, each after the follower failed
		d.followLogs(ctx)
		<-d.logs["deploy"].done
	}
	if n := count(); n != 4 {
		t.Errorf("started %d followers, want 4 (once, then again after each build once it ended)", n)
	}
	d.mu.Lock()
	text := out.String()
	d.mu.Unlock()
	if !strings.Contains(text, "deploy │ listening\n") {
		t.Errorf("the follower's line is not shown after its job:\n%s", text)
	}
	if n := strings.Count(text, "pods/log is forbidden"); n != 1 {
		t.Errorf("the same failure was said %d times, want once:\n%s", n, text)
	}
}
