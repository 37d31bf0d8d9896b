package remoterun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/cli"
	"github.com/sparkwing-dev/sparkwing/internal/controller/api"
	"github.com/sparkwing-dev/sparkwing/internal/logstream"
	"github.com/sparkwing-dev/sparkwing/internal/ui"
)

// idleLimit: a stream that brings nothing, not even a keep-alive, for
// this long is taken as lost and opened again.
const idleLimit = 45 * time.Second

// follow shows the run's log as it comes, through the same view as a
// local run, until the run ends, and returns its exit status. It
// reconnects where it stopped when the stream breaks; a controller that
// does not answer for waitTimeout makes the outcome unknown (exit 3).
// The first Ctrl-C cancels the run, the second leaves it running.
func follow(ctx context.Context, c *api.Client, run api.Run, s cli.Streams, output string, waitTimeout time.Duration) error {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	rp := ui.NewReplay(s.Observer(output), s.Stderr)
	lines := &ui.Lines{Line: rp.Line}
	f := &follower{c: c, id: run.ID, out: lines}
	cancelled := false
	lastContact := time.Now()
	backoff := 100 * time.Millisecond
	interrupt := func() bool {
		if cancelled {
			fmt.Fprintf(s.Stderr, "sparkwing: left run %s running; follow it with: sparkwing runs show --remote %s\n", run.ID, run.ID)
			return false
		}
		cancelled = true
		fmt.Fprintf(s.Stderr, "sparkwing: cancelling run %s (Ctrl-C again to leave it running)\n", run.ID)
		cctx, done := context.WithTimeout(ctx, 10*time.Second)
		defer done()
		if _, err := c.Cancel(cctx, run.ID); err != nil {
			fmt.Fprintf(s.Stderr, "sparkwing: cancel: %v\n", err)
		}
		return true
	}
	for {
		end, err := f.stream(ctx, sigs, interrupt)
		if errors.Is(err, errDetached) {
			return cli.ExitError(130, nil)
		}
		if end != nil {
			lines.Flush()
			return result(*end, s)
		}
		if f.progressed {
			lastContact, backoff = time.Now(), 100*time.Millisecond
			f.progressed = false
		}
		if !transient(err) && err != nil {
			return err
		}
		if time.Since(lastContact) > waitTimeout {
			return cli.ExitError(3, fmt.Errorf("the controller at %s has not answered for %s (%v): the outcome of run %s is unknown; look it up later with: sparkwing runs show --remote %s",
				c.Base(), waitTimeout, err, run.ID, run.ID))
		}
		select {
		case <-time.After(backoff):
		case <-sigs:
			if !interrupt() {
				return cli.ExitError(130, nil)
			}
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

var errDetached = errors.New("detached")

// follower reads a run's stream, resuming at pos.
type follower struct {
	c          *api.Client
	id         string
	out        io.Writer
	pos        int64
	progressed bool // the last stream answered
}

// stream reads one connection's events until the end event (returned),
// an error, or a second interrupt (errDetached). onInterrupt is called on
// each interrupt; false means detach.
func (f *follower) stream(ctx context.Context, sigs <-chan os.Signal, onInterrupt func() bool) (*api.Run, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	body, err := f.c.OpenLog(ctx, f.id, f.pos)
	if err != nil {
		return nil, err
	}
	f.progressed = true
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	body = &touchReader{r: body, last: &last}
	defer body.Close()
	type item struct {
		ev  logstream.Event
		err error
	}
	events := make(chan item)
	go func() {
		r := logstream.NewReader(body)
		for {
			ev, err := r.Next()
			select {
			case events <- item{ev, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	idle := time.NewTicker(idleLimit / 3)
	defer idle.Stop()
	for {
		select {
		case it := <-events:
			if it.err != nil {
				return nil, it.err
			}
			if it.ev.Type == "end" {
				var run api.Run
				if err := json.Unmarshal(it.ev.Data, &run); err != nil {
					return nil, fmt.Errorf("the run's end: %w", err)
				}
				return &run, nil
			}
			f.out.Write(it.ev.Data)
			f.pos = it.ev.ID
		case <-sigs:
			if !onInterrupt() {
				return nil, errDetached
			}
		case <-idle.C:
			if time.Since(time.Unix(0, last.Load())) > idleLimit {
				return nil, errors.New("the log stream went quiet")
			}
		}
	}
}

// touchReader records when bytes last came in.
type touchReader struct {
	r    io.ReadCloser
	last *atomic.Int64
}

func (t *touchReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.last.Store(time.Now().UnixNano())
	}
	return n, err
}

func (t *touchReader) Close() error { return t.r.Close() }

// result turns the run's final state into the trigger's exit status.
func result(run api.Run, s cli.Streams) error {
	switch run.Status {
	case api.RunSucceeded:
		return nil
	case api.RunFailed:
		if run.Message != "" {
			fmt.Fprintf(s.Stderr, "sparkwing: run %s failed: %s\n", run.ID, run.Message)
		}
		return cli.ExitError(1, nil)
	case api.RunCancelled:
		fmt.Fprintf(s.Stderr, "sparkwing: run %s was cancelled\n", run.ID)
		return cli.ExitError(130, nil)
	case api.RunError:
		return cli.ExitError(2, fmt.Errorf("run %s could not run: %s", run.ID, run.Message))
	}
	return cli.ExitError(3, fmt.Errorf("run %s ended in an unknown state %q", run.ID, run.Status))
}
