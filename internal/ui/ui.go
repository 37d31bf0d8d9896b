// Package ui shows a run as it happens: a live view on a terminal
// (Live), contiguous per-job blocks for logs and CI (Plain), or one JSON
// event per line for tools (JSON). All three end with the same summary,
// except JSON, whose last event carries the run record.
package ui

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
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
// keeps each job's lines as they come, up to keepMax bytes; a longer log is
// read back from its file.
type plainUI struct {
	mu      sync.Mutex
	w       *batchWriter
	kept    map[string]*bytes.Buffer
	command string
}

const keepMax = 1 << 20

func (p *plainUI) RunStarted(r RunInfo) {
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
		p.kept = map[string]*bytes.Buffer{}
	}
	b := p.kept[id]
	if b == nil {
		b = &bytes.Buffer{}
		p.kept[id] = b
	}
	if b.Len() <= keepMax {
		b.Write(line)
		b.WriteByte('\n')
	}
}

func (p *plainUI) JobFinished(j runrec.Job, logPath string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%s %s %s\n", glyph(j.Status, false), j.ID, outcome(j))
	b := p.kept[j.ID]
	delete(p.kept, j.ID)
	if b != nil && b.Len() > keepMax {
		if f, _, err := fileset.OpenRegular(logPath); err == nil { // the whole log, when there is a file
			copyEnsuringNewline(p.w, f)
			f.Close()
			return
		}
	}
	if b != nil {
		p.w.Write(b.Bytes())
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

func copyEnsuringNewline(w io.Writer, r io.Reader) {
	var last [1]byte
	tw := &tailByte{w: w, last: last[:]}
	if n, _ := io.Copy(tw, r); n > 0 && tw.last[0] != '\n' {
		io.WriteString(w, "\n")
	}
}

type tailByte struct {
	w    io.Writer
	last []byte
}

func (t *tailByte) Write(p []byte) (int, error) {
	if len(p) > 0 {
		t.last[0] = p[len(p)-1]
	}
	return t.w.Write(p)
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
