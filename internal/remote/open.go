package remote

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// GatewayName is the S3 gateway's program, found in $SPARKWING_S3_HELPER,
// beside sparkwing, then on PATH.
const GatewayName = "sparkwing-s3"

// emptyBlob is the digest of no bytes: what Open asks the remote for.
const emptyBlob = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// Open makes a run's client: for http(s) the server itself, for s3 a
// sparkwing-s3 gateway on the loopback that it starts (Close stops it).
// It asks the remote once before any job: credentials it refuses, missing
// S3 credentials or a bucket that does not exist are a *SetupError; a
// remote that does not answer is one warning, and the run does without it.
func Open(ctx context.Context, s *Settings, helper string, warn func(string)) (*Client, error) {
	base := s.URL
	var gw *gateway
	if strings.HasPrefix(s.URL, "s3://") {
		var err error
		gw, err = startGateway(ctx, s, helper)
		var ue *unavailableError
		if errors.As(err, &ue) {
			c := New(*s, "http://127.0.0.1:0", warn)
			c.off.Store(true)
			c.warnOnce(ClassUnavailable, fmt.Sprintf("remote cache %s: %s: %v; running without it", Display(s.URL), ClassUnavailable, err))
			return c, nil
		}
		if err != nil {
			return nil, err
		}
		base = gw.base
		s.Auth = "Bearer " + gw.token
	}
	c := New(*s, base, warn)
	c.gw = gw
	pctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	t0 := time.Now()
	_, err := c.b.hasBlob(pctx, emptyBlob)
	switch class := Classify(err); {
	case err == nil:
		c.timed(t0)
	case gw == nil && class == ClassAuth:
		c.Close()
		return nil, &SetupError{"remote cache " + Display(s.URL), err.Error(),
			"set SPARKWING_REMOTE_CACHE_TOKEN, or SPARKWING_REMOTE_CACHE_USER and SPARKWING_REMOTE_CACHE_PASSWORD, or a line for the host in ~/.netrc"}
	default:
		c.off.Store(true)
		c.warnOnce(class, fmt.Sprintf("remote cache %s: %s: %v; running without it", Display(s.URL), class, err))
	}
	return c, nil
}

// Close stops the gateway, if there is one.
func (c *Client) Close() {
	if c.gw != nil {
		c.gw.stop()
	}
}

// gateway is a running sparkwing-s3.
type gateway struct {
	cmd   *exec.Cmd
	stdin io.Closer
	base  string
	token string
}

// startGateway starts sparkwing-s3 for the bucket and prefix of s.URL. It
// checks the credentials and the bucket before it answers; its first line
// says how that went:
//
//	ready URL              serving on the loopback
//	setup SETTING\tMSG\tFIX  a setting that cannot work
//	unavailable MSG        S3 did not answer
func startGateway(ctx context.Context, s *Settings, helper string) (*gateway, error) {
	path, err := findGateway(helper)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(s.URL)
	var b [16]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	cmd := exec.Command(path, "serve", "--bucket", u.Host, "--prefix", strings.TrimPrefix(u.Path, "/"),
		"--timeout", s.Timeout.String())
	cmd.Env = append(os.Environ(), "SPARKWING_S3_TOKEN="+token)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe() // the gateway ends when this closes: when sparkwing does
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
	gw := &gateway{cmd: cmd, stdin: stdin, token: token}
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
		gw.base = rest
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

func (g *gateway) stop() {
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

func findGateway(explicit string) (string, error) {
	if explicit != "" {
		return exec.LookPath(explicit)
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), GatewayName)
		if _, err := exec.LookPath(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(GatewayName); err == nil {
		return p, nil
	}
	return "", &SetupError{"remote cache s3://", GatewayName + " is not installed beside sparkwing or on PATH",
		"`go install ./cmd/...` in the sparkwing checkout installs it; or point SPARKWING_S3_HELPER at it"}
}
