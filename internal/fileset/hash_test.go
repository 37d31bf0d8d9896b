package fileset

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The descriptor-relative lstat says what os.Lstat says, for every kind
// of file and for paths it must leave to os.Lstat.
func TestRootStatMatchesLstat(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "d/sub"), 0o750)
	os.WriteFile(filepath.Join(root, "d/f"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(root, "suid"), []byte("x"), 0o4755)
	os.Symlink("d", filepath.Join(root, "link"))
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(root, "d/sub"), 0o1770)
	r := &rootStat{dir: root}
	for _, rel := range []string{".", "d", "d/f", "d/sub", "suid", "link", "fifo", "link/f", "d/sub/../f"} {
		want, err := os.Lstat(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.lstat(rel)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		if got.mode != want.Mode() || got.size != want.Size() || got.key != keyOf(want) {
			t.Errorf("%s: got %v %d %+v, want %v %d %+v", rel, got.mode, got.size, got.key, want.Mode(), want.Size(), keyOf(want))
		}
	}
	for _, rel := range []string{"", "d", "link", "d/sub/.."} {
		want, err := os.ReadDir(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.readDir(rel)
		if err != nil {
			t.Fatalf("readDir %q: %v", rel, err)
		}
		if len(got) != len(want) {
			t.Fatalf("readDir %q: %d entries, want %d", rel, len(got), len(want))
		}
		for i := range got {
			if got[i].Name() != want[i].Name() || got[i].Type() != want[i].Type() {
				t.Errorf("readDir %q [%d]: %s %v, want %s %v", rel, i, got[i].Name(), got[i].Type(), want[i].Name(), want[i].Type())
			}
		}
	}
	if _, err := r.readDir("d/f"); err == nil {
		t.Error("readDir of a file succeeded")
	}
	_, err := r.lstat("d/missing")
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), filepath.Join(root, "d/missing")) {
		t.Errorf("missing file: err = %v, want not-exist naming the path", err)
	}
}
