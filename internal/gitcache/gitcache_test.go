package gitcache

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// upstream is a real repository on disk whose upload-pack counts the
// fetches served.
type upstream struct {
	t            *testing.T
	url, counter string
	work         string
}

func newUpstream(t *testing.T) *upstream {
	dir := t.TempDir()
	u := &upstream{t: t, url: filepath.Join(dir, "up.git"), counter: filepath.Join(dir, "count"), work: filepath.Join(dir, "work")}
	u.git("", "init", "-q", "--bare", "-b", "main", u.url)
	u.git("", "clone", "-q", u.url, u.work)
	u.git(u.work, "checkout", "-q", "-b", "main")
	u.commit("one")
	return u
}

func (u *upstream) git(dir string, args ...string) string {
	u.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		u.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit makes a commit touching file msg, pushes it and returns it.
func (u *upstream) commit(msg string) string {
	os.WriteFile(filepath.Join(u.work, msg), []byte(msg), 0o644)
	u.git(u.work, "add", "-A")
	u.git(u.work, "commit", "-q", "-m", msg)
	u.git(u.work, "push", "-q", "origin", "HEAD:main")
	return u.git(u.work, "rev-parse", "HEAD")
}

// countFetches makes the mirror's fetches go through a counting
// upload-pack and returns how many it has served so far.
func (u *upstream) countFetches(c *Cache, name string) func() int {
	script := filepath.Join(filepath.Dir(u.counter), "upload-pack")
	os.WriteFile(script, []byte("#!/bin/sh\necho x >> "+u.counter+"\nexec git-upload-pack \"$@\"\n"), 0o755)
	u.git(c.Path(name), "config", "remote.origin.uploadpack", script)
	return func() int {
		b, _ := os.ReadFile(u.counter)
		return strings.Count(string(b), "x")
	}
}

// A burst of refreshes for a just-pushed commit makes one fetch, and
// each of them sees the commit.
func TestRefreshIsSingleFlight(t *testing.T) {
	u := newUpstream(t)
	c, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Clone(ctx, "app", u.url); err != nil {
		t.Fatal(err)
	}
	fetches := u.countFetches(c, "app")
	sha := u.commit("two")
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := c.Refresh(ctx, "app", sha); err != nil {
				t.Error(err)
			}
			if !c.HasCommit(ctx, "app", sha) {
				t.Error("a refresh returned before the mirror had the commit")
			}
		})
	}
	wg.Wait()
	if n := fetches(); n != 1 {
		t.Errorf("20 refreshes at once made %d fetches, want 1", n)
	}
	// A commit the mirror has costs no fetch; one it lacks costs one.
	c.Refresh(ctx, "app", sha)
	if n := fetches(); n != 1 {
		t.Errorf("a refresh for a commit the mirror has fetched (%d fetches)", n)
	}
	c.Refresh(ctx, "app", u.commit("three"))
	if n := fetches(); n != 2 {
		t.Errorf("after a new commit: %d fetches, want 2", n)
	}
}

func TestReadFileChangedHead(t *testing.T) {
	u := newUpstream(t)
	c, _ := New(t.TempDir())
	ctx := context.Background()
	first := u.git(u.work, "rev-parse", "HEAD")
	second := u.commit("two")
	if err := c.Clone(ctx, "app", u.url); err != nil {
		t.Fatal(err)
	}
	if b, err := c.ReadFile(ctx, "app", second, "two"); err != nil || string(b) != "two" {
		t.Errorf("ReadFile = %q, %v", b, err)
	}
	if _, err := c.ReadFile(ctx, "app", first, "two"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file the commit lacks: %v, want not exist", err)
	}
	if files, err := c.Changed(ctx, "app", first, second); err != nil || strings.Join(files, ",") != "two" {
		t.Errorf("Changed = %v, %v", files, err)
	}
	if branch, sha, err := c.Head(ctx, "app"); err != nil || branch != "main" || sha != second {
		t.Errorf("Head = %s %s %v", branch, sha, err)
	}
	if err := c.Clone(ctx, "bad/name", u.url); err == nil {
		t.Error("a name with a slash was accepted")
	}
	var ue *UpstreamError
	if err := c.Clone(ctx, "gone", filepath.Join(t.TempDir(), "missing.git")); !errors.As(err, &ue) || !strings.Contains(err.Error(), "missing.git") {
		t.Errorf("an unreachable upstream: %v", err)
	}
}

// A trigger's pack adds its commit with no fetch, and only when it holds
// everything the mirror lacks of that commit: any other pack leaves the
// mirror as it was.
func TestAddPack(t *testing.T) {
	ctx := context.Background()
	u := newUpstream(t)
	c, _ := New(t.TempDir())
	if err := c.Clone(ctx, "app", u.url); err != nil {
		t.Fatal(err)
	}
	fetches := u.countFetches(c, "app")
	// Two commits made after the mirror's clone, neither pushed.
	local := func(msg string) string {
		os.WriteFile(filepath.Join(u.work, msg), []byte(msg+" content"), 0o644)
		u.git(u.work, "add", "-A")
		u.git(u.work, "commit", "-q", "-m", msg)
		return u.git(u.work, "rev-parse", "HEAD")
	}
	two := local("two")
	three := local("three")
	pack := func(revs ...string) []byte {
		cmd := exec.Command("git", "pack-objects", "--revs", "--thin", "--stdout", "-q")
		cmd.Dir, cmd.Stdin = u.work, strings.NewReader(strings.Join(revs, "\n")+"\n")
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	refused := func(what, sha string, p []byte) {
		t.Helper()
		if err := c.AddPack(ctx, "app", sha, p); err == nil {
			t.Errorf("%s: added", what)
		}
		if c.HasCommit(ctx, "app", sha) {
			t.Errorf("%s: the mirror has commit %s", what, sha[:12])
		}
	}
	refused("not a pack", two, []byte("PACK but not really"))
	commitOnly := exec.Command("git", "pack-objects", "--stdout", "-q")
	commitOnly.Dir, commitOnly.Stdin = u.work, strings.NewReader(two+"\n")
	onlyTwo, err := commitOnly.Output()
	if err != nil {
		t.Fatal(err)
	}
	refused("the commit without its tree", two, onlyTwo)
	refused("a pack against a parent the mirror lacks", three, pack(three, "--not", two))
	if left, _ := filepath.Glob(filepath.Join(c.Path("app"), "objects", "incoming-*")); len(left) > 0 {
		t.Errorf("quarantines left behind: %v", left)
	}

	if err := c.AddPack(ctx, "app", two, pack(two, "--not", two+"^@")); err != nil {
		t.Fatalf("a pack against the mirror's commit: %v", err)
	}
	if err := c.AddPack(ctx, "app", three, pack(three, "--not", three+"^@")); err != nil {
		t.Fatalf("then one against that: %v", err)
	}
	if got := u.git(c.Path("app"), "cat-file", "-p", three+":two"); got != "two content" {
		t.Errorf("two's file read back from the mirror: %q", got)
	}
	if n := fetches(); n != 0 {
		t.Errorf("%d fetches from the upstream, want none", n)
	}
}
