package image

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestContentTag(t *testing.T) {
	key := "sha256:0123456789abcdef0000"
	for _, tc := range []struct {
		sha   string
		dirty bool
		want  string
	}{
		{"", false, "files-0123456789ab"},
		{"a1b2c3d4e5f6", false, "commit-a1b2c3d4e5f6-files-0123456789ab"},
		{"a1b2c3d4e5f6", true, "commit-a1b2c3d4e5f6-files-0123456789ab-dirty"},
	} {
		got := ContentTag(tc.sha, tc.dirty, key)
		if got != tc.want {
			t.Errorf("ContentTag(%q, %v) = %s, want %s", tc.sha, tc.dirty, got, tc.want)
		}
		if !SameFiles(got, "files-0123456789ab") || SameFiles(got, "files-0123456789ac") {
			t.Errorf("SameFiles wrong for %s", got)
		}
	}
	if SameFiles("latest", "files-0123456789ab") || SameFiles("xfiles-0123456789ab", "files-0123456789ab") {
		t.Error("SameFiles matched a tag of other content")
	}
}

// Dirty counts only what the build receives: edits to files outside the
// context listing do not count, deleted files under a context do.
func TestDirtyOnlyForWhatTheBuildReceives(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	root := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", root, "-c", "user.name=t", "-c", "user.email=t@t"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	write := func(p, s string) {
		t.Helper()
		os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755)
		if err := os.WriteFile(filepath.Join(root, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("app/main.go", "a")
	write("app/notes/x.txt", "n")
	write("other/y.txt", "y")
	git("init", "-q")
	git("add", "-A")
	git("commit", "-qm", "init")
	sent := []string{"app/main.go", "app/Dockerfile"} // app/notes is .dockerignored
	dirs := []string{"app"}

	c := ReadCommit(context.Background(), root)
	if len(c.SHA) != 12 || c.Dirty(root, sent, dirs) {
		t.Fatalf("clean checkout: %+v dirty=%v", c, c.Dirty(root, sent, dirs))
	}
	write("app/notes/x.txt", "edited")
	write("other/y.txt", "edited")
	write("app/notes/new.txt", "untracked")
	if c := ReadCommit(context.Background(), root); c.Dirty(root, sent, dirs) {
		t.Errorf("edits outside what the build receives made it dirty: %v", c.Changed)
	}
	write("app/main.go", "edited")
	if c := ReadCommit(context.Background(), root); !c.Dirty(root, sent, dirs) {
		t.Errorf("an edit to a sent file is not dirty: %v", c.Changed)
	}
	git("checkout", "--", "app/main.go")
	os.Remove(filepath.Join(root, "app/notes/x.txt"))
	if c := ReadCommit(context.Background(), root); !c.Dirty(root, sent[:1], dirs) {
		t.Errorf("a file deleted under the context is not dirty: %v", c.Changed)
	}
	if c := ReadCommit(context.Background(), t.TempDir()); c.SHA != "" {
		t.Errorf("outside git: %+v", c)
	}
}
