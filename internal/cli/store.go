package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"strings"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/goinput"
	"github.com/sparkwing-dev/sparkwing/internal/image"
	"github.com/sparkwing-dev/sparkwing/internal/job"
)

// openStore opens the local cache store under the cache directory.
func (e *env) openStore() (*cache.Store, error) {
	dir, err := e.cacheDir()
	if err != nil {
		return nil, err
	}
	return cache.OpenStore(filepath.Join(dir, "store-v1"))
}

// newCache prepares the cache for jobs of the project at root. The stat
// cache is per project directory (a moved checkout starts it afresh; keys
// do not depend on the directory). A store that cannot be opened leaves
// the cache without one (Cache.Unusable): jobs then run uncached.
func (e *env) newCache(root string) (*cache.Cache, error) {
	dir, err := e.cacheDir()
	if err != nil {
		return nil, err
	}
	store, unusable := e.openStore()
	if unusable != nil {
		store, unusable = nil, cache.UnusableError(dir, unusable)
	}
	sum := sha256.Sum256([]byte(root))
	c := &cache.Cache{
		Store:    store,
		Unusable: unusable,
		Root:     root,
		Tree:     fileset.NewCachedTree(root, filepath.Join(dir, "stat", hex.EncodeToString(sum[:8])+".dirs")),
		Hasher:   fileset.NewHasher(root, filepath.Join(dir, "stat", hex.EncodeToString(sum[:8]))),
		StatDir:  filepath.Join(dir, "stat"),
		Env:      e.lookupEnv,
		JobEnv:   (&job.Runner{Root: root, LookupEnv: e.lookupEnv}).Env,

		ListContext: image.HelperLister(e.getenv("SPARKWING_IMAGE_HELPER")),
		Go:          &goinput.Resolver{Root: root, Dir: filepath.Join(dir, "golist")},
	}
	if rel, err := filepath.Rel(root, dir); err == nil && rel != "." && !strings.HasPrefix(rel, "..") {
		c.NeverInputs = []string{filepath.ToSlash(rel) + "/**"}
	}
	if e.getenv("SPARKWING_DEBUG_KEYS") == "1" {
		c.Debug = e.stderr
	}
	return c, nil
}

// lookupEnv looks a variable up in the environment sparkwing was given.
func (e *env) lookupEnv(name string) (string, bool) {
	for i := len(e.environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(e.environ[i], "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}
