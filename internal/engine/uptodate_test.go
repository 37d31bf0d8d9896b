package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
)

func sampleLastRun(t testing.TB) *lastRun {
	snap, err := (&fileset.Seen{}).Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r := &lastRun{written: time.Unix(0, 1764650000123456789), snap: snap}
	r.identity[0] = 7
	r.jobs = []lastJob{
		{log: "ab12", text: []byte("hello\n"), tools: []fileset.Digest{{1}, {2}}},
		{log: "", text: []byte{}},
	}
	r.jobs[0].key[0], r.jobs[1].key[31] = 1, 2
	return r
}

func TestLastRunRoundTrip(t *testing.T) {
	want := sampleLastRun(t)
	data := want.file()
	got, err := parseLastRun(data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.file(), data) || !got.written.Equal(want.written) {
		t.Fatalf("read back differs: %+v", got)
	}
	if len(got.jobs) != len(want.jobs) {
		t.Fatalf("%d jobs read back, want %d", len(got.jobs), len(want.jobs))
	}
	for cut := 0; cut < len(data); cut++ {
		if _, err := parseLastRun(data[:cut]); err == nil {
			t.Fatalf("a record torn at byte %d of %d was read", cut, len(data))
		}
	}
	flipped := bytes.Clone(data)
	flipped[len(flipped)-3] ^= 1
	if _, err := parseLastRun(flipped); err == nil {
		t.Fatal("a record with a flipped bit was read")
	}
}

// FuzzParseLastRun: no bytes make the decoder panic, nor decode more jobs
// than they could hold (each has a key and an output digest). (The
// checksum makes random input fail early; the body decoder is fuzzed
// behind a valid header too.)
func FuzzParseLastRun(f *testing.F) {
	f.Add(sampleLastRun(f).appendBinary(nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		sum := sha256.Sum256(body)
		data := append([]byte(recordMagic+hex.EncodeToString(sum[:])+"\n"), body...)
		if rec, err := parseLastRun(data); err == nil && len(rec.jobs)*64 > len(body) {
			t.Fatalf("%d jobs from %d bytes", len(rec.jobs), len(body))
		}
		parseLastRun(body)
	})
}

// TestEarly: an early check reads the pipeline's record and compares its
// paths with the tree as they were when it began; a run of another
// pipeline (or project) reads its own record and checks it itself; a
// missing record is the same error as without the early check.
func TestEarly(t *testing.T) {
	root := t.TempDir()
	for _, name := range []string{"a.txt", "b.txt"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte("same"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	snap, racy, err := fileset.StatPathsRacy(root, []string{"a.txt", "b.txt"}, time.Now().Add(time.Minute))
	if err != nil || racy != "" {
		t.Fatal(err, racy)
	}
	want := sampleLastRun(t)
	want.snap = snap
	for _, pipeline := range []string{"p", "q"} {
		path := LastRunPath(root, pipeline)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, want.file(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "b.txt"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}

	early := CheckEarly(root, "p")
	got, err := early.load(LastRunPath(root, "p"))
	if err != nil {
		t.Fatal(err)
	}
	if !got.checked || !slices.Equal(got.changed, []string{"b.txt"}) {
		t.Fatalf("early check: checked %v, changed %v; want b.txt", got.checked, got.changed)
	}
	if !bytes.Equal(got.file(), want.file()) {
		t.Fatal("the early check's record is not the one on disk")
	}
	for _, c := range []*Early{early, nil} {
		other, err := c.load(LastRunPath(root, "q"))
		if err != nil {
			t.Fatal(err)
		}
		if other.checked {
			t.Fatal("another pipeline's record came checked by this one's early check")
		}
	}
	if _, err := CheckEarly(root, "none").load(LastRunPath(root, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("no record: %v, want not-exist", err)
	}
}
