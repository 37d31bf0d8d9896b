package engine

import (
	"context"
	"errors"
	"sync"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
	"github.com/sparkwing-dev/sparkwing/internal/goinput"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// GoInputError is a job's `go:` input the go command cannot resolve (a
// pattern that matches nothing, a broken import): a setup error, found
// before anything runs.
type GoInputError struct {
	Job string
	Err *goinput.Error
}

func (e *GoInputError) Error() string { return "job " + e.Job + ": " + e.Err.Error() }

// Hint says how to fix it.
func (e *GoInputError) Hint() string { return e.Err.Hint() }

// resolveGoInputs resolves, before any job starts, the `go:` inputs of
// every job that needs no other (one that does is resolved when its key
// is made: what it needs may write the Go files it reads), so a mistake in
// one stops the run before anything ran. The key of each such job then
// finds its resolution kept, unless a path it read changed since (or was
// too recent to trust, as right after an edit: then a head-changing edit
// costs a second go list).
func (e *execution) resolveGoInputs(ctx context.Context) error {
	if e.cache == nil || e.cache.Store == nil {
		return nil
	}
	var first []plan.Job
	for _, j := range e.plan.Jobs {
		if (len(j.GoInputs) > 0 || j.GoTest != nil) && len(j.Needs) == 0 && j.Image == nil {
			if ok, _ := cache.Cacheable(j); ok {
				first = append(first, j)
			}
		}
	}
	errs := make([]error, len(first))
	var wg sync.WaitGroup
	for i, j := range first {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, errs[i] = e.cache.ResolveGo(ctx, j); errs[i] == nil && j.GoTest != nil {
				_, errs[i] = e.cache.Go.Resolve(ctx, j.GoTest.Input(), e.cache.JobEnv(j), e.cache.Hasher.Seen)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		var bad *goinput.Error
		if errors.As(err, &bad) {
			return &GoInputError{Job: first[i].ID, Err: bad}
		}
	}
	return nil // any other error fails the job when its key is made
}
