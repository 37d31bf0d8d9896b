package gitcache

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// wholePack is the pack a trigger sends: sha's objects its parents lack,
// every one whole.
func wholePack(t *testing.T, dir string, revs ...string) []byte {
	t.Helper()
	return packOf(t, dir, []string{"--revs", "--thin", "--window=0", "--no-reuse-delta"}, revs...)
}

func packOf(t *testing.T, dir string, flags []string, lines ...string) []byte {
	t.Helper()
	cmd := exec.Command("git", append(append([]string{"pack-objects"}, flags...), "--stdout", "-q")...)
	cmd.Dir, cmd.Stdin = dir, strings.NewReader(strings.Join(lines, "\n")+"\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pack-objects %v: %v", flags, err)
	}
	return out
}

// bareAt is a bare clone of the upstream holding only commit at's history.
func bareAt(u *upstream, at string) string {
	dir := filepath.Join(u.t.TempDir(), "m.git")
	u.git("", "init", "-q", "--bare", dir)
	u.git(dir, "fetch", "-q", u.work, at+":refs/heads/base")
	return dir
}

// AddObjects takes the packs a trigger makes of commits of every shape,
// and leaves a repository that git finds complete and correct: fsck
// (which checks each pack against its index, and every object's hash)
// and the trees of each commit agree with the repository it came from.
func TestAddObjects(t *testing.T) {
	u := newUpstream(t)
	base := u.git(u.work, "rev-parse", "HEAD")
	mirror := bareAt(u, base)
	write := func(path, content string) {
		os.MkdirAll(filepath.Join(u.work, filepath.Dir(path)), 0o755)
		os.WriteFile(filepath.Join(u.work, path), []byte(content), 0o644)
	}
	steps := []struct {
		name string
		edit func()
	}{
		{"new nested files", func() {
			write("a/b/c/deep.go", "package c\n")
			write("a/top.txt", strings.Repeat("many lines of text\n", 4000))
			write("empty", "")
		}},
		{"one file edited", func() { write("a/top.txt", strings.Repeat("many lines of text\n", 3999)+"changed\n") }},
		{"a file removed", func() { os.Remove(filepath.Join(u.work, "a/b/c/deep.go")) }},
		{"nothing changed", func() {}},
		{"a submodule and an executable", func() {
			u.git(u.work, "update-index", "--add", "--cacheinfo", "160000,"+base+",vendor/sub")
			write("run.sh", "#!/bin/sh\n")
			os.Chmod(filepath.Join(u.work, "run.sh"), 0o755)
		}},
	}
	for _, s := range steps {
		s.edit()
		u.git(u.work, "add", "-A")
		u.git(u.work, "commit", "-q", "--allow-empty", "-m", s.name)
		sha := u.git(u.work, "rev-parse", "HEAD")
		if err := AddObjects(mirror, sha, wholePack(t, u.work, sha, "--not", sha+"^@")); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if !Stored(mirror, sha) {
			t.Fatalf("%s: commit not stored", s.name)
		}
		u.git(mirror, "fsck", "--strict", "--no-dangling")
		if got, want := u.git(mirror, "ls-tree", "-r", "--full-tree", sha), u.git(u.work, "ls-tree", "-r", "--full-tree", sha); got != want {
			t.Errorf("%s: the mirror's tree differs:\n%s\nwant\n%s", s.name, got, want)
		}
		if got := u.git(mirror, "rev-list", "--objects", sha); got != u.git(u.work, "rev-list", "--objects", sha) {
			t.Errorf("%s: the mirror reaches other objects", s.name)
		}
	}
}

