package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/sparkwing-dev/sparkwing/internal/buildctx"
	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/goinput"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// Cache computes keys for the jobs of one run. Safe for concurrent use.
// Store is nil when the store cannot be used (Unusable says why): keys are
// still computed, nothing is looked up or stored.
type Cache struct {
	Store    *Store
	Unusable error
	Root     string
	Tree     *fileset.Tree
	Hasher   *fileset.Hasher
	Env      func(string) (string, bool) // the caller's environment
	JobEnv   func(plan.Job) []string     // the environment a job (and its tools) runs with
	Debug    io.Writer                   // SPARKWING_DEBUG_KEYS: every manifest line hashed
	Keyed    func(job, manifest string)  // if set, told each job's manifest as its key is made (--verbose)
	StatDir  string                      // where stat caches of build contexts outside Root live; "" none
	// NeverInputs are globs (relative to Root) that are never inputs: the
	// cache directory itself, when it lies inside the project (a CI cache
	// kept in the workspace), which changes while every job runs.
	NeverInputs []string
	// ListContext lists an image job's build context as BuildKit receives
	// it (through sparkwing-image: image.HelperLister); nil: image jobs
	// cannot be keyed.
	ListContext buildctx.Lister
	// Go resolves `go:` inputs; nil: a job with some cannot be keyed.
	Go *goinput.Resolver

	mu      sync.Mutex
	tools   map[string]toolResult      // by command and environment: run once per run
	outside map[string]*fileset.Hasher // by directory: build contexts outside Root
}

type toolResult struct {
	digest fileset.Digest
	err    error
}

// Computed is a job's key with what went into it.
type Computed struct {
	Key       Key
	Manifest  string
	Inputs    []fileset.File
	Tools     map[string]fileset.Digest // tool command → digest of its output
	Unmatched []string                  // input globs that matched no file
	Parts     []Part                    // a Go test job's packages (gotest.go)
}

// Cacheable says whether j's result may be cached, and if not, why.
func Cacheable(j plan.Job) (bool, string) {
	switch {
	case j.Cache != nil && !*j.Cache:
		return false, "disabled"
	case j.Service != nil:
		return false, "service"
	case j.Image != nil:
		return true, "" // its inputs are its build contexts
	case j.Cache == nil && !hasInputs(j):
		return false, "no inputs"
	}
	return true, ""
}

func hasInputs(j plan.Job) bool {
	include, _ := plan.SplitInputs(j.Inputs)
	return len(include) > 0 || len(j.GoInputs) > 0 || j.GoTest != nil
}

// Compute resolves j's inputs, runs its tool commands and returns its key.
// needs holds the output digest of every job j needs.
func (c *Cache) Compute(ctx context.Context, j plan.Job, needs map[string]fileset.Digest) (*Computed, error) {
	if j.Image != nil {
		return c.computeImage(ctx, j)
	}
	if j.GoTest != nil {
		return c.computeGoTest(ctx, j, needs)
	}
	paths, empty, goLines, err := c.inputPaths(ctx, j)
	if err != nil {
		return nil, err
	}
	files, err := c.Hasher.Hash(paths)
	if err != nil {
		return nil, fmt.Errorf("hashing inputs: %w", err)
	}
	tools := map[string]fileset.Digest{}
	for _, t := range j.Tools {
		if tools[t], err = c.Tool(ctx, j, t); err != nil {
			return nil, err
		}
	}
	m := Manifest(j, Inputs{Platform: runtime.GOOS + "/" + runtime.GOARCH, Files: files,
		Env: c.Env, Tools: tools, Needs: needs, Go: goLines})
	return &Computed{Key: c.key(m, j.ID), Manifest: m, Inputs: files, Tools: tools, Unmatched: empty}, nil
}

// inputPaths resolves j's declared inputs, its globs and its `go:`
// inputs, to files (sorted); empty are the globs that matched nothing.
func (c *Cache) inputPaths(ctx context.Context, j plan.Job) (paths, empty, goLines []string, err error) {
	// Files below an output directory are never inputs; every other overlap
	// of inputs and outputs is a plan error (plan.checkPaths).
	include, exclude := plan.SplitInputs(j.Inputs)
	paths, empty, err = c.Tree.MatchEach(include, append(append(exclude, j.Outputs...), c.NeverInputs...))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("resolving inputs: %w", err)
	}
	goFiles, goLines, err := c.ResolveGo(ctx, j)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(goFiles) > 0 {
		paths = slices.Compact(slices.Sorted(slices.Values(append(paths, goFiles...))))
	}
	return paths, empty, goLines, nil
}

