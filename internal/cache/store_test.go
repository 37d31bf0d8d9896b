package cache

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
)

// stored makes a project with outputs, stores them under a key and returns
// the pieces.
func stored(t *testing.T) (*Store, string, *Entry, *fileset.Hasher) {
	t.Helper()
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "out/sub"), 0o755)
	os.WriteFile(filepath.Join(root, "out/big.txt"), bytes.Repeat([]byte("compressible "), 2000), 0o644)
	os.WriteFile(filepath.Join(root, "out/sub/tool"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	os.WriteFile(filepath.Join(root, "out/empty"), nil, 0o600)
	os.Symlink("big.txt", filepath.Join(root, "out/link"))
	log := filepath.Join(t.TempDir(), "job.log")
	os.WriteFile(log, []byte("line 1\nno newline at end"), 0o644)
	h := fileset.NewHasher(root, "")
	outs, err := workspace(t, root).Collect(h, []string{"out/**"})
	if err != nil {
		t.Fatal(err)
	}
	c := &Cache{Store: s, Root: root}
	e, err := c.Save(&Computed{Key: Key{7}, Manifest: "m\n"}, outs, log, Entry{Job: "j"})
	if err != nil {
		t.Fatal(err)
	}
	return s, root, e, h
}

func TestRestoreIsExact(t *testing.T) {
	s, root, e, h := stored(t)
	if got, _ := s.Get(Key{7}); got == nil || got.OutputDigest != e.OutputDigest {
		t.Fatal("entry not readable")
	}
	want := snapshot(t, root)
	os.RemoveAll(filepath.Join(root, "out"))
	ws, lock := workspace(t, root), jobLock(t, root)
	changed, err := ws.Restore(s, e, []string{"out/**"}, h, lock)
	if err != nil || !changed {
		t.Fatalf("restore: %v, changed %v", err, changed)
	}
	if got := snapshot(t, root); got != want {
		t.Fatalf("restored tree differs:\n%s\nwant\n%s", got, want)
	}
	if changed, err := ws.Restore(s, e, []string{"out/**"}, h, lock); err != nil || changed {
		t.Fatalf("second restore rewrote files: %v %v", changed, err)
	}
	var log bytes.Buffer
	if _, err := s.ReplayLog(e, &log); err != nil || log.String() != "line 1\nno newline at end" {
		t.Fatalf("log not replayed byte for byte: %q, %v", log.String(), err)
	}
}

// snapshot lists every file under root/out with its mode and content.
func snapshot(t *testing.T, root string) string {
	var b strings.Builder
	filepath.Walk(filepath.Join(root, "out"), func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if info.Mode()&os.ModeSymlink != 0 {
			l, _ := os.Readlink(p)
			b.WriteString(rel + " -> " + l + "\n")
			return nil
		}
		data, _ := os.ReadFile(p)
		b.WriteString(rel + " " + info.Mode().String() + " " + string(data[:min(len(data), 20)]) + "\n")
		return nil
	})
	return b.String()
}

func TestCorruptBlobIsAMissAndIsRemoved(t *testing.T) {
	s, root, e, h := stored(t)
	var blob string
	filepath.Walk(filepath.Join(s.Dir, "blobs"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.HasSuffix(p, ".zst") {
			blob = p
		}
		return nil
	})
	if blob == "" {
		t.Fatal("the compressible output was not compressed")
	}
	data, _ := os.ReadFile(blob)
	data[len(data)/2] ^= 0xff
	os.WriteFile(blob, data, 0o644)
	os.RemoveAll(filepath.Join(root, "out"))
	_, err := workspace(t, root).Restore(s, e, []string{"out/**"}, h, jobLock(t, root))
	if err == nil {
		t.Fatal("a corrupt blob was restored")
	}
	if _, statErr := os.Stat(blob); !errors.Is(statErr, os.ErrNotExist) {
		t.Fatal("corrupt blob was not removed")
	}
	if _, err := os.Stat(filepath.Join(root, "out/big.txt")); err == nil {
		t.Fatal("a corrupt file was put in place")
	}
}

