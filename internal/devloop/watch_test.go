package devloop

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestSettleDropsWhatCameAndWent(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "bin"), 0o755)
	os.WriteFile(filepath.Join(root, "main.go"), []byte("package main"), 0o644)
	os.WriteFile(filepath.Join(root, "bin", "server"), nil, 0o755)
	cs := changeSet{
		paths: []string{"main.go", "bin", "bin/server-go-tmp-umask", "bin/server", "a.swp", "old.go"},
		// bin was created in the set: its temporary file's create event came
		// before the watch on bin; a.swp came and went; old.go was deleted.
		created: map[string]bool{"bin": true, "a.swp": true},
	}
	if !cs.settle(root) {
		t.Fatal("nothing left")
	}
	if want := []string{"main.go", "bin", "bin/server", "old.go"}; !slices.Equal(cs.paths, want) {
		t.Errorf("settled to %v, want %v", cs.paths, want)
	}
}

// A directory a build makes for its outputs is no change (its event is
// ignored), but the set still marks it as made, so that a file that came
// and went in it settles away even when only its removal was seen (the
// watch on the new directory came after the file's creation).
func TestAnIgnoredNewDirectoryIsMarkedMade(t *testing.T) {
	root := t.TempDir()
	ignore := func(rel string, event bool) bool { return event && rel == "bin" }
	w, err := watch(root, ignore, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	os.Mkdir(filepath.Join(root, "bin"), 0o755)
	os.WriteFile(filepath.Join(root, "main.go"), []byte("package main"), 0o644)
	cs := <-w.changes
	if !slices.Equal(cs.paths, []string{"main.go"}) || !cs.created["bin"] {
		t.Errorf("change set: paths %v, created %v; want main.go, with bin marked made", cs.paths, cs.created)
	}
}
