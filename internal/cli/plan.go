package cli

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
	"github.com/sparkwing-dev/sparkwing/internal/engine"
	"github.com/sparkwing-dev/sparkwing/internal/goinput"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
)

func newPlanCmd(e *env, g *globals) *cobra.Command {
	var asJSON, verbose bool
	var only []string
	var profile string
	cmd := &cobra.Command{
		Use:   "plan PIPELINE [--json] [--verbose] [--only JOB,...] [PIPELINE ARGUMENTS]",
		Short: "Print a pipeline's job graph without running it",
		Long: `Print the jobs of a pipeline in the order they can run, each with the jobs
it needs, whether its result is in the cache (hit), must be made (miss), is
never cached (off), or depends on a job that must run first, and what it
runs. Go pipelines are compiled (or found in the cache) and asked for their
plan with the given arguments. Nothing is run.

--verbose also prints what each job's cache key is made of: its command,
outputs, env digests, tools, the outputs of the jobs it needs, and every
input file with its mode and digest (with --json: each job's "hashed").

With no PIPELINE, lists the pipelines.`,
		DisableFlagParsing: true,
		ValidArgsFunction:  e.completePipelineArgs(g, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			inv, err := e.invoke(cmd, g, args, nil, nil)
			if inv == nil || err != nil {
				return err
			}
			if inv.name == "" {
				listPipelines(e.stdout, inv.file, g.command())
				return nil
			}
			pl, err := e.resolvePlan(e.ctx, inv.root, inv.file, inv.name, inv.rest, false)
			if err == nil && len(only) > 0 {
				if pl, err = pl.Only(only); err != nil {
					err = usageError("%v", err)
				}
			}
			if err != nil {
				return err
			}
			return e.printPlan(inv.root, pl, e.imageOptions(inv.file, profile, false), asJSON, verbose)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	cmd.Flags().StringVar(&profile, "profile", "", "the `PROFILE` whose registries image jobs are looked up in, as run --profile (default $SPARKWING_PROFILE, else local)")
	cmd.Flags().StringSliceVar(&only, "only", nil, "plan only these `JOB`s (comma-separated or repeated) and the jobs they need, as run --only does")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "also print every line each job's cache key is made of")
	return cmd
}

// planJob is one job of `plan --json`.
type planJob struct {
	ID           string         `json:"id"`
	Description  string         `json:"description,omitempty"`
	Needs        []string       `json:"needs"`
	Level        int            `json:"level"` // 0: needs nothing; else 1 + the highest level it needs
	Run          string         `json:"run,omitempty"`
	GoStep       bool           `json:"go_step,omitempty"`
	Inputs       []string       `json:"inputs,omitempty"`
	GoInputs     []plan.GoInput `json:"go_inputs,omitempty"`
	Outputs      []string       `json:"outputs,omitempty"`
	Env          []string       `json:"env,omitempty"`
	Passthrough  []string       `json:"passthrough,omitempty"`
	Tools        []string       `json:"tools,omitempty"`
	CacheSetting *bool          `json:"cache_setting,omitempty"`
	Timeout      string         `json:"timeout,omitempty"`
	Retries      int            `json:"retries,omitempty"`
	Key          string         `json:"key,omitempty"`
	Cache        predCache      `json:"cache"`
	Hashed       []string       `json:"hashed,omitempty"` // --verbose: the key's manifest, a line each
}

type predCache struct {
	Result string `json:"result"` // hit | miss | off | unknown
	Reason string `json:"reason,omitempty"`
	After  string `json:"after,omitempty"` // unknown until this job has run
}

func (c predCache) String() string {
	switch {
	case c.Result == "unknown" && c.After == "":
		return c.Reason
	case c.Result == "unknown":
		return "after " + c.After
	case c.Reason != "":
		return c.Result + " (" + c.Reason + ")"
	}
	return c.Result
}

// predict works out hit or miss per job without running anything.
// printPlan prints what running pl would do (`plan`, `run --dry-run`).
func (e *env) printPlan(root string, pl *plan.Plan, images engine.ImageOptions, asJSON, verbose bool) error {
	preds, err := e.predict(root, pl, images, false)
	if err != nil {
		return err
	}
	jobs := planJobs(pl, preds)
	if asJSON {
		if verbose {
			manifests := map[string]string{}
			for _, p := range preds {
				manifests[p.ID] = p.Manifest
			}
			for i := range jobs {
				if m := manifests[jobs[i].ID]; m != "" {
					jobs[i].Hashed = strings.Split(strings.TrimSuffix(m, "\n"), "\n")
				}
			}
		}
		return writeJSON(e.stdout, map[string]any{"pipeline": pl.Name, "jobs": jobs})
	}
	writePlan(e.stdout, pl.Name, jobs)
	if verbose {
		keys, manifests, noKey := map[string]string{}, map[string]string{}, map[string]string{}
		for _, p := range preds {
			keys[p.ID], manifests[p.ID], noKey[p.ID] = p.Key, p.Manifest, p.Reason
			if p.Result == "unknown" && p.After != "" {
				noKey[p.ID] = "known once " + p.After + " has run"
			}
		}
		writeHashed(e.stdout, pl, keys, manifests, noKey)
	}
	return nil
}

func (e *env) predict(root string, pl *plan.Plan, images engine.ImageOptions, diskOutputs bool) ([]engine.Prediction, error) {
	c, err := e.newCache(root)
	if err != nil {
		return nil, err
	}
	if c.Store != nil { // as a run does: a store it cannot lock is one it cannot use
		lock, err := c.Store.LockShared()
		if err != nil {
			c.Store, c.Unusable = nil, cache.UnusableError(filepath.Dir(c.Store.Dir), err)
		} else {
			defer lock.Unlock()
		}
	}
	if c.Unusable != nil {
		if diskOutputs {
			return nil, c.Unusable // why is about what the store holds
		}
		fmt.Fprintf(e.stderr, "warning: %v\n", c.Unusable) // plan says what a run would do: run uncached
	}
	defer c.Hasher.Save()
	defer c.Tree.Save()
	ws, err := cache.OpenWorkspace(root)
	if err != nil {
		return nil, err
	}
	defer ws.Close()
	preds, err := engine.Predict(e.ctx, pl, c, ws, engine.PredictOptions{
		DiskOutputs: diskOutputs, LastKeys: runrec.Open(root).LastKeys(pl.Name), Root: root, Images: images,
		Warn: func(job, msg string) { fmt.Fprintf(e.stderr, "warning: %s: %s\n", job, msg) },
	})
	if bad := (*goinput.Error)(nil); errors.As(err, &bad) {
		return nil, usageError("%v\n%s", err, bad.Hint())
	}
	return preds, err
}

func planJobs(pl *plan.Plan, preds []engine.Prediction) []planJob {
	deps := pl.Deps()
	level := make([]int, len(pl.Jobs))
	for _, i := range plan.Topo(deps) {
		for _, d := range deps[i] {
			level[i] = max(level[i], level[d]+1)
		}
	}
	var out []planJob
	for l := 0; len(out) < len(pl.Jobs); l++ {
		for i, j := range pl.Jobs {
			if level[i] != l {
				continue
			}
			pj := planJob{ID: j.ID, Description: j.Description, Needs: j.Needs, Level: l, Run: j.Run,
				GoStep: j.Step != nil, Inputs: j.Inputs, GoInputs: j.GoInputs, Outputs: j.Outputs, Env: j.Env,
				Passthrough: j.Passthrough, Tools: j.Tools, CacheSetting: j.Cache, Retries: j.Retries,
				Key: preds[i].Key, Cache: predCache{preds[i].Result, preds[i].Reason, preds[i].After}}
			if pj.Needs == nil {
				pj.Needs = []string{}
			}
			if j.Timeout > 0 {
				pj.Timeout = j.Timeout.String()
			}
			out = append(out, pj)
		}
	}
	return out
}

// writePlan prints the jobs level by level: each level needs only jobs of
// the levels above it.
func writePlan(w io.Writer, name string, jobs []planJob) {
	fmt.Fprintf(w, "pipeline %s: %d jobs\n", name, len(jobs))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, j := range jobs {
		needs := ""
		if len(j.Needs) > 0 {
			needs = "needs " + strings.Join(j.Needs, ", ")
		}
		what := firstLine(j.Run)
		if j.GoStep {
			what = "(Go step)"
		}
		fmt.Fprintf(tw, "  %s%s\t%s\t%s\t%s\n", strings.Repeat("  ", j.Level), j.ID, needs, j.Cache, what)
	}
	tw.Flush()
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
