package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
	"github.com/sparkwing-dev/sparkwing/internal/remote"
	"github.com/sparkwing-dev/sparkwing/internal/remote/remotetest"
	"github.com/sparkwing-dev/sparkwing/internal/scripttest"
)

// TestRemoteScripts runs the remote cache's scenarios in testdata/remote
// against each real server: bazel-remote, and MinIO.
// Every script gets a server of its own: $SPARKWING_REMOTE_CACHE points at
// it and $REMOTE_PID is its process (a job may kill it mid-run).
func TestRemoteScripts(t *testing.T) {
	bin := t.TempDir() // release binaries, built for the first server's scripts that run
	var build sync.Once
	var buildErr error
	for _, kind := range []string{remotetest.BazelRemote, remotetest.S3} {
		t.Run(kind, func(t *testing.T) {
			remotetest.Require(t, kind) // skips (or fails under CI) once, not per script
			build.Do(func() { buildErr = buildReleaseBinaries(bin) })
			if buildErr != nil {
				t.Fatal(buildErr)
			}
			testscript.Run(t, testscript.Params{
				Dir: "testdata/remote",
				Setup: func(env *testscript.Env) error {
					srv, err := remotetest.Start(kind, filepath.Join(env.WorkDir, ".server"))
					if err != nil {
						return err
					}
					env.Defer(srv.Stop)
					env.Values["server"] = srv
					env.Vars = append(env.Vars, srv.Env...)
					env.Vars = append(env.Vars, scripttest.GoEnv...) // scripts that run go test reuse the build cache
					env.Vars = append(env.Vars,
						"SPARKWING_BIN="+filepath.Join(bin, "sparkwing"),
						"SPARKWING_REMOTE_CACHE="+srv.URL,
						"REMOTE_URL="+srv.URL,
						"REMOTE_KIND="+kind,
						"REMOTE_PID="+strconv.Itoa(srv.PID()),
						"NO_COLOR=1",
						"GOFLAGS=-buildvcs=false",
					)
					return nil
				},
				Condition: func(cond string) (bool, error) {
					if cond == remotetest.S3 || cond == remotetest.BazelRemote {
						return cond == kind, nil
					}
					return false, fmt.Errorf("unknown condition %q", cond)
				},
				Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
					"exitcode": scripttest.Exitcode,
					"remote":   cmdRemote,
					"maxrss":   cmdMaxRSS,
				},
			})
		})
	}
}

// buildReleaseBinaries builds sparkwing and sparkwing-remote into dir as
// users get them (not the test binary, which the race detector makes
// larger), for scripts that measure them.
func buildReleaseBinaries(dir string) error {
	out, err := exec.Command("go", "build", "-o", dir+"/", "../../cmd/sparkwing", "../../cmd/sparkwing-remote").CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	return nil
}

// maxrss MB PROG ARGS...: run PROG under /usr/bin/time and require that
// its peak resident set (that of its largest process, sparkwing-remote
// included) stayed under MB megabytes. Not wait4's usage from this test
// process: a child's peak counts the test binary's pages it shares between
// fork and exec, hundreds of MB under the race detector.
func cmdMaxRSS(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: maxrss MB PROG ARGS...")
	}
	limit, err := strconv.Atoi(args[0])
	ts.Check(err)
	report := ts.MkAbs("maxrss.out")
	cmd := exec.Command("/usr/bin/time", append([]string{"-f", "%M", "-o", report}, args[1:]...)...)
	cmd.Dir = ts.MkAbs(".")
	cmd.Env = scripttest.Env(ts)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	ts.Stdout().Write(stdout.Bytes())
	ts.Stderr().Write(stderr.Bytes())
	if err != nil {
		ts.Fatalf("%s: %v", args[1], err)
	}
	data, err := os.ReadFile(report)
	ts.Check(err)
	kb, err := strconv.Atoi(strings.TrimSpace(string(data)))
	ts.Check(err)
	mb := float64(kb) / 1024
	ts.Logf("peak RSS %.1f MB (limit %d MB)", mb, limit)
	if mb >= float64(limit) {
		ts.Fatalf("peak RSS %.1f MB, over the limit of %d MB", mb, limit)
	}
}

