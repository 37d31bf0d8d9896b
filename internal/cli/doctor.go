package cli

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/image"
	"github.com/sparkwing-dev/sparkwing/internal/project"
)

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
			return e.runHelper("", append([]string{"explain"}, args...))
		},
	}
	cmd.AddCommand(df, explain)
	return cmd
}

// doctorDockerfile runs the doctor in sparkwing-image, from the start
// directory (so -C DIR reads paths as if started in DIR).
func (e *env) doctorDockerfile(g *globals, paths []string, asJSON, fix bool) error {
	start, err := g.startDir()
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		if paths, err = g.findDockerfiles(start); err != nil {
			return err
		}
	}
	args := []string{"doctor"}
	if asJSON {
		args = append(args, "--json")
	}
	if fix {
		args = append(args, "--fix")
	}
	return e.runHelper(start, append(append(args, "--"), paths...))
}

// runHelper runs sparkwing-image with args in dir ("" this one), its
// output as this command's and its exit status this command's.
func (e *env) runHelper(dir string, args []string) error {
	path, err := image.FindHelper(e.getenv("SPARKWING_IMAGE_HELPER"))
	var missing *image.MissingHelperError
	if errors.As(err, &missing) {
		return usageError("%v\n%s", err, missing.Hint())
	} else if err != nil {
		return usageError("%v", err)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, e.stdout, e.stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() > 0:
		return &exitError{code: exit.ExitCode()}
	case err != nil:
		return fmt.Errorf("running %s: %w", image.HelperName, err)
	}
	return nil
}

// findDockerfiles lists the Dockerfiles under the project root (or the
// start directory when there is no project), skipping ignored files, as
// paths relative to start.
func (g *globals) findDockerfiles(start string) ([]string, error) {
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
		if strings.HasSuffix(f, ".dockerignore") || backupFile(f) {
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

// backupFile reports whether name is an editor's or a merge tool's copy
// (Dockerfile.orig, Dockerfile~, ...), which the doctor must never rewrite.
func backupFile(name string) bool {
	for _, suffix := range []string{".orig", ".bak", "~", ".rej", ".swp", ".tmp", ".sparkwing-fix"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}
