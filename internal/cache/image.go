package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/sparkwing-dev/sparkwing/internal/buildctx"
	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// computeImage returns an image job's key: the hash of what BuildKit
// receives and is told. The Dockerfile and its ignore file; of the main
// context, what the build's stages read (see buildctx.Narrowing), as
// BuildKit's client sends it; each named context whole; the target, build
// args and platforms. Where the image is pushed and how it is tagged do
// not change the image, so they are not in the key; the jobs it needs are
// not either, since only what lands in a context can reach the build.
func (c *Cache) computeImage(ctx context.Context, j plan.Job) (*Computed, error) {
	im := j.Image
	dockerfile := im.ResolvedDockerfile()
	content, err := fileset.ReadUserFile(c.abs(dockerfile), 16<<20)
	if err != nil {
		return nil, fmt.Errorf("image %s: Dockerfile: %w", j.ID, err)
	}
	scope := &buildctx.Scope{Dockerfile: dockerfile, Content: content, Target: im.Target, Args: im.Args, Platforms: im.Platforms}
	if im.WholeContext {
		scope = nil
	}
	files, narrowing, ignore, err := c.contextFiles(ctx, im.ContextDir(), c.abs(im.ContextDir()), c.abs(dockerfile), "", scope)
	if err != nil {
		return nil, err
	}
	if narrowing == nil {
		narrowing = &buildctx.Narrowing{Whole: true, Reason: "fingerprint: context"}
	}
	for _, name := range im.ContextNames() {
		dir := im.Contexts[name]
		abs := dir
		if !filepath.IsAbs(dir) {
			abs = c.abs(dir)
		}
		more, _, _, err := c.contextFiles(ctx, dir, abs, "", name+":", nil)
		if err != nil {
			return nil, err
		}
		files = append(files, more...)
	}
	m := imageManifest(j, runtime.GOOS+"/"+runtime.GOARCH, fileset.File{Path: dockerfile, Digest: sha256.Sum256(content)}, ignore, narrowing, files)
	return &Computed{Key: c.key(m, j.ID), Manifest: m, Inputs: files}, nil
}

