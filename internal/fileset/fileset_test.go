package fileset

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		abs := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(abs), 0o755)
		if err := os.WriteFile(abs, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMatchHonoursGitignoreAndExcludes(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{
		".gitignore":            "/bin/\n*.log\n!keep.log\nnode_modules\n",
		"main.go":               "x",
		"pkg/a.go":              "x",
		"pkg/a_test.go":         "x",
		"pkg/gen/z.go":          "x",
		"pkg/debug.log":         "x",
		"pkg/keep.log":          "x",
		"bin/tool":              "x",
		"web/node_modules/m.js": "x",
		"sub/.gitignore":        "local.go\n",
		"sub/local.go":          "x",
		"sub/kept.go":           "x",
		".git/HEAD":             "x",
	})
	tree := NewTree(root)
	for _, tc := range []struct {
		globs, exclude, want []string
	}{
		{[]string{"**/*.go"}, nil, []string{"main.go", "pkg/a.go", "pkg/a_test.go", "pkg/gen/z.go", "sub/kept.go"}},
		{[]string{"**/*.go"}, []string{"pkg/gen/**"}, []string{"main.go", "pkg/a.go", "pkg/a_test.go", "sub/kept.go"}},
		{[]string{"pkg/**/*.log"}, nil, []string{"pkg/keep.log"}},
		{[]string{"bin/tool", "pkg"}, []string{"**/*_test.go"}, // literals: taken even if ignored; a dir is its files
			[]string{"bin/tool", "pkg/a.go", "pkg/gen/z.go", "pkg/keep.log"}},
		{[]string{"**"}, []string{"**/*.go", ".gitignore", "**/.gitignore"}, []string{"pkg/keep.log"}},
		{[]string{"missing.txt", "nope/**"}, nil, []string{}},
	} {
		got, err := tree.Match(tc.globs, tc.exclude)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Match(%v, %v) = %v, want %v", tc.globs, tc.exclude, got, tc.want)
		}
	}
	// New files show up only after Invalidate.
	write(t, root, map[string]string{"late.go": "x"})
	if got, _ := tree.Match([]string{"*.go"}, nil); len(got) != 1 {
		t.Fatalf("listing changed without Invalidate: %v", got)
	}
	tree.Invalidate()
	if got, _ := tree.Match([]string{"*.go"}, nil); len(got) != 2 {
		t.Fatalf("after Invalidate: %v", got)
	}
}

func TestStatCacheNeverServesAStaleDigest(t *testing.T) {
	root := t.TempDir()
	cachePath := filepath.Join(t.TempDir(), "stat")
	write(t, root, map[string]string{"a.txt": "one"})
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(root, "a.txt"), old, old)

	h := NewHasher(root, cachePath)
	h.now = func() time.Time { return time.Now().Add(time.Hour) } // everything is old enough to trust
	first, err := h.Hash([]string{"a.txt"})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Save(); err != nil {
		t.Fatal(err)
	}
	// Same size, same mtime, different content: ctime still tells.
	write(t, root, map[string]string{"a.txt": "two"})
	os.Chtimes(filepath.Join(root, "a.txt"), old, old)
	h2 := NewHasher(root, cachePath)
	h2.now = h.now
	second, _ := h2.Hash([]string{"a.txt"})
	want, _ := HashFile(filepath.Join(root, "a.txt"))
	if second[0].Digest != want || second[0].Digest == first[0].Digest {
		t.Fatal("stat cache served the old digest")
	}
}

func TestRecentFilesAreNotCached(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{"a.txt": "fresh"})
	h := NewHasher(root, filepath.Join(t.TempDir(), "stat"))
	if _, err := h.Hash([]string{"a.txt"}); err != nil {
		t.Fatal(err)
	}
	if len(h.cache) != 0 {
		t.Fatal("a file modified just now was cached")
	}
}

