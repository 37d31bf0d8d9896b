package fileset

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bmatcuk/doublestar/v4"
)

// keptTree is a cached tree whose clock runs ahead, so that directories
// made by the test count as settled when read.
func keptTree(root, cache string) *Tree {
	t := NewCachedTree(root, cache)
	t.now = func() time.Time { return time.Now().Add(time.Minute) }
	return t
}

func matched(t *testing.T, tr *Tree, globs ...string) []string {
	t.Helper()
	files, err := tr.Match(globs, nil)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestKeptListingsSeeWhatChanged: a later run trusts a kept listing only
// while its directory's stat is unchanged; a file added or removed, a
// damaged cache file, a directory read before it settled, and one with a
// .gitignore are all read again, and every match is what a fresh tree
// finds.
func TestKeptListingsSeeWhatChanged(t *testing.T) {
	root := t.TempDir()
	cache := filepath.Join(t.TempDir(), "dirs")
	for _, p := range []string{"a/x.txt", "a/y.txt", "b/z.txt", "g/kept.txt", "g/skip.log"} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(root, p), []byte(p), 0o644)
	}
	os.WriteFile(filepath.Join(root, "g/.gitignore"), []byte("*.log\n"), 0o644)
	globs := []string{"a/*.txt", "b/**", "g/*"}
	check := func(tr *Tree, wantReads int64) {
		t.Helper()
		got := matched(t, tr, globs...)
		if want := matched(t, NewTree(root), globs...); !slices.Equal(got, want) {
			t.Fatalf("kept listings matched %v, a fresh tree %v", got, want)
		}
		if n := tr.reads.Load(); n != wantReads {
			t.Fatalf("%d directories read, want %d", n, wantReads)
		}
		if err := tr.Save(); err != nil {
			t.Fatal(err)
		}
	}
	check(keptTree(root, cache), 4) // the root, a, b and g: nothing kept yet
	check(keptTree(root, cache), 1) // g holds a .gitignore: read again; the others kept

	os.WriteFile(filepath.Join(root, "a/new.txt"), nil, 0o644)
	check(keptTree(root, cache), 2) // a changed
	os.Remove(filepath.Join(root, "b/z.txt"))
	check(keptTree(root, cache), 2) // b changed
	os.Mkdir(filepath.Join(root, "b/sub"), 0o755)
	os.WriteFile(filepath.Join(root, "b/sub/deep.txt"), nil, 0o644)
	check(keptTree(root, cache), 3) // b changed, and its new directory is read
	check(keptTree(root, cache), 1)

	// A run that reads other directories keeps the listings it did not use.
	other := keptTree(root, cache)
	if got := matched(t, other, "b/**"); len(got) != 1 {
		t.Fatalf("b/** matched %v", got)
	}
	os.WriteFile(filepath.Join(root, "b/sub/deeper.txt"), nil, 0o644)
	other = keptTree(root, cache)
	matched(t, other, "b/**") // reads b/sub again, and keeps a's listing
	other.Save()
	check(keptTree(root, cache), 1)

	data, _ := os.ReadFile(cache)
	data[len(data)-2] ^= 1 // a torn or edited cache: nothing of it is used
	os.WriteFile(cache, data, 0o644)
	check(keptTree(root, cache), 5)

	// Read by a clock that says the directories just changed: not kept.
	os.Remove(cache)
	unsettled := NewCachedTree(root, cache)
	check(unsettled, 5)
	check(keptTree(root, cache), 5)
}

// FuzzParseListing: a damaged listing line is refused or gives sorted
// entries with names; it never panics.
func FuzzParseListing(f *testing.F) {
	f.Add("a/b\t1\t2\t3\t4\t5\t2147484141\t6\tdsub/fx.txt/lln")
	f.Add("\t0\t0\t0\t0\t0\t0\t0\t")
	f.Fuzz(func(t *testing.T, line string) {
		_, d, ok := parseListing(line)
		if !ok {
			return
		}
		for i, e := range d.entries {
			if e.name == "" || (i > 0 && d.entries[i-1].name > e.name) {
				t.Fatalf("bad entries %+v", d.entries)
			}
		}
	})
}

// TestEverythingBelowMatchesAsDoublestar: the "dir/**" shortcut gives what
// matching each file with doublestar gives, dotfiles and depth included.
func TestEverythingBelowMatchesAsDoublestar(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"d/a.txt", "d/.hidden", "d/sub/deep/x.go", "d/sub/.git-keep", "dx/no.txt", "top.txt"} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(root, p), nil, 0o644)
	}
	tr := NewTree(root)
	for _, g := range []string{"d/**", "**", "d/sub/**"} {
		got := matched(t, tr, g)
		all := matched(t, tr, ".")
		var want []string
		for _, f := range all {
			if ok, _ := doublestar.Match(g, f); ok {
				want = append(want, f)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %v, doublestar says %v", g, got, want)
		}
	}
}
