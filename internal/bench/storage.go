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
)

// The storage benchmark measures what the cache costs on large outputs:
// storing a big output after a job made it, restoring it after it was
// deleted, and replaying a long log, each against `cp` of the same bytes
// on the same file system, with sparkwing's peak memory. The job makes its
// output with a hard link to a prepared file, so the run's time is
// sparkwing's own (hashing, compressing and copying into the store).

// StorageOptions configure the storage benchmark.
type StorageOptions struct {
	Sparkwing string // the binary
	Reps      int
	SizeMB    int    // size of the big output
	Work      string // scratch directory
	Out       string // where STORAGE.md and storage.json go
	Log       io.Writer
}

// StorageCase is one measured operation.
type StorageCase struct {
	Name    string    `json:"name"`
	Seconds []float64 `json:"seconds"`
	CpSecs  []float64 `json:"cp_seconds"`  // cp of the same bytes, measured in the same rounds
	PeakMB  float64   `json:"peak_rss_mb"` // the largest of the runs
	MB      float64   `json:"mb"`
}

// StorageResult is one run of the storage benchmark.
type StorageResult struct {
	Date    string        `json:"date"`
	Machine string        `json:"machine"`
	Reps    int           `json:"reps"`
	Cases   []StorageCase `json:"cases"`
}

const storageProject = `pipelines:
  - name: store
    jobs:
      big:
        inputs: [in.txt]
        outputs: [big.bin]
        run: ln -f ../source.bin big.bin
  - name: log
    jobs:
      talk:
        inputs: [in.txt]
        run: cat ../source.bin
`

// RunStorage measures store, restore and log replay for incompressible and
// compressible data, Reps rounds each, and writes the report.
func RunStorage(ctx context.Context, o StorageOptions) (*StorageResult, error) {
	r := &StorageResult{Date: time.Now().UTC().Format("2006-01-02"), Machine: machine(), Reps: o.Reps}
	os.RemoveAll(o.Work)
	for _, kind := range []string{"random", "text"} {
		dir := filepath.Join(o.Work, kind)
		if err := prepareStorage(dir, kind, o.SizeMB); err != nil {
			return nil, err
		}
		store := StorageCase{Name: "store " + kind, MB: float64(o.SizeMB)}
		restore := StorageCase{Name: "restore " + kind, MB: float64(o.SizeMB)}
		for i := 0; i < o.Reps; i++ {
			cache := filepath.Join(dir, fmt.Sprintf("cache-%d", i)) // empty: the run stores
			os.Remove(filepath.Join(dir, "proj", "big.bin"))
			if err := timedRun(ctx, o, &store, dir, cache, "store"); err != nil {
				return nil, err
			}
			os.Remove(filepath.Join(dir, "proj", "big.bin")) // the next run restores it
			if err := timedRun(ctx, o, &restore, dir, cache, "store"); err != nil {
				return nil, err
			}
			os.RemoveAll(cache)
			fmt.Fprintf(o.Log, "storage %s round %d: store %.2fs, restore %.2fs, cp %.2fs\n", kind, i+1,
				store.Seconds[i], restore.Seconds[i], store.CpSecs[i])
		}
		r.Cases = append(r.Cases, store, restore)
	}
	replay, err := logReplay(ctx, o)
	if err != nil {
		return nil, err
	}
	r.Cases = append(r.Cases, replay)
	return r, writeStorage(o.Out, r)
}

// prepareStorage writes the project, the big source file and a long log.
func prepareStorage(dir, kind string, sizeMB int) error {
	if err := os.MkdirAll(filepath.Join(dir, "proj", ".sparkwing"), 0o755); err != nil {
		return err
	}
	os.WriteFile(filepath.Join(dir, "proj", ".sparkwing", "sparkwing.yaml"), []byte(storageProject), 0o644)
	os.WriteFile(filepath.Join(dir, "proj", "in.txt"), []byte("in\n"), 0o644)
	src := "head -c " + fmt.Sprint(sizeMB<<20) + " /dev/urandom"
	if kind == "text" {
		src = "yes 'a compressible line of build output, much like a log or a text file' | head -c " + fmt.Sprint(sizeMB<<20)
	}
	return exec.Command("sh", "-c", src+" > "+filepath.Join(dir, "source.bin")).Run()
}