func TestCorruptEntryIsAMissAndIsRemoved(t *testing.T) {
	for name, damage := range map[string]func([]byte) []byte{
		"truncated": func(b []byte) []byte { return b[:len(b)/2] },
		"bit flip":  func(b []byte) []byte { b[len(b)-5] ^= 1; return b },
		"empty":     func([]byte) []byte { return nil },
		"other key": nil,
	} {
		t.Run(name, func(t *testing.T) {
			s, _, _, _ := stored(t)
			p := s.entryPath(Key{7})
			if damage == nil { // a valid entry filed under the wrong key
				os.MkdirAll(filepath.Dir(s.entryPath(Key{8})), 0o755)
				if err := os.Rename(p, s.entryPath(Key{8})); err != nil {
					t.Fatal(err)
				}
				p = s.entryPath(Key{8})
				_, err := s.Get(Key{8})
				var ce *CorruptError
				if !errors.As(err, &ce) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			data, _ := os.ReadFile(p)
			os.WriteFile(p, damage(data), 0o644)
			_, err := s.Get(Key{7})
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v", err)
			}
			if _, err := s.Get(Key{7}); !errors.Is(err, ErrNotFound) {
				t.Fatalf("corrupt entry was not removed: %v", err)
			}
		})
	}
}

func TestPruneIsLeastRecentlyUsedAndSweepsBlobs(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	c := &Cache{Store: s, Root: root}
	h := fileset.NewHasher(root, "")
	for i := byte(1); i <= 3; i++ {
		name := filepath.Join(root, "f")
		os.WriteFile(name, bytes.Repeat([]byte{i}, 1000), 0o644)
		outs, _ := workspace(t, root).Collect(h, []string{"f"})
		if _, err := c.Save(&Computed{Key: Key{i}}, outs, name, Entry{Job: string('a' + i)}); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-time.Duration(10-i) * time.Hour) // entry 1 oldest
		os.Chtimes(s.entryPath(Key{i}), old, old)
	}
	s.Touch(Key{1}) // now the most recently used
	_, total, _ := s.Entries()
	r, err := s.Prune(PruneOptions{MaxSize: total - 1, DryRun: true})
	if err != nil || r.RemovedEntries != 1 || r.Removed[0].Key != (Key{2}).String() {
		t.Fatalf("dry run: %+v %v", r, err)
	}
	if _, err := s.Get(Key{2}); err != nil {
		t.Fatal("dry run removed something")
	}
	if _, err := s.Prune(PruneOptions{MaxSize: total - 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(Key{2}); !errors.Is(err, ErrNotFound) {
		t.Fatal("least recently used entry survived")
	}
	_, after, _ := s.Entries()
	if after >= total || s.HasBlob(fileset.Digest{}.String()) {
		t.Fatalf("blobs were not swept: %d >= %d", after, total)
	}
	r, _ = s.Prune(PruneOptions{MaxAge: 5 * time.Hour})
	if r.RemovedEntries != 1 { // entry 3 is 7h old; entry 1 was just touched
		t.Fatalf("max-age removed %d", r.RemovedEntries)
	}
}

// withoutHanging fails the test if fn does not return: the defect it
// guards against is a read that never ends.
func withoutHanging(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("%s hung", what)
	}
}

// TestStoreFilesThatAreNotFilesAreCorrupt: a FIFO or a symlink to
// /dev/zero in place of an entry or a blob is a corrupt entry (a miss,
// removed), never a read that blocks or never ends (issue 11, item 12).
func TestStoreFilesThatAreNotFilesAreCorrupt(t *testing.T) {
	for name, replace := range map[string]func(string) error{
		"fifo":              func(p string) error { return syscall.Mkfifo(p, 0o644) },
		"link to /dev/zero": func(p string) error { return os.Symlink("/dev/zero", p) },
	} {
		t.Run("entry "+name, func(t *testing.T) {
			s, _, _, _ := stored(t)
			p := s.entryPath(Key{7})
			os.Remove(p)
			if err := replace(p); err != nil {
				t.Fatal(err)
			}
			withoutHanging(t, "Get", func() {
				_, err := s.Get(Key{7})
				var ce *CorruptError
				if !errors.As(err, &ce) {
					t.Errorf("err = %v", err)
				}
			})
			if _, err := os.Lstat(p); err == nil {
				t.Error("the bad entry was not removed")
			}
		})
		t.Run("blob "+name, func(t *testing.T) {
			s, _, e, _ := stored(t)
			p := s.blobPath(e.Log, false)
			os.Remove(p)
			if err := replace(p); err != nil {
				t.Fatal(err)
			}
			withoutHanging(t, "ReplayLog", func() {
				var ce *CorruptError
				if _, err := s.ReplayLog(e, io.Discard); !errors.As(err, &ce) {
					t.Errorf("err = %v", err)
				}
			})
		})
	}
	t.Run("blob longer than its size", func(t *testing.T) {
		s, _, e, _ := stored(t)
		bad := *e
		bad.LogSize = 3 // the blob decodes to more than the entry says
		var ce *CorruptError
		if _, err := s.ReplayLog(&bad, io.Discard); !errors.As(err, &ce) {
			t.Errorf("err = %v", err)
		}
	})
}

