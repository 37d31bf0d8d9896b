package remoterun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/cli"
	"github.com/sparkwing-dev/sparkwing/internal/controller/api"
	"github.com/sparkwing-dev/sparkwing/internal/logstream"
)

// Runs runs `sparkwing runs --remote` and `runs show --remote ID [--log JOB]`.
func (Verbs) Runs(ctx context.Context, s cli.Streams, o cli.RemoteRunsOptions) error {
	c := api.NewClient(o.URL, o.Token)
	if o.ID == "" {
		runs, err := c.Runs(ctx, o.Limit)
		if err != nil {
			return refused(err)
		}
		if o.JSON {
			return writeJSON(s.Stdout, runs)
		}
		tw := tabwriter.NewWriter(s.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RUN\tSTATUS\tPIPELINE\tREPO\tCOMMIT\tCREATED")
		for _, r := range runs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Status, r.Pipeline, r.Repo, short(r.SHA), r.Created.Local().Format(time.DateTime))
		}
		return tw.Flush()
	}
	run, err := c.Run(ctx, o.ID)
	if err != nil {
		return refused(err)
	}
	if o.LogJob != "" {
		return printJobLog(ctx, c, run, o.LogJob, s.Stdout)
	}
	if o.JSON {
		return writeJSON(s.Stdout, run)
	}
	fmt.Fprintf(s.Stdout, "run %s: %s\n  pipeline %s, %s at %s", run.ID, run.Status, run.Pipeline, run.Repo, short(run.SHA))
	if run.Branch != "" {
		fmt.Fprintf(s.Stdout, " (%s)", run.Branch)
	}
	if run.Dirty {
		fmt.Fprint(s.Stdout, ", with uncommitted changes")
	}
	fmt.Fprintf(s.Stdout, "\n  created %s, attempt %d", run.Created.Local().Format(time.DateTime), run.Attempt)
	if !run.Finished.IsZero() && !run.Started.IsZero() {
		fmt.Fprintf(s.Stdout, ", took %s", run.Finished.Sub(run.Started).Round(time.Millisecond))
	}
	fmt.Fprintln(s.Stdout)
	if run.Message != "" {
		fmt.Fprintf(s.Stdout, "  %s\n", run.Message)
	}
	fmt.Fprintf(s.Stdout, "  log: sparkwing runs show --remote %s --log JOB; live: %s/log\n", run.ID, run.URL)
	return nil
}

// refused makes the controller's no (a run that is not there, a token
// without the scope) a usage error, exit 2.
func refused(err error) error {
	var se *api.StatusError
	if errors.As(err, &se) && se.Status < 500 {
		return cli.ExitError(2, err)
	}
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printJobLog prints the lines one job printed, from the run's log as it
// is now (a run still going is not followed).
func printJobLog(ctx context.Context, c *api.Client, run api.Run, job string, w io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	body, err := c.OpenLog(ctx, run.ID, 0)
	if err != nil {
		return refused(err)
	}
	defer body.Close()
	r := logstream.NewReader(body)
	found := false
	var pos int64
	for pos < run.LogSize {
		ev, err := r.Next()
		if err != nil || ev.Type == "end" {
			break
		}
		pos = ev.ID
		var e struct {
			Event, Job, Line string
		}
		if json.Unmarshal(ev.Data, &e) != nil || e.Job != job {
			continue
		}
		found = true
		if e.Event == "log" {
			fmt.Fprintln(w, e.Line)
		}
	}
	if !found {
		return cli.ExitError(2, fmt.Errorf("run %s has no job %q in its log", run.ID, job))
	}
	return nil
}