func TestSymlinksAreHashedByTarget(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{"a": "x"})
	os.Symlink("a", filepath.Join(root, "l1"))
	os.Symlink("b", filepath.Join(root, "l2"))
	files, err := NewHasher(root, "").Hash([]string{"l1", "l2"})
	if err != nil {
		t.Fatal(err)
	}
	if files[0].Link != "a" || files[0].Digest == files[1].Digest || files[0].Mode&os.ModeSymlink == 0 {
		t.Fatalf("%+v", files)
	}
}

// TestSymlinkedInputs covers each shape of symlinked input (issue 11,
// item 4): the key follows what a job reading the path would read.
func TestSymlinkedInputs(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	write(t, root, map[string]string{"src/a.go": "a", "shared/lib.go": "lib", "target.txt": "one"})
	write(t, outside, map[string]string{"ext.go": "outside"})
	os.Symlink("../target.txt", filepath.Join(root, "src/file-link"))
	os.Symlink("../shared", filepath.Join(root, "src/dir-link"))
	os.Symlink("nothing-yet", filepath.Join(root, "src/dangling"))
	os.Symlink(".", filepath.Join(root, "src/self")) // a loop
	tree, h := NewTree(root), NewHasher(root, "")
	hashAll := func() map[string]Digest {
		t.Helper()
		tree.Invalidate()
		paths, err := tree.Match([]string{"src/**"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		files, err := h.Hash(paths)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]Digest{}
		for _, f := range files {
			out[f.Path] = f.Digest
		}
		return out
	}
	first := hashAll()
	want := []string{"src/a.go", "src/dangling", "src/dir-link/lib.go", "src/file-link", "src/self"}
	var got []string
	for p := range first {
		got = append(got, p)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("matched %v, want %v (a directory link is walked, a loop is not)", got, want)
	}

	// The target of a file link changes: so does the link's digest.
	write(t, root, map[string]string{"target.txt": "two"})
	second := hashAll()
	if second["src/file-link"] == first["src/file-link"] {
		t.Error("editing a link's target left its digest unchanged")
	}
	// A file in a linked directory changes.
	write(t, root, map[string]string{"shared/lib.go": "lib 2"})
	if third := hashAll(); third["src/dir-link/lib.go"] == second["src/dir-link/lib.go"] {
		t.Error("editing a file under a linked directory left its digest unchanged")
	}
	// The dangling link's target appears.
	before := hashAll()["src/dangling"]
	write(t, root, map[string]string{"src/nothing-yet": "now"})
	if hashAll()["src/dangling"] == before {
		t.Error("a dangling link's target appeared and its digest did not change")
	}

	// Links that leave the project, by any route, are an *OutsideError.
	for name, link := range map[string]string{
		"absolute":      filepath.Join(outside, "ext.go"),
		"climbing":      "../../" + filepath.Base(outside) + "/ext.go",
		"directory":     outside,
		"chain":         "../hop/out", // hop/out is the link that leaves
		"dangling, out": "../../no-such-dir/x",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, map[string]string{"src/a.go": "a"})
			os.MkdirAll(filepath.Join(dir, "hop"), 0o755)
			os.Symlink(outside, filepath.Join(dir, "hop/out"))
			rel, _ := filepath.Rel(filepath.Join(dir, "src"), outside)
			if name == "climbing" {
				link = rel + "/ext.go"
			}
			os.Symlink(link, filepath.Join(dir, "src/link"))
			paths, err := NewTree(dir).Match([]string{"src/**"}, nil)
			if err == nil {
				_, err = NewHasher(dir, "").Hash(paths)
			}
			var oe *OutsideError
			if !errors.As(err, &oe) {
				t.Fatalf("a link leaving the project gave %v", err)
			}
		})
	}
	// A glob whose base goes through a link that leaves is refused too.
	os.Symlink(outside, filepath.Join(root, "ext"))
	for _, glob := range []string{"ext/**", "ext/ext.go"} {
		tree.Invalidate()
		var oe *OutsideError
		if _, err := tree.Match([]string{glob}, nil); !errors.As(err, &oe) {
			t.Errorf("Match(%s) through a link leaving the project: %v", glob, err)
		}
	}
}

