package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/bench"
	"github.com/sparkwing-dev/sparkwing/internal/cache"
	"github.com/sparkwing-dev/sparkwing/internal/fileset"
)

// crashProject's job writes files whose content depends on $SEED, so each
// seed is a different key and the right result for any entry is known.
const crashProject = `pipelines:
  - name: p
    jobs:
      gen:
        env: [SEED]
        inputs: [in.txt]
        outputs: ["out/**"]
        run: |
          mkdir -p out
          for i in $(seq 1 12); do yes "$SEED-$i" | head -c 300000 > out/f$i; done
          echo "generated $SEED"
`

func expectedFile(seed string, i int) []byte {
	line := fmt.Sprintf("%s-%d\n", seed, i)
	return bytes.Repeat([]byte(line), 300000/len(line)+1)[:300000]
}

func buildSparkwing(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sparkwing")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/sparkwing").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func newCrashProject(t *testing.T) string { return projectWith(t, crashProject) }

// projectWith makes a project with the given project file and an input,
// in.txt.
func projectWith(t *testing.T, yaml string) string {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, ".sparkwing"), 0o755)
	os.WriteFile(filepath.Join(dir, ".sparkwing", "sparkwing.yaml"), []byte(yaml), 0o644)
	os.WriteFile(filepath.Join(dir, "in.txt"), []byte("input\n"), 0o644)
	return dir
}

func sparkwingCmd(bin, dir, cacheDir, seed string) *exec.Cmd {
	cmd := exec.Command(bin, "-C", dir, "run", "p", "--output", "plain")
	cmd.Env = append(os.Environ(), "SPARKWING_CACHE_DIR="+cacheDir, "SEED="+seed)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// TestKillWhileStoringNeverServesAWrongResult kills sparkwing (SIGKILL)
// at random moments while it runs and stores entries, then checks every
// entry left in the store: it restores exactly the right files, or it is
// reported corrupt or incomplete. Never a wrong result.
func TestKillWhileStoringNeverServesAWrongResult(t *testing.T) {
	if testing.Short() {
		t.Skip("kills real processes")
	}
	bin := buildSparkwing(t)
	cacheDir := t.TempDir()
	var full time.Duration // the slowest of three complete runs, each storing
	for i := 0; i < 3; i++ {
		start := time.Now()
		if out, err := sparkwingCmd(bin, newCrashProject(t), cacheDir, fmt.Sprint("warmup", i)).CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		full = max(full, time.Since(start))
	}
	const kills = 60
	r := rand.New(rand.NewPCG(1, 2))
	seeds := map[string]string{} // sha256 of the seed (as in the manifest) → seed
	for n := 0; n < kills; n++ {
		seed := fmt.Sprintf("s%d", n)
		sum := sha256.Sum256([]byte(seed))
		seeds[hex.EncodeToString(sum[:])] = seed
		// A killed sparkwing orphans its job (in its own process group), which
		// may go on writing: each attempt gets its own project directory.
		cmd := sparkwingCmd(bin, newCrashProject(t), cacheDir, seed)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Most kills land while the job's outputs are being stored.
		time.Sleep(time.Duration((0.3 + r.Float64()) * float64(full)))
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}
	store, err := cache.OpenStore(filepath.Join(cacheDir, "store-v1"))
	if err != nil {
		t.Fatal(err)
	}
	entries, _, _ := store.Entries()
	var good, refused int
	for _, info := range entries {
		key, _ := cache.ParseKey(info.Key)
		e, err := store.Get(key)
		if err != nil {
			refused++
			continue
		}
		seed := seedOf(t, e.Manifest, seeds)
		if seed == "warmup" {
			continue
		}
		root := t.TempDir()
		if !restoreInto(t, store, root, e, "out/**") {
			refused++
			continue
		}
		for i := 1; i <= 12; i++ {
			got, err := os.ReadFile(filepath.Join(root, "out", fmt.Sprintf("f%d", i)))
			if err != nil || !bytes.Equal(got, expectedFile(seed, i)) {
				t.Fatalf("entry for seed %s restored a wrong out/f%d", seed, i)
			}
		}
		good++
	}
	t.Logf("%d kills, one full run %v: %d entries restored exactly, %d refused", kills, full, good, refused)
	// A later normal run of any seed is right, whether it hits or misses.
	for _, seed := range []string{"s3", "s17", "s39"} {
		dir := newCrashProject(t)
		if out, err := sparkwingCmd(bin, dir, cacheDir, seed).CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		for i := 1; i <= 12; i++ {
			if got, _ := os.ReadFile(filepath.Join(dir, "out", fmt.Sprintf("f%d", i))); !bytes.Equal(got, expectedFile(seed, i)) {
				t.Fatalf("after the kills, a run of seed %s left a wrong out/f%d", seed, i)
			}
		}
	}
}

func seedOf(t *testing.T, manifest string, seeds map[string]string) string {
	for _, line := range strings.Split(manifest, "\n") {
		if strings.HasPrefix(line, `env "SEED" `) {
			if s, ok := seeds[strings.TrimPrefix(line, `env "SEED" `)]; ok {
				return s
			}
			return "warmup"
		}
	}
	t.Fatalf("manifest has no SEED line:\n%s", manifest)
	return ""
}

// TestFourProcessesShareOneStore runs the same pipeline in four copies of
// a project at once, all on one store, twice: the first round stores, the
// second restores, and every copy ends with the right files.
func TestFourProcessesShareOneStore(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real processes")
	}
	bin := buildSparkwing(t)
	cacheDir := t.TempDir()
	var dirs []string
	for i := 0; i < 4; i++ {
		dirs = append(dirs, newCrashProject(t))
	}
	for round := 1; round <= 2; round++ {
		var wg sync.WaitGroup
		outs := make([][]byte, len(dirs))
		errs := make([]error, len(dirs))
		for i, d := range dirs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				outs[i], errs[i] = sparkwingCmd(bin, d, cacheDir, "shared").CombinedOutput()
			}()
		}
		wg.Wait()
		for i, d := range dirs {
			if errs[i] != nil {
				t.Fatalf("round %d, process %d: %v\n%s", round, i, errs[i], outs[i])
			}
			for k := 1; k <= 12; k++ {
				if got, _ := os.ReadFile(filepath.Join(d, "out", fmt.Sprintf("f%d", k))); !bytes.Equal(got, expectedFile("shared", k)) {
					t.Fatalf("round %d, process %d: wrong out/f%d", round, i, k)
				}
			}
			if round == 2 && !strings.Contains(string(outs[i]), "1 cached") {
				t.Fatalf("round 2, process %d did not restore:\n%s", i, outs[i])
			}
		}
	}
}

