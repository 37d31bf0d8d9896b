package bench

import (
	"encoding/xml"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestShapes(t *testing.T) {
	for _, tc := range []struct {
		shape     string
		edges     int
		sinks     int
		longest   int // jobs on the longest path
		firstDeps []int
	}{
		{Chain, 99, 1, 100, nil},
		{Wide, 0, 100, 1, nil},
		{Diamond, 98 + 98, 1, 3, nil},
	} {
		w, err := Synthetic(tc.shape, 100, 20)
		if err != nil {
			t.Fatal(err)
		}
		edges := 0
		for _, ns := range w.Needs {
			edges += len(ns)
		}
		if edges != tc.edges || len(w.Sinks()) != tc.sinks || longest(w) != tc.longest {
			t.Errorf("%s: %d edges, %d sinks, longest path %d; want %d, %d, %d",
				tc.shape, edges, len(w.Sinks()), longest(w), tc.edges, tc.sinks, tc.longest)
		}
	}
}

func TestRandomShapeIsADeterministicDAG(t *testing.T) {
	a, _ := Synthetic(Random, 1000, 20)
	b, _ := Synthetic(Random, 1000, 20)
	edges := 0
	for i, ns := range a.Needs {
		if strings.Join(a.Names, ",") != strings.Join(b.Names, ",") || len(ns) != len(b.Needs[i]) {
			t.Fatalf("job %d differs between two generations", i)
		}
		for k, d := range ns {
			if d >= i || d < i-50 || d != b.Needs[i][k] || (k > 0 && ns[k-1] >= d) {
				t.Fatalf("job %d needs %v: want distinct, sorted jobs from the 50 before it", i, ns)
			}
		}
		edges += len(ns)
	}
	if edges < 500 || edges > 2000 {
		t.Errorf("%d edges for 1,000 jobs: the random shape should average about 1.5 per job", edges)
	}
	if _, err := Synthetic("star", 10, 1); err == nil {
		t.Error("an unknown shape was accepted")
	}
}

func longest(w *Workload) int {
	depth := make([]int, w.Jobs)
	best := 0
	for i, ns := range w.Needs {
		depth[i] = 1
		for _, d := range ns {
			depth[i] = max(depth[i], depth[d]+1)
		}
		best = max(best, depth[i])
	}
	return best
}

func TestLongPoleLowerBound(t *testing.T) {
	for _, first := range []bool{true, false} {
		w := LongPole(first)
		if got := w.LowerBound(2); got < 2.999 || got > 3.001 {
			t.Errorf("chain first %v: lower bound %.3f s, want 3 s", first, got)
		}
		if got := w.LowerBound(1); got < 5.999 || got > 6.001 {
			t.Errorf("chain first %v: one worker's bound %.3f s, want the total work, 6 s", first, got)
		}
	}
}

// TestToolsAgree runs the real harness on a small workload with sparkwing
// and every peer installed here: each tool's configuration must build,
// and every tool's outputs must match sparkwing's after each scenario
// (Check fails the comparison otherwise).
func TestToolsAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds sparkwing and runs every installed peer")
	}
	bin := filepath.Join(t.TempDir(), "sparkwing")
	build := exec.Command("go", "build", "-o", bin, "github.com/sparkwing-dev/sparkwing/cmd/sparkwing")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	spawn, err := BuildSpawn(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	paths := Paths{Sparkwing: bin, Task: os.Getenv("SPARKWING_BENCH_TASK"), Spawn: spawn}
	if err := paths.Resolve(); err != nil {
		t.Fatal(err)
	}
	o := Options{Paths: paths, Log: io.Discard}
	tools, err := selectTools(Options{Paths: paths, Tools: []string{"make"}, Log: io.Discard})
	if err != nil {
		t.Skip("make is not installed")
	}
	if paths.Task != "" {
		tools = append(tools, goTask{})
	}
	w, _ := Synthetic(Random, 12, 3)
	entries, err := setup(o, tools, w, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range []string{Cold, NoOp, Edit, Restore} {
		series := Compare(entries, sc, 1, io.Discard)
		for _, s := range series {
			if s.Err != "" {
				t.Fatalf("%s %s: %s", s.Tool, sc, s.Err)
			}
			if len(s.Samples) != 1 || s.Samples[0].Seconds <= 0 || s.Samples[0].RSSKiB <= 0 {
				t.Errorf("%s %s: samples %+v, want one with a time and an RSS", s.Tool, sc, s.Samples)
			}
		}
		if err := Check(entries); err != nil {
			t.Fatalf("after %s: %v", sc, err)
		}
	}
	// Memory: the no-op's peak through its record and without it (which
	// the no-op before each of the last three wrote again).
	for _, e := range entries {
		if e.Tool.Name() != "sparkwing" {
			continue
		}
		m, err := measureMemory(e, w.Name())
		if err != nil || m.MiB <= 0 || m.FullMiB <= 0 {
			t.Fatalf("memory %+v: %v", m, err)
		}
	}
	// The edit reached the outputs: the last job's result is not the one
	// a fresh copy of the sources gives.
	fresh := filepath.Join(t.TempDir(), "fresh")
	if err := w.WriteSources(fresh); err != nil {
		t.Fatal(err)
	}
	edited, _ := os.ReadFile(filepath.Join(entries[0].P.Dir, w.EditFile()))
	orig, _ := os.ReadFile(filepath.Join(fresh, w.EditFile()))
	if !strings.HasPrefix(string(edited), string(orig)) || !strings.Contains(string(edited), "edit 0\n") {
		t.Errorf("the edit scenario did not append to %s: %q", w.EditFile(), edited)
	}
}

func TestCheckCatchesADifferentOutput(t *testing.T) {
	w, _ := Synthetic(Chain, 2, 1)
	var entries []*Entry
	for i, content := range []string{"1 2\n", "1 3\n"} {
		p := &Project{Dir: filepath.Join(t.TempDir(), string(rune('a'+i))), W: w}
		for j := range w.Jobs {
			if err := write(p.Dir, w.Output(j), content); err != nil {
				t.Fatal(err)
			}
		}
		entries = append(entries, &Entry{Tool: gnuMake{}, P: p})
	}
	if err := Check(entries); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Fatalf("Check = %v, want a difference", err)
	}
	entries[1].P.Dir = entries[0].P.Dir
	if err := Check(entries); err != nil {
		t.Fatalf("Check on identical outputs = %v", err)
	}
}