// What AddObjects cannot take it leaves as it was, with no file added:
// the commit is not stored, so git is asked instead.
func TestAddObjectsRefuses(t *testing.T) {
	u := newUpstream(t)
	base := u.git(u.work, "rev-parse", "HEAD")
	mirror := bareAt(u, base)
	commit := func(file, content string) string {
		os.WriteFile(filepath.Join(u.work, file), []byte(content), 0o644)
		u.git(u.work, "add", "-A")
		u.git(u.work, "commit", "-q", "-m", file)
		return u.git(u.work, "rev-parse", "HEAD")
	}
	big := strings.Repeat("a line that a delta can share\n", 2000)
	two := commit("one", big) // "one" was the first commit's file
	three := commit("one", big+"and one more\n")
	good := wholePack(t, u.work, two, "--not", base)

	refused := func(what, sha string, pack []byte, want error) {
		t.Helper()
		err := AddObjects(mirror, sha, pack)
		if err == nil {
			t.Errorf("%s: added", what)
		} else if want != nil && !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", what, err, want)
		}
		if Stored(mirror, sha) {
			t.Errorf("%s: commit %s stored", what, sha[:12])
		}
		if packs, _ := filepath.Glob(filepath.Join(mirror, "objects", "pack", "*")); len(packs) > 0 {
			t.Errorf("%s: files left: %v", what, packs)
		}
	}
	refused("not a pack", two, []byte("PACK but not really, and long enough"), nil)
	refused("a pack cut short", two, good[:len(good)-30], nil)
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 1
	refused("a pack with a byte changed", two, flipped, nil)
	refused("the commit without its tree", two, packOf(t, u.work, nil, two), nil)
	refused("a pack against a parent the repository lacks", three, wholePack(t, u.work, three, "--not", two), nil)
	refused("a pack with deltas", three, packOf(t, u.work, []string{"--revs", "--thin"}, three, "--not", two), ErrNotWhole)

	// A tree that names a blob as a directory: each object is sound,
	// the commit is not.
	blob := u.git(u.work, "rev-parse", base+":one")
	raw, _ := hex.DecodeString(blob)
	tree := hashObject(u, "tree", append([]byte("40000 dir\x00"), raw...))
	liar := u.git(u.work, "commit-tree", tree, "-p", base, "-m", "liar")
	refused("a blob reached as a tree", liar, packOf(t, u.work, nil, liar, tree, blob), nil)

	if err := AddObjects(mirror, two, good); err != nil {
		t.Fatalf("after all that, the good pack: %v", err)
	}
	u.git(mirror, "fsck", "--strict", "--no-dangling")
}

func hashObject(u *upstream, kind string, data []byte) string {
	u.t.Helper()
	cmd := exec.Command("git", "hash-object", "-w", "--literally", "-t", kind, "--stdin")
	cmd.Dir, cmd.Stdin = u.work, bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		u.t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// FuzzReadPack: any input is read or refused, never a crash, and what is
// read hashes to the ids it is filed under. Each input is also read with
// its trailer made the right checksum, so that the entries are reached.
func FuzzReadPack(f *testing.F) {
	dir := f.TempDir()
	for _, args := range [][]string{{"init", "-q", dir}, {"-C", dir, "commit", "-q", "--allow-empty", "-m", "x"}} {
		cmd := exec.Command("git", args...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			f.Fatalf("%v: %s", err, out)
		}
	}
	cmd := exec.Command("git", "pack-objects", "--revs", "--stdout", "-q")
	cmd.Dir, cmd.Stdin = dir, strings.NewReader("HEAD\n")
	pack, err := cmd.Output()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pack)
	f.Add([]byte("PACK\x00\x00\x00\x02\x00\x00\x00\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		inputs := [][]byte{data}
		if len(data) >= sha1.Size {
			body := data[:len(data)-sha1.Size]
			sum := sha1.Sum(body)
			inputs = append(inputs, append(bytes.Clone(body), sum[:]...))
		}
		for _, in := range inputs {
			objs, err := readPack(in)
			if err != nil {
				continue
			}
			for id, o := range objs {
				if objectID(o.kind, o.data) != id {
					t.Fatalf("object filed as %s hashes otherwise", id)
				}
			}
		}
	})
}
