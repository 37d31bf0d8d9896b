// Package scripttest holds the testscript commands the CLI's end-to-end
// scripts share (internal/cli, internal/kube): exitcode, waitline, probe.
package scripttest

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// Exitcode is the script command exitcode N [-int-after FILE] PROG
// ARGS...: run PROG and require exit code N; its output becomes
// stdout/stderr for the next checks. With -int-after,
// send SIGINT once FILE exists.
func Exitcode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N [-int-after FILE] PROG ARGS...")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	args = args[1:]
	intAfter := ""
	if args[0] == "-int-after" {
		intAfter, args = ts.MkAbs(args[1]), args[2:]
	}
	prog, err := lookPath(ts, args[0])
	ts.Check(err)
	cmd := exec.Command(prog, args[1:]...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = Env(ts)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	ts.Check(cmd.Start())
	if intAfter != "" {
		waitFile(ts, intAfter, 30*time.Second)
		ts.Check(cmd.Process.Signal(syscall.SIGINT))
	}
	err = cmd.Wait()
	ts.Stdout().Write(stdout.Bytes())
	ts.Stderr().Write(stderr.Bytes())
	got := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		got = ee.ExitCode()
	} else if err != nil {
		ts.Fatalf("%v", err)
	}
	if got != want {
		ts.Fatalf("exit code %d, want %d\nstderr:\n%s", got, want, stderr.String())
	}
}

// Env is the environment a script's programs run with: the script's
// variables that the test process also has, and those below.
func Env(ts *testscript.TestScript) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if v := ts.Getenv(name); v != "" {
			env = append(env, name+"="+v)
		}
	}
	for _, name := range []string{"WORK", "HOME", "TMPDIR", "PATH", "SPARKWING_CACHE_DIR", "GOCACHE",
		"GOMODCACHE", "GOPATH", "GOPROXY", "GOFLAGS", "NO_COLOR", "REAL_GOROOT", "BUILDKIT_HOST", "SPARKWING_IMAGE_HELPER"} {
		env = append(env, name+"="+ts.Getenv(name))
	}
	for _, name := range []string{"SPARKWING_REMOTE_CACHE", "SPARKWING_CACHE_KEY", "SPARKWING_CACHE_NAMESPACE",
		"SPARKWING_REMOTE_CACHE_TIMEOUT", "SPARKWING_REMOTE_CACHE_TOKEN", "AWS_ENDPOINT_URL",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "SPARKWING_REMOTE_REFRESH",
		"SPARKWING_REMOTE_CACHE_USER", "SPARKWING_REMOTE_CACHE_PASSWORD", "NETRC", "SPARKWING_REMOTE_UPLOAD_WAIT",
		"GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GOWORK", "KUBECONFIG", "SPARKWING_DEPLOY_HELPER", "ARGOCD_SERVER", "ARGOCD_AUTH_TOKEN"} {
		if v := ts.Getenv(name); v != "" {
			env = append(env, name+"="+v)
		}
	}
	return env
}

func lookPath(ts *testscript.TestScript, name string) (string, error) {
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", errors.New(name + " not found on the script's PATH")
}

func waitFile(ts *testscript.TestScript, path string, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not appear within %v", path, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitBound is how long waitlines and probe wait for what a background
// process does: a bound against a hung test, not a speed requirement.
const waitBound = 90 * time.Second

// WaitLine is the script command waitline FILE REGEXP: wait until a line
// of FILE after the last one an
// earlier waitline on FILE matched matches REGEXP (a background process's
// progress); that line becomes stdout.
func WaitLine(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitline FILE REGEXP")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	mark := "WAITLINE_" + strings.NewReplacer("/", "_", ".", "_").Replace(args[0])
	from, _ := strconv.Atoi(ts.Getenv(mark))
	var lines []string
	for start := time.Now(); time.Since(start) < waitBound; time.Sleep(20 * time.Millisecond) {
		data, _ := os.ReadFile(ts.MkAbs(args[0]))
		lines = strings.SplitAfter(string(data), "\n")
		for i := from; i < len(lines); i++ {
			if strings.HasSuffix(lines[i], "\n") && re.MatchString(lines[i]) {
				ts.Setenv(mark, strconv.Itoa(i+1))
				ts.Stdout().Write([]byte(lines[i]))
				return
			}
		}
	}
	ts.Fatalf("no line of %s after line %d matched %q in %v:\n%s", args[0], from, args[1], waitBound, strings.Join(lines, ""))
}

// Probe is the script command probe URL REGEXP: wait until a GET of URL
// answers a body matching REGEXP; ! probe URL: URL must not answer at all,
// now.
func Probe(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 1 || (!neg && len(args) != 2) {
		ts.Fatalf("usage: probe URL REGEXP | ! probe URL")
	}
	client := &http.Client{Timeout: 2 * time.Second}
	if neg {
		if resp, err := client.Get(args[0]); err == nil {
			resp.Body.Close()
			ts.Fatalf("%s answers %s", args[0], resp.Status)
		}
		return
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	last := ""
	for start := time.Now(); time.Since(start) < waitBound; time.Sleep(20 * time.Millisecond) {
		resp, err := client.Get(args[0])
		if err != nil {
			last = err.Error()
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if last = string(body); re.MatchString(last) {
			return
		}
	}
	ts.Fatalf("%s never answered %q in %v (last: %q)", args[0], args[1], waitBound, last)
}

// GoEnv is the real Go cache locations, so scripts that compile Go
// pipelines reuse the build cache (testscript sets HOME to /no-home).
var GoEnv = func() []string {
	out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH", "GOROOT").Output()
	if err != nil {
		return nil
	}
	v := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(v) != 4 {
		return nil
	}
	return []string{"GOCACHE=" + v[0], "GOMODCACHE=" + v[1], "GOPATH=" + v[2], "REAL_GOROOT=" + v[3]}
}()