func samples(secs ...float64) []Sample {
	var out []Sample
	for _, s := range secs {
		out = append(out, Sample{Seconds: s, RSSKiB: 2048})
	}
	return out
}

func TestReport(t *testing.T) {
	r := &Results{Date: "2026-11-21", Machine: "test machine", Command: "bench/run", Bounds: map[string]float64{"longpole-chain-last": 3},
		Series: []*Series{
			{Workload: "random-1000x20", Scenario: NoOp, Tool: "sparkwing", Samples: samples(0.2, 0.1, 0.3)},
			{Workload: "random-1000x20", Scenario: NoOp, Tool: "make", Samples: samples(0.6, 0.5, 0.4)},
			{Workload: "random-1000x20", Scenario: NoOp, Tool: "turbo", Samples: samples(0.1, 0.1)},
			{Workload: "random-1000x20", Scenario: NoOp, Tool: "nx", Err: "nx: exit status 1\nstack"},
			{Workload: "random-1000x20", Scenario: NoOp, Tool: "floor", Samples: samples(0.05)},
			{Workload: "longpole-chain-last", Scenario: Makespan, Tool: "sparkwing", Samples: samples(3.1)},
			{Workload: "longpole-chain-last", Scenario: Makespan, Tool: "make", Samples: samples(4.5)},
		}}
	r.Memory = &Memory{Workload: "random-10000x20", MiB: 110, FullMiB: 270}
	r.Gate = gate(r)
	if r.Gate == nil || r.Gate.Ratio < 1.999 || r.Gate.Ratio > 2.001 {
		t.Fatalf("gate %+v, want sparkwing's fastest 0.1 s over the floor's 0.05 s = 2", r.Gate)
	}
	md := r.Markdown()
	for _, want := range []string{
		"| make | 500 ms | 400 ms–600 ms | 2 MiB | 2.50× |",
		"| turbo | 100 ms | 100 ms–100 ms | 2 MiB | 0.50× |",
		"| nx | failed | | | nx: exit status 1 |",
		"| make | 4.50 s | 4.50 s–4.50 s | 1.50 | 1.45× |",
		"no-op, random-1000x20: turbo is faster (sparkwing takes 2.00× its time)",
		"**2.00×** the floor's fastest",
		"Machine:** test machine",
		"peaks at **110 MiB** resident (VmHWM, median of 3); without its last-run record (the first no-op after the project file, the program or the environment changed), **270 MiB**.",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("RESULTS.md lacks %q:\n%s", want, md)
		}
	}
	svg := r.SVG()
	if err := xml.Unmarshal([]byte(svg), new(struct{})); err != nil {
		t.Errorf("ratios.svg is not well-formed XML: %v", err)
	}
	if !strings.Contains(svg, "no-op random-1000x20 make: 2.50×") {
		t.Errorf("ratios.svg has no bar for make's 2.50×:\n%s", svg)
	}
}

