package sparkwing

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

type testPipeline struct {
	Version   string        `help:"version"`
	DryRun    bool          `flag:"dry-run"`
	Count     int           // --count
	Wait      time.Duration // --wait
	Targets   []string      `flag:"target"`
	HTTPProxy string        // --http-proxy
}

func (t *testPipeline) Plan(p *Plan) {
	a := p.Run("a", "echo "+t.Version).Inputs("**/*.go").Env("GOOS").Timeout(time.Minute).Stamp("commit").
		GoInputs("./cmd/a")
	p.Go("b", func(ctx context.Context, j *JobContext) error {
		j.Logf("targets=%s count=%d", strings.Join(t.Targets, "+"), t.Count)
		return nil
	}).Needs(a)
	p.GoTest("c", GoTests{Packages: []string{"./..."}, Flags: []string{"-race"}})
	if t.Count < 0 {
		p.Errorf("--count must not be negative")
	}
}

func TestPlanProtocol(t *testing.T) {
	registry = map[string]Pipeline{}
	Register(&testPipeline{Version: "dev"})
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"plan", "testPipeline", "--version", "1.2", "--target", "x",
		"--target", "y", "--dry-run", "--wait", "2s", "--http-proxy", "p"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var wp WirePlan
	if err := json.Unmarshal(out.Bytes(), &wp); err != nil {
		t.Fatal(err)
	}
	if len(wp.Jobs) != 3 || wp.Jobs[0].Run != "echo 1.2" || wp.Jobs[0].Timeout != "1m0s" ||
		len(wp.Jobs[0].Stamp) != 1 || wp.Jobs[0].Stamp[0] != "commit" || !wp.Jobs[1].Step || wp.Jobs[1].Needs[0] != "a" {
		t.Fatalf("plan %+v", wp)
	}
	if g := wp.Jobs[0].GoInputs; len(g) != 1 || g[0].Packages[0] != "./cmd/a" || g[0].Tests {
		t.Errorf("go inputs %+v", g)
	}
	if gt := wp.Jobs[2].GoTest; gt == nil || gt.Packages[0] != "./..." || gt.Flags[0] != "-race" || wp.Jobs[2].Run != "" {
		t.Errorf("go test job %+v", wp.Jobs[2])
	}
	args := map[string]string{}
	for _, a := range wp.Args {
		args[a.Name] = a.Type + "=" + a.Value
	}
	for name, want := range map[string]string{"version": "string=1.2", "dry-run": "bool=true",
		"target": "strings=x,y", "wait": "duration=2s", "http-proxy": "string=p", "count": "int=0"} {
		if args[name] != want {
			t.Errorf("arg %s = %q, want %q", name, args[name], want)
		}
	}

	out.Reset()
	if code := run(context.Background(), []string{"step", "testPipeline", "b", "--target", "z", "--count", "3"}, &out, &errOut); code != 0 {
		t.Fatalf("step exit %d: %s", code, errOut.String())
	}
	if out.String() != "targets=z count=3\n" {
		t.Fatalf("step output %q", out.String())
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"plan", "testPipeline", "--count", "-1"}, &out, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), "--count must not be negative") {
		t.Fatalf("Errorf: exit %d, %q", code, errOut.String())
	}
	if code := run(context.Background(), []string{"plan", "Nope"}, &out, &errOut); code != 2 {
		t.Fatalf("unknown pipeline: exit %d", code)
	}
}

func TestRepeatedFlagReplacesItsDefault(t *testing.T) {
	registry = map[string]Pipeline{}
	Register(&testPipeline{Targets: []string{"default"}})
	var out, errOut bytes.Buffer
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--target", "a", "--target", "b"}, "targets=a+b count=0\n"},
		{nil, "targets=default count=0\n"}, // the registered default is untouched
	} {
		out.Reset()
		args := append([]string{"step", "testPipeline", "b"}, tc.args...)
		if code := run(context.Background(), args, &out, &errOut); code != 0 || out.String() != tc.want {
			t.Fatalf("%v: exit %d, %q, want %q", tc.args, code, out.String(), tc.want)
		}
	}
}

// TestArgumentErrorsNameNoPipeline: the program's messages are the
// engine's to prefix, so they name no pipeline, and are worded as the
// engine's flags are (--name), once.
func TestArgumentErrorsNameNoPipeline(t *testing.T) {
	registry = map[string]Pipeline{}
	Register(&testPipeline{})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--verison", "1"}, "unknown argument --verison\n"},
		{[]string{"1.2"}, `unexpected argument "1.2": arguments are flags, such as --version 1.2` + "\n"},
		{[]string{"--count", "x"}, `invalid value "x" for --count: parse error` + "\n"},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), append([]string{"plan", "testPipeline"}, tc.args...), &out, &errOut)
		if code != 2 || errOut.String() != tc.want {
			t.Errorf("%v: exit %d, %q, want %q", tc.args, code, errOut.String(), tc.want)
		}
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"args", "testPipeline"}, &out, &errOut); code != 0 {
		t.Fatalf("args: exit %d: %s", code, errOut.String())
	}
	var args []WireArg
	if err := json.Unmarshal(out.Bytes(), &args); err != nil || len(args) != 6 || args[0].Name != "version" {
		t.Fatalf("args: %v %+v", err, args)
	}
}
