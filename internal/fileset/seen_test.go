package fileset

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// seenRun hashes what globs match below root as a run does, telling a new
// Seen, with clocks running ahead so that what the test made counts as
// settled.
func seenRun(t *testing.T, root string, globs ...string) *Seen {
	t.Helper()
	seen := &Seen{}
	tree := NewTree(root)
	tree.now = func() time.Time { return time.Now().Add(time.Minute) }
	h := NewHasher(root, "")
	h.now = tree.now
	tree.Seen, h.Seen = seen, seen
	files, err := tree.Match(globs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Hash(files); err != nil {
		t.Fatal(err)
	}
	return seen
}

// TestSnapshotNoticesEveryChange: a snapshot of what a run read names a
// changed path for each change that could change what the next run reads,
// including an edit with its size and mtime put back, a file added to a
// listed directory, an ignore file edited in place, and a directory that
// was missing appearing.
func TestSnapshotNoticesEveryChange(t *testing.T) {
	changes := map[string]func(root string){
		"edit, size and mtime put back": func(root string) {
			p := filepath.Join(root, "src/a.txt")
			st, _ := os.Stat(p)
			os.WriteFile(p, []byte("AAA"), 0o644)
			os.Chtimes(p, st.ModTime(), st.ModTime())
		},
		"file added":          func(root string) { write(t, root, map[string]string{"src/new.txt": "n"}) },
		"file removed":        func(root string) { os.Remove(filepath.Join(root, "src/b.txt")) },
		"gitignore edited":    func(root string) { os.WriteFile(filepath.Join(root, "src/.gitignore"), []byte("b.txt\n"), 0o644) },
		"missing dir appears": func(root string) { write(t, root, map[string]string{"gen/x.txt": "x"}) },
		"mode changed":        func(root string) { os.Chmod(filepath.Join(root, "src/a.txt"), 0o755) },
		"replaced by a rename": func(root string) {
			write(t, root, map[string]string{"tmp": "aaa"})
			os.Rename(filepath.Join(root, "tmp"), filepath.Join(root, "src/a.txt"))
		},
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			write(t, root, map[string]string{"src/a.txt": "aaa"})
			write(t, root, map[string]string{"src/b.txt": "bbb"})
			write(t, root, map[string]string{"src/.gitignore": "*.log\n"})
			snap, err := seenRun(t, root, "src/*.txt", "gen/**").Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			if snap.Len() < 4 { // ., src, its .gitignore, a.txt, b.txt, gen (missing)
				t.Fatalf("snapshot of %d paths", snap.Len())
			}
			if p := firstChanged(snap, root); p != "" {
				t.Fatalf("nothing changed, yet %s did", p)
			}
			change(root)
			if p := firstChanged(snap, root); p == "" {
				t.Fatal("the change went unnoticed")
			}
		})
	}
}

// TestSeenSpoiled: what a snapshot cannot vouch for gives no snapshot; a
// path too recent to trust gives one that always reports it changed.
func TestSeenSpoiled(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{"a.txt": "a"})

	fresh := &Seen{}
	h := NewHasher(root, "") // a real clock: the file was just written
	h.Seen = fresh
	if _, err := h.Hash([]string{"a.txt"}); err != nil {
		t.Fatal(err)
	}
	snap, err := fresh.Snapshot()
	if err != nil || !snap.Has("a.txt") || firstChanged(snap, root) != "a.txt" {
		t.Fatalf("a file just written: %v; it must be in the snapshot, always changed", err)
	}

	os.Symlink("a.txt", filepath.Join(root, "link"))
	if _, err := seenRun(t, root, "link").Snapshot(); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("a symlinked input: %v", err)
	}

	racy := &Seen{}
	racy.add("a.txt", seenStat{key: statKey{size: 1}})
	racy.Racy("a.txt")
	racy.add("a.txt", seenStat{key: statKey{size: 1}})
	if snap, err := racy.Snapshot(); err != nil || firstChanged(snap, root) != "a.txt" {
		t.Fatalf("a path once too recent to trust: %v; it must stay unknown", err)
	}

	twice := &Seen{}
	twice.add("a.txt", seenStat{key: statKey{size: 1}})
	twice.add("a.txt", seenStat{key: statKey{size: 2}})
	if _, err := twice.Snapshot(); err == nil || !strings.Contains(err.Error(), "changed during the run") {
		t.Fatalf("a path seen with two stats: %v", err)
	}
}

