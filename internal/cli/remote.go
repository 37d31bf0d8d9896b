package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/sparkwing-dev/sparkwing/internal/project"
	"github.com/sparkwing-dev/sparkwing/internal/remote"
)

// remoteCache resolves the run's remote cache from the project file, the
// environment and --remote-cache (flag). It returns the engine's opener
// (nil: none) and what identifies the settings. A setting that cannot work
// is a usage error naming it and the fix.
func (e *env) remoteCache(root string, file *project.File, flag string) (func(context.Context, func(string)) (*remote.Client, error), string, error) {
	cfg := remote.Config{Remote: file.Cache.Remote, Trusted: file.Cache.Trusted, RemoteWrite: file.Cache.RemoteWrite}
	if file.Cache.RemoteLine > 0 {
		cfg.Where = fmt.Sprintf("%s:%d", file.Path, file.Cache.RemoteLine)
	}
	s, err := remote.Resolve(cfg, flag, e.getenv, root)
	if err != nil {
		return nil, "", remoteSetupError(err)
	}
	if s == nil {
		return nil, "", nil
	}
	id := fmt.Sprintf("%s %s %v %q", s.URL, s.Namespace, s.Write, s.Trusted)
	open := func(ctx context.Context, warn func(string)) (*remote.Client, error) {
		return remote.Open(ctx, s, e.getenv("SPARKWING_REMOTE_HELPER"), warn)
	}
	return open, id, nil
}

// remoteSetupError is exit 2 with the setting, the problem and the fix.
func remoteSetupError(err error) error {
	var se *remote.SetupError
	if errors.As(err, &se) {
		return &exitError{code: exitUsage, err: fmt.Errorf("%w\n%s", se, se.Fix)}
	}
	return err
}
