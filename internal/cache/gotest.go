package cache

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/goinput"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// Part is one package of a Go test job: its own key, over what its tests
// read, so that its result is cached on its own.
type Part struct {
	Package  string // import path
	Key      Key
	Manifest string
}

// computeGoTest keys a Go test job. Each package the patterns match gets
// the key a job running `go test FLAGS PACKAGE` with the package's Go
// input would get; the job's key is over those (a `go-test` line each),
// so it changes exactly when one package's does.
func (c *Cache) computeGoTest(ctx context.Context, j plan.Job, needs map[string]fileset.Digest) (*Computed, error) {
	t := j.GoTest
	if c.Go == nil {
		return nil, fmt.Errorf("job %s has `go_test`, and this cache cannot resolve Go packages", j.ID)
	}
	env := c.JobEnv(j)
	all, err := c.Go.Resolve(ctx, t.Input(), env, c.Hasher.Seen)
	if err != nil {
		return nil, err
	}
	tools := map[string]fileset.Digest{}
	for _, command := range j.Tools {
		if tools[command], err = c.Tool(ctx, j, command); err != nil {
			return nil, err
		}
	}
	// What the job declares besides (fixtures, say) counts for every package.
	extra, empty, extraLines, err := c.inputPaths(ctx, j)
	if err != nil {
		return nil, err
	}
	platform := runtime.GOOS + "/" + runtime.GOARCH
	comp := &Computed{Tools: tools, Unmatched: empty}
	var lines []string
	inputs := map[string]fileset.File{}
	resolved, err := c.resolvePackages(ctx, all.Packages, t.Dir, env)
	if err != nil {
		return nil, err
	}
	for i, pkg := range all.Packages {
		res := resolved[i]
		paths := slices.DeleteFunc(append(slices.Clone(res.Files), extra...), func(f string) bool { return fileset.MatchAny(c.NeverInputs, f) })
		files, err := c.Hasher.Hash(slices.Compact(slices.Sorted(slices.Values(paths))))
		if err != nil {
			return nil, fmt.Errorf("hashing inputs: %w", err)
		}
		pj := j
		pj.Run, pj.GoTest = t.Command(false, pkg), nil
		m := Manifest(pj, Inputs{Platform: platform, Files: files, Env: c.Env, Tools: tools, Needs: needs,
			Go: slices.Concat(res.Lines, extraLines)})
		part := Part{Package: pkg, Key: KeyOf(m, nil, ""), Manifest: m}
		comp.Parts = append(comp.Parts, part)
		lines = append(lines, fmt.Sprintf("go-test %q %s", pkg, part.Key.Hex()))
		for _, f := range files {
			inputs[f.Path] = f
		}
	}
	comp.Manifest = Manifest(j, Inputs{Platform: platform, Env: c.Env, Tools: tools, Needs: needs, Go: lines})
	comp.Key = c.key(comp.Manifest, j.ID)
	for _, p := range slices.Sorted(func(yield func(string) bool) {
		for p := range inputs {
			if !yield(p) {
				return
			}
		}
	}) {
		comp.Inputs = append(comp.Inputs, inputs[p])
	}
	return comp, nil
}

// resolvePackages resolves each package's tests as a Go input, a few at
// once (each may run go list).
func (c *Cache) resolvePackages(ctx context.Context, pkgs []string, dir string, env []string) ([]*goinput.Resolution, error) {
	out := make([]*goinput.Resolution, len(pkgs))
	errs := make([]error, len(pkgs))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, pkg := range pkgs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			in := plan.GoInput{Packages: []string{pkg}, Dir: dir, Tests: true}
			out[i], errs[i] = c.Go.Resolve(ctx, in, env, c.Hasher.Seen)
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

// Computed is the part as a Computed, to store its result with Save.
func (p Part) Computed() *Computed { return &Computed{Key: p.Key, Manifest: p.Manifest} }

// GoTestPackages lists the packages of a Go test job's manifest with their
// keys, from its `go-test` lines (for `why`: the key of each package's
// entry when the manifest was made).
func GoTestPackages(manifest string) map[string]Key {
	out := map[string]Key{}
	for line := range strings.SplitSeq(manifest, "\n") {
		rest, ok := strings.CutPrefix(line, "go-test ")
		if !ok {
			continue
		}
		var pkg, key string
		if _, err := fmt.Sscanf(rest, "%q %s", &pkg, &key); err == nil {
			if k, err := ParseKey(key); err == nil {
				out[pkg] = k
			}
		}
	}
	return out
}