// TestSeenAcrossChunks: paths added in many chunks, out of order and
// each more than once, make one sorted snapshot with each path once; a
// path seen with another stat chunks later still spoils it.
func TestSeenAcrossChunks(t *testing.T) {
	const n = 3*seenChunk + 7
	s := &Seen{}
	for round := range 2 {
		for i := n - 1; i >= 0; i-- {
			s.add(fmt.Sprintf("p%05d", i), seenStat{key: statKey{size: int64(i)}})
		}
		if round == 0 && len(s.seen) < 6 {
			t.Fatalf("%d paths filled %d chunks", n, len(s.seen))
		}
	}
	snap, err := s.Snapshot()
	if err != nil || snap.Len() != n || !slices.IsSorted(snap.paths) {
		t.Fatalf("snapshot: %v, %d paths (want %d, sorted)", err, snap.Len(), n)
	}
	for i, p := range snap.paths {
		if p != fmt.Sprintf("p%05d", i) || snap.stats[i].key.size != int64(i) {
			t.Fatalf("path %d is %s with size %d", i, p, snap.stats[i].key.size)
		}
	}
	s.add("p00001", seenStat{key: statKey{size: 99}}) // after the snapshot: the list carries on
	if _, err := s.Snapshot(); err == nil || !strings.Contains(err.Error(), "p00001 changed during the run") {
		t.Fatalf("a path seen again with another stat: %v", err)
	}

	many := &Seen{} // a large run's worth: chunks stay full-sized
	for range 100 * seenChunk {
		many.add("same", seenStat{key: statKey{size: 1}})
	}
	if len(many.seen) > 105 {
		t.Fatalf("%d paths took %d chunks", 100*seenChunk, len(many.seen))
	}
	if snap, err := many.Snapshot(); err != nil || snap.Len() != 1 {
		t.Fatalf("one path added %d times: %v", 100*seenChunk, err)
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{"src/a.txt": "aaa"})
	snap, err := seenRun(t, root, "src/**", "missing/**").Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	enc := snap.AppendBinary([]byte("prefix"))
	back, rest, err := ParseSnapshot(append(enc[len("prefix"):], "tail"...))
	if err != nil || string(rest) != "tail" {
		t.Fatalf("parse: %v, rest %q", err, rest)
	}
	if !bytes.Equal(back.AppendBinary(nil), enc[len("prefix"):]) || firstChanged(back, root) != "" {
		t.Fatal("the snapshot read back differs")
	}
}

// FuzzParseSnapshot: any bytes parse or fail cleanly, and what parses
// encodes back to the bytes it came from.
func FuzzParseSnapshot(f *testing.F) {
	s := &Seen{}
	s.add(".", seenStat{key: statKey{1, 2, 3, 4, 5, 6}})
	s.add("a/b", seenStat{missing: true})
	snap, _ := s.Snapshot()
	f.Add(snap.AppendBinary(nil))
	f.Add([]byte{})
	f.Add([]byte{1, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		snap, rest, err := ParseSnapshot(data)
		if err != nil {
			return
		}
		if enc := snap.AppendBinary(nil); !bytes.Equal(append(enc, rest...), data) {
			// Varints have one shortest form; a longer one is not ours.
			if len(enc)+len(rest) == len(data) {
				t.Fatalf("%x parsed, and encodes back as %x", data, enc)
			}
		}
	})
}