// TestGoWorkloadConfigs: every Go peer's configuration of the bundled
// example describes the same graph (checked through the tools themselves,
// without building: make -n and sparkwing plan).
func TestGoWorkloadConfigs(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "sparkwing")
	build := exec.Command("go", "build", "-o", bin, "github.com/sparkwing-dev/sparkwing/cmd/sparkwing")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	repo, _ := filepath.Abs("../..")
	gw := HelloService(repo)
	for _, tool := range []string{"sparkwing", "make"} {
		p := &Project{Dir: filepath.Join(t.TempDir(), tool), Go: gw, Scratch: t.TempDir()}
		base := Tool(sparkwing{})
		if tool == "make" {
			base = gnuMake{}
		}
		if err := (goTool{name: tool, w: gw, base: base}).Setup(p); err != nil {
			t.Fatal(err)
		}
		var cmd *exec.Cmd
		if tool == "make" {
			cmd = exec.Command("make", "-n")
		} else {
			cmd = exec.Command(bin, "plan", "build")
		}
		cmd.Dir = p.Dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", tool, err, out)
		}
		text := string(out)
		gen, server, pkg := strings.Index(text, "generate"), strings.Index(text, "server"), strings.Index(text, "tar -czf")
		if tool == "make" {
			gen = strings.Index(text, "go run ./tools/gen")
		} else {
			pkg = strings.Index(text, "package")
		}
		if gen < 0 || server < 0 || pkg < 0 || !(gen < server && server < pkg) {
			t.Errorf("%s's plan does not run generate, then server, then package:\n%s", tool, text)
		}
	}
}

// Job names become mage targets: exported Go identifiers.
func TestGoName(t *testing.T) {
	for name, want := range map[string]string{"j0001": "J0001", "test-internal-errors": "TestInternalErrors", "build_cli.v2": "BuildCliV2"} {
		got := goName(name)
		if got != want || !token.IsIdentifier(got) || !token.IsExported(got) {
			t.Errorf("goName(%q) = %q, want %q", name, got, want)
		}
	}
}

// The spawn helper reports the command's own peak memory, not the
// harness's: this test holds 64 MiB, which a child started by the test
// itself would report as its peak.
func TestSpawnMeasuresTheCommandNotTheHarness(t *testing.T) {
	spawn, err := BuildSpawn(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ballast := make([]byte, 64<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	small, err := measured(exec.Command("true"), spawn)
	if err != nil {
		t.Fatal(err)
	}
	if small.RSSKiB <= 0 || small.RSSKiB > 16<<10 || small.Seconds <= 0 {
		t.Errorf("true: %+v, want a time and a peak under 16 MiB", small)
	}
	// A shell holding a 40 MB string peaks above it.
	big, err := measured(exec.Command("sh", "-c", `x=$(head -c 40000000 /dev/zero | tr '\0' a); test ${#x} = 40000000`), spawn)
	if err != nil {
		t.Fatal(err)
	}
	if big.RSSKiB < 38<<10 {
		t.Errorf("a shell holding 40 MB: peak %d KiB, want at least 38 MiB", big.RSSKiB)
	}
	// The command's status is the helper's.
	if _, err := measured(exec.Command("sh", "-c", "exit 3"), spawn); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("exit 3: err %v, want exit status 3", err)
	}
	if ballast[len(ballast)-1] != 1 {
		t.Fatal("unreachable: keeps the ballast alive")
	}
}
