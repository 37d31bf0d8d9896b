package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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
	got, err := parseLastRun(data, len(want.jobs))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.file(), data) || !got.written.Equal(want.written) {
		t.Fatalf("read back differs: %+v", got)
	}
	if _, err := parseLastRun(data, 3); err == nil {
		t.Fatal("a record of 2 jobs read for a plan of 3")
	}
	for cut := 0; cut < len(data); cut++ {
		if _, err := parseLastRun(data[:cut], len(want.jobs)); err == nil {
			t.Fatalf("a record torn at byte %d of %d was read", cut, len(data))
		}
	}
	flipped := bytes.Clone(data)
	flipped[len(flipped)-3] ^= 1
	if _, err := parseLastRun(flipped, len(want.jobs)); err == nil {
		t.Fatal("a record with a flipped bit was read")
	}
}

// FuzzParseLastRun: no bytes make the decoder panic. (The checksum makes
// random input fail early; the body decoder is fuzzed behind a valid
// header too.)
func FuzzParseLastRun(f *testing.F) {
	f.Add(sampleLastRun(f).appendBinary(nil), 2)
	f.Add([]byte{}, 0)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		if n < 0 || n > 1000 {
			return
		}
		sum := sha256.Sum256(body)
		data := append([]byte(recordMagic+hex.EncodeToString(sum[:])+"\n"), body...)
		if rec, err := parseLastRun(data, n); err == nil && len(rec.jobs) != n {
			t.Fatalf("%d jobs for a plan of %d", len(rec.jobs), n)
		}
		parseLastRun(body, n)
	})
}
