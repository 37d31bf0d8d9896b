package devloop

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
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
