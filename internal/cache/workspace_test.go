package cache

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
)

func workspace(t *testing.T, root string) *Workspace {
	t.Helper()
	w, err := OpenWorkspace(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func jobLock(t *testing.T, root string) *JobLock {
	t.Helper()
	l, err := workspace(t, root).LockJob(context.Background(), "p", "j", func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Unlock)
	return l
}

// project is a test project with a store: write files, store the outputs
// matching globs, restore entries.
type project struct {
	t     *testing.T
	root  string
	store *Store
	ws    *Workspace
	h     *fileset.Hasher
	lock  *JobLock
	key   byte
}

func newProject(t *testing.T) *project {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	ws := workspace(t, root)
	lock, err := ws.LockJob(context.Background(), "p", "j", func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lock.Unlock)
	return &project{t: t, root: root, store: s, ws: ws, h: fileset.NewHasher(root, ""), lock: lock}
}

func (p *project) abs(rel string) string { return filepath.Join(p.root, filepath.FromSlash(rel)) }

func (p *project) write(rel, content string, mode fs.FileMode) {
	p.t.Helper()
	os.MkdirAll(filepath.Dir(p.abs(rel)), 0o755)
	if err := os.WriteFile(p.abs(rel), []byte(content), mode); err != nil {
		p.t.Fatal(err)
	}
	os.Chmod(p.abs(rel), mode)
}

// save collects globs as a job that just ran would, stores them and
// records them in the job's ledger.
func (p *project) save(globs ...string) *Entry {
	p.t.Helper()
	outs, err := p.ws.Collect(p.h, globs)
	if err != nil {
		p.t.Fatal(err)
	}
	p.key++
	log := filepath.Join(p.t.TempDir(), "log")
	os.WriteFile(log, []byte("log\n"), 0o644)
	c := &Cache{Store: p.store, Root: p.root}
	e, err := c.Save(&Computed{Key: Key{p.key}, Manifest: "m\n"}, outs, log, Entry{})
	if err != nil {
		p.t.Fatal(err)
	}
	p.lock.SetLedger(e, e.Outputs, nil)
	return e
}

func (p *project) restore(e *Entry, globs ...string) error {
	p.t.Helper()
	_, err := p.ws.Restore(p.store, e, globs, p.h, p.lock)
	if err == nil {
		p.lock.SetLedger(e, e.Outputs, nil)
	}
	return err
}

// tree lists every path under dir with its type, mode and content, for
// comparing trees.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.HasPrefix(rel, ".sparkwing") {
			return filepath.SkipDir
		}
		line := rel + " " + info.Mode().String()
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			line += " -> " + l
		case info.Mode().IsRegular():
			data, _ := os.ReadFile(p)
			line += " " + string(data)
			if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
				line += fmt.Sprintf(" (links %d)", st.Nlink)
			}
		}
		lines = append(lines, line)
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestRestoreFidelity: what is stored comes back as it was: modes with
// setuid, setgid and sticky bits, a 0700 directory, an empty directory,
// hard links within the outputs, symlinks to other outputs (issue 11,
// item 16).
func TestRestoreFidelity(t *testing.T) {
	p := newProject(t)
	p.write("out/tool", "#!/bin/sh\n", 0o755|fs.ModeSetuid)
	p.write("out/shared/data", "data", 0o640|fs.ModeSetgid)
	os.Chmod(p.abs("out/shared"), 0o2775)
	p.write("out/private/key", "secret", 0o600)
	os.Chmod(p.abs("out/private"), 0o700)
	os.MkdirAll(p.abs("out/empty"), 0o755)
	os.MkdirAll(p.abs("out/sticky"), 0o755)
	os.Chmod(p.abs("out/sticky"), 0o1777)
	if err := os.Link(p.abs("out/tool"), p.abs("out/tool-again")); err != nil {
		t.Fatal(err)
	}
	os.Symlink("tool", p.abs("out/latest"))
	os.Symlink("shared", p.abs("out/current"))
	want := tree(t, p.abs("out"))
	e := p.save("out/**")
	os.RemoveAll(p.abs("out"))
	if err := p.restore(e, "out/**"); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, p.abs("out")); got != want {
		t.Fatalf("restored:\n%s\nstored:\n%s", got, want)
	}
}

