package runner

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sparkwing-dev/sparkwing/internal/controller/api"
)

// addWorktree's result is what `git worktree add --detach` makes: the
// same files and modes, a clean status at the commit, listed and
// removable by git; and a slot's worktree can be made again after its
// directory was left behind.
func TestAddWorktree(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	git := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	src := filepath.Join(tmp, "src")
	git("", "init", "-q", src)
	os.MkdirAll(filepath.Join(src, "cmd", "app"), 0o755)
	os.WriteFile(filepath.Join(src, "cmd", "app", "main.go"), []byte("package main\n"), 0o644)
	os.WriteFile(filepath.Join(src, "build.sh"), []byte("#!/bin/sh\n"), 0o755)
	os.Symlink("build.sh", filepath.Join(src, "link"))
	git(src, "add", "-A")
	git(src, "commit", "-q", "-m", "one")
	first := git(src, "rev-parse", "HEAD")
	os.WriteFile(filepath.Join(src, "second.txt"), []byte("2\n"), 0o644)
	git(src, "add", "-A")
	git(src, "commit", "-q", "-m", "two")
	second := git(src, "rev-parse", "HEAD")

	r := &runner{cfg: Config{Dir: tmp, Client: api.NewClient("http://127.0.0.1:1", "t"), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	mirror := filepath.Join(tmp, "mirror.git")
	git("", "clone", "-q", "--bare", src, mirror)
	ours, theirs := filepath.Join(tmp, "work", "0"), filepath.Join(tmp, "theirs")
	if err := r.addWorktree(ctx, mirror, ours, second); err != nil {
		t.Fatal(err)
	}
	git(mirror, "worktree", "add", "-q", "--detach", theirs, second)
	if got, want := tree(t, ours), tree(t, theirs); got != want {
		t.Errorf("files:\n%s\nwant (git worktree add):\n%s", got, want)
	}
	if st := git(ours, "status", "--porcelain"); st != "" || git(ours, "rev-parse", "HEAD") != second {
		t.Errorf("status %q, HEAD %s, want clean at %s", st, git(ours, "rev-parse", "HEAD"), second)
	}
	if list := git(mirror, "worktree", "list", "--porcelain"); !strings.Contains(list, "worktree "+ours+"\nHEAD "+second+"\ndetached") {
		t.Errorf("git worktree list does not show it:\n%s", list)
	}

	os.RemoveAll(ours) // a runner killed mid-run leaves its directory
	if err := r.addWorktree(ctx, mirror, ours, first); err != nil {
		t.Fatal(err)
	}
	if git(ours, "rev-parse", "HEAD") != first || fileExists(filepath.Join(ours, "second.txt")) {
		t.Errorf("made again at %s: HEAD %s", first, git(ours, "rev-parse", "HEAD"))
	}
	git(mirror, "worktree", "remove", "--force", ours)
	if fileExists(ours) || fileExists(filepath.Join(mirror, "worktrees", "0")) {
		t.Error("git worktree remove left the worktree or its admin directory")
	}
}

// tree lists dir's files (not .git) with their modes and contents.
func tree(t *testing.T, dir string) string {
	var b strings.Builder
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, path)
		if rel == ".git" {
			return nil
		}
		fi, _ := d.Info()
		content := ""
		if fi.Mode().IsRegular() {
			c, _ := os.ReadFile(path)
			content = string(c)
		} else if fi.Mode()&fs.ModeSymlink != 0 {
			content, _ = os.Readlink(path)
		}
		b.WriteString(rel + " " + fi.Mode().String() + " " + strings.TrimSpace(content) + "\n")
		return nil
	})
	return b.String()
}

func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