// contextFiles lists one build context as BuildKit receives it. rel is the
// context as configured; dockerfile is "" for a named context, which
// honours only its own .dockerignore; prefix ("NAME:" for a named context, "" for the
// main one) makes its paths distinct in the manifest. The main context's
// paths are relative to the project root, so `why` names real files. A
// scope narrows the listing to what the build reads (the main context's).
// It also returns the ignore file applied, if any, with its digest.
func (c *Cache) contextFiles(ctx context.Context, rel, abs, dockerfile, prefix string, scope *buildctx.Scope) ([]fileset.File, *buildctx.Narrowing, *fileset.File, error) {
	ignorePath := buildctx.IgnoreFile(abs, dockerfile)
	var ignore *fileset.File
	if ignorePath != "" {
		data, err := fileset.ReadUserFile(ignorePath, 16<<20)
		if err != nil {
			return nil, nil, nil, err
		}
		name, _ := filepath.Rel(c.Root, ignorePath)
		ignore = &fileset.File{Path: filepath.ToSlash(name), Digest: sha256.Sum256(data)}
	}
	excludes, err := buildctx.Excludes(ignorePath)
	if err != nil {
		return nil, nil, nil, err
	}
	if c.ListContext == nil {
		return nil, nil, nil, errors.New("image jobs need sparkwing-image to list their build context")
	}
	hash, base := c.contextHasher(abs)
	entries, narrowing, err := buildctx.List(ctx, c.ListContext, abs, excludes, scope, func(p string) (fileset.Digest, error) {
		f, err := hash.Hash([]string{path.Join(base, p)})
		if err != nil {
			return fileset.Digest{}, err
		}
		return f[0].Digest, nil
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("build context %s: %w", rel, err)
	}
	files := make([]fileset.File, len(entries))
	for i, e := range entries {
		name := e.Path
		if prefix == "" {
			name = path.Join(base, e.Path)
		}
		files[i] = fileset.File{Path: prefix + name, Mode: e.Mode, Digest: e.Digest, Link: e.Link}
	}
	return files, narrowing, ignore, nil
}

// contextHasher returns the hasher for files below abs and abs's path
// relative to that hasher's root: the project's hasher inside the project,
// else one per outside directory with its own stat cache.
func (c *Cache) contextHasher(abs string) (*fileset.Hasher, string) {
	if rel, err := filepath.Rel(c.Root, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
		return c.Hasher, filepath.ToSlash(rel)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.outside == nil {
		c.outside = map[string]*fileset.Hasher{}
	}
	h, ok := c.outside[abs]
	if !ok {
		statPath := ""
		if c.StatDir != "" {
			sum := sha256.Sum256([]byte(abs))
			statPath = filepath.Join(c.StatDir, hex.EncodeToString(sum[:8]))
		}
		h = fileset.NewHasher(abs, statPath)
		c.outside[abs] = h
	}
	return h, "."
}

// SaveStats writes the stat caches of directories outside the project.
func (c *Cache) SaveStats() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range c.outside {
		h.Save()
	}
}

// imageManifest is Manifest for an image job.
func imageManifest(j plan.Job, platform string, dockerfile fileset.File, ignore *fileset.File, narrowing *buildctx.Narrowing, files []fileset.File) string {
	im := j.Image
	var lines []string
	add := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	add("%s", manifestHeader)
	add("platform %s", platform)
	add("dockerfile %s %s", q(dockerfile.Path), dockerfile.Digest)
	if ignore != nil {
		add("ignore-file %s %s", q(ignore.Path), ignore.Digest)
	}
	add("context-scope %s", ContextScope(narrowing))
	add("target %s", q(im.Target))
	add("platforms %s", q(strings.Join(im.Platforms, ",")))
	add("image-context %s", q(im.ContextDir()))
	for _, name := range im.ContextNames() {
		add("context %s %s", q(name), q(im.Contexts[name]))
	}
	for _, name := range sortedKeys(im.Args) {
		d := sha256.Sum256([]byte(im.Args[name]))
		add("build-arg %s %s", q(name), hex.EncodeToString(d[:]))
	}
	for _, f := range files {
		line := fmt.Sprintf("file %s %o %s", q(f.Path), uint32(f.Mode), f.Digest)
		if f.Mode&fs.ModeDir != 0 {
			line = fmt.Sprintf("file %s %o dir", q(f.Path), uint32(f.Mode))
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "\n") + "\n"
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return sorted(keys)
}

// ContextScope is a narrowing as its manifest value: `whole "REASON"`,
// or the paths read, quoted.
func ContextScope(n *buildctx.Narrowing) string {
	if n == nil || n.Whole {
		reason := ""
		if n != nil {
			reason = n.Reason
		}
		return "whole " + q(reason)
	}
	words := []string{"paths"}
	for _, p := range n.Paths {
		words = append(words, q(p))
	}
	return strings.Join(words, " ")
}

// SyncKey is image job j's key with the content of the files it syncs
// (plan.Image.Sync) left out, their mode kept. Two builds with the same
// SyncKey differ at most in those files, so `sparkwing dev --sync` may
// copy them into the running containers instead of building the image
// and rolling it out; anything else the image is built from (the
// Dockerfile, another file of the context, a build arg) changes it.
func (c *Cache) SyncKey(ctx context.Context, j plan.Job) (Key, error) {
	comp, err := c.computeImage(ctx, j)
	if err != nil {
		return Key{}, err
	}
	lines := strings.Split(comp.Manifest, "\n")
	for _, p := range j.Image.SyncPaths() {
		prefix := "file " + q(path.Clean(p)) + " "
		for i, l := range lines {
			if strings.HasPrefix(l, prefix) {
				mode, _, _ := strings.Cut(l[len(prefix):], " ")
				lines[i] = prefix + mode + " synced"
			}
		}
	}
	return c.key(strings.Join(lines, "\n"), j.ID), nil
}
