package image

import (
	"context"
	"os/exec"
	"strings"
)

// Commit is the state of the project's git checkout: the commit's first 12
// hex digits and whether the tree has changes (tracked or untracked) that
// are not committed. SHA is "" outside a git repository.
type Commit struct {
	SHA   string
	Dirty bool
}

// ReadCommit asks git about the checkout at root.
func ReadCommit(ctx context.Context, root string) Commit {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--verify", "-q", "HEAD").Output()
	sha := strings.TrimSpace(string(out))
	if err != nil || len(sha) < 12 {
		return Commit{}
	}
	status, err := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain", "--ignore-submodules=dirty").Output()
	return Commit{SHA: sha[:12], Dirty: err != nil || len(status) > 0}
}

// ContentTag is the tag of an image whose files hash (its cache key, hex)
// is key: commit-<sha12>-files-<hash12>[-dirty], or files-<hash12> outside
// git. The commit part says where the image came from; the files part
// alone decides whether it must be built.
func ContentTag(c Commit, key string) string {
	files := FilesPart(key)
	if c.SHA == "" {
		return files
	}
	tag := "commit-" + c.SHA + "-" + files
	if c.Dirty {
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
