package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/sparks/sparkstest"
)

// SparksOptions configures the sparks benchmark.
type SparksOptions struct {
	Sparkwing string // the binary
	Reps      int    // runs measured per case
	Work, Out string
	Log       io.Writer
}

// SparksResult is what sparks add to a Go pipeline's run: with the
// program cached (0, 1 and 5 sparks), and the first run after a release.
type SparksResult struct {
	Date    string `json:"date"`
	Machine string `json:"machine"`
	// Cached is `sparkwing plan` with the program cached, by spark count.
	Cached map[int]Latency `json:"cached"`
	// Release is the first plan after a new release of each of 5 sparks
	// (`sparks update`, then the compile); Recompile, the same pipeline
	// compiled again with nothing new (its compiled program removed): what
	// a release costs beyond compiling.
	Release, Recompile Latency
}

const sparksPipeline = `package main

import (
	sw "github.com/sparkwing-dev/sparkwing/sparkwing"
%s)

type Bench struct{}

func (b *Bench) Plan(p *sw.Plan) {
	p.Run("hello", "echo hello")
%s}

func init() { sw.Register(&Bench{}) }
`

// RunSparks measures `sparkwing plan` of a Go pipeline importing 0, 1 and
// 5 sparks from a file:// module proxy, interleaved, and the first plan
// after each spark released a new version.
func RunSparks(ctx context.Context, o SparksOptions) (*SparksResult, error) {
	work, err := filepath.Abs(filepath.Join(o.Work, "sparks"))
	if err != nil {
		return nil, err
	}
	os.RemoveAll(work)
	proxy := filepath.Join(work, "proxy")
	env := append(os.Environ(), "GOPROXY=file://"+proxy, "GOSUMDB=off", "GOFLAGS=-modcacherw",
		"GOMODCACHE="+filepath.Join(work, "modcache"), "SPARKWING_CACHE_DIR="+filepath.Join(work, "cache"))
	publish := func(i int, version string) error {
		src := filepath.Join(work, "src", fmt.Sprint(i), version)
		mod := fmt.Sprintf("example.com/spark%d", i)
		os.MkdirAll(src, 0o755)
		os.WriteFile(filepath.Join(src, "go.mod"), []byte("module "+mod+"\n\ngo 1.22\n"), 0o644)
		code := fmt.Sprintf("package spark%d\n\nimport sw \"github.com/sparkwing-dev/sparkwing/sparkwing\"\n\n"+
			"func Add(p *sw.Plan) { p.Run(\"spark%d\", \"echo %s\") }\n", i, i, version)
		os.WriteFile(filepath.Join(src, "spark.go"), []byte(code), 0o644)
		return sparkstest.Publish(proxy, mod, version, src)
	}
	for i := range 5 {
		if err := publish(i, "v1.0.0"); err != nil {
			return nil, err
		}
	}
	projects := map[int]string{}
	for _, n := range []int{0, 1, 5} {
		dir := filepath.Join(work, fmt.Sprintf("sparks%d", n))
		projects[n] = dir
		var yaml, imports, calls strings.Builder
		yaml.WriteString("sparks:\n")
		for i := range n {
			fmt.Fprintf(&yaml, "  - {name: s%d, source: example.com/spark%d, version: ^1.0}\n", i, i)
			fmt.Fprintf(&imports, "\t\"example.com/spark%d\"\n", i)
			fmt.Fprintf(&calls, "\tspark%d.Add(p)\n", i)
		}
		if n == 0 {
			yaml.Reset()
		}
		yaml.WriteString("pipelines:\n  - {name: bench, entrypoint: Bench}\n")
		files := map[string]string{
			"sparkwing.yaml": yaml.String(),
			"go.mod":         "module example.com/pipelines\n\ngo 1.22\n\nrequire github.com/sparkwing-dev/sparkwing v0.0.0\n",
			"bench.go":       fmt.Sprintf(sparksPipeline, imports.String(), calls.String()),
		}
		for name, content := range files {
			os.MkdirAll(filepath.Join(dir, ".sparkwing"), 0o755)
			if err := os.WriteFile(filepath.Join(dir, ".sparkwing", name), []byte(content), 0o644); err != nil {
				return nil, err
			}
		}
	}
	run := func(dir string, args ...string) (time.Duration, error) {
		cmd := exec.CommandContext(ctx, o.Sparkwing, append([]string{"-C", dir}, args...)...)
		cmd.Env = env
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("sparkwing %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
		}
		return time.Since(start), nil
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	for _, n := range []int{0, 1, 5} { // compile each once
		if _, err := run(projects[n], "plan", "bench"); err != nil {
			return nil, err
		}
	}
	r := &SparksResult{Date: time.Now().UTC().Format("2006-01-02"), Machine: machine(), Cached: map[int]Latency{}}
	cached := map[int][]float64{}
	for rep := range o.Reps {
		for _, n := range []int{0, 1, 5} {
			d, err := run(projects[n], "plan", "bench")
			if err != nil {
				return nil, err
			}
			cached[n] = append(cached[n], ms(d))
		}
		if (rep+1)%20 == 0 {
			fmt.Fprintf(o.Log, "sparks: %d of %d cached plans of each\n", rep+1, o.Reps)
		}
	}
	for n, xs := range cached {
		r.Cached[n] = dist(xs)
	}
	var release, recompile []float64
	for v := 1; v <= 3; v++ {
		for i := range 5 {
			if err := publish(i, fmt.Sprintf("v1.%d.0", v)); err != nil {
				return nil, err
			}
		}
		if _, err := run(projects[5], "pipeline", "sparks", "update"); err != nil {
			return nil, err
		}
		d, err := run(projects[5], "plan", "bench")
		if err != nil {
			return nil, err
		}
		release = append(release, ms(d))
		os.RemoveAll(filepath.Join(work, "cache", "pipelines")) // compiled programs: the next plan compiles
		if d, err = run(projects[5], "plan", "bench"); err != nil {
			return nil, err
		}
		recompile = append(recompile, ms(d))
	}
	r.Release, r.Recompile = dist(release), dist(recompile)
	fmt.Fprintf(o.Log, "sparks: cached plan %.1f / %.1f / %.1f ms with 0 / 1 / 5 sparks; first plan after a release %.0f ms, a recompile %.0f ms\n",
		r.Cached[0].Median, r.Cached[1].Median, r.Cached[5].Median, r.Release.Median, r.Recompile.Median)
	return r, writeSparks(o.Out, r)
}

func writeSparks(dir string, r *SparksResult) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "sparks.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Sparks\n\nGenerated by `bench/run --sparks` on %s (%s). A Go pipeline importing 0, 1 or 5 sparks\n"+
		"from a file:// module proxy; `sparkwing plan` of it with the program cached, %d runs of each, interleaved.\n\n",
		r.Date, r.Machine, r.Cached[0].N)
	fmt.Fprintf(&b, "| sparks | median | p99 | over no sparks (median) | ÷ no sparks |\n|---:|---:|---:|---:|---:|\n")
	for _, n := range []int{0, 1, 5} {
		c := r.Cached[n]
		fmt.Fprintf(&b, "| %d | %.1f ms | %.1f ms | %+.1f ms | %.2f× |\n", n, c.Median, c.P99, c.Median-r.Cached[0].Median, c.Median/r.Cached[0].Median)
	}
	fmt.Fprintf(&b, "\nGoal: at most 2 ms over no sparks. Between refreshes a run reads the remembered versions\n"+
		"(one small file in the user's cache directory) and the go.mod and go.work that could replace a spark; no network.\n\n")
	fmt.Fprintf(&b, "After each of the 5 sparks released a new version (`sparkwing pipeline sparks update`, then `plan`):\n"+
		"the first plan took %.0f ms (median of %d), against %.0f ms for compiling the same pipeline again with nothing new\n"+
		"(its compiled program removed): **%.2f×**. The difference is the go command fetching the new versions from the proxy; the plan after\n"+
		"it is a cached one again.\n", r.Release.Median, r.Release.N, r.Recompile.Median, r.Release.Median/r.Recompile.Median)
	return os.WriteFile(filepath.Join(dir, "SPARKS.md"), []byte(b.String()), 0o644)
}
