package cli

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
	"github.com/sparkwing-dev/sparkwing/internal/engine"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/project"
	"github.com/sparkwing-dev/sparkwing/internal/remote"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
)

func newWhyCmd(e *env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "why PIPELINE JOB [PIPELINE ARGUMENTS]",
		Short: "Say why a job would run instead of being restored from the cache",
		Long: `Compare a job's key with the last entry stored for it and name every input
that differs: a file added, removed or changed, an env variable (by name,
never its value), the command, a tool's version, or the output of a job it
needs. Jobs it needs are taken as they are on disk now. Nothing is run.

Set SPARKWING_DEBUG_KEYS=1 on any command to print every line hashed into
each key.`,
		DisableFlagParsing: true,
		ValidArgsFunction:  e.completePipelineArgs(g, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			inv, err := e.invoke(cmd, g, args, nil, nil)
			if inv == nil || err != nil {
				return err
			}
			if inv.name == "" || len(inv.rest) == 0 {
				return usageError("usage: sparkwing why PIPELINE JOB")
			}
			pl, err := e.resolvePlan(e.ctx, inv.root, inv.file, inv.name, inv.rest[1:], false)
			if err != nil {
				return err
			}
			return e.why(inv.root, inv.file, pl, e.imageOptions(inv.file, "", false), inv.rest[0], g.command())
		},
	}
}

func (e *env) why(root string, file *project.File, pl *plan.Plan, images engine.ImageOptions, id, command string) error {
	i := pl.Index(id)
	if i < 0 {
		return usageError("pipeline %s has no job %q%s", pl.Name, id, plan.SuggestOrList(id, jobIDs(pl), "jobs"))
	}
	preds, err := e.predict(root, pl, images, false)
	if err != nil {
		return err
	}
	pr := preds[i]
	if pl.Jobs[i].Deploy != nil {
		fmt.Fprintf(e.stdout, "%s is a deploy: it is applied unless the cluster already runs what it would apply; `%s deploy diff %s %s` shows the difference\n",
			id, command, pl.Name, id)
		return nil
	}
	if scope := cache.ManifestValue(pr.Manifest, "context-scope"); scope != "" {
		writeScope(e.stdout, id, scope)
	}
	switch pr.Result {
	case "off":
		fmt.Fprintf(e.stdout, "%s is never cached: %s\n", id, offReason(pr.Reason))
		return nil
	case "hit":
		fmt.Fprintf(e.stdout, "%s would be restored from the cache (%s): nothing it depends on changed\n", id, short(pr.Key))
		return nil
	case "unknown":
		// A job it needs runs first; compare the rest with that job's
		// outputs as they are on disk now.
		fmt.Fprintf(e.stdout, "%s needs %s, which would run first (see `%s why %s %s`); %s runs again if that changes %s's output\n",
			id, pr.After, command, pl.Name, pr.After, id, pr.After)
		if preds, err = e.predict(root, pl, images, true); err != nil {
			return err
		}
		if pr = preds[i]; pr.Result != "miss" {
			fmt.Fprintf(e.stdout, "apart from that, nothing %s depends on changed\n", id)
			return nil
		}
	}
	store, _ := e.openStore()
	prevRun, restored, prev := lastEntry(runrec.Open(root), store, pl.Name, id, pr.Key)
	remoteHas, latest, err := e.whyRemote(root, file, pl.Name, id, pr.Key)
	if remoteHas || err != nil {
		return err
	}
	if prev == nil && latest != nil {
		changes := cache.Diff(latest.Entry.Manifest, pr.Manifest)
		fmt.Fprintf(e.stdout, "%s would run: %d %s since the newest entry the remote has for it (namespace %s, %s):\n",
			id, len(changes), plural(len(changes), "difference", "differences"), latest.Namespace, short(latest.Entry.Key))
		writeChanges(e.stdout, changes, pl, preds, nil)
		return nil
	}
	if prev == nil {
		fmt.Fprintf(e.stdout, "%s would run: there is no earlier entry for it in the cache (never stored, or pruned)\n", id)
		return nil
	}
	changes := cache.Diff(prev.Manifest, pr.Manifest)
	how := "stored by"
	if restored {
		how = "restored from the cache by"
	}
	fmt.Fprintf(e.stdout, "%s would run: %d %s since the entry %s run %s (%s):\n",
		id, len(changes), plural(len(changes), "difference", "differences"), how, prevRun, short(prev.Key))
	writeChanges(e.stdout, changes, pl, preds, packageChanges(store, prev.Manifest, pr.Parts))
	return nil
}

