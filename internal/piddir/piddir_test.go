package piddir

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestOrphansAreTheDirectoriesOfProcessesThatAreGone(t *testing.T) {
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	mine, err := New(root)
	if err != nil || !strings.HasPrefix(filepath.Base(mine), fmt.Sprint(os.Getpid())+"-") {
		t.Fatalf("New: %s, %v; want a directory named after this process", mine, err)
	}
	dead := filepath.Join(root, fmt.Sprintf("%d-abc", gone.Process.Pid))
	for _, d := range []string{dead, filepath.Join(root, "not-ours"), filepath.Join(root, "0-x")} {
		os.Mkdir(d, 0o755)
	}
	if got := Orphans(root); !slices.Equal(got, []string{dead}) {
		t.Errorf("Orphans = %v, want only %s", got, dead)
	}
}
