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
	"sync"
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
	git := gitIn(t)
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

// gitIn returns a function that runs git in a directory and returns its
// output, failing the test on an error.
func gitIn(t *testing.T) func(dir string, args ...string) string {
	return func(dir string, args ...string) string {
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

// A slot's worktree is kept: the next run's checkout leaves exactly the
// commit's files, as a fresh one would (a file the run made, an ignored
// one, an edited one, one the new commit deletes), and a file the two
// commits share keeps its inode, so the stat cache still trusts it. A
// directory that is not the mirror's worktree is made afresh.
func TestKeptWorktree(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	git := gitIn(t)
	src := filepath.Join(tmp, "src")
	git("", "init", "-q", src)
	os.WriteFile(filepath.Join(src, ".gitignore"), []byte("out/\n"), 0o644)
	os.WriteFile(filepath.Join(src, "same.txt"), []byte("same\n"), 0o644)
	os.WriteFile(filepath.Join(src, "gone.txt"), []byte("gone\n"), 0o644)
	git(src, "add", "-A")
	git(src, "commit", "-q", "-m", "one")
	first := git(src, "rev-parse", "HEAD")
	os.Remove(filepath.Join(src, "gone.txt"))
	os.WriteFile(filepath.Join(src, "new.txt"), []byte("new\n"), 0o644)
	git(src, "add", "-A")
	git(src, "commit", "-q", "-m", "two")
	second := git(src, "rev-parse", "HEAD")

	r := &runner{cfg: Config{Dir: tmp, Client: api.NewClient("http://127.0.0.1:1", "t"), Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
		mirrors: map[string]*sync.Mutex{}}
	mirror := r.mirrorPath("app")
	os.MkdirAll(filepath.Dir(mirror), 0o755)
	git("", "clone", "-q", "--bare", src, mirror)
	dir := filepath.Join(tmp, "work", "app", "0")
	checkout := func(sha string) {
		t.Helper()
		if from, err := r.checkout(ctx, &api.Assignment{Run: api.Run{Repo: "app", SHA: sha}}, dir); err != nil || from != "mirror" {
			t.Fatalf("checkout of %s: %q, %v", sha[:12], from, err)
		}
	}
	checkout(first)
	before, _ := os.Stat(filepath.Join(dir, "same.txt"))
	// What a run leaves behind.
	os.MkdirAll(filepath.Join(dir, "out"), 0o755)
	os.WriteFile(filepath.Join(dir, "out", "result"), []byte("built\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "untracked.txt"), []byte("x\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "gone.txt"), []byte("edited\n"), 0o644)
	git("", "init", "-q", filepath.Join(dir, "nested"))

	checkout(second)
	theirs := filepath.Join(tmp, "theirs")
	git(mirror, "worktree", "add", "-q", "--detach", theirs, second)
	if got, want := tree(t, dir), tree(t, theirs); got != want {
		t.Errorf("files:\n%s\nwant (a fresh worktree):\n%s", got, want)
	}
	if st := git(dir, "status", "--porcelain", "--ignored"); st != "" || git(dir, "rev-parse", "HEAD") != second {
		t.Errorf("status %q, HEAD %s, want clean at %s", st, git(dir, "rev-parse", "HEAD"), second[:12])
	}
	after, _ := os.Stat(filepath.Join(dir, "same.txt"))
	if !os.SameFile(before, after) || !before.ModTime().Equal(after.ModTime()) {
		t.Error("a file both commits share was written again")
	}

	// A run's tidy-up cleans and leaves the mark that lets the next
	// checkout skip its clean; that checkout takes the mark away first,
	// so a run killed before its tidy-up leaves none.
	os.WriteFile(filepath.Join(dir, "untracked.txt"), []byte("x\n"), 0o644)
	r.tidyCheckout("app", dir)
	mark := filepath.Join(mirror, "worktrees", "0", cleanMark)
	if fileExists(filepath.Join(dir, "untracked.txt")) || !fileExists(mark) {
		t.Errorf("after the tidy-up: untracked file left %v, mark made %v", fileExists(filepath.Join(dir, "untracked.txt")), fileExists(mark))
	}
	checkout(first)
	if fileExists(mark) {
		t.Error("the mark outlived the checkout that used it")
	}
	if st := git(dir, "status", "--porcelain", "--ignored"); st != "" {
		t.Errorf("status after a checkout on the mark: %q", st)
	}

	// Not the mirror's worktree any more: made afresh.
	os.WriteFile(filepath.Join(dir, ".git"), []byte("gitdir: /elsewhere\n"), 0o644)
	checkout(first)
	if got := git(dir, "rev-parse", "HEAD"); got != first || !fileExists(filepath.Join(dir, "gone.txt")) {
		t.Errorf("made afresh at %s: HEAD %s", first[:12], got)
	}
}

// The tip written without git is the ref git reads, also over a packed
// one.
func TestSetTip(t *testing.T) {
	git := gitIn(t)
	src := filepath.Join(t.TempDir(), "src")
	git("", "init", "-q", src)
	git(src, "commit", "-q", "--allow-empty", "-m", "one")
	one := git(src, "rev-parse", "HEAD")
	git(src, "commit", "-q", "--allow-empty", "-m", "two")
	two := git(src, "rev-parse", "HEAD")
	gitDir := filepath.Join(src, ".git")
	for _, sha := range []string{one, two} {
		if err := setTip(gitDir, sha); err != nil {
			t.Fatal(err)
		}
		if got := git(src, "rev-parse", "--verify", tipRef); got != sha {
			t.Errorf("tip %s, want %s", got, sha)
		}
		git(src, "pack-refs", "--all")
	}
}
