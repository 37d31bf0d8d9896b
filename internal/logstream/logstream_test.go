package logstream

import (
	"bytes"
	"io"
	"testing"
)

// roundTrip streams log in pieces of size step (the stream holds back
// an unfinished line until its end) and reads it back.
func roundTrip(t testing.TB, log []byte, step int) []byte {
	var stream bytes.Buffer
	pending, off := []byte{}, int64(0)
	for i := 0; i < len(log); i += step {
		pending = append(pending, log[i:min(i+step, len(log))]...)
		final := i+step >= len(log)
		n, err := WriteLines(&stream, off, pending, final)
		if err != nil {
			t.Fatal(err)
		}
		off += int64(n)
		pending = pending[n:]
	}
	WriteEnd(&stream, []byte(`{"status":"succeeded"}`))
	r := NewReader(&stream)
	var got []byte
	last := int64(0)
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if ev.Type == "end" {
			if string(ev.Data) != `{"status":"succeeded"}` {
				t.Fatalf("end data %q", ev.Data)
			}
			continue
		}
		got = append(got, ev.Data...)
		if ev.ID != int64(len(got)) || ev.ID <= last {
			t.Fatalf("event id %d after %d bytes (previous id %d)", ev.ID, len(got), last)
		}
		last = ev.ID
	}
	return got
}

func TestRoundTrip(t *testing.T) {
	for _, log := range []string{
		"",
		"one line\n",
		"a\nb\n\nc\n",
		"progress 10%\rprogress 100%\n", // SSE would split at \r
		"no newline at the end",
		"\xff\xfe not utf-8\n",
		"data: looks like a field\n: and a comment\n",
	} {
		for _, step := range []int{1, 3, 1000} {
			if got := roundTrip(t, []byte(log), step); string(got) != log {
				t.Errorf("step %d: %q came back as %q", step, log, got)
			}
		}
	}
}

func TestResumeFromID(t *testing.T) {
	log := []byte("first\nsecond\nthird\n")
	var stream bytes.Buffer
	WriteLines(&stream, 0, log, true)
	r := NewReader(&stream)
	ev, _ := r.Next()
	// A client that saw "first" resumes at its id and gets the rest only.
	var rest bytes.Buffer
	WriteLines(&rest, ev.ID, log[ev.ID:], true)
	r = NewReader(&rest)
	var got []byte
	for {
		ev, err := r.Next()
		if err != nil {
			break
		}
		got = append(got, ev.Data...)
	}
	if string(got) != "second\nthird\n" {
		t.Errorf("resumed with %q", got)
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("a\r\nb\n"), 2)
	f.Add([]byte("\x00\n\n\xff"), 1)
	f.Fuzz(func(t *testing.T, log []byte, step int) {
		if step <= 0 || step > 64 {
			step = 7
		}
		if got := roundTrip(t, log, step); !bytes.Equal(got, log) {
			t.Fatalf("%q came back as %q", log, got)
		}
	})
}

// The reader never panics or loops on a stream a server did not write.
func FuzzReader(f *testing.F) {
	f.Add([]byte("id: 5\ndata: x\n\nevent: raw\ndata: !!\n\n"))
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := NewReader(bytes.NewReader(stream))
		for range len(stream) + 1 {
			if _, err := r.Next(); err != nil {
				return
			}
		}
		t.Fatalf("more events than bytes")
	})
}
