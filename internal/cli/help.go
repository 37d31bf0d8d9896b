package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sparkwing-dev/sparkwing/internal/pipeline"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/project"
	sw "github.com/sparkwing-dev/sparkwing/sparkwing"
)

// pipelineHelp answers `VERB PIPELINE --help`: the pipeline's own help (its
// description, typed arguments with their defaults, and jobs) rather than
// the verb's, which `VERB --help` prints.
func (e *env) pipelineHelp(cmd *cobra.Command, g *globals, name string) error {
	if name == "" {
		return cmd.Help()
	}
	root, file, err := e.loadProject(g)
	if err != nil {
		return err
	}
	p := file.Pipeline(name)
	if p == nil {
		return usageError("no pipeline %q in %s%s; pipelines: %s", name, file.Path,
			suggest(name, file.Names()), strings.Join(file.Names(), ", "))
	}
	verb := g.command() + " " + cmd.Name()
	w := e.stdout
	var args []sw.WireArg
	var prog *pipeline.Program
	if p.Entrypoint != "" {
		if prog, err = e.program(e.ctx, root, file, false); err != nil {
			return err
		}
		args, err = prog.Args(e.ctx, root, p.Entrypoint, e.environ)
		if ae := (*pipeline.ArgError)(nil); errors.As(err, &ae) {
			return e.explainArgError(e.ctx, root, file, p, prog, ae)
		}
		if err != nil {
			return err
		}
	}
	usage := verb + " " + name
	if len(args) > 0 {
		usage += " [ARGUMENTS]"
	}
	fmt.Fprintf(w, "Usage: %s [FLAGS]\n\n", usage)
	if p.Description != "" {
		fmt.Fprintf(w, "%s\n", p.Description)
	}
	if p.Entrypoint != "" {
		fmt.Fprintf(w, "A Go pipeline: type %s of the module in %s/ (%s:%d).\n", p.Entrypoint, project.Dir, file.Path, p.EntryPos.Line)
	} else {
		fmt.Fprintf(w, "A YAML pipeline (%s:%d); it takes no arguments.\n", file.Path, p.Pos.Line)
	}
	if len(args) > 0 {
		fmt.Fprintf(w, "\nArguments:\n")
		var rows [][2]string
		for _, a := range args {
			rows = append(rows, [2]string{"--" + strings.TrimSpace(a.Name+" "+argPlaceholder(a.Type)), argUsage(a)})
		}
		table(w, rows)
	}
	var pl *plan.Plan
	if prog != nil {
		pl, err = e.goPlan(e.ctx, root, file, p, prog, nil) // the program found above, not looked up again
	} else {
		pl, err = p.Plan()
	}
	if err != nil {
		fmt.Fprintf(w, "\nJobs: with the default arguments its plan fails:\n  %v\n", err)
	} else {
		jobsTitle := "Jobs"
		if len(args) > 0 {
			jobsTitle += " (with the default arguments)"
		}
		fmt.Fprintf(w, "\n%s:\n", jobsTitle)
		var rows [][2]string
		for _, j := range pl.Jobs {
			var about []string
			if j.Description != "" {
				about = append(about, j.Description)
			}
			if len(j.Needs) > 0 {
				about = append(about, "needs "+strings.Join(j.Needs, ", "))
			}
			rows = append(rows, [2]string{j.ID, strings.Join(about, "; ")})
		}
		table(w, rows)
	}
	fmt.Fprintf(w, "\nsparkwing's own flags for %s: %s --help\n", cmd.Name(), verb)
	return nil
}

// table prints two aligned columns, indented, with no trailing blanks.
func table(w io.Writer, rows [][2]string) {
	width := 0
	for _, r := range rows {
		width = max(width, len(r[0]))
	}
	for _, r := range rows {
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("  %-*s   %s", width, r[0], r[1]), " "))
	}
}

// argPlaceholder is what follows --name in the usage: nothing for a switch.
func argPlaceholder(typ string) string {
	switch typ {
	case "bool":
		return ""
	case "strings":
		return "string (repeatable)"
	}
	return typ
}

// argUsage is an argument's help and its default, when it has one.
func argUsage(a sw.WireArg) string {
	switch a.Value {
	case "", "false", "0", "0s":
		return a.Usage
	}
	def := a.Value
	if a.Type == "string" {
		def = fmt.Sprintf("%q", a.Value)
	}
	return strings.TrimSpace(fmt.Sprintf("%s (default %s)", a.Usage, def))
}
