package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// MaxAttempts is how many times a run is claimed before a lost runner
// ends it in error instead of queuing it again: a pipeline that kills
// its runner every time must not cycle forever.
const MaxAttempts = 3

const runCols = `id, repo, branch, sha, pipeline, args, runs_on, COALESCE(idem_key, ''), dirty, status, exit_code, message,
	attempt, fence, runner, lease_until, cancel, log_size, log_base, created, started, finished`

func scanRun(row interface{ Scan(...any) error }, extra ...any) (Run, error) {
	var r Run
	var args, runsOn string
	var dirty, cancel int
	var lease, created, started, finished int64
	dest := []any{&r.ID, &r.Repo, &r.Branch, &r.SHA, &r.Pipeline, &args, &runsOn, &r.Key, &dirty, &r.Status, &r.ExitCode, &r.Message,
		&r.Attempt, &r.Fence, &r.Runner, &lease, &cancel, &r.LogSize, &r.LogBase, &created, &started, &finished}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return r, ErrNotFound
		}
		return r, err
	}
	if err := json.Unmarshal([]byte(args), &r.Args); err != nil {
		return r, fmt.Errorf("run %s: args: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(runsOn), &r.RunsOn); err != nil {
		return r, fmt.Errorf("run %s: runs_on: %w", r.ID, err)
	}
	r.Dirty, r.Cancel = dirty != 0, cancel != 0
	r.LeaseUntil, r.Created, r.Started, r.Finished = fromNanos(lease), fromNanos(created), fromNanos(started), fromNanos(finished)
	return r, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// CreateRun queues r. With an idempotency key already used, it returns
// the run made the first time and created=false, and stores nothing.
func (s *SQL) CreateRun(ctx context.Context, r Run) (Run, bool, error) {
	if r.Key != "" {
		if old, err := s.RunByKey(ctx, r.Key); err == nil {
			return old, false, nil
		}
	}
	if r.ID == "" {
		r.ID = NewID("r", r.Created)
	}
	if r.Args == nil {
		r.Args = []string{}
	}
	if r.RunsOn == nil {
		r.RunsOn = map[string]string{}
	}
	r.Status = Queued
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO runs (id, repo, branch, sha, pipeline, args, runs_on, idem_key, bundle, patch, dirty, status, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		r.ID, r.Repo, r.Branch, r.SHA, r.Pipeline, mustJSON(r.Args), mustJSON(r.RunsOn), nullIfEmpty(r.Key),
		r.Bundle, r.Patch, boolInt(r.Dirty), r.Status, nanos(r.Created))
	if isUnique(err) && r.Key != "" { // the same trigger, retried at the same moment
		old, err := s.RunByKey(ctx, r.Key)
		return old, false, err
	}
	if err != nil {
		return Run{}, false, err
	}
	return r, true, nil
}

// RunByKey returns the run created with idempotency key key.
func (s *SQL) RunByKey(ctx context.Context, key string) (Run, error) {
	return scanRun(s.db.QueryRowContext(ctx, s.q(`SELECT `+runCols+` FROM runs WHERE idem_key = ?`), key))
}

// Run returns the run with that id, with its bundle and patch.
func (s *SQL) Run(ctx context.Context, id string) (Run, error) {
	var bundle, patch []byte
	r, err := scanRun(s.db.QueryRowContext(ctx, s.q(`SELECT `+runCols+`, bundle, patch FROM runs WHERE id = ?`), id), &bundle, &patch)
	r.Bundle, r.Patch = bundle, patch
	return r, err
}

// Runs lists the newest runs first, at most limit of them.
func (s *SQL) Runs(ctx context.Context, limit int) ([]Run, error) {
	return s.runs(ctx, `ORDER BY created DESC, id DESC LIMIT ?`, limit)
}

// runs returns the runs a query of the runs table ending in tail finds.
func (s *SQL) runs(ctx context.Context, tail string, args ...any) ([]Run, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+runCols+` FROM runs `+tail), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Claim gives the oldest queued run whose runs_on labels the runner has
// to that runner: its attempt and fence go up, and its lease runs until
// c.Now+c.Lease. ok is false when there is nothing to take. A run taken
// again after a lost attempt gets a line in its log saying so, and its
// new attempt's log starts after it.
func (s *SQL) Claim(ctx context.Context, c Claim) (run Run, ok bool, err error) {
	for range 10 { // another controller or connection may take the run we picked
		run, ok, lost, err := s.claimOnce(ctx, c)
		if err != nil || !lost {
			return run, ok, err
		}
	}
	return Run{}, false, nil
}

func (s *SQL) claimOnce(ctx context.Context, c Claim) (run Run, ok, lost bool, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		id, err := s.pickQueued(ctx, tx, c.Run, c.Labels)
		if err != nil || id == "" {
			return err
		}
		res, err := tx.ExecContext(ctx, s.q(`UPDATE runs SET status = ?, attempt = attempt + 1, fence = fence + 1, runner = ?,
			lease_until = ?, started = ? WHERE id = ? AND status = ?`),
			Running, c.Runner, nanos(c.Now.Add(c.Lease)), nanos(c.Now), id, Queued)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			lost = true
			return nil
		}
		var bundle, patch []byte
		if run, err = scanRun(tx.QueryRowContext(ctx, s.q(`SELECT `+runCols+`, bundle, patch FROM runs WHERE id = ?`), id), &bundle, &patch); err != nil {
			return err
		}
		run.Bundle, run.Patch = bundle, patch
		if run.Attempt > 1 {
			note := fmt.Sprintf(`{"event":"attempt","attempt":%d,"runner":%q,"time":%q}`+"\n", run.Attempt, c.Runner, c.Now.UTC().Format(time.RFC3339Nano))
			if run.LogSize, err = s.appendTx(ctx, tx, run.ID, run.LogSize, []byte(note)); err != nil {
				return err
			}
			run.LogBase = run.LogSize
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE runs SET log_base = ? WHERE id = ?`), run.LogBase, run.ID); err != nil {
				return err
			}
		}
		ok = true
		return nil
	})
	return run, ok, lost, err
}

// pickQueued returns the oldest queued run the labels admit (only, if
// set: the run with that id), or "".
func (s *SQL) pickQueued(ctx context.Context, tx *sql.Tx, only string, labels map[string]string) (string, error) {
	query, args := `SELECT id, runs_on FROM runs WHERE status = ? ORDER BY created, id LIMIT 200`, []any{Queued}
	if only != "" {
		query, args = `SELECT id, runs_on FROM runs WHERE status = ? AND id = ?`, []any{Queued, only}
	}
	rows, err := tx.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	for rows.Next() {
		var id, runsOn string
		if err := rows.Scan(&id, &runsOn); err != nil {
			return "", err
		}
		var need map[string]string
		if json.Unmarshal([]byte(runsOn), &need) == nil && Matches(need, labels) {
			return id, nil
		}
	}
	return "", rows.Err()
}

// Heartbeat extends the lease of a run the caller holds (fence) to
// until, and returns the run: Cancel tells the runner to stop it.
func (s *SQL) Heartbeat(ctx context.Context, id string, fence int64, until time.Time) (Run, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE runs SET lease_until = ? WHERE id = ? AND fence = ? AND status = ?`), nanos(until), id, fence, Running)
	if err != nil {
		return Run{}, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Run{}, s.fencedOrMissing(ctx, id)
	}
	return scanRun(s.db.QueryRowContext(ctx, s.q(`SELECT `+runCols+` FROM runs WHERE id = ?`), id))
}

