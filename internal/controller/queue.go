package controller

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/controller/api"
	"github.com/sparkwing-dev/sparkwing/internal/store"
)

// claim gives a runner a run, waiting up to the request's wait_ms (at
// most 30 s) for one to be queued: a long-poll, so a run starts the
// moment it is triggered and an idle runner costs one request a wait.
// 204 means no work came in time.
func (s *Server) claim(w http.ResponseWriter, r *http.Request) error {
	var c api.Claim
	if err := decode(w, r, 64<<10, &c); err != nil {
		return err
	}
	if c.Runner == "" {
		return errorf(http.StatusBadRequest, "the claim names no runner")
	}
	wait := min(time.Duration(c.WaitMS)*time.Millisecond, api.MaxClaimWait)
	if c.Run != "" {
		wait = 0
	} else {
		defer s.waiters.add(c.Labels)()
	}
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	for {
		woken := s.wake.Wait(queueKey) // before looking, so no wake-up falls between
		run, ok, err := s.st.Claim(r.Context(), store.Claim{Runner: c.Runner, Run: c.Run, Labels: c.Labels, Lease: s.cfg.Lease, Now: s.now()})
		if err != nil {
			return err
		}
		if ok {
			pack, from := s.packFor(r.Context(), run, c.Have[run.Repo])
			s.log.Info("run claimed", "run", run.ID, "runner", c.Runner, "attempt", run.Attempt, "pack", from)
			s.wake.Notify(run.ID)
			writeJSON(w, http.StatusOK, api.Assignment{Run: s.runView(run), Fence: run.Fence, Bundle: run.Bundle, Patch: run.Patch,
				Pack: pack, LeaseMS: s.cfg.Lease.Milliseconds()})
			return nil
		}
		select {
		case <-woken:
		case <-timeout.C:
			w.WriteHeader(http.StatusNoContent)
			return nil
		case <-r.Context().Done():
			return nil
		}
	}
}

func fence(r *http.Request) (int64, error) {
	f, err := strconv.ParseInt(r.URL.Query().Get("fence"), 10, 64)
	if err != nil {
		return 0, errorf(http.StatusBadRequest, "fence %q is not a number", r.URL.Query().Get("fence"))
	}
	return f, nil
}

// heartbeat renews a runner's lease. With ?wait=DURATION it then waits
// up to that long (at most 30 s) for the run to be cancelled, renewing
// the lease again before it answers: a runner learns of a cancel at once
// without polling for it.
func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request) error {
	f, err := fence(r)
	if err != nil {
		return err
	}
	var wait time.Duration
	if v := r.URL.Query().Get("wait"); v != "" {
		if wait, err = time.ParseDuration(v); err != nil {
			return errorf(http.StatusBadRequest, "wait %q is not a duration", v)
		}
		wait = min(wait, api.MaxHeartbeatWait, s.cfg.Lease/2)
	}
	id := r.PathValue("id")
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		woken := s.wake.Wait(holderKey(id))
		run, err := s.st.Heartbeat(r.Context(), id, f, s.now().Add(s.cfg.Lease))
		if err != nil {
			return err
		}
		if run.Cancel || wait == 0 {
			writeJSON(w, http.StatusOK, api.Heartbeat{Cancel: run.Cancel})
			return nil
		}
		select {
		case <-woken:
		case <-deadline.C:
			wait = 0 // renew once more and answer
		case <-r.Context().Done():
			return nil
		}
	}
}

// appendLog stores a chunk of a run's log: POST …/log?fence=F&offset=N
// with the bytes as the body (at most 1 MiB; more is 413). The offset
// counts from the start of the attempt; a retried chunk is accepted
// once, and a chunk past the end is 416 with the size stored, from which
// the runner resends.
func (s *Server) appendLog(w http.ResponseWriter, r *http.Request) error {
	f, err := fence(r)
	if err != nil {
		return err
	}
	off, err := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
	if err != nil || off < 0 {
		return errorf(http.StatusBadRequest, "offset %q is not a byte offset", r.URL.Query().Get("offset"))
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, api.MaxLogChunk))
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	size, err := s.st.AppendLog(r.Context(), id, f, off, data)
	if errors.Is(err, store.ErrLogGap) {
		return &httpError{status: http.StatusRequestedRangeNotSatisfiable, code: "log_gap", size: size,
			msg: "the chunk starts past the end of the stored log: resend from size"}
	}
	if err != nil {
		return err
	}
	s.wake.Notify(id)
	writeJSON(w, http.StatusOK, api.LogAck{Size: size})
	return nil
}

func (s *Server) finish(w http.ResponseWriter, r *http.Request) error {
	f, err := fence(r)
	if err != nil {
		return err
	}
	var fin api.Finish
	if err := decode(w, r, 64<<10, &fin); err != nil {
		return err
	}
	if !store.Final(fin.Status) {
		return errorf(http.StatusBadRequest, "status %q is not a final status", fin.Status)
	}
	id := r.PathValue("id")
	if err := s.st.Finish(r.Context(), id, f, fin.Status, fin.ExitCode, fin.Message, s.now()); err != nil {
		return err
	}
	s.log.Info("run finished", "run", id, "status", fin.Status)
	s.wake.Notify(id)
	s.wake.Notify(holderKey(id)) // no one waits any more; this drops the key
	w.WriteHeader(http.StatusNoContent)
	return nil
}