// packageChanges is, for a Go test job, how each package's own manifest
// differs from the one its entry had when the earlier entry of the job
// was made (for packages whose entries are still in the store).
func packageChanges(store *cache.Store, prevManifest string, parts []cache.Part) map[string][]cache.Change {
	if store == nil || len(parts) == 0 {
		return nil
	}
	old := cache.GoTestPackages(prevManifest)
	out := map[string][]cache.Change{}
	for _, p := range parts {
		k, ok := old[p.Package]
		if !ok || k == p.Key {
			continue
		}
		if entry, err := store.Peek(k); err == nil {
			out[p.Package] = cache.Diff(entry.Manifest, p.Manifest)
		}
	}
	return out
}

// whyRemote asks the remote cache, if the project has one, about a job
// the local store misses. It says so and reports restored when the remote
// would restore the job; otherwise it says the remote has no entry for
// the key and returns the newest entry the remote has for the job (nil if
// none, or when there is no remote to ask).
func (e *env) whyRemote(root string, file *project.File, pipeline, id, key string) (restored bool, latest *remote.Found, err error) {
	open, _, err := e.remoteCache(root, file, "")
	if err != nil || open == nil {
		return false, nil, err
	}
	c, err := open(e.ctx, func(msg string) { fmt.Fprintln(e.stderr, "warning: "+msg) })
	if err != nil {
		return false, nil, remoteSetupError(err)
	}
	defer c.Close()
	k, err := cache.ParseKey(key)
	if err != nil {
		return false, nil, nil
	}
	exact, latest, err := c.Explain(e.ctx, k, pipeline, id)
	switch {
	case errors.Is(err, remote.ErrOff):
		return false, nil, nil // Open warned
	case err != nil:
		fmt.Fprintf(e.stderr, "warning: the remote cache could not be asked: %v\n", err)
		return false, nil, nil
	case exact != nil:
		fmt.Fprintf(e.stdout, "%s would be restored from the remote cache (namespace %s, %s): the local cache lacks it, the remote has it\n",
			id, exact.Namespace, short(key))
		return true, nil, nil
	}
	fmt.Fprintf(e.stdout, "the remote cache %s has no entry for this key\n", c.Settings().URL)
	return false, latest, nil
}

// writeChanges lists changes, with each Go package's own (packages) under
// its line.
func writeChanges(w io.Writer, changes []cache.Change, pl *plan.Plan, preds []engine.Prediction, packages map[string][]cache.Change) {
	for _, c := range changes {
		line := "  " + c.String()
		if c.Kind == "need" {
			if k := pl.Index(c.Name); k >= 0 && preds[k].Result == "miss" {
				line += " (and it will run again first)"
			}
		}
		fmt.Fprintln(w, line)
		if c.Kind == "go-test" {
			for _, sub := range packages[c.Name] {
				fmt.Fprintln(w, "    "+sub.String())
			}
		}
	}
}

// writeScope says what part of its build context an image job's key
// covers (a context-scope manifest value).
func writeScope(w io.Writer, id, scope string) {
	if reason, ok := strings.CutPrefix(scope, "whole "); ok {
		if r, err := strconv.Unquote(reason); err == nil && r != "" {
			reason = r
		}
		fmt.Fprintf(w, "%s's key covers its whole build context, because of %s\n", id, reason)
		return
	}
	paths := strings.TrimPrefix(scope, "paths")
	if paths == "" {
		fmt.Fprintf(w, "%s's build reads no file of its build context; its key covers the Dockerfile and settings\n", id)
		return
	}
	fmt.Fprintf(w, "%s's key covers only what its stages read of the build context:%s\n", id, paths)
}

// lastEntry finds the newest recorded key of job whose entry is still in
// the store, other than key, and whether that run restored it rather than
// stored it.
func lastEntry(runs *runrec.Store, store *cache.Store, pipeline, job, key string) (runID string, restored bool, entry *cache.Entry) {
	runs.Newest(pipeline, func(rec *runrec.Record) bool {
		for _, j := range rec.Jobs {
			if j.ID != job || j.Key == "" || j.Key == key {
				continue
			}
			if k, err := cache.ParseKey(j.Key); err == nil {
				if e, err := store.Get(k); err == nil {
					runID, restored, entry = rec.ID, j.Status == runrec.Cached, e
					return false
				}
			}
		}
		return true
	})
	return runID, restored, entry
}

func offReason(r string) string {
	if r == engine.ReasonOutside {
		return "a symlink among its inputs leads outside the project, where sparkwing cannot tell what changes (keep its inputs inside the project)"
	}
	if r == "no inputs" {
		return "it declares no inputs, so nothing proves it unchanged (add `inputs:`, or `cache: true` if it depends on nothing)"
	}
	return "`cache: false` (it has side effects)"
}

func short(key string) string {
	if len(key) > 19 {
		return key[:19] + "…"
	}
	return key
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func jobIDs(pl *plan.Plan) []string {
	ids := make([]string, len(pl.Jobs))
	for i, j := range pl.Jobs {
		ids[i] = j.ID
	}
	return ids
}