func (s *SQL) fencedOrMissing(ctx context.Context, id string) error {
	var one int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT 1 FROM runs WHERE id = ?`), id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("run %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("run %s: %w", id, ErrFenced)
}

// Finish ends a run the caller holds (fence) with a final status.
func (s *SQL) Finish(ctx context.Context, id string, fence int64, status string, exitCode int, message string, now time.Time) error {
	if !Final(status) {
		return fmt.Errorf("finish run %s: %q is not a final status", id, status)
	}
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE runs SET status = ?, exit_code = ?, message = ?, finished = ?, lease_until = 0
		WHERE id = ? AND fence = ? AND status = ?`), status, exitCode, message, nanos(now), id, fence, Running)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return s.fencedOrMissing(ctx, id)
	}
	return nil
}

// RequestCancel cancels a run: a queued one ends at once, a running one
// is flagged for its runner, which sees it on its next heartbeat.
func (s *SQL) RequestCancel(ctx context.Context, id string, now time.Time) (Run, error) {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE runs SET status = ?, exit_code = 130, message = 'cancelled before it started', finished = ?
		WHERE id = ? AND status = ?`), Cancelled, nanos(now), id, Queued)
	if err != nil {
		return Run{}, err
	}
	if _, err := s.db.ExecContext(ctx, s.q(`UPDATE runs SET cancel = 1 WHERE id = ? AND status = ?`), id, Running); err != nil {
		return Run{}, err
	}
	return s.Run(ctx, id)
}

// ExpireLeases puts back in the queue every running run whose lease
// lapsed before now (its runner died or lost the network), raising its
// fence so that runner's later writes fail; after MaxAttempts it ends
// the run in error instead. It returns the runs it changed.
func (s *SQL) ExpireLeases(ctx context.Context, now time.Time) ([]Run, error) {
	return s.release(ctx, now, `lease_until < ?`, nanos(now))
}

// LoseRunner does for the runs runner holds what ExpireLeases does for
// lapsed leases, without waiting for the lease: the caller knows the
// runner is gone (its Kubernetes pod was deleted, or its node lost).
func (s *SQL) LoseRunner(ctx context.Context, runner string, now time.Time) ([]Run, error) {
	return s.release(ctx, now, `runner = ?`, runner)
}

// release queues again (or ends, see ExpireLeases) the running runs that
// match where.
func (s *SQL) release(ctx context.Context, now time.Time, where string, arg any) ([]Run, error) {
	lapsed, err := s.runs(ctx, `WHERE status = ? AND `+where, Running, arg)
	if err != nil {
		return nil, err
	}
	var out []Run
	for _, r := range lapsed {
		status, msg, code := Queued, "", 0
		if r.Cancel {
			status, msg, code = Cancelled, "cancelled; its runner stopped answering", 130
		} else if r.Attempt >= MaxAttempts {
			status, msg, code = Failed, fmt.Sprintf("its runner was lost %d times (last: %s)", r.Attempt, r.Runner), 1
		}
		finished := int64(0)
		if Final(status) {
			finished = nanos(now)
		}
		res, err := s.db.ExecContext(ctx, s.q(`UPDATE runs SET status = ?, message = ?, exit_code = ?, finished = ?, fence = fence + 1, runner = '', lease_until = 0
			WHERE id = ? AND fence = ? AND status = ?`), status, msg, code, finished, r.ID, r.Fence, Running)
		if err != nil {
			return out, err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			r.Status, r.Message, r.ExitCode, r.Fence = status, msg, code, r.Fence+1
			out = append(out, r)
		}
	}
	return out, nil
}

// FailQueued ends in error a run still queued after attempt claims, with
// message: the runner started for it can never take it (its image does
// not pull, its token is missing). It reports whether it did; a run
// claimed or ended meanwhile is left alone.
func (s *SQL) FailQueued(ctx context.Context, id string, attempt int, message string, now time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE runs SET status = ?, exit_code = 2, message = ?, finished = ?
		WHERE id = ? AND status = ? AND attempt = ?`), Error, message, nanos(now), id, Queued, attempt)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// Queued lists the queued runs, oldest first, at most limit of them.
