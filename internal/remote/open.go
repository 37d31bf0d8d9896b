package remote

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// HelperName is the program that reaches the remote, found in
// $SPARKWING_REMOTE_HELPER, beside sparkwing, then on PATH.
const HelperName = "sparkwing-remote"

// HelperCLIArg, first on sparkwing-remote's command line, makes it run
// the rest as sparkwing would, with the verbs that reach a controller.
const HelperCLIArg = "sparkwing"

// emptyBlob is the digest of no bytes: what Open asks the remote for.
const emptyBlob = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// Open starts sparkwing-remote for s and makes the run's client (Close
// stops it). It asks the remote once before any job: credentials it
// refuses, missing S3 credentials or a bucket that does not exist are a
// *SetupError; a remote that does not answer is one warning, and the run
// does without it.
func Open(ctx context.Context, s *Settings, helper string, warn func(string)) (*Client, error) {
	gw, err := startHelper(ctx, s, helper)
	var ue *unavailableError
	if errors.As(err, &ue) {
		c := newClient(*s, "", warn)
		c.off.Store(true)
		c.warnOnce(ClassUnavailable, fmt.Sprintf("remote cache %s: %s: %v; running without it", Display(s.URL), ClassUnavailable, err))
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	c := newClient(*s, gw.socket, warn)
	c.gw = gw
	pctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	t0 := time.Now()
	_, err = c.b.hasBlob(pctx, emptyBlob)
	switch class := Classify(err); {
	case err == nil:
		c.timed(t0)
	case class == ClassAuth:
		c.Close()
		fix := "set SPARKWING_REMOTE_CACHE_TOKEN, or SPARKWING_REMOTE_CACHE_USER and SPARKWING_REMOTE_CACHE_PASSWORD, or a line for the host in ~/.netrc"
		if strings.HasPrefix(s.URL, "s3://") {
			fix = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to a key that may read and write the bucket"
		}
		return nil, &SetupError{"remote cache " + Display(s.URL), err.Error(), fix}
	default:
		c.off.Store(true)
		c.warnOnce(class, fmt.Sprintf("remote cache %s: %s: %v; running without it", Display(s.URL), class, err))
	}
	return c, nil
}

// Close stops sparkwing-remote.
func (c *Client) Close() {
	if c.gw != nil {
		c.gw.stop()
	}
}

// helperProc is a running sparkwing-remote.
type helperProc struct {
	cmd    *exec.Cmd
	stdin  io.Closer
	socket string
}

// startHelper starts sparkwing-remote for s.URL. For S3 it checks the
// credentials and the bucket before it answers; its first line says how
// that went:
//
//	ready SOCKET             serving on the unix socket
//	setup SETTING\tMSG\tFIX  a setting that cannot work
//	unavailable MSG          the remote did not answer
func startHelper(ctx context.Context, s *Settings, helper string) (*helperProc, error) {
	path, err := FindHelper(helper)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, "serve", "--url", s.URL, "--timeout", s.Timeout.String())
	cmd.Env = append(os.Environ(), "SPARKWING_REMOTE_AUTH="+s.Auth) // not an argument: ps shows those
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe() // it ends when this closes: when sparkwing does
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	gw := &helperProc{cmd: cmd, stdin: stdin}
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadString('\n')
		line <- strings.TrimSpace(l)
		io.Copy(io.Discard, out)
	}()
	var first string
	select {
	case first = <-line:
	case <-time.After(s.Timeout + 5*time.Second):
	case <-ctx.Done():
	}
	word, rest, _ := strings.Cut(first, " ")
	switch word {
	case "ready":
		gw.socket = rest
		return gw, nil
	case "setup":
		gw.stop()
		f := strings.SplitN(rest, "\t", 3)
		for len(f) < 3 {
			f = append(f, "")
		}
		return nil, &SetupError{f[0], f[1], f[2]}
	case "unavailable":
		gw.stop()
		return nil, &unavailableError{rest}
	}
	gw.stop()
	return nil, fmt.Errorf("%s did not start (it said %q)", path, first)
}

type unavailableError struct{ msg string }

func (e *unavailableError) Error() string { return e.msg }

func (g *helperProc) stop() {
	g.stdin.Close()
	done := make(chan struct{})
	go func() {
		g.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		g.cmd.Process.Kill()
		<-done
	}
}

// FindHelper finds sparkwing-remote: explicit (SPARKWING_REMOTE_HELPER)
// if set, else beside this program, else on PATH.
func FindHelper(explicit string) (string, error) {
	if explicit != "" {
		return exec.LookPath(explicit)
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), HelperName)
		if _, err := exec.LookPath(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(HelperName); err == nil {
		return p, nil
	}
	return "", &SetupError{HelperName, "not installed beside sparkwing or on PATH (sparkwing runs it to reach a remote cache or a controller)",
		"`go install ./cmd/...` in the sparkwing checkout installs it; or point SPARKWING_REMOTE_HELPER at it"}
}

// Prune has sparkwing-remote prune the remote (see `sparkwing cache prune
// --remote`) and returns what it said.
func Prune(ctx context.Context, s *Settings, helper string, maxAge time.Duration, dry bool) (string, error) {
	path, err := FindHelper(helper)
	if err != nil {
		return "", err
	}
	args := []string{"prune", "--url", s.URL, "--timeout", s.Timeout.String(), "--max-age", maxAge.String()}
	if dry {
		args = append(args, "--dry-run")
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	text := string(out)
	word, rest, _ := strings.Cut(strings.TrimSpace(text), " ")
	switch word {
	case "setup":
		f := append(strings.SplitN(rest, "\t", 3), "", "")
		return "", &SetupError{f[0], f[1], f[2]}
	case "unavailable", "error":
		return "", fmt.Errorf("remote cache %s: %s", Display(s.URL), rest)
	}
	if err != nil {
		return text, fmt.Errorf("%s prune: %w", HelperName, err)
	}
	return text, nil
}