func TestStatPaths(t *testing.T) {
	root := t.TempDir()
	for _, name := range []string{"a.go", "b.go"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	paths := []string{"b.go", "a.go", "gone.go", "a.go"}
	if _, err := StatPaths(root, paths, time.Now()); err == nil || !strings.Contains(err.Error(), "too recently") {
		t.Fatalf("files written just now were trusted: %v", err)
	}
	snap, err := StatPaths(root, paths, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if got := snap.Paths(); strings.Join(got, " ") != "a.go b.go gone.go" {
		t.Errorf("paths %q, want sorted and without duplicates", got)
	}
	if got := snap.ChangedPaths(root, 10); len(got) != 0 {
		t.Errorf("nothing changed, yet %q did", got)
	}
	os.WriteFile(filepath.Join(root, "gone.go"), nil, 0o644) // appears
	os.Remove(filepath.Join(root, "b.go"))                   // goes
	if got := snap.ChangedPaths(root, 10); strings.Join(got, " ") != "b.go gone.go" {
		t.Errorf("changed %q, want b.go gone.go", got)
	}
	if got := snap.ChangedPaths(root, 0); len(got) != 1 {
		t.Errorf("with a limit of 0 it went on to %q", got)
	}
	seen := &Seen{}
	seen.AddSnapshot(snap)
	if s, err := seen.Snapshot(); err != nil || s.Len() != 3 {
		t.Errorf("the seen snapshot has %v paths (%v), want 3", s, err)
	}
}

// firstChanged is the first path of snap whose stat differs, "" if none.
func firstChanged(snap *Snapshot, root string) string {
	if c := snap.ChangedPaths(root, 0); len(c) > 0 {
		return c[0]
	}
	return ""
}

// TestCheckFindsWhatChanged: a check begun in the background and finished
// by its caller (StartCheck, Changed) names exactly the paths that changed,
// whatever the number of processors; with a limit it stops early, naming
// more than the limit and only changed paths.
func TestCheckFindsWhatChanged(t *testing.T) {
	root := t.TempDir()
	var paths []string
	for i := range 1500 {
		p := fmt.Sprintf("d%02d/f%04d", i%30, i)
		write(t, root, map[string]string{p: "same"})
		paths = append(paths, p)
	}
	snap, racy, err := StatPathsRacy(root, paths, time.Now().Add(time.Minute))
	if err != nil || racy != "" {
		t.Fatal(err, racy)
	}
	check := func(limit int) map[int][]string {
		got := map[int][]string{}
		for _, procs := range []int{1, 2, 4} {
			old := runtime.GOMAXPROCS(procs)
			got[procs] = snap.StartCheck(root, limit).Changed()
			runtime.GOMAXPROCS(old)
		}
		return got
	}
	for procs, changed := range check(1000) {
		if len(changed) != 0 {
			t.Fatalf("GOMAXPROCS=%d: nothing changed, yet %v did", procs, changed)
		}
	}
	var want []string
	for i := 0; i < len(paths); i += 97 {
		write(t, root, map[string]string{paths[i]: "changed"})
		want = append(want, paths[i])
	}
	slices.Sort(want)
	for procs, changed := range check(1000) {
		if !slices.Equal(changed, want) {
			t.Fatalf("GOMAXPROCS=%d: changed %v, want %v", procs, changed, want)
		}
	}
	for procs, changed := range check(2) {
		if len(changed) <= 2 || len(changed) > len(want) {
			t.Fatalf("GOMAXPROCS=%d, limit 2: %d named, want 3 to %d", procs, len(changed), len(want))
		}
		for _, p := range changed {
			if !slices.Contains(want, p) {
				t.Fatalf("GOMAXPROCS=%d, limit 2: %s named, which did not change", procs, p)
			}
		}
	}
}

// TestAddedSnapshotsMerge: a snapshot added whole is merged with what the
// run saw itself as if each path had been added on its own: the union,
// sorted, of the paths keep allows; a path seen both ways with the same
// stat once, unknown if either time was unknown, and the whole spoiled if
// the stats differ.
func TestAddedSnapshotsMerge(t *testing.T) {
	k := func(ino int64) seenStat { return seenStat{key: statKey{ino: ino, size: 1}} }
	old := &Snapshot{
		paths: []string{"a", "b", "c", "d", "skip"},
		stats: []seenStat{k(1), k(2), k(3), {}, k(5)},
	}
	keep := func(rel string) bool { return rel != "skip" }

	s := &Seen{}
	s.add("0", k(10))
	s.add("b", k(2))       // the same stat
	s.add("c", seenStat{}) // unknown this time
	s.add("d", k(4))       // unknown in the old snapshot
	s.add("e", k(11))      // only here
	s.AddSnapshotIf(old, keep)
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	want := &Snapshot{
		paths: []string{"0", "a", "b", "c", "d", "e"},
		stats: []seenStat{k(10), k(1), k(2), {}, {}, k(11)},
	}
	if !slices.Equal(snap.paths, want.paths) || !slices.Equal(snap.stats, want.stats) {
		t.Fatalf("merged %v %v, want %v %v", snap.paths, snap.stats, want.paths, want.stats)
	}

	s = &Seen{}
	s.add("b", k(9)) // b changed during the run
	s.AddSnapshotIf(old, keep)
	if _, err := s.Snapshot(); err == nil || !strings.Contains(err.Error(), "b changed during the run") {
		t.Fatalf("a path seen with two stats: %v", err)
	}
	s = &Seen{}
	s.add("skip", k(9)) // not kept from the old snapshot: no conflict
	s.AddSnapshotIf(old, keep)
	if snap, err := s.Snapshot(); err != nil || !slices.Contains(snap.paths, "skip") || snap.Len() != 5 {
		t.Fatalf("a path keep leaves out: %v, %v", snap, err)
	}
}
