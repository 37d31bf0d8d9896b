package fileset

import (
	"bytes"
	"os"
	"path/filepath"
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
			if p := snap.Changed(root); p != "" {
				t.Fatalf("nothing changed, yet %s did", p)
			}
			change(root)
			if p := snap.Changed(root); p == "" {
				t.Fatal("the change went unnoticed")
			}
		})
	}
}

// TestSeenSpoiled: what a snapshot cannot vouch for gives no snapshot.
func TestSeenSpoiled(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{"a.txt": "a"})

	fresh := &Seen{}
	h := NewHasher(root, "") // a real clock: the file was just written
	h.Seen = fresh
	if _, err := h.Hash([]string{"a.txt"}); err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.Snapshot(); err == nil || !strings.Contains(err.Error(), "too recently") {
		t.Fatalf("a file just written: %v", err)
	}

	os.Symlink("a.txt", filepath.Join(root, "link"))
	if _, err := seenRun(t, root, "link").Snapshot(); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("a symlinked input: %v", err)
	}

	twice := &Seen{}
	twice.add("a.txt", seenStat{key: statKey{size: 1}})
	twice.add("a.txt", seenStat{key: statKey{size: 2}})
	if _, err := twice.Snapshot(); err == nil || !strings.Contains(err.Error(), "changed during the run") {
		t.Fatalf("a path seen with two stats: %v", err)
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
	if !bytes.Equal(back.AppendBinary(nil), enc[len("prefix"):]) || back.Changed(root) != "" {
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
