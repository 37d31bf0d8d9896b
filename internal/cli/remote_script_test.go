package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
	"github.com/sparkwing-dev/sparkwing/internal/remote"
	"github.com/sparkwing-dev/sparkwing/internal/remote/remotetest"
)

// TestRemoteScripts runs the remote cache's scenarios in testdata/remote
// against each real server: bazel-remote, and MinIO through sparkwing-s3.
// Every script gets a server of its own: $SPARKWING_REMOTE_CACHE points at
// it and $REMOTE_PID is its process (a job may kill it mid-run).
func TestRemoteScripts(t *testing.T) {
	for _, kind := range []string{remotetest.BazelRemote, remotetest.S3} {
		t.Run(kind, func(t *testing.T) {
			remotetest.Require(t, kind) // skips (or fails under CI) once, not per script
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
					env.Vars = append(env.Vars,
						"SPARKWING_REMOTE_CACHE="+srv.URL,
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
					"exitcode": cmdExitcode,
					"remote":   cmdRemote,
				},
			})
		})
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
			ts.Setenv("AWS_ENDPOINT_URL", p.URL) // sparkwing-s3 reaches MinIO through it
		} else {
			ts.Setenv("SPARKWING_REMOTE_CACHE", p.URL+"/")
		}
	default:
		ts.Fatalf("usage: remote corrupt|lose FILE, objects, copy FROM TO CACHEDIR, unsign NS CACHEDIR, proxy")
	}
}

// storeKeys are the keys of the entries in the local store under the
// cache directory dir.
func storeKeys(ts *testscript.TestScript, dir string) []cache.Key {
	var keys []cache.Key
	matches, err := filepath.Glob(filepath.Join(dir, "store-v1", "entries", "*", "*.json"))
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