func (s *SQL) Queued(ctx context.Context, limit int) ([]Run, error) {
	return s.runs(ctx, `WHERE status = ? ORDER BY created, id LIMIT ?`, Queued, limit)
}

// AppendLog adds data to the log of a run the caller holds (fence) at
// offset, counted from the start of the current attempt's log. A chunk
// already stored (a retry) is accepted again without a copy; a chunk
// past the end is ErrLogGap. It returns the attempt's log size after.
func (s *SQL) AppendLog(ctx context.Context, id string, fence, offset int64, data []byte) (int64, error) {
	var size int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var base, have, curFence int64
		var status string
		err := tx.QueryRowContext(ctx, s.q(`SELECT log_base, log_size, fence, status FROM runs WHERE id = ?`), id).Scan(&base, &have, &curFence, &status)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("run %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if curFence != fence || status != Running {
			return fmt.Errorf("run %s: %w", id, ErrFenced)
		}
		size = have - base
		switch {
		case offset > size:
			return ErrLogGap
		case offset+int64(len(data)) <= size:
			return nil // already stored
		}
		end, err := s.appendTx(ctx, tx, id, have, data[size-offset:])
		size = end - base
		return err
	})
	return size, err
}

// appendTx writes data at the end (at) of a run's log and returns the new size.
func (s *SQL) appendTx(ctx context.Context, tx *sql.Tx, id string, at int64, data []byte) (int64, error) {
	end := at + int64(len(data))
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO log_chunks (run_id, off, end_off, data) VALUES (?, ?, ?, ?)`), id, at, end, data); err != nil {
		return 0, err
	}
	_, err := tx.ExecContext(ctx, s.q(`UPDATE runs SET log_size = ? WHERE id = ?`), end, id)
	return end, err
}

// ReadLog returns up to about max bytes of a run's log from byte offset
// from (whole chunks, the first one cut at from).
func (s *SQL) ReadLog(ctx context.Context, id string, from int64, max int) ([]byte, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT off, data FROM log_chunks WHERE run_id = ? AND end_off > ? ORDER BY off LIMIT 256`), id, from)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []byte
	for rows.Next() && len(out) < max {
		var off int64
		var data []byte
		if err := rows.Scan(&off, &data); err != nil {
			return nil, err
		}
		if off < from {
			data = data[from-off:]
		}
		out = append(out, data...)
	}
	return out, rows.Err()
}
