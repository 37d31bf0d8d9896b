package ui

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/sparkwing-dev/sparkwing/internal/runrec"
)

const (
	liveInterval = 100 * time.Millisecond
	liveMaxJobs  = 12 // running jobs shown; the rest are counted
	liveTail     = 10 // lines of a failed job's log shown at once
)

// live redraws a small region at the bottom of the terminal ten times a
// second: progress, then each running job with its elapsed time and last
// output line. Finished jobs scroll above it as they end; a failure shows
// its last lines at once.
type live struct {
	mu      sync.Mutex
	w       io.Writer
	width   func() int
	color   bool
	info    RunInfo
	start   time.Time
	running map[string]*liveJob
	done    int
	above   []string // to print above the region at the next redraw
	drawn   int      // lines of the region now on screen
	stop    chan struct{}
	stopped sync.WaitGroup
	command string // how sparkwing was started, for suggested commands
}

type liveJob struct {
	started time.Time
	last    string
}

func newLive(w io.Writer, width func() int, color bool, command string) *live {
	return &live{w: w, width: width, color: color, command: command, running: map[string]*liveJob{}, stop: make(chan struct{})}
}

func (l *live) RunStarted(r RunInfo) {
	l.mu.Lock()
	l.info, l.start = r, time.Now()
	l.mu.Unlock()
	l.stopped.Add(1)
	go func() {
		defer l.stopped.Done()
		t := time.NewTicker(liveInterval)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
				l.mu.Lock()
				l.redraw()
				l.mu.Unlock()
			}
		}
	}()
}

func (l *live) JobStarted(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running[id] = &liveJob{started: time.Now()}
}

func (l *live) JobLine(id string, line []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if j := l.running[id]; j != nil {
		j.last = printable(string(line))
	}
}

func (l *live) JobFinished(j runrec.Job, logPath string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.running, j.ID)
	l.done++
	l.above = append(l.above, fmt.Sprintf("%s %s %s", glyph(j.Status, l.color), j.ID, outcome(j)))
	if j.Status == runrec.Failed {
		for _, line := range runrec.Tail(logPath, liveTail) {
			l.above = append(l.above, "  │ "+printable(line))
		}
	}
	l.redraw()
}

func (l *live) Warn(job, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.above = append(l.above, fmt.Sprintf("warning: %s: %s", job, msg))
}

func (l *live) RunFinished(rec *runrec.Record, runDir string) {
	close(l.stop)
	l.stopped.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running = map[string]*liveJob{}
	l.redraw()
	l.clearRegion()
	writeSummary(l.w, rec, runDir, l.color, l.command)
}

// redraw replaces the region with the lines waiting above it and the
// current state. The caller holds l.mu.
func (l *live) redraw() {
	var b strings.Builder
	if l.drawn > 0 {
		fmt.Fprintf(&b, "\r\x1b[%dA\x1b[J", l.drawn)
	}
	width := max(l.width(), 20) - 1
	for _, line := range l.above {
		b.WriteString(truncate(line, width) + "\n")
	}
	l.above = l.above[:0]
	region := l.region()
	for _, line := range region {
		b.WriteString(truncate(line, width) + "\n")
	}
	l.drawn = len(region)
	io.WriteString(l.w, b.String())
}

func (l *live) clearRegion() {
	if l.drawn > 0 {
		fmt.Fprintf(l.w, "\r\x1b[%dA\x1b[J", l.drawn)
		l.drawn = 0
	}
}

func (l *live) region() []string {
	if len(l.running) == 0 {
		return nil
	}
	now := time.Now()
	lines := []string{fmt.Sprintf("── %d/%d done · %d running · %s", l.done, l.info.Jobs, len(l.running),
		fmtDuration(now.Sub(l.start).Truncate(100*time.Millisecond)))}
	ids := make([]string, 0, len(l.running))
	for id := range l.running {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool { return l.running[ids[a]].started.Before(l.running[ids[b]].started) })
	width := 0
	for _, id := range ids {
		width = max(width, len(id))
	}
	for k, id := range ids {
		if k == liveMaxJobs {
			lines = append(lines, fmt.Sprintf("   … and %d more", len(ids)-k))
			break
		}
		j := l.running[id]
		line := fmt.Sprintf("   %s %7s", pad(id, width), fmtDuration(now.Sub(j.started).Truncate(100*time.Millisecond)))
		if j.last != "" {
			line += "  │ " + j.last
		}
		lines = append(lines, line)
	}
	return lines
}

var ansiEscape = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]`) })

// printable drops what would break the redraw: colour codes, carriage
// returns (keeping what was drawn last) and other control characters.
func printable(s string) string {
	s = ansiEscape().ReplaceAllString(s, "")
	if i := strings.LastIndexByte(s, '\r'); i >= 0 && i < len(s)-1 {
		s = s[i+1:]
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) && r != '\t' {
			return -1
		}
		if r == '\t' {
			return ' '
		}
		return r
	}, s)
}

func truncate(s string, width int) string {
	r := []rune(s)
	if len(r) <= width {
		return s
	}
	return string(r[:width-1]) + "…"
}
