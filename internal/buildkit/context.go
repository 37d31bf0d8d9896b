package buildkit

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/tonistiigi/fsutil"

	"github.com/sparkwing-dev/sparkwing/internal/buildctx"
)

// ListContext is a buildctx.Lister: it walks dir with the filter
// BuildKit's client sends a build context through (fsutil's FilterFS),
// given the FollowPaths the Dockerfile frontend asks for when there is a
// scope (see Narrow), so the listing is what BuildKit receives by
// construction.
func ListContext(ctx context.Context, dir string, excludes []string, scope *buildctx.Scope) ([]buildctx.Entry, *buildctx.Narrowing, error) {
	var narrowing *buildctx.Narrowing
	opt := &fsutil.FilterOpt{ExcludePatterns: excludes}
	if scope != nil {
		narrowing = Narrow(ctx, scope)
		if !narrowing.Whole {
			if len(narrowing.Paths) == 0 {
				return nil, narrowing, nil // the build reads no file of the context
			}
			opt.FollowPaths = narrowing.Paths
		}
	}
	entries, err := walkContext(ctx, dir, opt)
	return entries, narrowing, err
}

func walkContext(ctx context.Context, dir string, opt *fsutil.FilterOpt) ([]buildctx.Entry, error) {
	base, err := fsutil.NewFS(dir)
	if err != nil {
		return nil, err
	}
	filtered, err := fsutil.NewFilterFS(base, opt)
	if err != nil {
		return nil, fmt.Errorf("ignore patterns: %w", err)
	}
	var out []buildctx.Entry
	err = filtered.Walk(ctx, "", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := buildctx.Entry{Path: filepath.ToSlash(p), Mode: info.Mode() & (fs.ModePerm | fs.ModeType | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)}
		if info.Mode()&fs.ModeSymlink != 0 {
			if e.Link, err = os.Readlink(filepath.Join(dir, p)); err != nil {
				return err
			}
		}
		out = append(out, e)
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("build context %s: %w", dir, err)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Path < out[b].Path })
	return out, err
}