// TestSweepRemovesOnlyWhatTheJobProduced: after a restore, a file the
// job produced before and the entry lacks is removed; a file someone made
// or edited under the same glob is not (issue 11, item 2).
func TestSweepRemovesOnlyWhatTheJobProduced(t *testing.T) {
	p := newProject(t)
	p.write("gen/a.txt", "a", 0o644)
	p.write("gen/b.txt", "b", 0o644)
	p.write("gen/edited.txt", "made by the job", 0o644)
	first := p.save("gen/**")
	os.Remove(p.abs("gen/b.txt"))
	os.Remove(p.abs("gen/edited.txt"))
	second := p.save("gen/**") // the job now makes a.txt only
	if err := p.restore(first, "gen/**"); err != nil {
		t.Fatal(err)
	}
	p.write("gen/edited.txt", "edited by a user", 0o644)
	p.write("gen/mine.txt", "a user's own file", 0o644)
	if err := p.restore(second, "gen/**"); err != nil {
		t.Fatal(err)
	}
	for rel, want := range map[string]string{"gen/a.txt": "a", "gen/edited.txt": "edited by a user", "gen/mine.txt": "a user's own file"} {
		if data, err := os.ReadFile(p.abs(rel)); err != nil || string(data) != want {
			t.Errorf("%s = %q, %v; want %q", rel, data, err, want)
		}
	}
	if _, err := os.Lstat(p.abs("gen/b.txt")); err == nil {
		t.Error("gen/b.txt, produced by the job and unchanged, was not swept")
	}
}

// outsideTree is a directory next to the project whose content must never
// change; it returns its path and a check.
func outsideTree(t *testing.T) (string, func()) {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "deeper/d"), 0o755)
	os.WriteFile(filepath.Join(dir, "deeper/d/unrelated.o"), []byte("not yours"), 0o644)
	os.WriteFile(filepath.Join(dir, "x.o"), []byte("not yours either"), 0o644)
	before := tree(t, dir)
	return dir, func() {
		t.Helper()
		if after := tree(t, dir); after != before {
			t.Fatalf("the directory outside the project changed:\n%s\nwas:\n%s", after, before)
		}
	}
}

// TestRestoreNeverLeavesTheProject swaps in symlinks of many shapes
// between a store and a restore; whatever the shape, nothing outside the
// project is written, created or deleted (issue 11, item 1).
func TestRestoreNeverLeavesTheProject(t *testing.T) {
	type shape struct {
		name    string
		globs   []string
		make    func(p *project) // the outputs, as the job made them
		swap    func(p *project, outside string)
		inside  bool   // the restore may succeed, writing inside the project
		landsAt string // where a successful restore puts out.o, relative to the root
	}
	mkfile := func(rel string) func(*project) {
		return func(p *project) { p.write(rel, "output", 0o644) }
	}
	shapes := []shape{
		{name: "absolute link to outside", globs: []string{"out/**"}, make: mkfile("out/x.o"),
			swap: func(p *project, o string) { os.RemoveAll(p.abs("out")); os.Symlink(o, p.abs("out")) }},
		{name: "relative link climbing out", globs: []string{"out/**"}, make: mkfile("out/x.o"),
			swap: func(p *project, o string) {
				os.RemoveAll(p.abs("out"))
				rel, _ := filepath.Rel(p.root, o)
				os.Symlink(rel, p.abs("out"))
			}},
		{name: "chain of two links, the second leaving", globs: []string{"sub/link/deeper/d/*.o"},
			make: func(p *project) {
				p.write("sub/link/deeper/d/x.o", "output", 0o644)
				p.write("sub/link/deeper/d/old.o", "old", 0o644)
			},
			swap: func(p *project, o string) {
				os.RemoveAll(p.abs("sub/link"))
				os.MkdirAll(p.abs("other"), 0o755)
				os.Symlink("../other", p.abs("sub/link"))
				os.Symlink(filepath.Join(o, "deeper"), p.abs("other/deeper"))
			}},
		{name: "dotdot inside link text", globs: []string{"out/**"}, make: mkfile("out/x.o"),
			swap: func(p *project, o string) {
				os.RemoveAll(p.abs("out"))
				os.MkdirAll(p.abs("a"), 0o755)
				rel, _ := filepath.Rel(filepath.Join(p.root, "a"), o)
				os.Symlink("../a/"+rel, p.abs("out"))
			}},
		{name: "output file replaced by a link to an outside file", globs: []string{"out/**"}, make: mkfile("out/x.o"),
			swap: func(p *project, o string) {
				os.Remove(p.abs("out/x.o"))
				os.Symlink(filepath.Join(o, "x.o"), p.abs("out/x.o"))
			}, inside: true, landsAt: "out/x.o"},
		{name: "link to a directory inside", globs: []string{"out/**"}, make: mkfile("out/x.o"),
			swap: func(p *project, o string) {
				os.RemoveAll(p.abs("out"))
				os.MkdirAll(p.abs("build"), 0o755)
				os.Symlink("build", p.abs("out"))
			}, inside: true, landsAt: "build/x.o"},
		{name: "loop", globs: []string{"out/**"}, make: mkfile("out/x.o"),
			swap: func(p *project, o string) {
				os.RemoveAll(p.abs("out"))
				os.Symlink("loop", p.abs("out"))
				os.Symlink("out", p.abs("loop"))
			}},
	}
	for _, sh := range shapes {
		t.Run(sh.name, func(t *testing.T) {
			p := newProject(t)
			outside, unchanged := outsideTree(t)
			sh.make(p)
			e := p.save(sh.globs...)
			sh.swap(p, outside)
			err := p.restore(e, sh.globs...)
			unchanged()
			switch {
			case !sh.inside && err == nil:
				t.Fatal("the restore succeeded through a path that leaves the project")
			case sh.inside && err != nil:
				t.Fatalf("a restore inside the project failed: %v", err)
			case sh.inside:
				if data, err := os.ReadFile(p.abs(sh.landsAt)); err != nil || string(data) != "output" {
					t.Fatalf("%s = %q, %v", sh.landsAt, data, err)
				}
			}
		})
	}
}

