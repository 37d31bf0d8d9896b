package ui

import (
	"io"
	"sync"
	"time"
)

// batchInterval is the longest a written line waits before it is shown;
// batchMax is the most that waits (a job's long log is copied through).
const (
	batchInterval = 50 * time.Millisecond
	batchMax      = 64 << 10
)

// batchWriter passes writes on at most every batchInterval, and on Flush:
// the thousands of one-line writes of a big pipeline's no-op become a few
// system calls, and every line still shows within batchInterval.
type batchWriter struct {
	mu    sync.Mutex
	w     io.Writer
	buf   []byte
	timer *time.Timer
}

func (b *batchWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf)+len(p) > batchMax {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
		return b.w.Write(p)
	}
	b.buf = append(b.buf, p...)
	if b.timer == nil {
		b.timer = time.AfterFunc(batchInterval, func() { b.Flush() })
	}
	return len(p), nil
}

// Flush writes what is buffered now.
func (b *batchWriter) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *batchWriter) flushLocked() error {
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.w.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}
