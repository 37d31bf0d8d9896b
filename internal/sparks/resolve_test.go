package sparks

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/sparks/sparkstest"
)

const spark = "example.com/sparks-go"

type fixture struct {
	proxy  *sparkstest.Proxy
	now    time.Time
	warned []string
	r      *Resolver
	module string // a pipeline module directory
}

func newFixture(t *testing.T) *fixture {
	goPath, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	f := &fixture{proxy: sparkstest.New(t), now: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC), module: filepath.Join(t.TempDir(), ".sparkwing")}
	for _, v := range []string{"v1.0.0", "v1.1.0"} {
		f.proxy.Publish(spark, v, map[string]string{"spark.go": "package spark\n"})
	}
	os.MkdirAll(f.module, 0o755)
	os.WriteFile(filepath.Join(f.module, "go.mod"), []byte("module example.com/pipelines\n\ngo 1.22\n"), 0o644)
	f.r = &Resolver{Go: goPath, Environ: append(os.Environ(), f.proxy.Env()...), State: filepath.Join(t.TempDir(), "sparks.json"),
		Now: func() time.Time { return f.now }, Warn: func(m string) { f.warned = append(f.warned, m) }}
	return f
}

func (f *fixture) resolve(t *testing.T, constraint string) Spark {
	t.Helper()
	got, err := f.r.Resolve(context.Background(), f.module, []Spec{{Name: "go-service", Module: spark, Constraint: constraint, Where: "sparkwing.yaml:3:5"}})
	if err != nil {
		t.Fatalf("%q: %v", constraint, err)
	}
	return got[0]
}

func TestLatestIsCheckedEveryRefresh(t *testing.T) {
	f := newFixture(t)
	if s := f.resolve(t, "latest"); s.Version != "v1.1.0" || !s.Checked.Equal(f.now) {
		t.Fatalf("latest: %+v", s)
	}
	f.proxy.Publish(spark, "v1.2.0", map[string]string{"spark.go": "package spark\n"})
	first := f.now
	f.now = f.now.Add(DefaultRefresh - time.Second)
	if s := f.resolve(t, "latest"); s.Version != "v1.1.0" || !s.Checked.Equal(first) {
		t.Errorf("within the refresh interval the proxy is not asked: %+v", s)
	}
	f.r.Update = func(s Spec) bool { return s.Name == "go-service" }
	if s := f.resolve(t, "latest"); s.Version != "v1.2.0" {
		t.Errorf("update asks now: %+v", s)
	}
	f.r.Update = nil
	f.proxy.Publish(spark, "v1.3.0", map[string]string{"spark.go": "package spark\n"})
	f.now = f.now.Add(DefaultRefresh + time.Second)
	if s := f.resolve(t, "latest"); s.Version != "v1.3.0" || !s.Checked.Equal(f.now) {
		t.Errorf("after the refresh interval: %+v", s)
	}
	if len(f.warned) > 0 {
		t.Errorf("warnings: %q", f.warned)
	}
}

func TestRangesAndExact(t *testing.T) {
	f := newFixture(t)
	f.proxy.Publish(spark, "v1.5.0-rc.1", map[string]string{"spark.go": "package spark\n"})
	for constraint, want := range map[string]string{"^1.0": "v1.1.0", "~1.0.0": "v1.0.0", ">=1.0 <1.1": "v1.0.0", "v1.0.0": "v1.0.0", "v1.5.0-rc.1": "v1.5.0-rc.1"} {
		if s := f.resolve(t, constraint); s.Version != want {
			t.Errorf("%q resolves to %q, want %q", constraint, s.Version, want)
		}
	}
	_, err := f.r.Resolve(context.Background(), f.module, []Spec{{Name: "go-service", Module: spark, Constraint: "^3", Where: "f:1:1"}})
	if err == nil || !strings.Contains(err.Error(), "f:1:1: spark go-service: cannot resolve example.com/sparks-go at \"^3\": no published version is in the range (published: v1.0.0, v1.1.0, v1.5.0-rc.1)") {
		t.Errorf("a range nothing matches: %v", err)
	}
}

func TestProxyDown(t *testing.T) {
	f := newFixture(t)
	f.resolve(t, "latest")
	f.now = f.now.Add(time.Hour)
	f.r.Environ = append(f.r.Environ, "GOPROXY=file:///nonexistent-proxy") // a proxy that cannot be read
	s := f.resolve(t, "latest")
	if s.Version != "v1.1.0" || !s.Stale || len(f.warned) != 1 || !strings.Contains(f.warned[0], "using v1.1.0, found 1h0m0s ago") {
		t.Errorf("proxy down with a last version: %+v, warnings %q", s, f.warned)
	}
	_, err := f.r.Resolve(context.Background(), f.module, []Spec{{Name: "other", Module: "example.com/other", Constraint: "latest", Where: "f:7:5"}})
	if err == nil || !strings.Contains(err.Error(), "f:7:5: spark other: cannot resolve example.com/other at \"latest\"") || !strings.Contains(err.Error(), "GOPROXY=file:///nonexistent-proxy") {
		t.Errorf("proxy down, never resolved: %v", err)
	}
}

func TestUnknownModule(t *testing.T) {
	f := newFixture(t)
	_, err := f.r.Resolve(context.Background(), f.module, []Spec{{Name: "typo", Module: "example.com/sparks-og", Constraint: "v1.0.0", Where: "f:4:5"}})
	if err == nil || !strings.HasPrefix(err.Error(), "f:4:5: spark typo: cannot resolve example.com/sparks-og at \"v1.0.0\"") {
		t.Errorf("%v", err)
	}
}

func TestLocalReplacements(t *testing.T) {
	f := newFixture(t)
	root := filepath.Dir(f.module)
	local := filepath.Join(root, "sparks-go")
	os.MkdirAll(local, 0o755)
	os.WriteFile(filepath.Join(local, "go.mod"), []byte("module "+spark+"\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(root, "go.work"), []byte("go 1.22\n\nuse (\n\t./.sparkwing\n\t./sparks-go\n)\n"), 0o644)
	if s := f.resolve(t, "latest"); s.Dir != local || s.Version != "" || s.Replaced != "go.work at "+filepath.Join(root, "go.work") {
		t.Errorf("go.work: %+v", s)
	}
	f.r.Environ = append(f.r.Environ, "GOWORK=off")
	if s := f.resolve(t, "latest"); s.Dir != "" || s.Version != "v1.1.0" {
		t.Errorf("GOWORK=off: %+v", s)
	}
	os.WriteFile(filepath.Join(f.module, "go.mod"), []byte("module example.com/pipelines\n\ngo 1.22\n\nreplace "+spark+" => ../sparks-go\n"), 0o644)
	if s := f.resolve(t, "latest"); s.Dir != local || s.Replaced != "replace in .sparkwing/go.mod" {
		t.Errorf("replace: %+v", s)
	}
}

// Runs of many projects at once keep every answer they found.
func TestStateKeepsConcurrentAnswers(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			r := *f.r
			if err := r.save(map[string]record{fmt.Sprintf("m%d@latest", i): {Version: "v1.0.0", Checked: f.now}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	state, err := f.r.load()
	if err != nil || len(state) != 8 {
		t.Errorf("%d answers kept of 8 (%v)", len(state), err)
	}
}
