// Package remotetest starts the real remote caches the remote cache's
// tests run against, on 127.0.0.1: bazel-remote, and MinIO (S3). Both are built by
// scripts/test-tools.sh. Tests skip when a binary is missing, unless
// SPARKWING_REQUIRE_REMOTE_TESTS=1 (set by scripts/test.sh): CI must never
// pass by skipping.
//
// Besides the server, a test gets what it needs to damage it as real life
// does: a blob corrupted or lost on the server, the server killed and
// started again, and a loopback proxy in front of it that delays or drops.
package remotetest

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Kinds of server.
const (
	BazelRemote = "bazel-remote"
	S3          = "s3"
)

const (
	minioUser   = "sparkwing-test"
	minioSecret = "sparkwing-test-secret"
	bucket      = "sparkwing-cache"
	prefix      = "team"
)

// Server is a running remote cache.
type Server struct {
	Kind string
	URL  string   // what SPARKWING_REMOTE_CACHE takes
	Env  []string // what a run needs besides (for S3: endpoint and credentials)

	dir  string
	bin  string
	addr string // host:port the server listens on
	cmd  *exec.Cmd
	s3   *minio.Client
	// users is bazel-remote's htpasswd file; "" for no login.
	users string
}

// Require starts a server of kind for t (stopped when t ends), or skips
// (fails, under SPARKWING_REQUIRE_REMOTE_TESTS=1) when it cannot run.
func Require(t testing.TB, kind string) *Server {
	t.Helper()
	s, err := Start(kind, t.TempDir())
	if err != nil {
		if os.Getenv("SPARKWING_REQUIRE_REMOTE_TESTS") == "1" {
			t.Fatalf("remote cache test server: %v", err)
		}
		t.Skipf("remote cache test server unavailable: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartWithLogin starts a bazel-remote that lets in only user with
// password (HTTP basic auth, an htpasswd file of {SHA} hashes).
func StartWithLogin(dir, user, password string) (*Server, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	sum := sha1.Sum([]byte(password))
	users := filepath.Join(dir, "htpasswd")
	line := user + ":{SHA}" + base64.StdEncoding.EncodeToString(sum[:]) + "\n"
	if err := os.WriteFile(users, []byte(line), 0o600); err != nil {
		return nil, err
	}
	return start(BazelRemote, dir, users)
}

// Start starts a server of kind keeping its data under dir.
func Start(kind, dir string) (*Server, error) { return start(kind, dir, "") }

func start(kind, dir, users string) (*Server, error) {
	env := map[string]string{BazelRemote: "SPARKWING_TEST_BAZEL_REMOTE", S3: "SPARKWING_TEST_MINIO"}[kind]
	if env == "" {
		return nil, fmt.Errorf("unknown kind %q", kind)
	}
	bin := os.Getenv(env)
	if bin == "" {
		return nil, fmt.Errorf("%s is not set: eval \"$(scripts/test-tools.sh)\"", env)
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s: %v (run scripts/test-tools.sh)", env, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Kind: kind, dir: dir, bin: bin, addr: fmt.Sprintf("127.0.0.1:%d", port), users: users}
	if err := s.start(); err != nil {
		s.Stop()
		return nil, err
	}
	switch kind {
	case BazelRemote:
		s.URL = "http://" + s.addr + "/"
	case S3:
		s.URL = "s3://" + bucket + "/" + prefix
		s.Env = []string{"AWS_ENDPOINT_URL=http://" + s.addr, "AWS_ACCESS_KEY_ID=" + minioUser,
			"AWS_SECRET_ACCESS_KEY=" + minioSecret, "AWS_REGION=us-east-1"}
		if s.s3, err = minio.New(s.addr, &minio.Options{Creds: credentials.NewStaticV4(minioUser, minioSecret, ""), Region: "us-east-1"}); err != nil {
			s.Stop()
			return nil, err
		}
		if err := s.s3.MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
			s.Stop()
			return nil, err
		}
	}
	return s, nil
}

// start runs the server process and waits until it answers.
func (s *Server) start() error {
	log, err := os.OpenFile(filepath.Join(s.dir, s.Kind+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	var ready string
	switch s.Kind {
	case BazelRemote:
		s.cmd = exec.Command(s.bin, "--dir", filepath.Join(s.dir, "data"), "--max_size", "8",
			"--http_address", s.addr, "--grpc_address", "none", "--disable_http_ac_validation")
		if s.users != "" {
			s.cmd.Args = append(s.cmd.Args, "--htpasswd_file", s.users)
		}
		ready = "http://" + s.addr + "/status"
	case S3:
		s.cmd = exec.Command(s.bin, "server", filepath.Join(s.dir, "data"), "--address", s.addr,
			"--console-address", "127.0.0.1:0", "--quiet")
		s.cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+minioUser, "MINIO_ROOT_PASSWORD="+minioSecret,
			"MINIO_BROWSER=off", "MINIO_UPDATE=off")
		ready = "http://" + s.addr + "/minio/health/ready"
	}
	s.cmd.Stdout, s.cmd.Stderr = log, log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(ready)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || s.users != "" && resp.StatusCode == http.StatusUnauthorized {
				return nil // answering (a server with logins refuses this test the status)
			}
		}
		if time.Now().After(deadline) {
			text, _ := os.ReadFile(filepath.Join(s.dir, s.Kind+".log"))
			return fmt.Errorf("%s did not start: %v\n%s", s.Kind, err, text)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// PID is the server process's, for a job that kills it mid-run.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Kill stops the server at once, as a crash would.
func (s *Server) Kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		s.cmd.Wait()
	}
}

// Restart starts the server again on its address, with its data.
func (s *Server) Restart() error {
	s.Kill()
	return s.start()
}

// Stop stops the server.
func (s *Server) Stop() { s.Kill() }

// Corrupt replaces the content of the blob digest on the server (keeping
// its length), as a failing disk or a bad write would.
func (s *Server) Corrupt(digest string) error {
	switch s.Kind {
	case BazelRemote:
		p, err := s.blobFile(digest)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for i := len(data) / 2; i < len(data); i++ {
			data[i] ^= 0x5a
		}
		return os.WriteFile(p, data, 0o644)
	default:
		name := prefix + "/cas/" + digest
		info, err := s.s3.StatObject(context.Background(), bucket, name, minio.StatObjectOptions{})
		if err != nil {
			return err
		}
		junk := bytes.Repeat([]byte{'x'}, int(info.Size))
		_, err = s.s3.PutObject(context.Background(), bucket, name, bytes.NewReader(junk), info.Size,
			minio.PutObjectOptions{UserMetadata: info.UserMetadata})
		return err
	}
}

// Lose removes the blob digest from the server, as an eviction would
// (bazel-remote forgets it by restarting).
func (s *Server) Lose(digest string) error {
	switch s.Kind {
	case BazelRemote:
		p, err := s.blobFile(digest)
		if err != nil {
			return err
		}
		if err := os.Remove(p); err != nil {
			return err
		}
		return s.Restart()
	default:
		name := prefix + "/cas/" + digest
		if _, err := s.s3.StatObject(context.Background(), bucket, name, minio.StatObjectOptions{}); err != nil {
			return err // nothing to lose: the test would prove nothing
		}
		return s.s3.RemoveObject(context.Background(), bucket, name, minio.RemoveObjectOptions{})
	}
}

func (s *Server) blobFile(digest string) (string, error) {
	matches, _ := filepath.Glob(filepath.Join(s.dir, "data", "cas.v2", digest[:2], digest+"-*"))
	if len(matches) != 1 {
		return "", fmt.Errorf("bazel-remote holds %d files for blob %s", len(matches), digest[:12])
	}
	return matches[0], nil
}

// Objects is how many entries and blobs the server holds.
func (s *Server) Objects() (entries, blobs int, err error) {
	switch s.Kind {
	case BazelRemote:
		for _, d := range []struct {
			dir string
			n   *int
		}{{"raw.v2", &entries}, {"ac.v2", &entries}, {"cas.v2", &blobs}} {
			filepath.WalkDir(filepath.Join(s.dir, "data", d.dir), func(_ string, e os.DirEntry, err error) error {
				if err == nil && e.Type().IsRegular() {
					*d.n++
				}
				return nil
			})
		}
		return entries, blobs, nil
	default:
		for o := range s.s3.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Prefix: prefix + "/", Recursive: true}) {
			if o.Err != nil {
				return 0, 0, o.Err
			}
			switch {
			case strings.HasPrefix(o.Key, prefix+"/ac/"):
				entries++
			case strings.HasPrefix(o.Key, prefix+"/cas/"):
				blobs++
			}
		}
		return entries, blobs, nil
	}
}

// GetAC and PutAC read and write an entry at an address directly.
func (s *Server) GetAC(addr string) ([]byte, error) {
	if s.Kind == S3 {
		obj, err := s.s3.GetObject(context.Background(), bucket, prefix+"/ac/"+addr, minio.GetObjectOptions{})
		if err != nil {
			return nil, err
		}
		defer obj.Close()
		return io.ReadAll(obj)
	}
	resp, err := http.Get("http://" + s.addr + "/ac/" + addr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /ac/%s: %s", addr, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

func (s *Server) PutAC(addr string, data []byte) error {
	if s.Kind == S3 {
		_, err := s.s3.PutObject(context.Background(), bucket, prefix+"/ac/"+addr, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
		return err
	}
	req, _ := http.NewRequest(http.MethodPut, "http://"+s.addr+"/ac/"+addr, bytes.NewReader(data))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT /ac/%s: %s", addr, resp.Status)
	}
	return nil
}

// Proxy is a loopback proxy in front of a server that passes, delays or
// drops every request, as its Mode file says (read per request: a job of
// a run may change it mid-run).
type Proxy struct {
	URL      string // http://127.0.0.1:PORT
	ModeFile string // "pass", "delay DURATION" or "drop"
	ln       net.Listener
	srv      *http.Server
}

// StartProxy starts a proxy to target (host:port).
func StartProxy(target, modeFile string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{URL: "http://" + ln.Addr().String(), ModeFile: modeFile, ln: ln}
	tr := &http.Transport{}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mode, _ := os.ReadFile(modeFile)
		word, arg, _ := strings.Cut(strings.TrimSpace(string(mode)), " ")
		switch word {
		case "drop":
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
				}
			}
			return
		case "delay":
			d, _ := time.ParseDuration(arg)
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
		}
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.URL.Scheme, out.URL.Host = "http", target
		resp, err := tr.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})}
	go p.srv.Serve(ln)
	return p, nil
}

// Close stops the proxy.
func (p *Proxy) Close() { p.srv.Close() }

// Addr is the server's host:port, for a proxy in front of it.
func (s *Server) Addr() string { return s.addr }

// Digest is the blob digest of a file's content.
func Digest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
