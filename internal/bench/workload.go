// Package bench compares sparkwing with the build tools its users would
// otherwise pick (make, go-task, mage, Turborepo, Nx, Bazel) on the same
// generated workloads, and writes the ratios. bench/run is its command.
package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Shapes a synthetic workload's job graph can take.
const (
	Chain   = "chain"   // each job needs the one before it
	Wide    = "wide"    // no job needs another
	Diamond = "diamond" // one root, a wide middle, one sink that needs the middle
	Random  = "random"  // each job needs up to three of the 50 jobs before it
	Pole    = "longpole"
)

// Workload is one generated project: a graph of jobs, each with its own
// source files under pkgs/<job>/src and one output, pkgs/<job>/out/result.txt,
// made from its sources and the outputs of the jobs it needs.
type Workload struct {
	Shape string
	Jobs  int
	Files int // source files per job

	Names []string
	Needs [][]int // Needs[i] lists the jobs job i needs, all < i
	Sleep []float64

	chainFirst bool // long pole: the chain is declared before the short jobs
}

// Name identifies the workload in results: random-1000x20.
func (w *Workload) Name() string {
	if w.Shape == Pole && w.chainFirst {
		return Pole + "-chain-first"
	} else if w.Shape == Pole {
		return Pole + "-chain-last"
	}
	return fmt.Sprintf("%s-%dx%d", w.Shape, w.Jobs, w.Files)
}

// Synthetic builds the graph of a synthetic workload. The same arguments
// always give the same graph (the random shape is seeded).
func Synthetic(shape string, jobs, files int) (*Workload, error) {
	if jobs < 1 || files < 1 {
		return nil, fmt.Errorf("a workload needs at least one job and one file, not %d jobs x %d files", jobs, files)
	}
	w := &Workload{Shape: shape, Jobs: jobs, Files: files, Needs: make([][]int, jobs)}
	rng := rand.New(rand.NewPCG(uint64(jobs), uint64(files)))
	for i := range jobs {
		switch shape {
		case Chain:
			if i > 0 {
				w.Needs[i] = []int{i - 1}
			}
		case Wide:
		case Diamond:
			switch {
			case i == 0:
			case i < jobs-1 || jobs == 2:
				w.Needs[i] = []int{0}
			default:
				for j := 1; j < i; j++ {
					w.Needs[i] = append(w.Needs[i], j)
				}
			}
		case Random:
			lo := max(0, i-50)
			for range rng.IntN(4) {
				if i == 0 {
					break
				}
				d := lo + rng.IntN(i-lo)
				if !slices.Contains(w.Needs[i], d) {
					w.Needs[i] = append(w.Needs[i], d)
				}
			}
			slices.Sort(w.Needs[i])
		default:
			return nil, fmt.Errorf("unknown shape %q (want chain, wide, diamond or random)", shape)
		}
	}
	w.name()
	return w, nil
}

// LongPole is a graph where one chain is much longer than everything else:
// a chain of 5 jobs of 0.6 s and 12 independent jobs of 0.25 s. On two
// workers the makespan can be 3 s (the chain on one worker, the short jobs
// on the other); a scheduler that starts the short jobs first needs 4.5 s.
// chainFirst says whether the chain is declared before the short jobs.
func LongPole(chainFirst bool) *Workload {
	w := &Workload{Shape: Pole, Files: 1, chainFirst: chainFirst}
	addChain := func() {
		for i := range 5 {
			w.Sleep = append(w.Sleep, 0.6)
			var needs []int
			if i > 0 {
				needs = []int{len(w.Sleep) - 2}
			}
			w.Needs = append(w.Needs, needs)
			w.Names = append(w.Names, fmt.Sprintf("long%d", i))
		}
	}
	addShort := func() {
		for i := range 12 {
			w.Sleep = append(w.Sleep, 0.25)
			w.Needs = append(w.Needs, nil)
			w.Names = append(w.Names, fmt.Sprintf("short%02d", i))
		}
	}
	if chainFirst {
		addChain()
		addShort()
	} else {
		addShort()
		addChain()
	}
	w.Jobs = len(w.Sleep)
	return w
}

// LowerBound is the shortest makespan any scheduler could reach on the
// long-pole workload with the given workers: the longer of the critical
// path and the total work spread evenly.
func (w *Workload) LowerBound(workers int) float64 {
	finish := make([]float64, w.Jobs)
	var crit, total float64
	for i := range w.Jobs {
		start := 0.0
		for _, d := range w.Needs[i] {
			start = max(start, finish[d])
		}
		finish[i] = start + w.Sleep[i]
		crit = max(crit, finish[i])
		total += w.Sleep[i]
	}
	return max(crit, total/float64(workers))
}

func (w *Workload) name() {
	w.Names = make([]string, w.Jobs)
	for i := range w.Names {
		w.Names[i] = fmt.Sprintf("j%04d", i)
	}
}

// Sinks are the jobs no other job needs; building them builds everything.
func (w *Workload) Sinks() []int {
	needed := make([]bool, w.Jobs)
	for _, ns := range w.Needs {
		for _, d := range ns {
			needed[d] = true
		}
	}
	var out []int
	for i, n := range needed {
		if !n {
			out = append(out, i)
		}
	}
	return out
}

// Dir is job i's package directory, relative to the project root.
func (w *Workload) Dir(i int) string { return "pkgs/" + w.Names[i] }

// Output is job i's output file, relative to the project root.
func (w *Workload) Output(i int) string { return w.Dir(i) + "/out/result.txt" }

// EditFile is the input the one-file-edit scenario changes: a source file of
// the last job, which nothing needs, so exactly one job must re-run.
func (w *Workload) EditFile() string { return w.Dir(w.Jobs-1) + "/src/f00.txt" }

// Command is job i's shell command, run in its package directory. Every
// tool runs this same command, so every tool's outputs must be identical.
func (w *Workload) Command(i int) string {
	sleep := ""
	if w.Sleep != nil {
		sleep = fmt.Sprintf("sleep %g && ", w.Sleep[i])
	}
	return "mkdir -p out && " + sleep + "cat " + strings.Join(w.catArgs(i), " ") + " | cksum > out/result.txt"
}

// catArgs are the files job i reads, in order, relative to its package.
func (w *Workload) catArgs(i int) []string {
	args := []string{"src/*.txt"}
	for _, d := range w.Needs[i] {
		args = append(args, "../"+w.Names[d]+"/out/result.txt")
	}
	return args
}

// WriteSources writes every job's source files under root.
func (w *Workload) WriteSources(root string) error {
	for i := range w.Jobs {
		src := filepath.Join(root, w.Dir(i), "src")
		if err := os.MkdirAll(src, 0o755); err != nil {
			return err
		}
		for f := range w.Files {
			var b strings.Builder
			for line := range 8 {
				fmt.Fprintf(&b, "job %s file %02d line %d: the quick brown fox jumps over the lazy dog\n", w.Names[i], f, line)
			}
			name := filepath.Join(src, fmt.Sprintf("f%02d.txt", f))
			if err := os.WriteFile(name, []byte(b.String()), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}
