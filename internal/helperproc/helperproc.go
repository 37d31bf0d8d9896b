// Package helperproc starts sparkwing's helper programs (sparkwing-image,
// sparkwing-deploy), one process a request. A helper is a program of its
// own so that its heavy clients (BuildKit's, Kubernetes') never slow the
// start of sparkwing itself.
//
// The protocol: the request is JSON on the helper's standard input; its
// standard output is the log of the work, as it comes; it writes one JSON
// message a line to file descriptor 3 (warnings, then the answer).
package helperproc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// MissingError says a helper program is not installed: a setup problem,
// not a failed job.
type MissingError struct {
	Name   string // sparkwing-image
	For    string // image jobs
	EnvVar string // SPARKWING_IMAGE_HELPER
	Looked []string
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s need %s, and it is not in %s", e.For, e.Name, strings.Join(e.Looked, ", "))
}

// Hint says how to install it.
func (e *MissingError) Hint() string {
	return "install it beside sparkwing: `go install ./cmd/...` in the sparkwing checkout installs sparkwing and its helpers;\n" +
		"or point " + e.EnvVar + " at it"
}

// Find locates helper name, which `purpose` (image jobs) needs: explicit
// (from the environment variable envVar) if set, else beside this
// executable, else on PATH. Nothing found is a *MissingError.
func Find(name, purpose, envVar, explicit string) (string, error) {
	missing := &MissingError{Name: name, For: purpose, EnvVar: envVar}
	if explicit != "" {
		if _, err := exec.LookPath(explicit); err != nil {
			missing.Looked = []string{envVar + "=" + explicit}
			return "", missing
		}
		return explicit, nil
	}
	if exe, err := os.Executable(); err == nil {
		dir := filepath.Dir(exe)
		p := filepath.Join(dir, name)
		if _, err := exec.LookPath(p); err == nil {
			return p, nil
		}
		missing.Looked = append(missing.Looked, dir)
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	missing.Looked = append(missing.Looked, "PATH")
	return "", missing
}

// Run starts program op, writes body to its standard input, copies its
// standard output to log and hands each line it writes to descriptor 3 to
// message. Cancelling ctx sends the helper SIGTERM (it cancels its work),
// then SIGKILL after 20 s. The error is the helper's exit, with the start
// of its standard error (where a panic says what went wrong).
func Run(ctx context.Context, program, op string, body []byte, log io.Writer, message func([]byte)) error {
	mr, mw, err := os.Pipe()
	if err != nil {
		return err
	}
	defer mr.Close()
	var stderr headBuffer
	cmd := exec.CommandContext(ctx, program, op)
	cmd.Stdin = bytes.NewReader(body)
	cmd.Stdout = log
	cmd.Stderr = &stderr
	cmd.ExtraFiles = []*os.File{mw}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 20 * time.Second
	err = cmd.Start()
	mw.Close()
	if err != nil {
		return fmt.Errorf("starting %s: %w", filepath.Base(program), err)
	}
	sc := bufio.NewScanner(mr)
	sc.Buffer(nil, 256<<20)
	for sc.Scan() {
		message(sc.Bytes())
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%s %s failed: %v%s", filepath.Base(program), op, err, stderr.String())
	}
	return nil
}

// Decode reads one JSON value of at most limit bytes from r into v, in a
// helper: unknown fields and anything after the value are errors, so a
// request from another version of sparkwing is refused, not half read.
func Decode(r io.Reader, limit int, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return err
	}
	if len(data) > limit {
		return fmt.Errorf("request larger than %d bytes", limit)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request: %w", err)
	}
	if dec.More() {
		return errors.New("request: more than one JSON value")
	}
	return nil
}

// Messages is, in a helper, the file its messages go to (descriptor 3),
// or nil after telling stderr that sparkwing starts this program.
func Messages(name string, stderr io.Writer) *os.File {
	msgs := os.NewFile(3, "messages")
	if _, err := msgs.Stat(); err != nil {
		fmt.Fprintf(stderr, "%s: file descriptor 3 (messages) is not open: sparkwing starts this program\n", name)
		return nil
	}
	return msgs
}

// headBuffer keeps the first 4 KiB of the helper's stderr.
type headBuffer struct{ b []byte }

func (t *headBuffer) Write(p []byte) (int, error) {
	if room := 4096 - len(t.b); room > 0 {
		t.b = append(t.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (t *headBuffer) String() string {
	s := strings.TrimSpace(string(t.b))
	if s == "" {
		return ""
	}
	return ":\n" + s
}
