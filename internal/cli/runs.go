package cli

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/project"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
)

func newRunsCmd(e *env, g *globals) *cobra.Command {
	var asJSON, remote bool
	var cf controllerFlags
	var logJob string
	// onRemote runs the verb against the controller's records instead.
	onRemote := func(id string) error {
		if e.remote == nil {
			return e.handOff()
		}
		ctl, err := e.controller(&cf)
		if err != nil {
			return err
		}
		return e.remote.Runs(e.ctx, e.streams(g), RemoteRunsOptions{Controller: ctl, ID: id, LogJob: logJob, Limit: 50, JSON: asJSON})
	}
	list := func(cmd *cobra.Command, args []string) error {
		if remote {
			return onRemote("")
		}
		store, err := g.runStore()
		if err != nil {
			return err
		}
		return listRuns(e.stdout, store, asJSON)
	}
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List recent runs (the last 50 are kept)",
		Args:  cobra.NoArgs,
		RunE:  list,
	}
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.PersistentFlags().BoolVar(&remote, "remote", false, "the runs of a controller (pipeline trigger's), not this project's local ones")
	cf.add(cmd.PersistentFlags(), true)
	listCmd := &cobra.Command{
		Use:   "list",
		Short: "List recent runs",
		Args:  cobra.NoArgs,
		RunE:  list,
	}
	show := &cobra.Command{
		Use:   "show ID|last",
		Short: "Show one run's record: jobs, timings, critical path, logs",
		Long: `Show one run's record: each job's status and timings, the critical path and
where each log is. --log JOB prints that job's whole log, whether it ran in
that run or was restored from the cache (its log then comes from the cache,
while the cache still has it).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if remote {
				return onRemote(args[0])
			}
			store, err := g.runStore()
			if err != nil {
				return err
			}
			rec, err := store.Load(args[0])
			if err != nil {
				return usageError("%v", err)
			}
			if logJob != "" {
				return e.printLog(store, rec, logJob)
			}
			if asJSON {
				return writeJSON(e.stdout, rec)
			}
			showRun(e.stdout, store, rec)
			return nil
		},
	}
	show.Flags().StringVar(&logJob, "log", "", "print the whole log of `JOB`")
	cmd.AddCommand(listCmd, show)
	return cmd
}

// printLog prints one job's log from a run: the run's own log file, or for
// a job restored from the cache, the log blob its entry named.
func (e *env) printLog(store *runrec.Store, rec *runrec.Record, id string) error {
	var job *runrec.Job
	ids := make([]string, len(rec.Jobs))
	for i := range rec.Jobs {
		ids[i] = rec.Jobs[i].ID
		if rec.Jobs[i].ID == id {
			job = &rec.Jobs[i]
		}
	}
	if job == nil {
		return usageError("run %s has no job %q%s", rec.ID, id, plan.SuggestOrList(id, ids, "jobs"))
	}
	if job.Log != "" {
		f, _, err := fileset.OpenRegular(filepath.Join(store.Dir, rec.ID, job.Log))
		if err == nil {
			defer f.Close()
			_, err = io.Copy(e.stdout, f)
			return err
		}
	}
	if job.LogDigest == "" && job.Log == "" && job.Status == runrec.Ran {
		return nil // it printed nothing, so no log file was made
	}
	if job.LogDigest == "" {
		return fmt.Errorf("run %s kept no log of %s (%s)", rec.ID, id, job.Status)
	}
	cs, err := e.openStore()
	if err != nil {
		return fmt.Errorf("the cache holding %s's log: %w", id, err)
	}
	if _, err := cs.CopyBlob(e.stdout, job.LogDigest, -1); err != nil {
		return fmt.Errorf("%s's log from the cache: %w (pruned or cleaned since?)", id, err)
	}
	return nil
}

func (g *globals) runStore() (*runrec.Store, error) {
	dir, err := g.startDir()
	if err != nil {
		return nil, err
	}
	root, err := project.FindRoot(dir)
	if err != nil {
		return nil, err
	}
	return runrec.Open(root), nil
}

func listRuns(w io.Writer, store *runrec.Store, asJSON bool) error {
	ids, err := store.IDs()
	if err != nil {
		return err
	}
	var recs []*runrec.Record
	for k := len(ids) - 1; k >= 0; k-- {
		if rec, err := store.Load(ids[k]); err == nil {
			rec.Jobs = nil
			recs = append(recs, rec)
		}
	}
	if asJSON {
		if recs == nil {
			recs = []*runrec.Record{}
		}
		return writeJSON(w, recs)
	}
	if len(recs) == 0 {
		fmt.Fprintln(w, "no runs yet; start one with `sparkwing run PIPELINE`")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPIPELINE\tSTATUS\tWALL\tSTARTED")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Pipeline, r.Status,
			(time.Duration(r.WallMS) * time.Millisecond).String(), r.Started.Local().Format("2006-01-02 15:04:05"))
	}
	return tw.Flush()
}

func showRun(w io.Writer, store *runrec.Store, rec *runrec.Record) {
	dir := filepath.Join(store.Dir, rec.ID)
	fmt.Fprintf(w, "run %s: pipeline %s %s\n", rec.ID, rec.Pipeline, rec.Status)
	if len(rec.Args) > 0 {
		quoted := make([]string, len(rec.Args))
		for i, a := range rec.Args {
			quoted[i] = shellQuote(a)
		}
		fmt.Fprintf(w, "arguments: %s\n", strings.Join(quoted, " "))
	}
	fmt.Fprintf(w, "started %s, wall %v, %d workers\n", rec.Started.Local().Format(time.RFC3339),
		time.Duration(rec.WallMS)*time.Millisecond, rec.Workers)
	if rec.UpToDate {
		fmt.Fprintf(w, "up to date: nothing the last run read had changed (no key computed)\n")
	} else if rec.Unchanged > 0 {
		fmt.Fprintf(w, "%d jobs unchanged since the last run: nothing they read had changed (no key computed)\n", rec.Unchanged)
	}
	if line := rec.RemoteSummary(); line != "" {
		fmt.Fprintln(w, line)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nJOB\tSTATUS\tCACHE\tSTART\tDURATION\tQUEUED\tLOG")
	logs := map[string]string{}
	for _, j := range rec.Jobs {
		logPath := ""
		if j.LogDigest != "" {
			logPath = "(replayed from the cache)"
		}
		if j.Log != "" {
			if _, err := os.Stat(filepath.Join(dir, j.Log)); err == nil {
				logs[j.ID] = filepath.Join(dir, j.Log)
				logPath = displayPath(logs[j.ID])
			}
		}
		cache := j.Cache.Result
		if j.Cache.Reason != "" {
			cache += " (" + j.Cache.Reason + ")"
		}
		if j.Cache.Remote != "" {
			cache += "; remote " + j.Cache.Remote
			if j.Cache.RemoteReason != "" {
				cache += " (" + j.Cache.RemoteReason + ")"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%dms\t%dms\t%dms\t%s\n", j.ID, j.Status, cache, j.StartMS, j.DurationMS, j.QueuedMS, logPath)
	}
	tw.Flush()
	for _, j := range rec.Jobs {
		if j.Status != runrec.Failed && j.Status != runrec.Cancelled {
			continue
		}
		fmt.Fprintf(w, "\n%s %s: %s\n", j.ID, j.Status, cmp.Or(j.Error, "no reason recorded"))
		if logs[j.ID] != "" {
			for _, l := range runrec.Tail(logs[j.ID], 10) {
				fmt.Fprintf(w, "  │ %s\n", l)
			}
		}
	}
	fmt.Fprintf(w, "\ncritical path: %s (%dms)\nparallel efficiency: %.0f%%\ntrace: %s\n",
		strings.Join(rec.CriticalPath, " → "), rec.CriticalPathMS, rec.ParallelEfficiency*100, displayPath(filepath.Join(dir, "trace.json")))
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
