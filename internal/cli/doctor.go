package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sparkwing-dev/sparkwing/internal/dockerfile"
	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/project"
)

// maxDockerfile bounds a Dockerfile the doctor reads.
const maxDockerfile = 16 << 20

func newDoctorCmd(e *env, g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Find the mistakes that make builds slow",
	}
	var asJSON, fix bool
	df := &cobra.Command{
		Use:   "dockerfile [PATH...]",
		Short: "Find the layer-cache mistakes in Dockerfiles",
		Long: `Reads each Dockerfile with BuildKit's own parser and reports the mistakes
that defeat the layer cache, as path:line: [rule] message, each with a fix.
'sparkwing doctor explain RULE' explains a rule. Nothing is fetched.

With no PATH, checks every Dockerfile, *.Dockerfile and Dockerfile.* under
the project (or the current directory), leaving out git-ignored files. The
build context is taken to be each Dockerfile's directory.

--fix applies the fixes that are safe to make mechanically (cache mounts for
recognised toolchain commands, the # syntax= line) and prints the diff; it
never moves instructions, it only suggests the move.

Exit status: 0 no findings of severity warning, 1 some, 2 a file could not
be read or parsed.`,
		Example: `  sparkwing doctor dockerfile
  sparkwing doctor dockerfile build/Dockerfile --fix
  sparkwing doctor explain cache-mount`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.doctorDockerfile(g, args, asJSON, fix)
		},
	}
	df.Flags().BoolVar(&asJSON, "json", false, "print findings as JSON")
	df.Flags().BoolVar(&fix, "fix", false, "apply the mechanical fixes and print the diff")
	explain := &cobra.Command{
		Use:   "explain [RULE]",
		Short: "Explain a rule (with no RULE, list them)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				for _, r := range dockerfile.Rules {
					fmt.Fprintf(e.stdout, "%-18s %-8s %s\n", r.ID, r.Severity, r.Title)
				}
				return nil
			}
			r := dockerfile.Lookup(args[0])
			if r == nil {
				return usageError("no rule %q: 'sparkwing doctor explain' lists them", args[0])
			}
			fmt.Fprintf(e.stdout, "%s (%s): %s\n\n%s\n", r.ID, r.Severity, r.Title, wrap(r.Explain, 76))
			return nil
		},
	}
	cmd.AddCommand(df, explain)
	return cmd
}

func (e *env) doctorDockerfile(g *globals, paths []string, asJSON, fix bool) error {
	if len(paths) == 0 {
		found, err := g.findDockerfiles()
		if err != nil {
			return err
		}
		paths = found
	}
	var all []dockerfile.Finding
	var unreadable []string
	for _, p := range paths {
		data, err := fileset.ReadUserFile(p, maxDockerfile)
		if err != nil {
			unreadable = append(unreadable, err.Error())
			continue
		}
		f, err := dockerfile.Parse(p, data)
		if err != nil {
			unreadable = append(unreadable, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		findings := dockerfile.Check(f, &dockerfile.Context{Dir: filepath.Dir(p)})
		if fix {
			text, diff, n := dockerfile.Fix(f, findings)
			if n > 0 {
				if err := writeAtomic(p, []byte(text)); err != nil {
					return err
				}
				fmt.Fprint(e.stdout, diff)
				// What is left is what the fixes did not cover.
				if f, err = dockerfile.Parse(p, []byte(text)); err == nil {
					findings = dockerfile.Check(f, &dockerfile.Context{Dir: filepath.Dir(p)})
				}
			}
		}
		all = append(all, findings...)
	}
	if asJSON {
		if all == nil {
			all = []dockerfile.Finding{}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(all); err != nil {
			return err
		}
	} else {
		dockerfile.Print(e.stdout, all)
	}
	if len(unreadable) > 0 {
		return usageError("%s", strings.Join(unreadable, "\n"))
	}
	for _, fd := range all {
		if fd.Severity >= dockerfile.Warning {
			return &exitError{code: exitFailed}
		}
	}
	if len(paths) == 0 && !asJSON {
		fmt.Fprintln(e.stdout, "no Dockerfiles found")
	}
	return nil
}

// findDockerfiles lists the Dockerfiles under the project root (or the
// start directory when there is no project), skipping ignored files.
func (g *globals) findDockerfiles() ([]string, error) {
	start, err := g.startDir()
	if err != nil {
		return nil, err
	}
	root := start
	if r, err := project.FindRoot(start); err == nil {
		root = r
	}
	files, err := fileset.NewTree(root).Match([]string{"**/Dockerfile", "**/*.Dockerfile", "**/Dockerfile.*"}, nil)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range files {
		if strings.HasSuffix(f, ".dockerignore") {
			continue
		}
		rel, err := filepath.Rel(start, filepath.Join(root, f))
		if err != nil {
			rel = filepath.Join(root, f)
		}
		out = append(out, rel)
	}
	return out, nil
}

func writeAtomic(path string, data []byte) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp := path + ".sparkwing-fix"
	if err := os.WriteFile(tmp, data, st.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for _, w := range strings.Fields(s) {
		if n > 0 && n+1+len(w) > width {
			b.WriteString("\n")
			n = 0
		} else if n > 0 {
			b.WriteString(" ")
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}
