package fileset

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// age sets the timestamps of paths an hour back, so that the tree trusts
// them (ctime cannot be set, so settled-ness is checked through a tree
// whose clock we do not control: these tests only rely on changes being
// seen, never on them being missed).
func age(t *testing.T, root string, paths ...string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	for _, p := range paths {
		if err := os.Chtimes(filepath.Join(root, p), old, old); err != nil {
			t.Fatal(err)
		}
	}
}

func TestInvalidateSeesEveryKindOfChange(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{"a/x.go": "x", "a/b/y.go": "y", "c/z.go": "z", ".gitignore": "*.tmp\n"})
	age(t, root, "a", "a/b", "c", ".", ".gitignore")
	tree := NewTree(root)
	match := func() []string {
		t.Helper()
		got, err := tree.Match([]string{"**/*.go", "**/*.tmp"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	steps := []struct {
		name   string
		change func()
		want   []string
	}{
		{"first listing", func() {}, []string{"a/b/y.go", "a/x.go", "c/z.go"}},
		{"file added deep", func() { write(t, root, map[string]string{"a/b/new.go": "n"}) },
			[]string{"a/b/new.go", "a/b/y.go", "a/x.go", "c/z.go"}},
		{"file removed", func() { os.Remove(filepath.Join(root, "a/x.go")) },
			[]string{"a/b/new.go", "a/b/y.go", "c/z.go"}},
		{"directory removed", func() { os.RemoveAll(filepath.Join(root, "a/b")) }, []string{"c/z.go"}},
		{"directory re-created", func() { write(t, root, map[string]string{"a/b/again.go": "n"}) },
			[]string{"a/b/again.go", "c/z.go"}},
		{"file renamed", func() { os.Rename(filepath.Join(root, "c/z.go"), filepath.Join(root, "c/w.go")) },
			[]string{"a/b/again.go", "c/w.go"}},
		{"ignored file added", func() { write(t, root, map[string]string{"c/t.tmp": "t"}) },
			[]string{"a/b/again.go", "c/w.go"}},
		{".gitignore rewritten in place", func() { write(t, root, map[string]string{".gitignore": "*.go\n"}) },
			[]string{"c/t.tmp"}},
		{"nested .gitignore added", func() { write(t, root, map[string]string{"c/.gitignore": "*.tmp\n", ".gitignore": "\n"}) },
			[]string{"a/b/again.go", "c/w.go"}},
	}
	for _, s := range steps {
		s.change()
		tree.Invalidate()
		if got := match(); !slices.Equal(got, s.want) {
			t.Fatalf("after %s: %v, want %v", s.name, got, s.want)
		}
	}
}

// TestConcurrentChangesAreSeenAfterInvalidate is the property the engine
// relies on: whatever a job did before Invalidate is in every later match,
// even when many changes land in one directory within one timestamp tick
// and matches run concurrently.
func TestConcurrentChangesAreSeenAfterInvalidate(t *testing.T) {
	root := t.TempDir()
	tree := NewTree(root)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				name := fmt.Sprintf("d%d/f%03d.txt", i%3, w*1000+i)
				abs := filepath.Join(root, name)
				os.MkdirAll(filepath.Dir(abs), 0o755)
				if err := os.WriteFile(abs, nil, 0o644); err != nil {
					t.Error(err)
					return
				}
				tree.Invalidate()
				got, err := tree.Match([]string{"**/*.txt"}, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if _, found := slices.BinarySearch(got, name); !found {
					t.Errorf("%s was created before Invalidate but is not matched", name)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestMatchReadsOnlyBelowTheGlobBase: a glob under one directory does not
// read the rest of the tree (which is what keeps a job's lookup cheap).
func TestMatchReadsOnlyBelowTheGlobBase(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{"pkgs/a/src/x.txt": "x", "pkgs/b/src/y.txt": "y", "other/deep/z.txt": "z"})
	tree := NewTree(root)
	got, err := tree.Match([]string{"pkgs/a/src/**"}, nil)
	if err != nil || !slices.Equal(got, []string{"pkgs/a/src/x.txt"}) {
		t.Fatalf("Match = %v, %v", got, err)
	}
	var read []string
	for rel, d := range tree.dirs {
		if !d.readAt.IsZero() {
			read = append(read, rel)
		}
	}
	slices.Sort(read)
	if want := []string{"", "pkgs", "pkgs/a", "pkgs/a/src"}; !slices.Equal(read, want) {
		t.Errorf("read directories %q, want only the glob base and its parents %q", read, want)
	}
}

// TestRecentlyChangedDirectoriesAreReadAgain: a directory whose timestamps
// are too close to when it was read may change again without them moving
// (they are coarser than the clock), so it is read again after Invalidate
// until it has settled.
func TestRecentlyChangedDirectoriesAreReadAgain(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{"d/a.txt": "a"})
	age(t, root, ".")
	st, err := os.Lstat(filepath.Join(root, "d"))
	if err != nil {
		t.Fatal(err)
	}
	clock := st.ModTime() // read in the very tick the directory changed
	tree := NewTree(root)
	tree.now = func() time.Time { return clock }
	reads := func() time.Time {
		if _, err := tree.Match([]string{"d/*.txt"}, nil); err != nil {
			t.Fatal(err)
		}
		return tree.dirs["d"].readAt
	}
	first := reads()
	clock = clock.Add(time.Second)
	tree.Invalidate()
	if again := reads(); !again.After(first) {
		t.Fatal("a directory read in the tick it changed was trusted after Invalidate")
	}
	clock = clock.Add(time.Hour)
	tree.Invalidate()
	settledAt := reads()
	clock = clock.Add(time.Hour)
	tree.Invalidate()
	if reads() != settledAt {
		t.Error("a settled, unchanged directory was read again")
	}
}

// Timestamps kept to the nanosecond are trusted a tenth of a second after
// they were set; whole seconds (a filesystem that may keep only seconds)
// only after two.
func TestSettledWaitsForTheTimestampsGrain(t *testing.T) {
	base := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	fine := statKey{mtime: base.Add(123456789).UnixNano(), ctime: base.Add(123456789).UnixNano()}
	coarse := statKey{mtime: base.UnixNano(), ctime: base.UnixNano()}
	mixed := statKey{mtime: base.UnixNano(), ctime: base.Add(123456789).UnixNano()}
	for _, tc := range []struct {
		name  string
		k     statKey
		after time.Duration
		want  bool
	}{
		{"fine, within a tenth", fine, 123456789 + 50*time.Millisecond, false},
		{"fine, after a tenth", fine, 123456789 + 150*time.Millisecond, true},
		{"whole seconds, after a tenth", coarse, 150 * time.Millisecond, false},
		{"whole seconds, within two", coarse, 1900 * time.Millisecond, false},
		{"whole seconds, after two", coarse, 2100 * time.Millisecond, true},
		{"mtime in whole seconds", mixed, 1900 * time.Millisecond, false},
	} {
		if got := settled(tc.k, base.Add(tc.after)); got != tc.want {
			t.Errorf("%s: settled = %v, want %v", tc.name, got, tc.want)
		}
	}
}
