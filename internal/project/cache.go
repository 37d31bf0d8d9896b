package project

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
)

// Parsing a large project file with positions for every error is a real
// share of a no-op run, so the decoded form of a file that parsed cleanly
// is kept in a cache file, one per project, keyed by the SHA-256 of the
// file's content and the identity of the program that decoded it. The
// file is read on every run anyway; an edit, even in the same second as
// the cached copy, changes its digest. A cache file that is missing,
// damaged or for other content is ignored and the file parsed again.

// cachedFile is what the cache file holds.
type cachedFile struct {
	Key      string        `json:"key"`
	Buildkit string        `json:"buildkit,omitempty"`
	Cache    CacheSettings `json:"cache"`
	Pipes    []*Pipeline   `json:"pipelines"`
	Sparks   []Spark       `json:"sparks,omitempty"`
	Refresh  time.Duration `json:"sparks_refresh,omitempty"`
}

const planCacheMagic = "sparkwing-plan v1 "

// LoadCached is Load through the cache file at cachePath ("" for none);
// program identifies the running binary (a new binary may decode
// differently).
func LoadCached(root, display, cachePath, program string) (*File, error) {
	data, err := fileset.ReadUserFile(filepath.Join(root, Dir, FileName), maxFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, &NotFoundError{Looked: []string{root}}
	}
	if err != nil {
		return nil, err
	}
	if cachePath == "" {
		return Parse(display, data)
	}
	sum := sha256.Sum256(append([]byte(program+"\x00"), data...))
	key := hex.EncodeToString(sum[:])
	if f := readCached(cachePath, key, display); f != nil {
		return f, nil
	}
	f, err := Parse(display, data)
	if err == nil {
		writeCached(cachePath, key, f)
	}
	return f, err
}

func readCached(cachePath, key, display string) *File {
	data, err := fileset.ReadRegular(cachePath, maxFile*8)
	if err != nil {
		return nil
	}
	header, body, _ := bytes.Cut(data, []byte("\n"))
	sum := sha256.Sum256(body)
	if string(header) != planCacheMagic+hex.EncodeToString(sum[:]) {
		return nil
	}
	var c cachedFile
	if json.Unmarshal(body, &c) != nil || c.Key != key {
		return nil
	}
	f := &File{Path: display, Buildkit: c.Buildkit, Cache: c.Cache, Pipelines: c.Pipes, Sparks: c.Sparks, SparksRefresh: c.Refresh}
	for _, p := range f.Pipelines {
		p.path = display // positions are only for errors, and this file has none
	}
	return f
}

// writeCached replaces the cache file atomically; failing to is harmless.
func writeCached(cachePath, key string, f *File) {
	body, err := json.Marshal(cachedFile{Key: key, Buildkit: f.Buildkit, Cache: f.Cache, Pipes: f.Pipelines, Sparks: f.Sparks, Refresh: f.SparksRefresh})
	if err != nil {
		return
	}
	sum := sha256.Sum256(body)
	data := append([]byte(planCacheMagic+hex.EncodeToString(sum[:])+"\n"), body...)
	if os.MkdirAll(filepath.Dir(cachePath), 0o755) != nil {
		return
	}
	fileset.WriteAtomic(cachePath, data, 0o600)
}
