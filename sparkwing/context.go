package sparkwing

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
)

// JobContext is what a Go step gets to talk to the world. Output written to
// Stdout and Stderr is the job's log.
type JobContext struct {
	ID     string    // the job's id
	Root   string    // the project root, also the working directory
	Stdout io.Writer // the job's log
	Stderr io.Writer // the job's log
}

// Logf writes one line to the job's log.
func (j *JobContext) Logf(format string, args ...any) {
	fmt.Fprintf(j.Stdout, format+"\n", args...)
}

// Getenv returns an environment variable. A job sees only the variables it
// declared with Env or Passthrough, plus a small fixed base.
func (j *JobContext) Getenv(name string) string { return os.Getenv(name) }

// Exec runs a program in the project root with its output in the job's log.
func (j *JobContext) Exec(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = j.Root
	cmd.Stdout, cmd.Stderr = j.Stdout, j.Stderr
	return cmd.Run()
}
