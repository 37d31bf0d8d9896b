package controller

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/logstream"
	"github.com/sparkwing-dev/sparkwing/internal/store"
)

// keepAliveEvery is how often an idle stream gets a comment line.
const keepAliveEvery = 15 * time.Second

// streamLog serves GET /api/v1/runs/{id}/log as Server-Sent Events (see
// logstream): from the start, or from Last-Event-ID (or ?from=) for a
// client that reconnects, until the run ends; the last event, "end",
// carries the run.
func (s *Server) streamLog(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	pos, err := resumeAt(r)
	if err != nil {
		return err
	}
	if _, err := s.st.Run(r.Context(), id); err != nil {
		return fmt.Errorf("run %q: %w", id, err)
	}
	flusher, _ := w.(http.Flusher)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not hold the stream back
	w.WriteHeader(http.StatusOK)
	keepAlive := time.NewTicker(keepAliveEvery)
	defer keepAlive.Stop()
	for {
		woken := s.wake.Wait(id)
		// The run's state is read before its log: when it is final, the
		// log read after it is the whole log.
		run, err := s.st.Run(r.Context(), id)
		if err != nil {
			return nil // the client left, or the store failed: the client reconnects
		}
		done, err := s.sendLog(w, r, run, &pos)
		if err != nil || done {
			return nil
		}
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-woken:
		case <-keepAlive.C:
			if _, err := fmt.Fprint(w, logstream.KeepAlive); err != nil {
				return nil
			}
			if flusher != nil {
				flusher.Flush()
			}
		case <-r.Context().Done():
			return nil
		}
	}
}

// sendLog writes the run's log from *pos on, and the end event when the
// run is over and all of it is sent.
func (s *Server) sendLog(w http.ResponseWriter, r *http.Request, run store.Run, pos *int64) (done bool, err error) {
	final := store.Final(run.Status)
	for *pos < run.LogSize {
		data, err := s.st.ReadLog(r.Context(), run.ID, *pos, 1<<20)
		if err != nil || len(data) == 0 {
			return false, err
		}
		last := final && *pos+int64(len(data)) >= run.LogSize
		if len(data) >= 1<<20 {
			last = true // a line longer than a read goes out in pieces
		}
		n, err := logstream.WriteLines(w, *pos, data, last)
		if err != nil {
			return false, err
		}
		*pos += int64(n)
		if n == 0 {
			break // an unfinished line: wait for its end
		}
	}
	if !final || *pos < run.LogSize {
		return false, nil
	}
	data, _ := json.Marshal(s.runView(run))
	return true, logstream.WriteEnd(w, data)
}

func resumeAt(r *http.Request) (int64, error) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("from")
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errorf(http.StatusBadRequest, "resume point %q is not a byte offset", v)
	}
	return n, nil
}
