package cache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
)

// A job's lock file holds its state in the project, rewritten in place
// under the lock: a header line with the SHA-256 of the rest, then one
// line of JSON. A torn or damaged file fails the checksum and reads as an
// empty state, which only makes a run do more (no shortcut, no sweep):
// the ledger's digests decide which blobs a restore writes, so they are
// never taken unverified.

// jobState is what the lock file records.
type jobState struct {
	Running int `json:"running,omitempty"` // process group of the job's command while it runs

	// The entry the tree holds for this job ("" when its outputs are not
	// known to equal any entry), and what a hit on it needs without
	// reading the entry: its log (inline when small) and output tree.
	Key       string   `json:"key,omitempty"`
	Log       string   `json:"log,omitempty"` // blob digest
	LogSize   int64    `json:"log_size,omitempty"`
	LogInline []byte   `json:"log_inline,omitempty"`
	Outputs   []Output `json:"outputs,omitempty"` // the ledger: what the job last put in the tree
}

const stateMagic = "sparkwing-job v1 "

// maxState bounds a job state file, which a ledger of many files can make
// large; anything bigger is not ours and reads as empty.
const maxState = 256 << 20

// InlineLog is the largest log kept in the state file.
const InlineLog = 16 << 10

func (l *JobLock) read() {
	l.state = jobState{}
	st, err := l.f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() > maxState || st.Size() == 0 {
		return
	}
	data, err := io.ReadAll(io.NewSectionReader(l.f, 0, st.Size()))
	if err != nil {
		return
	}
	header, body, ok := bytes.Cut(data, []byte("\n"))
	sum := sha256.Sum256(body)
	if !ok || string(header) != stateMagic+hex.EncodeToString(sum[:]) || json.Unmarshal(body, &l.state) != nil {
		l.state = jobState{}
	}
}

func (l *JobLock) write() error {
	body, err := json.Marshal(l.state)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	data := append([]byte(stateMagic+hex.EncodeToString(sum[:])+"\n"), body...)
	if err := l.f.Truncate(0); err != nil {
		return err
	}
	_, err = l.f.WriteAt(data, 0)
	return err
}

// Ledger returns the files the job last put in the tree (nil if unknown).
func (l *JobLock) Ledger() []Output { return l.state.Outputs }

// Held returns, if the tree holds the entry with key (the last restore or
// stored run of the job put it there), that entry as far as a hit needs
// it, and its log when it is small enough to be kept here (else nil: read
// it from the store). The caller still checks the outputs are in place.
func (l *JobLock) Held(key string) (*Entry, []byte) {
	if key == "" || l.state.Key != key || l.state.Running != 0 {
		return nil, nil
	}
	s := l.state
	e := &Entry{Key: s.Key, Outputs: s.Outputs, OutputDigest: OutputDigest(s.Outputs).String(), Log: s.Log, LogSize: s.LogSize}
	if s.LogSize == 0 {
		return e, []byte{} // an empty log is known without reading anything
	}
	return e, s.LogInline // nil when not kept here
}

// SetRunning records the process group of the job's command (0 when it
// has ended). Once the command has run, the tree no longer equals an entry.
func (l *JobLock) SetRunning(pgid int) error {
	l.state.Running, l.state.Key, l.state.Log, l.state.LogSize, l.state.LogInline = pgid, "", "", 0, nil
	return l.write()
}

// SetLedger records the files the job has put in the tree and the entry
// they equal (nil when none), with the entry's log when it is small (log
// nil: not known); the job's command is no longer running. With an entry,
// the ledger is the entry's outputs, whose small files carry their bytes:
// restoring one from the ledger then needs no entry read.
func (l *JobLock) SetLedger(e *Entry, outputs []Output, log []byte) error {
	s := jobState{Outputs: outputs}
	if e != nil {
		s.Key, s.Log, s.LogSize, s.Outputs = e.Key, e.Log, e.LogSize, e.Outputs
		if log != nil && int64(len(log)) == e.LogSize && len(log) <= InlineLog {
			s.LogInline = log
		}
		if s.Key == l.state.Key && l.state.Running == 0 && (l.state.LogInline != nil || s.LogInline == nil) &&
			inlined(l.state.Outputs) == inlined(s.Outputs) {
			return nil // unchanged
		}
	}
	l.state = s
	return l.write()
}

// inlined is how many of outs carry their bytes.
func inlined(outs []Output) int {
	n := 0
	for _, o := range outs {
		if o.Data != nil {
			n++
		}
	}
	return n
}