// TestCollectSymlinkRules: a symlink among the outputs must lead, inside
// the project, to another output; anything else is an error that says
// what to declare (issue 11, items 1 and 9).
func TestCollectSymlinkRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		make  func(p *project)
		globs []string
		want  string // "" for no error
	}{
		{"link to an output file", func(p *project) { p.write("out/a", "a", 0o644); os.Symlink("a", p.abs("out/b")) }, []string{"out/**"}, ""},
		{"link to an output directory", func(p *project) { p.write("build/app", "a", 0o755); os.Symlink("build", p.abs("dist")) },
			[]string{"build/**", "dist"}, ""},
		{"link to a directory that is not an output", func(p *project) { p.write("build/app", "a", 0o755); os.Symlink("build", p.abs("dist")) },
			[]string{"dist"}, "dist is a symlink to build, which is not an output of this job"},
		{"lexically inside, really the parent", func(p *project) {
			os.MkdirAll(p.abs("out"), 0o755)
			os.Symlink("..", p.abs("out/a"))
			os.Symlink("a/..", p.abs("out/b"))
		}, []string{"out/b"}, "leads outside the project"},
		{"absolute", func(p *project) { os.Symlink("/etc/passwd", p.abs("link")) }, []string{"link"}, "leads outside the project"},
		{"dangling", func(p *project) { os.Symlink("nothing", p.abs("link")) }, []string{"link"}, "does not exist"},
		{"reached through a link leaving the project", func(p *project) { os.Symlink(os.TempDir(), p.abs("out")) },
			[]string{"out/x"}, "reached through a symlink that leaves the project"},
		{"nothing matches", func(p *project) {}, []string{"missing/**"}, `declared output "missing/**" was not produced`},
		{"a named pipe", func(p *project) { os.MkdirAll(p.abs("out"), 0o755); syscall.Mkfifo(p.abs("out/fifo"), 0o644) },
			[]string{"out/**"}, "out/fifo is a named pipe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProject(t)
			tc.make(p)
			_, err := p.ws.Collect(p.h, tc.globs)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// TestAKilledRestoreLeavesNothingInTheOutputs: temporary files are made in
// the workspace's own directory, never next to an output (where a later
// collection would take them for outputs), and a dead process's leftovers
// there are removed (issue 11, item 7).
func TestAKilledRestoreLeavesNothingInTheOutputs(t *testing.T) {
	p := newProject(t)
	p.write("out/big", strings.Repeat("x", 1<<20), 0o644)
	e := p.save("out/**")
	// A leftover of a process that no longer exists, and one of ours.
	cmd := exec.Command("true")
	cmd.Run()
	dead := filepath.Join(p.root, tmpDir, fmt.Sprintf("%d.leftover", cmd.Process.Pid))
	ours := filepath.Join(p.root, tmpDir, fmt.Sprintf("%d.inflight", os.Getpid()))
	os.WriteFile(dead, []byte("partial"), 0o644)
	os.WriteFile(ours, []byte("partial"), 0o644)
	// A blob that fails verification stops the restore midway.
	var blob string
	var biggest int64
	filepath.Walk(filepath.Join(p.store.Dir, "blobs"), func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && info.Size() > biggest {
			blob, biggest = path, info.Size()
		}
		return nil
	})
	data, _ := os.ReadFile(blob)
	data[len(data)-1] ^= 1
	os.WriteFile(blob, data, 0o644)
	os.RemoveAll(p.abs("out"))
	if err := p.restore(e, "out/**"); err == nil {
		t.Fatal("a corrupt blob was restored")
	}
	if entries, _ := os.ReadDir(p.abs("out")); len(entries) != 0 {
		t.Fatalf("the failed restore left %v in the output directory", entries)
	}
	fresh := workspace(t, p.root)
	fresh.prepare()
	if _, err := os.Stat(dead); err == nil {
		t.Error("a dead process's temporary file was not removed")
	}
	if _, err := os.Stat(ours); err != nil {
		t.Error("a live process's temporary file was removed")
	}
}

// startGroup starts a sleeping process in a process group of its own, as
// a job left behind by a killed sparkwing would be.
func startGroup(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// TestJobLockWaitsForOrphans: a job's lock waits for the processes of an
// earlier run of the job (its sparkwing killed before it could end them)
// before anyone runs or restores the job again (issue 11, item 6).
func TestJobLockWaitsForOrphans(t *testing.T) {
	root := t.TempDir()
	ws := workspace(t, root)
	l, err := ws.LockJob(context.Background(), "p", "j", func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	orphan := startGroup(t)
	reaped := make(chan struct{})
	go func() { orphan.Wait(); close(reaped) }()
	l.SetRunning(orphan.Process.Pid)
	l.Unlock() // as a killed sparkwing's lock is released

	var said []string
	go func() {
		time.Sleep(300 * time.Millisecond)
		syscall.Kill(-orphan.Process.Pid, syscall.SIGKILL)
	}()
	l2, err := ws.LockJob(context.Background(), "p", "j", func(msg string) { said = append(said, msg) })
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Unlock()
	// The group is gone once its last process is reaped; reaped closes a
	// moment after that, so the group itself is what is checked.
	if syscall.Kill(-orphan.Process.Pid, 0) == nil {
		t.Fatal("the lock was granted while the earlier run's processes were alive")
	}
	<-reaped
	if len(said) != 1 || !strings.Contains(said[0], "earlier run of job j") {
		t.Fatalf("said %q", said)
	}
	if l2.Orphaned() {
		t.Fatal("Orphaned after the orphans died")
	}
}

// TestJobLockReportsOrphansThatOutliveTheWait: if the earlier run's
// processes are still alive after the wait, the lock says so, even after
// the new run records its own process group.
func TestJobLockReportsOrphansThatOutliveTheWait(t *testing.T) {
	defer func(w time.Duration) { orphanWait = w }(orphanWait)
	orphanWait = 100 * time.Millisecond
	ws := workspace(t, t.TempDir())
	l, err := ws.LockJob(context.Background(), "p", "j", func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	orphan := startGroup(t)
	defer func() { syscall.Kill(-orphan.Process.Pid, syscall.SIGKILL); orphan.Wait() }()
	l.SetRunning(orphan.Process.Pid)
	l.Unlock()
	l2, err := ws.LockJob(context.Background(), "p", "j", func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Unlock()
	l2.SetRunning(os.Getpid()) // the new run's own job
	if !l2.Orphaned() {
		t.Fatal("orphans alive after the wait are not reported")
	}
}

// TestJobLockExcludesOtherHolders: a second holder waits for the first.
func TestJobLockExcludesOtherHolders(t *testing.T) {
	root := t.TempDir()
	ws := workspace(t, root)
	first, err := ws.LockJob(context.Background(), "p", "j", func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		l, err := workspace(t, root).LockJob(context.Background(), "p", "j", func(msg string) { got <- msg })
		if err == nil {
			l.Unlock()
		}
	}()
	msg := <-got
	if !strings.Contains(msg, "another sparkwing process running job j") {
		t.Fatalf("said %q", msg)
	}
	first.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l, err := ws.LockJob(ctx, "p", "j", func(string) {})
	if err != nil {
		t.Fatalf("a free lock with a done context: %v", err)
	}
	l.Unlock()
}

// TestLedgerSurvivesATornWrite: a state file cut short, or with any byte
// changed, reads as empty, which only makes a run do more: no shortcut, no
// sweep (its digests decide what a restore writes).
func TestLedgerSurvivesATornWrite(t *testing.T) {
	p := newProject(t)
	p.write("gen/a", "a", 0o644)
	p.save("gen/**")
	path := filepath.Join(p.root, jobsDir, "p", "j")
	data, _ := os.ReadFile(path)
	if len(p.lock.Ledger()) != 2 { // gen and gen/a
		t.Fatalf("ledger %v", p.lock.Ledger())
	}
	readBack := func(content []byte) *JobLock {
		os.WriteFile(path, content, 0o644)
		f, _ := os.Open(path)
		defer f.Close()
		torn := &JobLock{f: f}
		torn.read()
		return torn
	}
	for i := 0; i < len(data); i++ {
		flipped := append([]byte{}, data...)
		flipped[i] ^= 0x20
		for what, content := range map[string][]byte{"cut": data[:i], "flipped": flipped} {
			if l := readBack(content); len(l.Ledger()) != 0 || l.state.Key != "" {
				t.Fatalf("a state file %s at byte %d of %d still gave a ledger %v", what, i, len(data), l.Ledger())
			}
		}
	}
	if l := readBack(data); len(l.Ledger()) != 2 {
		t.Fatal("the intact file does not read back")
	}
}

// TestRandomSymlinkSwapsNeverEscape stores a random output tree, then
// replaces random directories and files of the project with symlinks of
// random shapes (to outside, climbing out with `..`, chains through other
// links, loops, links inside, dangling ones) and restores. Whatever
// happens, nothing outside the project is created, changed or deleted, and
// a restore that reports success has put every output in place exactly
// (issue 11: a randomized restore-escape test).
func TestRandomSymlinkSwapsNeverEscape(t *testing.T) {
	const rounds = 300
	r := rand.New(rand.NewPCG(11, 1))
	var ok, refused int
	for round := 0; round < rounds; round++ {
		p := newProject(t)
		outside, unchanged := outsideTree(t)
		dirs := []string{"a", "a/b", "a/b/c", "d", "d/e"}
		var files []string
		for _, d := range dirs {
			for k := 0; k < 1+r.IntN(2); k++ {
				f := fmt.Sprintf("%s/f%d.o", d, k)
				p.write(f, fmt.Sprintf("%s round %d", f, round), 0o644)
				files = append(files, f)
			}
		}
		globs := []string{"a/**", "d/e/*.o", "d/*.o"}
		e := p.save(globs...)
		for n := 1 + r.IntN(3); n > 0; n-- {
			victims := append(append([]string{}, dirs...), files...)
			victim := victims[r.IntN(len(victims))]
			if throughLink(p, victim) {
				continue // the swap itself would write outside
			}
			os.RemoveAll(p.abs(victim))
			os.MkdirAll(filepath.Dir(p.abs(victim)), 0o755)
			os.Symlink(randomTarget(r, p, victim, outside), p.abs(victim))
		}
		err := p.restore(e, globs...)
		unchanged()
		if err != nil {
			refused++
			continue
		}
		ok++
		for _, o := range e.Outputs {
			if !isFile(o) {
				continue
			}
			got, err := os.ReadFile(p.abs(o.Path))
			if err != nil || fileset.Digest(sha256.Sum256(got)).String() != o.Digest {
				t.Fatalf("round %d: a successful restore left %s wrong (%v):\n%s", round, o.Path, err, tree(t, p.root))
			}
		}
	}
	t.Logf("%d rounds: %d restored exactly, %d refused", rounds, ok, refused)
	if ok == 0 || refused == 0 {
		t.Fatalf("the swaps should sometimes be harmless and sometimes not: %d restored, %d refused", ok, refused)
	}
}

// throughLink reports whether a parent directory of rel is a symlink.
func throughLink(p *project, rel string) bool {
	for d := filepath.Dir(rel); d != "."; d = filepath.Dir(d) {
		if st, err := os.Lstat(p.abs(d)); err == nil && st.Mode()&os.ModeSymlink != 0 {
			return true
		}
	}
	return false
}

// randomTarget picks a symlink text for a link at rel.
func randomTarget(r *rand.Rand, p *project, rel, outside string) string {
	up := strings.Repeat("../", strings.Count(rel, "/"))
	relOutside, _ := filepath.Rel(filepath.Dir(p.abs(rel)), outside)
	switch r.IntN(8) {
	case 0:
		return outside // absolute, outside
	case 1:
		return relOutside // climbs out
	case 2:
		return filepath.Join(outside, "deeper") // into an outside tree
	case 3:
		return up + "a" // another directory inside (maybe itself: a loop)
	case 4:
		return up + "d/e"
	case 5:
		return up + "nowhere" // dangling
	case 6:
		os.MkdirAll(p.abs("x"), 0o755)
		os.Symlink(outside, p.abs("x/out"))
		return up + "x/out" // a chain whose second link leaves
	}
	return "./" + filepath.Base(rel) + "/../" + filepath.Base(rel) // itself, lexically
}