// restoreInto restores e into a fresh project at root and says whether it
// could.
func restoreInto(t *testing.T, store *cache.Store, root string, e *cache.Entry, globs ...string) bool {
	ws, err := cache.OpenWorkspace(root)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	lock, err := ws.LockJob(context.Background(), "p", "gen", func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	_, err = ws.Restore(store, e, globs, fileset.NewHasher(root, ""), lock)
	return err == nil
}

// slowProject's job starts a helper in the background, then writes its
// outputs one file at a time; every process it starts records its pid.
const slowProject = `pipelines:
  - name: p
    jobs:
      slow:
        inputs: [in.txt]
        outputs: ["out/**"]
        run: |
          mkdir -p out pids
          echo $$ > pids/leader
          sleep 300 & echo $! > pids/helper
          for i in $(seq 1 40); do echo "part $i" > out/f$i; sleep 0.05; done
          touch out/done
`

// alive lists the recorded pids that still run.
func alive(t *testing.T, dir string) []string {
	entries, _ := os.ReadDir(filepath.Join(dir, "pids"))
	var out []string
	for _, e := range entries {
		data, _ := os.ReadFile(filepath.Join(dir, "pids", e.Name()))
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err == nil && syscall.Kill(pid, 0) == nil && !zombie(pid) {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestKillNineLeavesNoJobRunning kills sparkwing, only sparkwing, with
// SIGKILL while its job runs. The job's processes must die with it (the
// watchdog), and the next run's outputs must equal a clean run's (issue
// 11, item 6).
func TestKillNineLeavesNoJobRunning(t *testing.T) {
	if testing.Short() {
		t.Skip("kills real processes")
	}
	bin := buildSparkwing(t)
	cacheDir := t.TempDir()
	dir := projectWith(t, slowProject)
	cmd := sparkwingCmd(bin, dir, cacheDir, "x")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1500; i++ {
		if _, err := os.Stat(filepath.Join(dir, "out", "f3")); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(alive(t, dir)) != 2 {
		t.Fatalf("the job did not start: %v", alive(t, dir))
	}
	cmd.Process.Kill() // sparkwing alone, as `kill -9 PID` does
	cmd.Wait()
	for i := 0; i < 500 && len(alive(t, dir)) > 0; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if left := alive(t, dir); len(left) > 0 {
		t.Fatalf("the job's processes outlived sparkwing: %v", left)
	}
	parts, _ := os.ReadDir(filepath.Join(dir, "out"))
	if _, err := os.Stat(filepath.Join(dir, "out", "done")); err == nil || len(parts) >= 40 {
		t.Fatalf("the job went on writing after sparkwing died (%d files)", len(parts))
	}
	os.RemoveAll(filepath.Join(dir, "pids"))
	if out, err := sparkwingCmd(bin, dir, cacheDir, "x").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for i := 1; i <= 40; i++ {
		if got, _ := os.ReadFile(filepath.Join(dir, "out", fmt.Sprintf("f%d", i))); string(got) != fmt.Sprintf("part %d\n", i) {
			t.Fatalf("after the kill, out/f%d = %q", i, got)
		}
	}
}

// bigProject's job writes 80 MB of random bytes: restoring it takes long
// enough for kills to land in the middle of writing files.
const bigProject = `pipelines:
  - name: p
    jobs:
      gen:
        inputs: [in.txt]
        outputs: ["out/**"]
        run: |
          mkdir -p out
          for i in $(seq 1 20); do head -c 4000000 /dev/urandom > out/f$i; done
`

// TestKillNineWhileRestoringLeavesNothingBehind kills sparkwing at random
// instants while it restores a large output tree, then checks that no
// temporary file is left in the project once the next run has run, and
// that the next run's outputs equal the stored ones (issue 11, items 6, 7).
func TestKillNineWhileRestoringLeavesNothingBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("kills real processes")
	}
	bin := buildSparkwing(t)
	cacheDir := t.TempDir()
	dir := projectWith(t, bigProject)
	if out, err := sparkwingCmd(bin, dir, cacheDir, "x").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := map[string][]byte{}
	for i := 1; i <= 20; i++ {
		want[fmt.Sprintf("f%d", i)], _ = os.ReadFile(filepath.Join(dir, "out", fmt.Sprintf("f%d", i)))
	}
	os.RemoveAll(filepath.Join(dir, "out"))
	start := time.Now()
	if out, err := sparkwingCmd(bin, dir, cacheDir, "x").CombinedOutput(); err != nil || !strings.Contains(string(out), "1 cached") {
		t.Fatalf("%v\n%s", err, out)
	}
	full := time.Since(start)
	r := rand.New(rand.NewPCG(3, 4))
	killRestores := func() {
		for n := 0; n < 10; n++ {
			os.RemoveAll(filepath.Join(dir, "out"))
			cmd := sparkwingCmd(bin, dir, cacheDir, "x")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Duration((0.2 + 0.8*r.Float64()) * float64(full)))
			cmd.Process.Kill()
			cmd.Wait()
		}
	}
	// Killed restores, then one that completes: exactly what was stored.
	killRestores()
	if out, err := sparkwingCmd(bin, dir, cacheDir, "x").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for name, data := range want {
		if got, _ := os.ReadFile(filepath.Join(dir, "out", name)); !bytes.Equal(got, data) {
			t.Fatalf("after the kills, out/%s is not what was stored", name)
		}
	}
	// Killed restores, then a miss: the job's outputs are its own files
	// only, nothing a killed restore left.
	killRestores()
	os.WriteFile(filepath.Join(dir, "in.txt"), []byte("changed\n"), 0o644)
	if out, err := sparkwingCmd(bin, dir, cacheDir, "x").CombinedOutput(); err != nil || !strings.Contains(string(out), "1 ran") {
		t.Fatalf("%v\n%s", err, out)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "out")); len(entries) != 20 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("the outputs after a miss hold more than the job's 20 files: %v", names)
	}
	var left []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		rel, _ := filepath.Rel(dir, p)
		if err == nil && !info.IsDir() && (strings.HasPrefix(rel, filepath.Join(".sparkwing", "state", "tmp")+"/") ||
			strings.Contains(filepath.Base(p), "sparkwing-restore")) {
			left = append(left, rel)
		}
		return nil
	})
	if len(left) > 0 {
		t.Fatalf("temporary files left in the project: %v", left)
	}
}

