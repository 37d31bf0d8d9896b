package ui

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

type countingWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	return c.buf.Write(p)
}

func (c *countingWriter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// Lines are gathered into few writes, in order, none lost; a big write
// goes through at once rather than gathering memory; a line left alone
// still shows without a Flush.
func TestBatchWriter(t *testing.T) {
	w := &countingWriter{}
	b := &batchWriter{w: w}
	var want strings.Builder
	for i := range 1000 {
		line := strings.Repeat("x", i%7) + "\n"
		b.Write([]byte(line))
		want.WriteString(line)
	}
	big := strings.Repeat("y", 3*batchMax)
	b.Write([]byte(big))
	want.WriteString(big)
	b.Write([]byte("last\n"))
	want.WriteString("last\n")
	b.Flush()
	if w.String() != want.String() {
		t.Fatal("output differs from what was written")
	}
	if w.writes > 4 {
		t.Errorf("%d writes for 1,002 lines and one big write", w.writes)
	}
	b.Write([]byte("alone\n"))
	for w.String() == want.String() {
		time.Sleep(time.Millisecond) // the timer flushes it; the test times out if it never does
	}
	if !strings.HasSuffix(w.String(), "alone\n") {
		t.Errorf("a lone line was not shown: %q", w.String()[max(0, len(w.String())-20):])
	}
}
