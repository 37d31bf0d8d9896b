// Package ui shows a run as it happens: a live view on a terminal
// (Live), contiguous per-job blocks for logs and CI (Plain), or one JSON
// event per line for tools (JSON). All three end with the same summary,
// except JSON, whose last event carries the run record.
package ui

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/runrec"
)

// Observer receives the events of one run. RunStarted comes first and
// RunFinished last; the job methods are called from many goroutines, but
// for one job in the order started, lines, finished.
type Observer interface {
	RunStarted(r RunInfo)
	JobStarted(id string)
	JobLine(id string, line []byte)
	JobFinished(j runrec.Job, logPath string)
	Warn(job, msg string) // a problem that does not fail the job, such as a corrupt cache entry
	RunFinished(rec *runrec.Record, runDir string)
}

// RunInfo describes a run that starts.
type RunInfo struct {
	ID       string
	Pipeline string
	Jobs     int
	Workers  int
}

// Modes of --output.
const (
	Auto  = "auto"
	TTY   = "tty"
	Plain = "plain"
	JSON  = "json"
)

// Modes lists the valid --output values.
var Modes = []string{Auto, TTY, Plain, JSON}

// New returns the observer for mode, writing to w. isTerminal and width
// describe w; auto picks the live view on a terminal, plain elsewhere.
// command is how the user started sparkwing ("sparkwing -C DIR"): the
// commands a summary suggests start with it, so they work as printed.
func New(mode string, w io.Writer, isTerminal bool, width func() int, command string) Observer {
	if mode == Auto {
		mode = Plain
		if isTerminal {
			mode = TTY
		}
	}
	switch mode {
	case JSON:
		return &jsonUI{w: w}
	case TTY:
		return newLive(w, width, os.Getenv("NO_COLOR") == "", command)
	}
	return &plainUI{w: &batchWriter{w: w}, command: command}
}

// LineWriter splits a job's output into lines for an Observer. Close
// flushes a last line that has no newline.
type LineWriter struct {
	Obs  Observer
	Job  string
	part []byte
}

func (l *LineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.part = append(l.part, p...)
			if len(l.part) > 64<<10 { // an endless line still shows progress
				l.Obs.JobLine(l.Job, l.part)
				l.part = nil
			}
			return n, nil
		}
		line := p[:i]
		if len(l.part) > 0 {
			line = append(l.part, line...)
			l.part = nil
		}
		l.Obs.JobLine(l.Job, line)
		p = p[i+1:]
	}
}

// Close flushes a final unterminated line.
func (l *LineWriter) Close() error {
	if len(l.part) > 0 {
		l.Obs.JobLine(l.Job, l.part)
		l.part = nil
	}
	return nil
}

// plainUI prints, for each job, one header line when it starts and, when it
// ends, its whole log as one block, so parallel jobs never interleave. It
// keeps each job's lines as they come in memory, up to keepMax bytes, and
// a longer log in an unlinked temporary file: all of it is printed, a
// cached job's replay as much as a job that ran.
type plainUI struct {
	mu      sync.Mutex
	w       *batchWriter
	kept    map[string]*keptLog
	command string
	runID   string
}

const keepMax = 1 << 20

// keptLog is one job's lines so far.
type keptLog struct {
	mem     bytes.Buffer
	spill   *os.File      // past keepMax; nil before, or if no file could be made
	buf     *bufio.Writer // in front of spill
	dropped int64         // bytes lost because no file could be made
}

func (k *keptLog) write(line []byte) {
	switch {
	case k.spill != nil:
		k.buf.Write(line)
		k.buf.WriteByte('\n')
		return
	case k.mem.Len()+len(line) < keepMax:
		k.mem.Write(line)
		k.mem.WriteByte('\n')
		return
	}
	f, err := os.CreateTemp("", "sparkwing-log-*")
	if err != nil {
		k.dropped += int64(len(line) + 1)
		return
	}
	os.Remove(f.Name()) // the open file is all that is needed
	k.spill, k.buf = f, bufio.NewWriterSize(f, 64<<10)
	k.buf.Write(k.mem.Bytes())
	k.mem.Reset()
	k.write(line)
}

// copyTo writes the log to w and releases it. It reports whether all of
// it was kept.
func (k *keptLog) copyTo(w io.Writer) (whole bool) {
	whole = k.dropped == 0
	if k.spill != nil {
		if k.buf.Flush() != nil {
			whole = false // a full temporary disk: what was written is shown
		}
		if _, err := k.spill.Seek(0, io.SeekStart); err == nil {
			io.Copy(w, k.spill)
		}
		k.spill.Close()
	}
	w.Write(k.mem.Bytes())
	return whole
}

func (p *plainUI) RunStarted(r RunInfo) {
	p.runID = r.ID
	fmt.Fprintf(p.w, "sparkwing: %s, %d jobs, %d at a time (run %s)\n", r.Pipeline, r.Jobs, r.Workers, r.ID)
}

func (p *plainUI) JobStarted(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "• %s started\n", id)
}

func (p *plainUI) JobLine(id string, line []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.kept == nil {
		p.kept = map[string]*keptLog{}
	}
	k := p.kept[id]
	if k == nil {
		k = &keptLog{}
		p.kept[id] = k
	}
	k.write(line)
}

func (p *plainUI) JobFinished(j runrec.Job, logPath string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%s %s %s\n", glyph(j.Status, false), j.ID, outcome(j))
	k := p.kept[j.ID]
	delete(p.kept, j.ID)
	if k == nil {
		return
	}
	if !k.copyTo(p.w) {
		fmt.Fprintf(p.w, "sparkwing: part of %s's log could not be kept for this view; `%s runs show %s --log %s` prints all of it\n",
			j.ID, p.command, p.runID, j.ID)
	}
}

func (p *plainUI) Warn(job, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "warning: %s: %s\n", job, msg)
}

func (p *plainUI) RunFinished(rec *runrec.Record, runDir string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	writeSummary(p.w, rec, runDir, false, p.command)
	p.w.Flush()
}

// outcome is the short description after a job's name.
func outcome(j runrec.Job) string {
	d := fmtDuration(time.Duration(j.DurationMS) * time.Millisecond)
	switch j.Status {
	case runrec.Failed:
		return fmt.Sprintf("failed after %s: %s", d, j.Error)
	case runrec.Cancelled:
		return fmt.Sprintf("cancelled after %s", d)
	case runrec.Skipped:
		return "skipped"
	case runrec.Cached:
		if j.Cache.Reason != "" {
			return "cached (" + j.Cache.Reason + ")"
		}
		return "cached"
	}
	return d
}

func glyph(status string, color bool) string {
	g, c := "•", ""
	switch status {
	case runrec.Ran, runrec.Cached:
		g, c = "✓", "\x1b[32m"
	case runrec.Failed:
		g, c = "✗", "\x1b[31m"
	case runrec.Cancelled:
		g, c = "⊘", "\x1b[33m"
	case runrec.Skipped:
		g = "-"
	}
	if color && c != "" {
		return c + g + "\x1b[0m"
	}
	return g
}

// fmtDuration rounds for people: 12ms, 1.24s, 2m05s.
func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}

func pad(s string, n int) string {
	if w := len([]rune(s)); w < n {
		return s + strings.Repeat(" ", n-w)
	}
	return s
}