// remote VERB ARGS: act on the script's server.
//
//	remote corrupt FILE            the blob of FILE's content is damaged on the server
//	remote lose FILE               the blob of FILE's content is gone from the server
//	remote objects                 print "entries N blobs M"
//	remote copy FROM TO CACHEDIR   copy each entry of the local store in CACHEDIR from
//	                               namespace FROM's address to TO's, as a writer to TO would
//	remote unsign NS CACHEDIR      the same entries of NS lose their signature
//	remote proxy                   put a proxy in front of the server: runs reach it
//	                               through the proxy, which does what $PROXY_MODE says
//	                               (pass, delay DURATION, drop)
//	remote login-server USER PASS  start a bazel-remote that wants that login; $LOGIN_URL
func cmdRemote(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: remote VERB ARGS")
	}
	srv := ts.Value("server").(*remotetest.Server)
	switch verb := args[0]; {
	case (verb == "corrupt" || verb == "lose") && len(args) == 2:
		d, err := remotetest.Digest(ts.MkAbs(args[1]))
		ts.Check(err)
		if verb == "corrupt" {
			ts.Check(srv.Corrupt(d))
		} else {
			ts.Check(srv.Lose(d))
		}
		ts.Setenv("REMOTE_PID", strconv.Itoa(srv.PID()))
	case verb == "objects" && len(args) == 1:
		entries, blobs, err := srv.Objects()
		ts.Check(err)
		fmt.Fprintf(ts.Stdout(), "entries %d blobs %d\n", entries, blobs)
	case verb == "copy" && len(args) == 4, verb == "unsign" && len(args) == 3:
		from, to := args[1], args[1]
		dir := args[len(args)-1]
		if verb == "copy" {
			to = args[2]
		}
		keys := storeKeys(ts, ts.MkAbs(dir))
		for _, k := range keys {
			data, err := srv.GetAC(remote.Address(from, k))
			ts.Check(err)
			if verb == "unsign" {
				first, rest, _ := bytes.Cut(data, []byte("\n"))
				i := bytes.LastIndexByte(first, ' ')
				data = append(append(first[:i+1:i+1], "unsigned\n"...), rest...)
			}
			ts.Check(srv.PutAC(remote.Address(to, k), data))
		}
		fmt.Fprintf(ts.Stdout(), "%d entries\n", len(keys))
	case verb == "proxy" && len(args) == 1:
		mode := ts.MkAbs("proxy-mode")
		ts.Check(os.WriteFile(mode, []byte("pass\n"), 0o644))
		p, err := remotetest.StartProxy(srv.Addr(), mode)
		ts.Check(err)
		ts.Defer(p.Close)
		ts.Setenv("PROXY_MODE", mode)
		if srv.Kind == remotetest.S3 {
			ts.Setenv("AWS_ENDPOINT_URL", p.URL) // sparkwing-remote reaches MinIO through it
		} else {
			ts.Setenv("SPARKWING_REMOTE_CACHE", p.URL+"/")
		}
	case verb == "login-server" && len(args) == 3:
		s, err := remotetest.StartWithLogin(ts.MkAbs(".login-server"), args[1], args[2])
		ts.Check(err)
		ts.Defer(s.Stop)
		ts.Setenv("LOGIN_URL", s.URL)
	default:
		ts.Fatalf("usage: remote corrupt|lose FILE, objects, copy FROM TO CACHEDIR, unsign NS CACHEDIR, proxy, login-server USER PASSWORD")
	}
}

// storeKeys are the keys of the entries in the local store under the
// cache directory dir.
func storeKeys(ts *testscript.TestScript, dir string) []cache.Key {
	var keys []cache.Key
	matches, err := filepath.Glob(filepath.Join(dir, "store-v1", "entries", "*.json"))
	ts.Check(err)
	for _, m := range matches {
		k, err := cache.ParseKey("sha256:" + strings.TrimSuffix(filepath.Base(m), ".json"))
		ts.Check(err)
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		ts.Fatalf("no entries in %s", dir)
	}
	return keys
}
