package ui

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sparkwing-dev/sparkwing/internal/runrec"
)

func TestPathLineKeepsAShortPathWhole(t *testing.T) {
	ids := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}
	if got, want := pathLine(ids), strings.Join(ids, " → "); got != want {
		t.Errorf("pathLine(9 jobs) = %q, want %q", got, want)
	}
}

func TestPathLineShortensALongOne(t *testing.T) {
	var ids []string
	for i := range 500 {
		ids = append(ids, fmt.Sprintf("j%04d", i))
	}
	want := "j0000 → j0001 → j0002 → j0003 → … 492 more … → j0496 → j0497 → j0498 → j0499"
	if got := pathLine(ids); got != want {
		t.Errorf("pathLine(500 jobs) = %q, want %q", got, want)
	}
}

// A large run's table lists every job that failed and the longest of the
// rest, and says how many it left out; a small run's lists every job.
func TestSummaryTableOfALargeRun(t *testing.T) {
	rec := &runrec.Record{ID: "20261207-000000.000-abcd", Pipeline: "p", Status: runrec.Failed}
	for i := range 100 {
		j := runrec.Job{ID: fmt.Sprintf("j%03d", i), Status: runrec.Cached, DurationMS: int64(i)}
		switch i {
		case 3:
			j.Status, j.Error = runrec.Failed, "exit status 1"
		case 5:
			j.Status = runrec.Cancelled
		}
		rec.Jobs = append(rec.Jobs, j)
	}
	var b strings.Builder
	writeSummary(&b, rec, "", false, "sparkwing")
	out := b.String()
	for _, want := range []string{"  ✗ j003 failed", "j005 cancelled", "  ✓ j099 cached", "  ✓ j062 cached",
		"  … 60 more, none failed (sparkwing runs show 20261207-000000.000-abcd lists every job)"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"j061", "j000", "j004"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("summary lists %s, neither failed nor among the longest:\n%s", unwanted, out)
		}
	}
	if rows := strings.Count(out, "\n  "); rows != 41 {
		t.Errorf("%d indented lines, want 40 jobs and the line saying how many more", rows)
	}

	rec.Jobs = rec.Jobs[:40]
	b.Reset()
	writeSummary(&b, rec, "", false, "sparkwing")
	if out := b.String(); !strings.Contains(out, "j000") || strings.Contains(out, "more, none failed") {
		t.Errorf("a run of 40 jobs should list them all:\n%s", out)
	}
}