// timedRun runs the pipeline once and records its time, its peak memory,
// and the time of cp of the same bytes.
func timedRun(ctx context.Context, o StorageOptions, c *StorageCase, dir, cache, pipeline string) error {
	cmd := exec.CommandContext(ctx, o.Sparkwing, "-C", filepath.Join(dir, "proj"), "run", pipeline, "--output", "plain")
	cmd.Env = append(os.Environ(), "SPARKWING_CACHE_DIR="+cache)
	var out lastBytes
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	peak, err := RunMeasured(cmd)
	took := time.Since(start).Seconds()
	if err != nil {
		return fmt.Errorf("%s: %v\n%s", c.Name, err, out.b)
	}
	c.PeakMB = max(c.PeakMB, float64(peak)/1024)
	c.Seconds = append(c.Seconds, took)
	dst := filepath.Join(dir, "cp-copy")
	start = time.Now()
	if err := exec.Command("cp", filepath.Join(dir, "source.bin"), dst).Run(); err != nil {
		return err
	}
	c.CpSecs = append(c.CpSecs, time.Since(start).Seconds())
	return os.Remove(dst)
}

// logReplay measures a cached job replaying a 200 MB log, against cp of
// the log.
func logReplay(ctx context.Context, o StorageOptions) (StorageCase, error) {
	dir := filepath.Join(o.Work, "log")
	c := StorageCase{Name: "replay a 200 MB log", MB: 200}
	if err := prepareStorage(dir, "text", 200); err != nil { // the job prints source.bin
		return c, err
	}
	cache := filepath.Join(dir, "cache")
	var first StorageCase // the run that stores the log is not measured
	if err := timedRun(ctx, o, &first, dir, cache, "log"); err != nil {
		return c, err
	}
	for i := 0; i < o.Reps; i++ {
		if err := timedRun(ctx, o, &c, dir, cache, "log"); err != nil {
			return c, err
		}
	}
	return c, nil
}

// lastBytes keeps the last 4 KiB written to it.
type lastBytes struct{ b []byte }

func (t *lastBytes) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func writeStorage(dir string, r *StorageResult) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "storage.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Storing and restoring large outputs\n\n")
	fmt.Fprintf(&b, "Generated by `bench/run --storage` on %s (%s), %d rounds each; cp copies the same bytes on the\n"+
		"same file system in the same round. Times are medians of whole sparkwing runs (process start included);\n"+
		"throughput is size ÷ median time. The page cache is warm for both.\n\n", r.Date, r.Machine, r.Reps)
	fmt.Fprintf(&b, "| operation | size (MB) | sparkwing (MB/s) | cp (MB/s) | sparkwing ÷ cp time | peak RSS (MB) |\n|---|---:|---:|---:|---:|---:|\n")
	for _, c := range r.Cases {
		s, cp := medianOf(c.Seconds), medianOf(c.CpSecs)
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.0f | %.2f× | %.0f |\n", c.Name, c.MB, c.MB/s, c.MB/cp, s/cp, c.PeakMB)
	}
	fmt.Fprintf(&b, "\nStore hashes the file (SHA-256), decides from its first 128 KiB whether to compress it (zstd, fastest),\n"+
		"and streams it to a temporary file that is renamed into place (not synced: every read verifies the digest); restore streams it back, verifying the\n"+
		"digest, into a temporary file that is renamed into place. Neither holds a file in memory.\n")
	return os.WriteFile(filepath.Join(dir, "STORAGE.md"), []byte(b.String()), 0o644)
}
