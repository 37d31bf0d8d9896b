package cli

import (
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/sparkwing-dev/sparkwing/internal/project"
)

//go:embed starter
var starter embed.FS

// starterFiles maps embedded templates to their place under .sparkwing/.
var starterFiles = []struct{ src, dst string }{
	{"starter/sparkwing.yaml", project.FileName},
	{"starter/pipelines.go.txt", "pipelines.go"},
	{"starter/go.mod.txt", "go.mod"},
	{"starter/gitignore.txt", ".gitignore"},
}

func newInitCmd(e *env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create a starter .sparkwing/ (a YAML pipeline and a Go pipeline)",
		Long: `Create .sparkwing/ in the current directory (or -C DIR) with a project file
holding a YAML pipeline, and a Go module holding a Go pipeline. Both run as
written. Nothing is overwritten: if any of the files exists, nothing is
written at all.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := g.startDir()
			if err != nil {
				return err
			}
			return writeStarter(filepath.Join(dir, project.Dir), e)
		},
	}
}

func writeStarter(dir string, e *env) error {
	for _, f := range starterFiles {
		p := filepath.Join(dir, f.dst)
		if _, err := os.Lstat(p); err == nil {
			return usageError("%s already exists; nothing written (remove it to start over)", displayPath(p))
		} else if !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range starterFiles {
		data, _ := starter.ReadFile(f.src)
		if err := os.WriteFile(filepath.Join(dir, f.dst), data, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stdout, "created %s/ with pipelines build (YAML) and hello (Go)\nnext: sparkwing run build\n", displayPath(dir))
	return nil
}
