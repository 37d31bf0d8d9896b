package cli

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/pipeline"
	"github.com/sparkwing-dev/sparkwing/internal/project"
)

//go:embed starter
var starter embed.FS

// gitignored are the lines .sparkwing/.gitignore needs: what sparkwing
// writes there that is not the project's.
var gitignored = []string{"runs/", "images/", pipeline.WorkFile, pipeline.WorkFile + ".sum"}

func newInitCmd(e *env, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Create .sparkwing/, or add what it lacks (a YAML pipeline, a Go pipeline module)",
		Long: `Create .sparkwing/ in the current directory (or -C DIR): a project file
holding a YAML pipeline, and a Go module holding a Go pipeline. Both run as
written.

In a project that has some of these already, init adds only what is
missing (a Go module beside an existing sparkwing.yaml, say) and never
changes a file that exists, except to add lines to .sparkwing/.gitignore.

It also keeps two files for editors: .sparkwing/sparkwing.schema.json (the
project file's JSON Schema, as 'sparkwing schema' prints it; the starter
names it in its first line) and .sparkwing/go.work, so that editors and go
vet resolve the SDK that sparkwing builds Go pipelines with.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := g.startDir()
			if err != nil {
				return err
			}
			return e.writeStarter(filepath.Join(dir, project.Dir))
		},
	}
}

// writeStarter adds to dir (a project's .sparkwing/) the starter files it
// lacks and says what it wrote.
func (e *env) writeStarter(dir string) error {
	has := func(name string) (bool, error) {
		_, err := os.Lstat(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return err == nil, err
	}
	hasYAML, err := has(project.FileName)
	if err != nil {
		return err
	}
	blankYAML := hasYAML && blank(filepath.Join(dir, project.FileName))
	if blankYAML {
		hasYAML = false // nothing in it to keep: the starter replaces it
	}
	hasMod, err := has("go.mod")
	if err != nil {
		return err
	}
	goFiles, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	var write [][2]string // embedded source, name under dir
	if !hasYAML {
		write = append(write, [2]string{"starter/sparkwing.yaml", project.FileName})
	}
	if !hasMod {
		write = append(write, [2]string{"starter/go.mod.txt", "go.mod"})
		if len(goFiles) == 0 {
			write = append(write, [2]string{"starter/pipelines.go.txt", "pipelines.go"})
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var wrote []string
	for _, f := range write {
		data, _ := starter.ReadFile(f[0])
		if f[1] == project.FileName && blankYAML {
			if _, err := writeIfChanged(filepath.Join(dir, f[1]), data); err != nil {
				return err
			}
		} else if err := writeNew(filepath.Join(dir, f[1]), data); err != nil {
			return err
		}
		wrote = append(wrote, f[1])
	}
	if changed, err := writeIfChanged(filepath.Join(dir, project.SchemaFile), project.Schema); err != nil {
		return err
	} else if changed {
		wrote = append(wrote, project.SchemaFile)
	}
	if added, err := ensureLines(filepath.Join(dir, ".gitignore"), gitignored); err != nil {
		return err
	} else if added {
		wrote = append(wrote, ".gitignore")
	}
	if cacheDir, err := e.cacheDir(); err == nil {
		b := &pipeline.Builder{CacheDir: cacheDir, Environ: e.environ}
		if ok, err := b.KeepWorkspace(dir); err != nil {
			fmt.Fprintf(e.stderr, "warning: could not write %s: %v (editors will not find the SDK)\n", pipeline.WorkFile, err)
		} else if ok {
			wrote = append(wrote, pipeline.WorkFile)
		}
	}
	shown := displayPath(dir)
	switch {
	case !hasYAML && !hasMod:
		fmt.Fprintf(e.stdout, "created %s/ with pipelines build (YAML) and hello (Go)\nnext: sparkwing run build\n", shown)
	case len(write) == 0:
		fmt.Fprintf(e.stdout, "nothing to add: %s/ has a project file and a Go module%s\n", shown, listed(" (updated: ", wrote, ")"))
	default:
		fmt.Fprintf(e.stdout, "added %s to %s/; left as they were: %s\n", strings.Join(wrote, ", "), shown,
			strings.Join(kept(hasYAML, hasMod, goFiles), ", "))
		if hasYAML && !hasMod && len(goFiles) == 0 {
			fmt.Fprintf(e.stdout, "next: add the Go pipeline to %s under pipelines:\n  - name: hello\n    entrypoint: Hello\nthen: sparkwing run hello --name you\n",
				filepath.Join(shown, project.FileName))
		}
	}
	if hasYAML && !referencesSchema(filepath.Join(dir, project.FileName)) {
		fmt.Fprintf(e.stdout, "so that editors check %s as you type, make its first line:\n  # yaml-language-server: $schema=%s\n",
			project.FileName, project.SchemaFile)
	}
	return nil
}

func kept(hasYAML, hasMod bool, goFiles []string) []string {
	var out []string
	if hasYAML {
		out = append(out, project.FileName)
	}
	if hasMod {
		out = append(out, "go.mod")
	}
	for _, f := range goFiles {
		out = append(out, filepath.Base(f))
	}
	return out
}

func listed(before string, items []string, after string) string {
	if len(items) == 0 {
		return ""
	}
	return before + strings.Join(items, ", ") + after
}

// blank reports whether the file at path holds only blanks: an empty
// project file, which the starter may replace.
func blank(path string) bool {
	data, err := os.ReadFile(path)
	return err == nil && len(bytes.TrimSpace(data)) == 0
}

// referencesSchema reports whether the project file names a schema for
// editors.
func referencesSchema(path string) bool {
	data, err := os.ReadFile(path)
	return err == nil && strings.Contains(string(data), "$schema=")
}

// writeIfChanged writes sparkwing's own file at path unless it already
// holds data, and reports whether it wrote.
func writeIfChanged(path string, data []byte) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return false, nil
	}
	return true, fileset.WriteAtomic(path, data, 0o644)
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// ensureLines appends to the file at path each line it lacks, creating it
// if needed, and reports whether it added any.
func ensureLines(path string, lines []string) (bool, error) {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	have := map[string]bool{}
	for _, l := range strings.Split(string(old), "\n") {
		have[strings.TrimSpace(l)] = true
	}
	var add strings.Builder
	if len(old) > 0 && old[len(old)-1] != '\n' {
		add.WriteByte('\n')
	}
	n := 0
	for _, l := range lines {
		if !have[l] {
			add.WriteString(l + "\n")
			n++
		}
	}
	if n == 0 {
		return false, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return false, err
	}
	if _, err := f.WriteString(add.String()); err != nil {
		f.Close()
		return false, err
	}
	return true, f.Close()
}

func newSchemaCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of sparkwing.yaml, for editors",
		Long: `Print the JSON Schema (draft 2020-12) of .sparkwing/sparkwing.yaml, so that
an editor flags a mistyped key, a misplaced needs or a bad timeout as you
type. 'sparkwing init' writes it to .sparkwing/sparkwing.schema.json, and
the starter project file names it in its first line, which editors using
the YAML language server (VS Code, Neovim, JetBrains) read:

  # yaml-language-server: $schema=sparkwing.schema.json

sparkwing's own checks remain the authority, with file:line errors.`,
		Example: "  sparkwing schema > .sparkwing/sparkwing.schema.json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := e.stdout.Write(project.Schema)
			return err
		},
	}
}