// FuzzStatCache feeds the stat cache loader any bytes: it must never
// panic, and whatever it keeps must be written back and read again the
// same (a damaged line is dropped, never half-read).
func FuzzStatCache(f *testing.F) {
	f.Add([]byte("a.txt\t1\t2\t3\t4\t5\t420\t" + strings.Repeat("ab", 32) + "\n"))
	f.Add([]byte("x\t1\t2\n\n\t\t\t\t\t\t\t\n"))
	f.Add([]byte("p\t-1\t0\t0\t0\t0\t0\t" + strings.Repeat("0", 63) + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "stat")
		os.WriteFile(path, data, 0o644)
		h := NewHasher(dir, path)
		h.wait()
		kept := maps.Clone(h.cache)
		h.dirty = true
		if err := h.Save(); err != nil {
			t.Fatal(err)
		}
		again := NewHasher(dir, path)
		again.wait()
		for p, e := range kept {
			if strings.ContainsAny(p, "\t\n") {
				continue // not written
			}
			if again.cache[p] != e {
				t.Fatalf("entry %q did not survive a save: %+v, then %+v", p, e, again.cache[p])
			}
		}
	})
}

// The stat cache reads back what it wrote, entry for entry.
func TestStatCacheRoundTrip(t *testing.T) {
	root := t.TempDir()
	cachePath := filepath.Join(t.TempDir(), "stat")
	write(t, root, map[string]string{"a.txt": "one", "dir/b.txt": "two", "dir/with space.txt": "three", "exec.sh": "#!/bin/sh\n"})
	os.Chmod(filepath.Join(root, "exec.sh"), 0o755)
	old := time.Now().Add(-time.Hour)
	for _, p := range []string{"a.txt", "dir/b.txt", "dir/with space.txt", "exec.sh"} {
		os.Chtimes(filepath.Join(root, p), old, old)
	}
	h := NewHasher(root, cachePath)
	h.now = func() time.Time { return time.Now().Add(time.Hour) }
	if _, err := h.Hash([]string{"a.txt", "dir/b.txt", "dir/with space.txt", "exec.sh"}); err != nil {
		t.Fatal(err)
	}
	if err := h.Save(); err != nil {
		t.Fatal(err)
	}
	back := NewHasher(root, cachePath)
	back.wait()
	if len(h.cache) != 4 || !reflect.DeepEqual(back.cache, h.cache) {
		t.Fatalf("read back %v\nwrote %v", back.cache, h.cache)
	}
}

// Hash keeps the order of its paths, whether the caller hashes them alone
// or helpers take some (a batch of many files), and a missing file among
// many is an error.
func TestHashBatches(t *testing.T) {
	root := t.TempDir()
	for _, n := range []int{1, 5, 200} {
		files := map[string]string{}
		var paths []string
		for i := range n {
			p := fmt.Sprintf("b%d/f%03d.txt", n, i)
			files[p] = fmt.Sprintf("content %d of %d", i, n)
			paths = append(paths, p)
		}
		write(t, root, files)
		got, err := NewHasher(root, "").Hash(paths)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n {
			t.Fatalf("%d files hashed, want %d", len(got), n)
		}
		for i, f := range got {
			if f.Path != paths[i] || f.Digest != sha256.Sum256([]byte(files[paths[i]])) {
				t.Fatalf("file %d of %d: %s %s, want %s with its content's digest", i, n, f.Path, f.Digest, paths[i])
			}
		}
		missing := append(slices.Clone(paths[:n/2]), append([]string{"no-such-file"}, paths[n/2:]...)...)
		if _, err := NewHasher(root, "").Hash(missing); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a missing file among %d: err %v", n+1, err)
		}
	}
}
