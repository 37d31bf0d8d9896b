package buildkit

import (
	"context"

	"github.com/tonistiigi/fsutil"

	"github.com/sparkwing-dev/sparkwing/internal/buildctx"
)

// WalkFollowing lists dir as ListContext does for a narrowing to follow:
// for tests that change a narrowing on purpose.
func WalkFollowing(ctx context.Context, dir string, excludes, follow []string) ([]buildctx.Entry, error) {
	if len(follow) == 0 {
		return nil, nil
	}
	return walkContext(ctx, dir, &fsutil.FilterOpt{ExcludePatterns: excludes, FollowPaths: follow})
}