// A small file whose content is already stored is hashed in memory: no
// temporary file is made for it (on some disks making a file costs more
// than a tiny job), and the digest is the content's.
func TestStoredSmallContentMakesNoFile(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a, b, other := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "other")
	os.WriteFile(a, []byte("same content\n"), 0o644)
	os.WriteFile(b, []byte("same content\n"), 0o644)
	os.WriteFile(other, []byte("other content\n"), 0o644)
	want, _, err := s.PutFile(a, "")
	if err != nil {
		t.Fatal(err)
	}
	// No temporary file can be made from here on.
	os.RemoveAll(filepath.Join(s.Dir, "tmp"))
	os.WriteFile(filepath.Join(s.Dir, "tmp"), nil, 0o644)
	got, size, err := s.PutFile(b, "")
	if err != nil || got != want || size != int64(len("same content\n")) {
		t.Fatalf("stored content again: %s %d %v, want %s with no file made", got, size, err, want)
	}
	if _, _, err := s.PutFile(other, ""); err == nil {
		t.Fatal("new content was stored without a temporary file: the check above proves nothing")
	}
}

// Small outputs are kept in the entry and an empty one nowhere: the store
// holds blobs for the large output and the log only, and the entry read
// back carries the small file's bytes.
func TestSmallOutputsAreKeptInTheEntry(t *testing.T) {
	s, root, e, _ := stored(t)
	want := map[string]bool{}
	for _, o := range e.Outputs {
		if o.Path == "out/big.txt" {
			want[o.Digest] = true
		}
	}
	want[e.Log] = true
	got := map[string]bool{}
	for _, b := range e.Blobs() {
		got[b.Digest] = true
	}
	if len(want) != 2 || !maps.Equal(got, want) {
		t.Fatalf("the entry names blobs %v, want the big output's and the log's, %v", got, want)
	}
	files := 0
	filepath.Walk(filepath.Join(s.Dir, "blobs"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			files++
		}
		return nil
	})
	if files != 2 {
		t.Fatalf("%d blob files stored, want 2", files)
	}
	read, err := s.Get(Key{7})
	if err != nil {
		t.Fatal(err)
	}
	tool, _ := os.ReadFile(filepath.Join(root, "out/sub/tool"))
	for _, o := range read.Outputs {
		if o.Path == "out/sub/tool" && !bytes.Equal(o.Data, tool) {
			t.Fatalf("the entry keeps %q for out/sub/tool, want %q", o.Data, tool)
		}
	}
}

// An entry keeps at most inlineBudget bytes of files; the rest are blobs.
func TestInlineBudget(t *testing.T) {
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "out"), 0o755)
	n := inlineBudget/InlineOutput + 3
	for i := range n {
		os.WriteFile(filepath.Join(root, "out", fmt.Sprintf("f%02d", i)), bytes.Repeat([]byte{byte('a' + i)}, InlineOutput), 0o644)
	}
	h := fileset.NewHasher(root, "")
	outs, err := workspace(t, root).Collect(h, []string{"out/**"})
	if err != nil {
		t.Fatal(err)
	}
	c := &Cache{Store: s, Root: root}
	e, err := c.Save(&Computed{Key: Key{8}, Manifest: "m\n"}, outs, filepath.Join(root, "no-log"), Entry{Job: "j"})
	if err != nil {
		t.Fatal(err)
	}
	inlined := 0
	for _, o := range e.Outputs {
		if o.Data != nil {
			inlined++
		}
	}
	// The other blob is the (empty) log's.
	if inlined != inlineBudget/InlineOutput || len(e.Blobs()) != n-inlined+1 {
		t.Fatalf("%d files kept in the entry and %d blobs, want %d and %d", inlined, len(e.Blobs()), inlineBudget/InlineOutput, n-inlined+1)
	}
	os.RemoveAll(filepath.Join(root, "out"))
	if _, err := workspace(t, root).Restore(s, e, []string{"out/**"}, h, jobLock(t, root)); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if data, _ := os.ReadFile(filepath.Join(root, "out", fmt.Sprintf("f%02d", i))); !bytes.Equal(data, bytes.Repeat([]byte{byte('a' + i)}, InlineOutput)) {
			t.Fatalf("f%02d restored as %d bytes", i, len(data))
		}
	}
}

