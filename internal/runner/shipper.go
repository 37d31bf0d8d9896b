package runner

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/controller/api"
)

// shipper sends a run's output to the controller as it comes: whatever
// arrived while the last write was in flight goes in the next one, so a
// lone line leaves at once and a flood goes in large chunks. It keeps
// every byte until the controller has stored it, and resends after a
// failure from the size the controller says it has.
type shipper struct {
	c     *api.Client
	run   string
	fence int64

	mu     sync.Mutex
	buf    []byte // bytes from acked on, not yet stored
	acked  int64  // the attempt's log size the controller has stored
	closed bool
	more   chan struct{} // signalled on Write and Close
	done   chan struct{} // closed when loop ends
	err    error         // why loop ended early (fenced)
}

func newShipper(c *api.Client, run string, fence int64) *shipper {
	s := &shipper{c: c, run: run, fence: fence, more: make(chan struct{}, 1), done: make(chan struct{})}
	go s.loop()
	return s
}

// Write keeps p for sending. It never blocks on the network.
func (s *shipper) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.buf = append(s.buf, p...)
	s.mu.Unlock()
	s.signal()
	return len(p), nil
}

func (s *shipper) signal() {
	select {
	case s.more <- struct{}{}:
	default:
	}
}

// Close sends what is left and waits until it is stored or ctx ends.
// It returns api.ErrFenced when the run was taken from this runner.
func (s *shipper) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.signal()
	select {
	case <-s.done:
		return s.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *shipper) loop() {
	defer close(s.done)
	backoff := 50 * time.Millisecond
	for {
		s.mu.Lock()
		chunk := s.buf[:min(len(s.buf), api.MaxLogChunk)]
		off, closed := s.acked, s.closed
		s.mu.Unlock()
		if len(chunk) == 0 {
			if closed {
				return
			}
			<-s.more
			continue
		}
		size, err := s.c.AppendLog(context.Background(), s.run, s.fence, off, chunk)
		if gap, ok := api.GapSize(err); ok {
			// Only a controller that lost what it had stored says this.
			s.err = fmt.Errorf("the controller has %d bytes of the log, less than the %d it acknowledged", gap, off)
			return
		}
		if err != nil {
			if api.Code(err) == "fenced" {
				s.err = api.ErrFenced
				return
			}
			time.Sleep(backoff) // the controller is away: keep everything and try again
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		s.ack(size)
	}
}

// ack drops the bytes the controller now has.
func (s *shipper) ack(size int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	drop := min(max(size-s.acked, 0), int64(len(s.buf)))
	s.buf = s.buf[drop:]
	s.acked += drop
}
