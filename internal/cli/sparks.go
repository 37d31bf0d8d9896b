package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sparkwing-dev/sparkwing/internal/pipeline"
	"github.com/sparkwing-dev/sparkwing/internal/project"
	"github.com/sparkwing-dev/sparkwing/internal/sparks"
)

// resolveSparks resolves the file's sparks (none: nothing is read);
// update, if set, picks those to ask the proxy for now.
func (e *env) resolveSparks(ctx context.Context, root string, f *project.File, update func(sparks.Spec) bool) ([]sparks.Spark, error) {
	specs := f.SparkSpecs()
	if len(specs) == 0 {
		return nil, nil
	}
	cache, err := e.cacheDir()
	if err != nil {
		return nil, err
	}
	goPath, err := (&pipeline.Builder{Environ: e.environ}).GoCommand()
	if err != nil {
		return nil, err
	}
	r := &sparks.Resolver{Go: goPath, Environ: e.environ, State: filepath.Join(cache, "sparks.json"),
		Refresh: f.SparksRefresh, Now: time.Now, Update: update,
		Warn: func(msg string) { fmt.Fprintln(e.stderr, "warning: "+msg) }}
	return r.Resolve(ctx, filepath.Join(root, project.Dir), specs)
}

func newSparksCmd(e *env, g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sparks",
		Short: "List the project's sparks, or resolve them again now",
		Long: `Sparks are Go modules of shared pipeline code, named in the project file's
sparks: block with a version, or a range, instead of in .sparkwing/go.mod:

  sparks:
    - name: go-service
      source: github.com/acme/sparks-go
      version: latest          # or v1.4.2, ^1.4, ~1.4.2, ">=1.2 <2"

Before a Go pipeline is compiled, each spark is resolved through the go
command (GOPROXY, GOPRIVATE, GONOSUMDB, GOFLAGS and .netrc apply) and the
program's cache key includes the versions: a new release is compiled in
once, then the program is cached. A resolved latest or range is asked for
again at most every sparks_refresh (default 10m); 'update' asks now. When
the proxy cannot be reached, the last version found is used, with a
warning. A go.work or a replace directive that points a spark's module at
a directory is honoured (local development of a spark).`,
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "Show each spark's constraint, resolved version and when it was checked",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return e.showSparks(g, nil)
		},
	}
	update := &cobra.Command{
		Use:   "update [NAME...]",
		Short: "Ask the module proxy for each spark's version now (default: every spark)",
		RunE: func(c *cobra.Command, args []string) error {
			if args == nil {
				args = []string{} // every spark
			}
			return e.showSparks(g, args)
		},
	}
	cmd.AddCommand(list, update)
	return cmd
}

// showSparks resolves the sparks, asking again for those named (every
// one when names is empty but not nil), and prints them.
func (e *env) showSparks(g *globals, names []string) error {
	root, f, err := e.loadProject(g)
	if err != nil {
		return err
	}
	if len(f.Sparks) == 0 {
		fmt.Fprintf(e.stdout, "%s has no sparks (see sparkwing pipeline sparks --help)\n", f.Path)
		return nil
	}
	var update func(sparks.Spec) bool
	if names != nil {
		var known []string
		for _, s := range f.Sparks {
			known = append(known, s.Name)
		}
		for _, n := range names {
			if !slices.Contains(known, n) {
				return usageError("no spark %q in %s%s; sparks: %s", n, f.Path, suggest(n, known), strings.Join(known, ", "))
			}
		}
		update = func(s sparks.Spec) bool { return len(names) == 0 || slices.Contains(names, s.Name) }
	}
	resolved, err := e.resolveSparks(e.ctx, root, f, update)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SPARK\tSOURCE\tVERSION\tRESOLVED\tCHECKED")
	for _, s := range resolved {
		version, checked := s.Version, "-"
		switch {
		case s.Replaced != "" && s.Dir != "":
			version, checked = "local "+displayPath(s.Dir), "("+s.Replaced+")"
		case s.Replaced != "":
			version, checked = "replaced", "("+s.Replaced+")"
		case sparksExact(s.Constraint):
			checked = "(exact: never asked again)"
		default:
			checked = time.Since(s.Checked).Round(time.Second).String() + " ago"
			if s.Stale {
				checked += " (the proxy did not answer since)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, s.Module, s.Constraint, version, checked)
	}
	return tw.Flush()
}

func sparksExact(constraint string) bool {
	c, err := sparks.ParseConstraint(constraint)
	return err == nil && c.Exact()
}
