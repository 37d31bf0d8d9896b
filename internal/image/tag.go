package image

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Commit is the state of the project's git checkout: the commit's first 12
// hex digits, and the paths (relative to the project root) that differ
// from it, untracked ones included. SHA is "" outside a git repository.
type Commit struct {
	SHA     string
	Changed map[string]bool
}

// ReadCommit asks git about the checkout at root.
func ReadCommit(ctx context.Context, root string) Commit {
	git := func(args ...string) ([]byte, error) {
		return exec.CommandContext(ctx, "git", append([]string{"-C", root}, args...)...).Output()
	}
	out, err := git("rev-parse", "--verify", "-q", "HEAD")
	sha := strings.TrimSpace(string(out))
	if err != nil || len(sha) < 12 {
		return Commit{}
	}
	c := Commit{SHA: sha[:12], Changed: map[string]bool{}}
	prefix, err := git("rev-parse", "--show-prefix")
	status, err2 := git("status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", "--", ".")
	if err != nil || err2 != nil {
		c.Changed["."] = true // unknown: say dirty
		return c
	}
	p := strings.TrimSpace(string(prefix))
	for _, entry := range bytes.Split(status, []byte{0}) {
		if len(entry) > 3 {
			c.Changed[strings.TrimPrefix(string(entry[3:]), p)] = true
		}
	}
	return c
}

// Dirty reports whether the image built from paths (the files BuildKit
// receives, relative to the project root) differs from the commit. A
// change to a file .dockerignore leaves out does not count: the image is
// still the commit's. A deleted file below one of dirs (the contexts)
// counts, since whether BuildKit would have received it is unknown.
func (c Commit) Dirty(root string, paths, dirs []string) bool {
	if c.Changed["."] {
		return true
	}
	sent := make(map[string]bool, len(paths))
	for _, p := range paths {
		sent[p] = true
	}
	for ch := range c.Changed {
		if sent[ch] {
			return true
		}
		for _, d := range dirs {
			if d == "." || strings.HasPrefix(ch, d+"/") {
				if _, err := os.Lstat(filepath.Join(root, filepath.FromSlash(ch))); err != nil {
					return true
				}
			}
		}
	}
	return false
}

// ContentTag is the tag of an image whose files hash (its cache key) is
// key: commit-<sha12>-files-<hash12>[-dirty], or files-<hash12> outside
// git. The commit part says where the image came from; the files part
// alone decides whether it must be built.
func ContentTag(sha string, dirty bool, key string) string {
	files := FilesPart(key)
	if sha == "" {
		return files
	}
	tag := "commit-" + sha + "-" + files
	if dirty {
		tag += "-dirty"
	}
	return tag
}

// FilesPart is the files-<hash12> part of a content tag.
func FilesPart(key string) string {
	return "files-" + strings.TrimPrefix(key, "sha256:")[:12]
}

// SameFiles reports whether tag is a content tag for the files part files,
// under any commit, dirty or not.
func SameFiles(tag, files string) bool {
	return tag == files || strings.HasSuffix(tag, "-"+files) || strings.HasSuffix(tag, "-"+files+"-dirty")
}

// Ref is a parsed REGISTRY/REPOSITORY:TAG.
type Ref struct{ Host, Repo, Tag string }

func (r Ref) String() string { return r.Host + "/" + r.Repo + ":" + r.Tag }

// RefIn is the reference to repo:tag in a registry entry such as
// 127.0.0.1:5000 or ghcr.io/acme (a host, then a path prefix).
func RefIn(registry, repo, tag string) Ref {
	host, prefix, _ := strings.Cut(registry, "/")
	if prefix = strings.Trim(prefix, "/"); prefix != "" {
		repo = prefix + "/" + repo
	}
	return Ref{Host: host, Repo: repo, Tag: tag}
}
