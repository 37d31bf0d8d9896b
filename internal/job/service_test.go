package job

import (
	"bytes"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A service that ignores its stop signal is killed after the stop
// timeout, with everything it started; one that honours it is not.
func TestServiceStop(t *testing.T) {
	r := &Runner{Root: t.TempDir()}
	for _, tc := range []struct {
		run    string
		killed bool
	}{
		{"trap '' TERM; echo up; sleep 30 & wait", true},
		{"echo up; exec sleep 30", false},
	} {
		var log lockedBuffer
		p, err := r.Start(plan.Job{ID: "svc", Service: &plan.Service{Run: tc.run}}, &log)
		if err != nil {
			t.Fatal(err)
		}
		for !strings.Contains(log.String(), "up") {
			time.Sleep(5 * time.Millisecond)
		}
		if killed := p.Stop(syscall.SIGTERM, 200*time.Millisecond); killed != tc.killed {
			t.Errorf("%q: killed = %v, want %v", tc.run, killed, tc.killed)
		}
		select {
		case <-p.Done():
		default:
			t.Errorf("%q: Stop returned before the process was gone", tc.run)
		}
		// Killed children of the group are reaped by init: give it a moment.
		gone := false
		for i := 0; i < 200 && !gone; i++ {
			gone = syscall.Kill(-p.pgid, 0) == syscall.ESRCH
			time.Sleep(10 * time.Millisecond)
		}
		if !gone {
			t.Errorf("%q: its process group is still there", tc.run)
		}
	}
}
