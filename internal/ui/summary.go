package ui

import (
	"cmp"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/runrec"
)

// summaryRows is how many jobs the summary's table lists: a larger run's
// table keeps every job that failed or was cancelled and the longest of
// the rest, so a no-op of 10,000 jobs does not end in 10,000 lines.
const summaryRows = 40

// notable is jobs if there are at most limit of them; else every job that
// failed or was cancelled and, up to limit in all, the longest of the
// others, in the order of jobs.
func notable(jobs []runrec.Job, limit int) []runrec.Job {
	if len(jobs) <= limit {
		return jobs
	}
	keep := make([]bool, len(jobs))
	var rest []int
	n := 0
	for i, j := range jobs {
		if j.Status == runrec.Failed || j.Status == runrec.Cancelled {
			keep[i] = true
			n++
		} else {
			rest = append(rest, i)
		}
	}
	slices.SortStableFunc(rest, func(a, b int) int { return cmp.Compare(jobs[b].DurationMS, jobs[a].DurationMS) })
	for _, i := range rest[:min(len(rest), max(0, limit-n))] {
		keep[i] = true
	}
	var out []runrec.Job
	for i, j := range jobs {
		if keep[i] {
			out = append(out, j)
		}
	}
	return out
}

// tailLines is how many lines of a failed job's log the summary repeats.
const tailLines = 15

// writeSummary prints the end of a run: each job's status and duration, the
// failed jobs' last log lines, then wall time, critical path and parallel
// efficiency.
func writeSummary(w io.Writer, rec *runrec.Record, runDir string, color bool, command string) {
	width := 0
	for _, j := range rec.Jobs {
		width = max(width, len(j.ID))
	}
	fmt.Fprintln(w)
	rows := notable(rec.Jobs, summaryRows)
	for _, j := range rows {
		d := ""
		if j.Status != runrec.Skipped {
			d = fmtDuration(ms(j.DurationMS))
		}
		line := fmt.Sprintf("  %s %s %-9s %8s", glyph(j.Status, color), pad(j.ID, width), j.Status, d)
		if j.Error != "" {
			line += "  " + j.Error
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	if left := len(rec.Jobs) - len(rows); left > 0 {
		fmt.Fprintf(w, "  … %d more, none failed (%s runs show %s lists every job)\n", left, cmp.Or(command, "sparkwing"), rec.ID)
	}
	for _, j := range rec.Jobs {
		if j.Status != runrec.Failed || runDir == "" { // "": a remote run, whose logs were shown as they came
			continue
		}
		logPath := filepath.Join(runDir, j.Log)
		fmt.Fprintf(w, "\n%s %s failed (%s); last lines of %s:\n", glyph(j.Status, color), j.ID, j.Error, relPath(logPath))
		for _, l := range runrec.Tail(logPath, tailLines) {
			fmt.Fprintf(w, "  │ %s\n", l)
		}
	}
	fmt.Fprintf(w, "\n%s %s in %s · %s\n", rec.Pipeline, verdict(rec.Status), fmtDuration(ms(rec.WallMS)), counts(rec))
	if rec.UpToDate {
		fmt.Fprintf(w, "up to date: nothing the last run read has changed\n")
	} else if rec.Unchanged > 0 {
		fmt.Fprintf(w, "%d unchanged since the last run: nothing they read has changed\n", rec.Unchanged)
	}
	if line := rec.RemoteSummary(); line != "" {
		fmt.Fprintln(w, line)
	}
	if len(rec.CriticalPath) > 0 {
		fmt.Fprintf(w, "critical path %s (%s) · parallel efficiency %.0f%% (job time %s / wall time)\n",
			pathLine(rec.CriticalPath), fmtDuration(ms(rec.CriticalPathMS)),
			rec.ParallelEfficiency*100, fmtDuration(ms(rec.JobMSTotal)))
	}
	if runDir != "" {
		fmt.Fprintf(w, "recorded in %s (%s runs show %s)\n", relPath(runDir), cmp.Or(command, "sparkwing"), rec.ID)
	}
}

// pathLine joins a path of jobs with arrows; a long one (a chain of
// thousands of jobs) keeps its first and last few, with the number left
// out between them: `sparkwing runs show` has it whole.
func pathLine(ids []string) string {
	const ends = 4
	if len(ids) <= 2*ends+1 {
		return strings.Join(ids, " → ")
	}
	return fmt.Sprintf("%s → … %d more … → %s", strings.Join(ids[:ends], " → "), len(ids)-2*ends,
		strings.Join(ids[len(ids)-ends:], " → "))
}

func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }

func verdict(status string) string {
	switch status {
	case runrec.Success:
		return "succeeded"
	case runrec.Interrupted:
		return "was interrupted"
	}
	return "failed"
}

// counts is "3 ran, 1 failed, 2 skipped", statuses in a fixed order.
func counts(rec *runrec.Record) string {
	n := map[string]int{}
	for _, j := range rec.Jobs {
		n[j.Status]++
	}
	var parts []string
	for _, s := range []string{runrec.Ran, runrec.Cached, runrec.Failed, runrec.Cancelled, runrec.Skipped} {
		if n[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[s], s))
		}
	}
	if len(parts) == 0 {
		return "no jobs"
	}
	return strings.Join(parts, ", ")
}

// relPath shows a path relative to the working directory when that is shorter.
func relPath(p string) string {
	if wd, err := filepath.Abs("."); err == nil {
		if r, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(r, "../../") && len(r) < len(p) {
			return r
		}
	}
	return p
}
