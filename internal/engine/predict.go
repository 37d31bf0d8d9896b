package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// Prediction is what a run would do with one job, worked out without
// running or restoring anything.
type Prediction struct {
	ID       string
	Result   string // hit, miss, off, or unknown (a job it needs must run first)
	Reason   string
	After    string // for unknown: the job that must run first
	Key      string
	Manifest string
	Entry    *cache.Entry // on a hit
	Parts    []cache.Part // a Go test job's packages
	Image    string       // an image job's content tag at its profile's first registry, if it pushes
}

// PredictOptions are what Predict needs beside the plan and the cache.
type PredictOptions struct {
	// DiskOutputs takes a needed job's outputs as they are on disk now
	// when that job would run (what `sparkwing why` compares with).
	DiskOutputs bool
	// LastKeys are the keys of the pipeline's last run (runrec's
	// LastKeys): a miss whose key differs from its last one is "inputs
	// changed", as in a run.
	LastKeys map[string]string
	Root     string
	Images   ImageOptions // image jobs ask the profile's registries, as a run does
	Warn     func(job, msg string)
}

// Predict computes, in dependency order, each job's key and whether the
// store has it (for an image job: whether its registries have the image).
// A job needing one that would run cannot know its key before that one
// ran, unless DiskOutputs.
func Predict(ctx context.Context, p *plan.Plan, c *cache.Cache, ws *cache.Workspace, opts PredictOptions) ([]Prediction, error) {
	deps := p.Deps()
	preds := make([]Prediction, len(p.Jobs))
	outputs := map[string]fileset.Digest{}
	known := map[string]bool{}
	imgs := &images{opts: opts.Images}
	diskOutputs, lastKeys := opts.DiskOutputs, opts.LastKeys
	for _, i := range plan.Topo(deps) {
		j := p.Jobs[i]
		pr := &preds[i]
		pr.ID = j.ID
		needs := map[string]fileset.Digest{}
		for _, n := range j.Needs {
			if !known[n] && diskOutputs {
				if files, err := ws.Collect(c.Hasher, p.Jobs[p.Index(n)].Outputs); err == nil {
					outputs[n], known[n] = cache.OutputDigest(files), true
				}
			}
			if !known[n] {
				pr.Result, pr.After = "unknown", n
			}
			needs[n] = outputs[n]
		}
		if j.Deploy != nil {
			known[j.ID] = true
			pr.Result, pr.Reason, pr.After = "unknown", ReasonAsksCluster, ""
			continue
		}
		if j.Image != nil && j.Image.Export == "" {
			known[j.ID] = true // an image job gives the jobs that need it no output digest
			if pr.Result == "unknown" {
				continue
			}
			comp, err := c.Compute(ctx, j, nil)
			if err != nil {
				return nil, fmt.Errorf("job %s: %w", j.ID, err)
			}
			pr.Key, pr.Manifest = comp.Key.String(), comp.Manifest
			d := imgs.decide(ctx, opts.Root, j, comp, false, lastKeys, func(msg string) {
				if opts.Warn != nil {
					opts.Warn(j.ID, msg)
				}
			})
			pr.Result, pr.Reason = d.cache.Result, d.cache.Reason
			if len(d.refs) > 0 {
				pr.Image = d.refs[0].String()
			}
			continue
		}
		ok, why := cache.Cacheable(j)
		switch {
		case c.Store == nil:
			pr.Result, pr.Reason = "off", ReasonUnavailable // as the run records it
			continue
		case !ok:
			pr.Result, pr.Reason = "off", why
			continue
		case pr.Result == "unknown":
			continue
		}
		comp, err := c.Compute(ctx, j, needs)
		var outside *fileset.OutsideError
		if errors.As(err, &outside) {
			pr.Result, pr.Reason = "off", ReasonOutside
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("job %s: %w", j.ID, err)
		}
		pr.Key, pr.Manifest, pr.Parts = comp.Key.String(), comp.Manifest, comp.Parts
		entry, err := c.Store.Peek(comp.Key)
		var corrupt *cache.CorruptError
		switch {
		case err == nil:
			pr.Result, pr.Entry = "hit", entry
			outputs[j.ID], known[j.ID] = digestOf(entry.OutputDigest), true
		case errors.Is(err, cache.ErrNotFound):
			pr.Result, pr.Reason = "miss", missReason(lastKeys, j.ID, pr.Key)
		case errors.As(err, &corrupt):
			pr.Result, pr.Reason = "miss", "corrupt entry"
		default:
			return nil, err
		}
	}
	return preds, nil
}

// missReason is why a job whose key the store lacks is a miss: "inputs
// changed" when its last run had another key, else "no entry".
func missReason(lastKeys map[string]string, id, key string) string {
	if prev := lastKeys[id]; prev != "" && prev != key {
		return "inputs changed"
	}
	return "no entry"
}