// ResolveGo resolves j's `go:` inputs: the files they stand for (less
// j's outputs: files below an output are never inputs) and their manifest
// lines. An error the user must fix is a *goinput.Error.
func (c *Cache) ResolveGo(ctx context.Context, j plan.Job) (files, lines []string, err error) {
	if len(j.GoInputs) == 0 {
		return nil, nil, nil
	}
	if c.Go == nil {
		return nil, nil, fmt.Errorf("job %s has `go:` inputs, and this cache cannot resolve them", j.ID)
	}
	env := c.JobEnv(j)
	for _, in := range j.GoInputs {
		res, err := c.Go.Resolve(ctx, in, env, c.Hasher.Seen)
		if err != nil {
			return nil, nil, err
		}
		for _, f := range res.Files {
			if !fileset.MatchAny(j.Outputs, f) && !fileset.MatchAny(c.NeverInputs, f) {
				files = append(files, f)
			}
		}
		lines = append(lines, res.Lines...)
	}
	return files, lines, nil
}

// key hashes job's manifest, telling Debug and Keyed.
func (c *Cache) key(manifest, job string) Key {
	if c.Keyed != nil {
		c.Keyed(job, manifest)
	}
	return KeyOf(manifest, c.Debug, job)
}

// Tool runs a tool command of j once per run and environment, and hashes
// what it prints. A tool that fails is an error: its version cannot be known.
func (c *Cache) Tool(ctx context.Context, j plan.Job, command string) (fileset.Digest, error) {
	env := c.JobEnv(j)
	memo := command + "\x00" + strings.Join(env, "\x00")
	c.mu.Lock()
	r, ok := c.tools[memo]
	c.mu.Unlock()
	if ok {
		return r.digest, r.err
	}
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	cmd.Dir, cmd.Env = c.Root, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		r.err = fmt.Errorf("tool command %q failed: %v: %s", command, err, strings.TrimSpace(out.String()))
	} else {
		r.digest = sha256.Sum256(out.Bytes())
	}
	c.mu.Lock()
	if c.tools == nil {
		c.tools = map[string]toolResult{}
	}
	c.tools[memo] = r
	c.mu.Unlock()
	return r.digest, r.err
}

// Save stores a job's result: its outputs and log as blobs first, then the
// entry that names them. A log file that does not exist is an empty log
// (a job that printed nothing has none).
func (c *Cache) Save(comp *Computed, outputs []Output, logPath string, meta Entry) (*Entry, error) {
	e := meta
	e.Key, e.Manifest, e.OutputDigest = comp.Key.String(), comp.Manifest, OutputDigest(outputs).String()
	budget := int64(inlineBudget)
	for _, o := range outputs {
		switch {
		case !isFile(o) || o.Size == 0:
		case o.Size <= min(InlineOutput, budget):
			data, err := fileset.ReadRegular(c.abs(o.Path), o.Size)
			if err != nil {
				return nil, err
			}
			if !isContent(o, data) {
				return nil, fmt.Errorf("output %s changed while it was stored", o.Path)
			}
			o.Data, budget = data, budget-o.Size
		default:
			d, size, err := c.Store.PutFile(c.abs(o.Path), o.Digest)
			if err != nil {
				return nil, err
			}
			if d != o.Digest || size != o.Size {
				return nil, fmt.Errorf("output %s changed while it was stored", o.Path)
			}
		}
		e.Outputs = append(e.Outputs, o)
	}
	d, size, err := c.Store.PutFile(logPath, "")
	if errors.Is(err, fs.ErrNotExist) {
		empty := sha256.Sum256(nil)
		d, size = hex.EncodeToString(empty[:]), 0
		err = c.Store.PutReader(bytes.NewReader(nil), d, 0)
	}
	if err != nil {
		return nil, err
	}
	e.Log, e.LogSize = d, size
	return &e, c.Store.Put(&e)
}

func (c *Cache) abs(rel string) string { return filepath.Join(c.Root, filepath.FromSlash(rel)) }
