package engine

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// A go test -json stream written for this test: a passing package with a
// passing test, a failing one, a package without tests, a package that
// does not build, and a line that is no event.
const testStream = `{"Action":"start","Package":"m/a"}
{"Action":"run","Package":"m/a","Test":"TestA"}
{"Action":"output","Package":"m/a","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"output","Package":"m/a","Test":"TestA","Output":"    a_test.go:3: fine\n"}
{"Action":"output","Package":"m/a","Test":"TestA","Output":"--- PASS: TestA (0.00s)\n"}
{"Action":"pass","Package":"m/a","Test":"TestA"}
{"Action":"output","Package":"m/a","Output":"PASS\n"}
{"Action":"output","Package":"m/a","Output":"ok  \tm/a\t0.01s\n"}
{"Action":"pass","Package":"m/a"}
{"Action":"run","Package":"m/b","Test":"TestB"}
{"Action":"output","Package":"m/b","Test":"TestB","Output":"=== RUN   TestB\n"}
{"Action":"output","Package":"m/b","Test":"TestB","Output":"    b_test.go:5: B is 6\n"}
{"Action":"output","Package":"m/b","Test":"TestB","Output":"--- FAIL: TestB (0.00s)\n"}
{"Action":"fail","Package":"m/b","Test":"TestB"}
{"Action":"output","Package":"m/b","Output":"FAIL\n"}
{"Action":"output","Package":"m/b","Output":"FAIL\tm/b\t0.01s\n"}
{"Action":"fail","Package":"m/b"}
{"Action":"output","Package":"m/c","Output":"?   \tm/c\t[no test files]\n"}
{"Action":"skip","Package":"m/c"}
{"ImportPath":"m/d [m/d.test]","Action":"build-output","Output":"d/d.go:3:1: syntax error\n"}
{"ImportPath":"m/d [m/d.test]","Action":"build-fail"}
{"Action":"output","Package":"m/d","Output":"FAIL\tm/d [build failed]\n"}
{"Action":"fail","Package":"m/d"}
go: some message that is no event
`

func TestDemuxShowsWhatPlainGoTestShows(t *testing.T) {
	var out bytes.Buffer
	d := newTestDemux(&out, false)
	// Written in odd pieces, as a pipe delivers it.
	for s := testStream; s != ""; {
		n := min(len(s), 37)
		d.Write([]byte(s[:n]))
		s = s[n:]
	}
	d.Close()
	want := "ok  \tm/a\t0.01s\n" +
		"    b_test.go:5: B is 6\n--- FAIL: TestB (0.00s)\nFAIL\nFAIL\tm/b\t0.01s\n" +
		"?   \tm/c\t[no test files]\n" +
		"d/d.go:3:1: syntax error\nFAIL\tm/d [build failed]\n" +
		"go: some message that is no event\n"
	if out.String() != want {
		t.Errorf("shown:\n%s\nwant:\n%s", out.String(), want)
	}
	results := map[string]string{"m/a": "pass", "m/b": "fail", "m/c": "skip", "m/d": "fail"}
	for pkg, r := range results {
		if d.results[pkg] != r {
			t.Errorf("%s: result %q, want %q", pkg, d.results[pkg], r)
		}
	}
	if got := d.logs["m/b"].String(); !strings.Contains(got, "B is 6") || strings.Contains(got, "m/a") {
		t.Errorf("m/b's log is %q", got)
	}
	if got := d.logs["m/d"].String(); !strings.HasPrefix(got, "d/d.go:3:1: syntax error") {
		t.Errorf("the build failure is not in m/d's log: %q", got)
	}
}

func TestDemuxVerboseShowsEveryTest(t *testing.T) {
	var out bytes.Buffer
	d := newTestDemux(&out, true)
	d.Write([]byte(testStream))
	d.Close()
	for _, want := range []string{"=== RUN   TestA\n", "a_test.go:3: fine", "--- PASS: TestA", "PASS\nok  \tm/a"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("-v output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestDemuxShowsATestThatNeverEnded(t *testing.T) {
	var out bytes.Buffer
	d := newTestDemux(&out, false)
	d.Write([]byte(`{"Action":"output","Package":"m/a","Test":"TestHang","Output":"panic: test timed out\n"}` + "\n"))
	d.Close()
	if !strings.Contains(out.String(), "panic: test timed out") {
		t.Errorf("the output of a test that never ended was lost: %q", out.String())
	}
}

// FuzzTestDemux: whatever go test -json (or anything else on its output)
// prints, the demux does not fail, keeps every line that is no event, and
// records only package results.
func FuzzTestDemux(f *testing.F) {
	f.Add([]byte(testStream), 37)
	f.Add([]byte(`{"Action":"fail","Package":"x","Test":"T","Output":"boom"}`), 1)
	f.Add([]byte("{not json\nplain\n"), 3)
	f.Fuzz(func(t *testing.T, stream []byte, chunk int) {
		chunk = max(1, chunk%4096)
		var out bytes.Buffer
		d := newTestDemux(&out, chunk%2 == 0)
		for s := stream; len(s) > 0; {
			n := min(len(s), chunk)
			d.Write(s[:n])
			s = s[n:]
		}
		d.Close()
		for pkg, r := range d.results {
			if r != "pass" && r != "fail" && r != "skip" {
				t.Fatalf("package %q has result %q", pkg, r)
			}
		}
		for line := range bytes.Lines(stream) {
			var ev testEvent
			if !bytes.HasSuffix(line, []byte("\n")) || (line[0] == '{' && json.Unmarshal(line, &ev) == nil) {
				continue
			}
			if !bytes.Contains(out.Bytes(), line) {
				t.Fatalf("line %q is not shown:\n%s", line, out.Bytes())
			}
		}
	})
}
