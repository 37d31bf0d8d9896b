package fileset

import (
	"os"
	"path/filepath"
	"reflect"
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