// TestLargeOutputsUseLittleMemory stores and restores a 512 MiB output
// that does not compress, and replays a 100 MB log, and requires each run
// to stay under 100 MB of peak memory: every store, restore and replay
// streams (issue 11, item 17; throughput is in bench/STORAGE.md).
func TestLargeOutputsUseLittleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 600 MB")
	}
	bin := buildSparkwing(t)
	cacheDir := t.TempDir()
	dir := projectWith(t, `pipelines:
  - name: p
    jobs:
      big:
        inputs: [in.txt]
        outputs: [big.bin]
        run: head -c 536870912 /dev/urandom > big.bin
      talk:
        inputs: [in.txt]
        run: yes 'a line of a long log' | head -c 100000000
`)
	peak := func(step string) {
		t.Helper()
		cmd := sparkwingCmd(bin, dir, cacheDir, "")
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		peak, err := bench.RunMeasured(cmd)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		mb := peak / 1024
		t.Logf("%s: peak RSS %d MB", step, mb)
		if mb >= 100 {
			t.Errorf("%s took %d MB of memory, over 100 MB", step, mb)
		}
	}
	peak("store")
	want, _ := fileset.HashFile(filepath.Join(dir, "big.bin"))
	os.Remove(filepath.Join(dir, "big.bin"))
	peak("restore and replay")
	if got, _ := fileset.HashFile(filepath.Join(dir, "big.bin")); got != want {
		t.Fatal("the restored output differs from the stored one")
	}
}
