// Package logstream carries a run's log from the controller to whoever
// watches it, as Server-Sent Events. Each event is one line of the log,
// and its id is the byte offset just past that line, so a client that
// reconnects with Last-Event-ID resumes exactly where it stopped: no
// line lost, none repeated. A line SSE cannot carry as it is (a carriage
// return, which SSE reads as a line end, or bytes that are not UTF-8) is
// sent base64-encoded as a "raw" event. The stream ends with an "end"
// event carrying the run's final state.
//
// Notifier wakes the streams of a run when its log grows; the log itself
// lives in the store, so a stream needs no memory of its own and a
// restarted controller streams from where the client was.
package logstream

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Notifier lets streams wait for a run's log to grow.
type Notifier struct {
	mu    sync.Mutex
	waits map[string]chan struct{}
}

// NewNotifier returns a Notifier.
func NewNotifier() *Notifier { return &Notifier{waits: map[string]chan struct{}{}} }

// Wait returns a channel closed at the next Notify for run.
func (n *Notifier) Wait(run string) <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	ch := n.waits[run]
	if ch == nil {
		ch = make(chan struct{})
		n.waits[run] = ch
	}
	return ch
}

// Notify wakes everyone waiting on run.
func (n *Notifier) Notify(run string) {
	n.mu.Lock()
	ch := n.waits[run]
	delete(n.waits, run)
	n.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// WriteLines writes the whole lines of data, which starts at byte offset
// off of the log, as events, and returns how many bytes of data it used:
// an unfinished last line waits for the rest (or for final, when the log
// is complete and a last line without a newline is sent as it is).
func WriteLines(w io.Writer, off int64, data []byte, final bool) (int, error) {
	used := 0
	var b bytes.Buffer
	for used < len(data) {
		i := bytes.IndexByte(data[used:], '\n')
		var line []byte
		if i < 0 {
			if !final {
				break
			}
			line = data[used:]
		} else {
			line = data[used : used+i+1]
		}
		used += len(line)
		writeEvent(&b, off+int64(used), line)
	}
	_, err := w.Write(b.Bytes())
	return used, err
}

func writeEvent(b *bytes.Buffer, id int64, line []byte) {
	text := bytes.TrimSuffix(line, []byte("\n"))
	plain := len(text) == len(line)-1 && utf8.Valid(text) && bytes.IndexByte(text, '\r') < 0
	if plain {
		fmt.Fprintf(b, "id: %d\ndata: %s\n\n", id, text)
		return
	}
	fmt.Fprintf(b, "event: raw\nid: %d\ndata: %s\n\n", id, base64.StdEncoding.EncodeToString(line))
}

// WriteEnd writes the end event, data being the run's final state.
func WriteEnd(w io.Writer, data []byte) error {
	_, err := fmt.Fprintf(w, "event: end\ndata: %s\n\n", data)
	return err
}

// KeepAlive is a comment line that keeps proxies from closing an idle stream.
const KeepAlive = ": keep-alive\n\n"

// Event is one event read from a stream.
type Event struct {
	Type string // "" for a log line, "end"
	ID   int64  // offset past the line; -1 when the event has none
	Data []byte // the log line with its newline, or the end event's data
}

// Reader reads events from a stream.
type Reader struct {
	r *bufio.Reader
}

// NewReader reads the stream r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReaderSize(r, 64<<10)} }

// Next returns the next event; io.EOF when the stream ends.
func (r *Reader) Next() (Event, error) {
	ev := Event{ID: -1}
	var data []string
	seen := false
	for {
		line, err := r.r.ReadString('\n')
		if err != nil {
			if err == io.EOF && line != "" {
				err = io.ErrUnexpectedEOF
			}
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if !seen {
				continue
			}
			return finish(ev, data)
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		seen = true
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.Type = value
		case "id":
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				return ev, fmt.Errorf("event id %q is not an offset", value)
			}
			ev.ID = n
		case "data":
			data = append(data, value)
		}
	}
}

func finish(ev Event, data []string) (Event, error) {
	joined := strings.Join(data, "\n")
	switch ev.Type {
	case "raw":
		b, err := base64.StdEncoding.DecodeString(joined)
		if err != nil {
			return ev, fmt.Errorf("raw event %d: %v", ev.ID, err)
		}
		ev.Type, ev.Data = "", b
	case "":
		ev.Data = []byte(joined + "\n")
	default:
		ev.Data = []byte(joined)
	}
	return ev, nil
}
