package remoterun

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// parseStatus reads git's machine format: a real repository with every
// kind of change, before the first commit, on a branch and detached.
func TestParseStatus(t *testing.T) {
	dir := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return string(out)
	}
	write := func(name, content string) { os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644) }
	git("init", "-q", "-b", "main")
	write("a.txt", "a")
	if st := parseStatus(git("status", "--porcelain=v2", "--branch")); st.sha != "" || st.branch != "main" || len(st.changes) != 1 {
		t.Errorf("before the first commit: %+v", st)
	}
	for _, f := range []string{"a.txt", "b.txt", "old name.txt", "c.txt"} {
		write(f, f+"\n")
	}
	git("add", "-A")
	git("commit", "-q", "-m", "one")
	head := strings.TrimSpace(git("rev-parse", "HEAD"))

	write("a.txt", "changed") // modified, not staged
	write("b.txt", "staged")  // modified, staged, then modified again
	git("add", "b.txt")
	write("b.txt", "again")
	git("mv", "old name.txt", "new name.txt") // renamed, with spaces
	git("rm", "-q", "c.txt")                  // deleted
	write("untracked file.txt", "new")        // untracked, with a space
	st := parseStatus(git("status", "--porcelain=v2", "--branch"))
	want := []string{"?? untracked file.txt", "D c.txt", "M a.txt", "MM b.txt", "R new name.txt"} // XY as --short shows it, then the path
	slices.Sort(st.changes)
	if st.sha != head || st.branch != "main" || !slices.Equal(st.changes, want) {
		t.Errorf("parsed %+v\nwant sha %s on main and %q", st, head, want)
	}

	git("checkout", "-q", "--detach")
	if st := parseStatus(git("status", "--porcelain=v2", "--branch")); st.sha != head || st.branch != "" {
		t.Errorf("detached: %+v", st)
	}
}