// An entry whose copy of a file does not hash to the file's digest (an
// entry written by a faulty or hostile store, its checksum made right) is
// a damaged entry: nothing of it is put in place.
func TestDamagedInlineCopyIsNotRestored(t *testing.T) {
	for name, damage := range map[string]func([]byte) []byte{
		"flipped": func(b []byte) []byte { b[0] ^= 1; return b },
		"short":   func(b []byte) []byte { return b[:len(b)-1] },
		"longer":  func(b []byte) []byte { return append(b, 'x') },
	} {
		t.Run(name, func(t *testing.T) {
			s, root, e, h := stored(t)
			for i, o := range e.Outputs {
				if o.Path == "out/sub/tool" {
					e.Outputs[i].Data = damage(bytes.Clone(o.Data))
				}
			}
			if err := s.Put(e); err != nil {
				t.Fatal(err)
			}
			read, err := s.Get(Key{7})
			if err != nil {
				t.Fatal(err)
			}
			os.RemoveAll(filepath.Join(root, "out"))
			_, err = workspace(t, root).Restore(s, read, []string{"out/**"}, h, jobLock(t, root))
			var corrupt *CorruptError
			if !errors.As(err, &corrupt) {
				t.Fatalf("restore of a damaged copy: %v, want a CorruptError", err)
			}
			if _, err := os.Lstat(filepath.Join(root, "out/sub/tool")); err == nil {
				t.Fatal("a damaged copy was put in place")
			}
		})
	}
}

// An entry where older stores kept it, in a fan-out directory, is found
// by each way of looking for one and moved where entries are now kept; a
// new entry makes no directory.
func TestFanOutEntriesAreFoundAndMoved(t *testing.T) {
	for name, look := range map[string]func(*Store, Key) bool{
		"get":   func(s *Store, k Key) bool { e, err := s.Get(k); return err == nil && e.Key == k.String() },
		"peek":  func(s *Store, k Key) bool { e, err := s.Peek(k); return err == nil && e.Key == k.String() },
		"has":   func(s *Store, k Key) bool { return s.Has(k) },
		"touch": func(s *Store, k Key) bool { return s.Touch(k) == nil },
	} {
		t.Run(name, func(t *testing.T) {
			s, _, _, _ := stored(t)
			k := Key{7}
			dirs, _ := os.ReadDir(filepath.Join(s.Dir, "entries"))
			if len(dirs) != 1 || dirs[0].IsDir() {
				t.Fatalf("the entries directory holds %v, want the one entry file", dirs)
			}
			old := filepath.Join(s.Dir, "entries", k.Hex()[:2], k.Hex()+".json")
			os.Mkdir(filepath.Dir(old), 0o755)
			if err := os.Rename(s.entryPath(k), old); err != nil {
				t.Fatal(err)
			}
			if !look(s, k) {
				t.Fatal("the entry in its fan-out directory was not found")
			}
			if _, err := os.Lstat(old); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("the entry was not moved")
			}
			if !s.Has(k) {
				t.Fatal("the moved entry is not where entries are kept")
			}
			if look(s, Key{9}) {
				t.Fatal("found an entry that was never stored")
			}
		})
	}
}

// The job's state, given the entry it equals, keeps the entry's outputs
// with the small files' bytes (whatever list of files the caller had), so
// a held job's deleted small output is restored from the state alone, as
// the no-op's shortcut restores it, with no entry read.
func TestLedgerRestoresSmallOutputs(t *testing.T) {
	s, root, e, h := stored(t)
	bare := slices.Clone(e.Outputs)
	for i := range bare {
		bare[i].Data = nil // what the job's collect saw
	}
	lock := jobLock(t, root)
	if err := lock.SetLedger(e, bare, nil); err != nil {
		t.Fatal(err)
	}
	lock.Unlock()
	lock = jobLock(t, root) // read back from the file
	held, _ := lock.Held(e.Key)
	if held == nil {
		t.Fatal("the state does not hold the entry")
	}
	want, _ := os.ReadFile(filepath.Join(root, "out/sub/tool"))
	os.Remove(filepath.Join(root, "out/sub/tool"))
	if changed, err := workspace(t, root).Restore(s, held, []string{"out/**"}, h, lock); err != nil || !changed {
		t.Fatalf("restore from the state: changed %v, %v", changed, err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "out/sub/tool")); !bytes.Equal(got, want) {
		t.Fatalf("restored %q, want %q", got, want)
	}
}
