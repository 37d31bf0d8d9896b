package dockerfile

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// expectation is one judged finding of testdata/realworld.md.
type expectation struct {
	id, rule string
	line     int
	severity string // "w" or "i"
}

func (e expectation) String() string { return fmt.Sprintf("%s %s:%d", e.id, e.rule, e.line) }

// readJudgements parses the table of testdata/realworld.md.
func readJudgements(t *testing.T) (ids []string, expected []expectation) {
	data, err := os.ReadFile("testdata/realworld.md")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		cells := strings.Split(line, "|")
		if len(cells) != 7 || strings.Trim(cells[1], " 0123456789") != "" || strings.TrimSpace(cells[1]) == "" {
			continue
		}
		id := strings.TrimSpace(cells[1])
		ids = append(ids, id)
		for _, tok := range strings.Fields(cells[5]) {
			if tok == "-" {
				continue
			}
			var e expectation
			parts := strings.Split(tok, ":")
			if len(parts) != 3 || (parts[2] != "w" && parts[2] != "i") || Lookup(parts[0]) == nil {
				t.Fatalf("realworld.md, file %s: %q is not rule:line:w or rule:line:i", id, tok)
			}
			if _, err := fmt.Sscan(parts[1], &e.line); err != nil {
				t.Fatalf("realworld.md, file %s: %q: %v", id, tok, err)
			}
			e.id, e.rule, e.severity = id, parts[0], parts[2]
			expected = append(expected, e)
		}
	}
	return ids, expected
}

// TestRealWorld scores the doctor against the judgements of real
// Dockerfiles in testdata/realworld.md, fetched by fetch-realworld.sh into
// $SPARKWING_REALWORLD_DIR: precision and recall per rule, warnings and
// infos apart, and each disagreement. It measures; it fails only on a file
// that is missing or does not parse.
func TestRealWorld(t *testing.T) {
	dir := os.Getenv("SPARKWING_REALWORLD_DIR")
	ids, expected := readJudgements(t)
	if len(ids) < 60 {
		t.Errorf("realworld.md lists %d files; the measurement needs at least 60", len(ids))
	}
	if dir == "" {
		t.Skip("set SPARKWING_REALWORLD_DIR to a directory filled by testdata/fetch-realworld.sh")
	}
	var got []expectation
	fixes := 0
	for _, id := range ids {
		data, err := os.ReadFile(filepath.Join(dir, id))
		if err != nil {
			t.Fatal(err)
		}
		f, err := Parse(id, data)
		if err != nil {
			t.Fatalf("file %s: %v", id, err)
		}
		fixes += checkFix(t, id, f) // a fix that breaks a file fails the test
		for _, fd := range Check(f, &Context{}) {
			if fd.Rule == "dockerignore" {
				continue
			}
			got = append(got, expectation{id: id, rule: fd.Rule, line: fd.Line, severity: fd.Severity.String()[:1]})
		}
	}
	type score struct{ tp, fp, fn int }
	scores := map[string]*score{} // by rule and severity ("cache-mount w")
	at := func(rule, sev string) *score {
		if scores[rule+" "+sev] == nil {
			scores[rule+" "+sev] = &score{}
		}
		return scores[rule+" "+sev]
	}
	same := func(a, b expectation) bool { return a.id == b.id && a.rule == b.rule && a.line == b.line }
	var disagreements []string
	for _, g := range got {
		i := slices.IndexFunc(expected, func(e expectation) bool { return same(e, g) })
		switch {
		case i >= 0 && expected[i].severity == g.severity:
			at(g.rule, g.severity).tp++
		case i >= 0:
			at(g.rule, g.severity).fp++
			at(g.rule, expected[i].severity).fn++
			disagreements = append(disagreements, fmt.Sprintf("severity %s: the doctor says %s, the judgement %s", g, g.severity, expected[i].severity))
		default:
			at(g.rule, g.severity).fp++
			disagreements = append(disagreements, fmt.Sprintf("false finding %s (%s)", g, g.severity))
		}
	}
	for _, e := range expected {
		if !slices.ContainsFunc(got, func(g expectation) bool { return same(e, g) }) {
			at(e.rule, e.severity).fn++
			disagreements = append(disagreements, fmt.Sprintf("missed %s (%s)", e, e.severity))
		}
	}
	ratio := func(a, b int) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f%%", 100*float64(a)/float64(b))
	}
	var report strings.Builder
	for _, sev := range []string{"w", "i"} {
		fmt.Fprintf(&report, "\n%s:\n%-20s %4s %4s %4s %9s %7s\n", map[string]string{"w": "warnings", "i": "infos"}[sev], "rule", "tp", "fp", "fn", "precision", "recall")
		var all score
		for _, r := range Rules {
			s := scores[r.ID+" "+sev]
			if s == nil {
				continue
			}
			all.tp, all.fp, all.fn = all.tp+s.tp, all.fp+s.fp, all.fn+s.fn
			fmt.Fprintf(&report, "%-20s %4d %4d %4d %9s %7s\n", r.ID, s.tp, s.fp, s.fn, ratio(s.tp, s.tp+s.fp), ratio(s.tp, s.tp+s.fn))
		}
		fmt.Fprintf(&report, "%-20s %4d %4d %4d %9s %7s\n", "all", all.tp, all.fp, all.fn, ratio(all.tp, all.tp+all.fp), ratio(all.tp, all.tp+all.fn))
	}
	clean, noisy := 0, 0 // files judged to have nothing, and those of them the doctor reports on
	for _, id := range ids {
		if !slices.ContainsFunc(expected, func(e expectation) bool { return e.id == id }) {
			clean++
			if slices.ContainsFunc(got, func(g expectation) bool { return g.id == id }) {
				noisy++
			}
		}
	}
	slices.Sort(disagreements)
	t.Logf("%d files, %d judged findings, %d doctor findings; %d files judged to have nothing, %d of them with a finding; "+
		"--fix applied %d fixes, each file re-parsed and checked%s\ndisagreements:\n  %s", len(ids), len(expected), len(got),
		clean, noisy, fixes, report.String(), strings.Join(disagreements, "\n  "))
}
