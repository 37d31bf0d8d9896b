package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/sparkwing-dev/sparkwing/internal/image"
	"github.com/sparkwing-dev/sparkwing/internal/image/imagetest"
	"github.com/sparkwing-dev/sparkwing/internal/registry"
	"github.com/sparkwing-dev/sparkwing/internal/scripttest"
)

// TestImageScripts runs the image-job scenarios in testdata/image against
// a real buildkitd and registry (see imagetest): $BUILDKIT_HOST and
// $REGISTRY point at them.
func TestImageScripts(t *testing.T) {
	srv := imagetest.Require(t)
	t.Cleanup(imagetest.StopShared)
	testscript.Run(t, testscript.Params{
		Dir: "testdata/image",
		Setup: func(env *testscript.Env) error {
			env.Vars = append(env.Vars, scripttest.GoEnv...)
			env.Vars = append(env.Vars,
				"SPARKWING_CACHE_DIR="+filepath.Join(env.WorkDir, ".cache"),
				"BUILDKIT_HOST="+srv.Buildkit,
				"REGISTRY="+srv.Registry,
				"NO_COLOR=1",
				"GOPROXY=off", // the SDK ships inside sparkwing
				"GOFLAGS=-buildvcs=false",
				"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
				"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com",
			)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":       scripttest.Exitcode,
			"tags":           cmdTags,
			"planmatchesrun": cmdPlanMatchesRun,
		},
	})
}

// tags REPO: print the registry's tags of REPO, one per line, sorted, and
// for each the digest it names ("tag digest").
func cmdTags(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: tags REPO")
	}
	host := ts.Getenv("REGISTRY")
	resp, err := http.Get("http://" + host + "/v2/" + args[0] + "/tags/list")
	ts.Check(err)
	defer resp.Body.Close()
	var list struct{ Tags []string }
	ts.Check(json.NewDecoder(resp.Body).Decode(&list))
	sort.Strings(list.Tags)
	reg := registry.New()
	var out strings.Builder
	for _, tag := range list.Tags {
		d, err := reg.Digest(context.Background(), image.Ref{Host: host, Repo: args[0], Tag: tag})
		ts.Check(err)
		out.WriteString(tag + " " + d + "\n")
	}
	ts.Stdout().Write([]byte(out.String()))
}
