package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/sparkwing-dev/sparkwing/internal/pipeline"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/project"
	"github.com/sparkwing-dev/sparkwing/internal/sparks"
)

// Exit codes: the public contract in DESIGN.md.
const (
	exitOK          = 0
	exitFailed      = 1 // a job failed
	exitUsage       = 2 // usage, config or plan error
	exitInterrupted = 130
)

// exitError ends the command with a code; a nil err means its story was
// already told (the run summary) and nothing more is printed.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// exitCode prints err (if any) and returns the exit code it means. This is
// the only place errors become exit codes.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	code := exitFailed
	var (
		ee  *exitError
		pe  *project.Error
		pl  project.ErrorList
		nf  *project.NotFoundError
		je  *plan.JobError
		ne  *plan.NeedError
		ce  *plan.CycleError
		cpe *pipeline.CompileError
		ae  *pipeline.ArgError
		me  *pipeline.NoModuleError
		se  *sparks.Error
	)
	switch {
	case errors.As(err, &ee):
		code = ee.code
		if ee.err == nil {
			return code
		}
	case errors.As(err, &pl), errors.As(err, &pe), errors.As(err, &nf),
		errors.As(err, &je), errors.As(err, &ne), errors.As(err, &ce),
		errors.As(err, &cpe), errors.As(err, &ae), errors.As(err, &me), errors.As(err, &se):
		code = exitUsage
	}
	if errors.As(err, &pl) || errors.As(err, &pe) || errors.As(err, &se) {
		fmt.Fprintln(stderr, err) // already "file:line:col: message"
	} else {
		fmt.Fprintf(stderr, "sparkwing: %v\n", err)
	}
	return code
}
