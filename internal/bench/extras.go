package bench

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/engine"
)

// Hog keeps every core busy beside a loaded run: n processes of
// `while :; do :; done`, each in its own process group. Stop kills them.
type Hog struct{ procs []*exec.Cmd }

// StartHog starts n busy loops.
func StartHog(n int) (*Hog, error) {
	h := &Hog{}
	for range n {
		cmd := exec.Command("sh", "-c", "while :; do :; done")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			h.Stop()
			return nil, err
		}
		h.procs = append(h.procs, cmd)
	}
	return h, nil
}

// Stop kills the loops and waits for them.
func (h *Hog) Stop() {
	for _, p := range h.procs {
		syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
		p.Wait()
	}
	h.procs = nil
}

// Start is sparkwing's start-up against a Go program that imports only
// the standard library and prints a line: medians over the same reps,
// alternated.
type Start struct {
	Hello, Sparkwing    float64 // seconds, median wall time of one start
	HelloInit, SwInit   float64 // milliseconds, median sum of GODEBUG=inittrace=1
	BinaryMiB, HelloMiB float64
	// Linking is "static", or "dynamic" for a sparkwing binary linked
	// against libc (built with cgo), whose loading and relocation cost
	// about 0.7 ms per start here; "" in results from before it was kept.
	Linking string `json:",omitempty"`
}

// binary names the binary for the report: "a static binary ", say.
func (s *Start) binary() string {
	switch s.Linking {
	case "static":
		return "a static binary "
	case "dynamic":
		return "a dynamically linked (cgo) binary "
	}
	return "binary "
}

// Ratio is sparkwing's start over the stdlib program's.
func (s *Start) Ratio() float64 { return s.Sparkwing / s.Hello }

const helloSource = `package main

import (
	"fmt"
	"os"
)

func main() { fmt.Fprintln(os.Stdout, "hello 1.0") }
`

// MeasureStart times `sparkwing --version` against the stdlib program,
// built in work.
func MeasureStart(sparkwing, work string, reps int) (*Start, error) {
	dir := filepath.Join(work, "hello")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := write(dir, "main.go", helloSource); err != nil {
		return nil, err
	}
	if err := write(dir, "go.mod", "module hello\n\ngo 1.26\n"); err != nil {
		return nil, err
	}
	hello := filepath.Join(dir, "hello")
	build := exec.Command("go", "build", "-o", hello, ".")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the stdlib program: %v\n%s", err, out)
	}
	progs := [][]string{{hello}, {sparkwing, "--version"}}
	times := make([][]float64, 2)
	inits := make([][]float64, 2)
	for i := range reps {
		for k, args := range progs {
			t0 := time.Now()
			if err := exec.Command(args[0], args[1:]...).Run(); err != nil {
				return nil, fmt.Errorf("%s: %w", strings.Join(args, " "), err)
			}
			times[k] = append(times[k], time.Since(t0).Seconds())
			if i%10 == 0 {
				ms, err := initTime(args)
				if err != nil {
					return nil, err
				}
				inits[k] = append(inits[k], ms)
			}
		}
	}
	s := &Start{Hello: medianOf(times[0]), Sparkwing: medianOf(times[1]),
		HelloInit: medianOf(inits[0]), SwInit: medianOf(inits[1])}
	for _, f := range []struct {
		path string
		to   *float64
	}{{hello, &s.HelloMiB}, {sparkwing, &s.BinaryMiB}} {
		st, err := os.Stat(f.path)
		if err != nil {
			return nil, err
		}
		*f.to = float64(st.Size()) / (1 << 20)
	}
	var err error
	s.Linking, err = linking(sparkwing)
	return s, err
}

// linking says whether an ELF program asks for a dynamic loader.
func linking(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "dynamic", nil
		}
	}
	return "static", nil
}

// initTime is the sum of a start's package initialisation, from
// GODEBUG=inittrace=1, in milliseconds.
func initTime(args []string) (float64, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return 0, err
	}
	total := 0.0
	for _, line := range strings.Split(stderr.String(), "\n") {
		f := strings.Fields(line) // init PKG @T ms, C ms clock, ...
		if len(f) >= 5 && f[0] == "init" {
			ms, err := strconv.ParseFloat(f[4], 64)
			if err == nil {
				total += ms
			}
		}
	}
	return total, nil
}

// measureMemory runs sparkwing's no-op three more times on e, measuring
// its own peak memory (RunMeasured), then three times more with its
// last-run record removed first, and returns the medians.
func measureMemory(e *Entry, workload string) (*Memory, error) {
	args := e.Tool.Build(e.P)
	record := engine.LastRunPath(e.P.Dir, "build")
	median := func(full bool) (float64, error) {
		var mibs []float64
		for range 3 {
			if full {
				if err := os.Remove(record); err != nil {
					return 0, fmt.Errorf("%s: the no-op wrote no last-run record: %w", workload, err)
				}
			}
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Dir, cmd.Env = e.P.Dir, e.Env()
			kib, err := RunMeasured(cmd)
			if err != nil {
				return 0, fmt.Errorf("%s no-op for its memory: %w", workload, err)
			}
			mibs = append(mibs, float64(kib)/1024)
		}
		return medianOf(mibs), nil
	}
	m := &Memory{Workload: workload}
	var err error
	if m.MiB, err = median(false); err == nil {
		m.FullMiB, err = median(true)
	}
	return m, err
}
