package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/moby/buildkit/client"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
	"github.com/sparkwing-dev/sparkwing/internal/dockerfile"
	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/image"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
	"github.com/sparkwing-dev/sparkwing/internal/sched"
	"github.com/sparkwing-dev/sparkwing/internal/ui"
)

// ImageOptions configure image jobs.
type ImageOptions struct {
	Buildkit string          // buildkitd address
	Profile  string          // selects each image's `push` registries
	Load     bool            // also write each image to .sparkwing/images/JOB.tar
	Registry *image.Registry // nil: image.NewRegistry()
}

// LoadDir is where --load writes OCI tars, relative to the project root.
const LoadDir = ".sparkwing/images"

// images is the state image jobs of one run share: one buildkitd
// connection, one look at git.
type images struct {
	opts ImageOptions

	commitOnce sync.Once
	commit     image.Commit

	regOnce sync.Once
	reg     *image.Registry

	mu       sync.Mutex
	client   *client.Client
	setupErr error // buildkitd unreachable: a setup problem, exit 2
}

func (s *images) readCommit(ctx context.Context, root string) image.Commit {
	s.commitOnce.Do(func() { s.commit = image.ReadCommit(ctx, root) })
	return s.commit
}

// connect dials buildkitd once per run; a failure is remembered, so every
// image job reports the same error without dialling again.
func (s *images) connect(ctx context.Context) (*client.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil && s.setupErr == nil {
		c, err := image.Connect(ctx, s.opts.Buildkit)
		var ue *image.UnreachableError
		if errors.As(err, &ue) {
			s.setupErr = err
		} else if err != nil {
			return nil, err
		}
		s.client = c
	}
	if s.setupErr != nil {
		return nil, s.setupErr
	}
	return s.client, nil
}

func (s *images) close() {
	if s.client != nil {
		s.client.Close()
	}
}

// doImage is an image job's life: hash what BuildKit would receive, ask
// each registry of the profile whether that content is there, and only
// if not, build and push.
func (e *execution) doImage(ctx context.Context, j plan.Job) (runrec.Job, sched.Status) {
	rj := runrec.Job{Cache: runrec.Cache{Result: "miss"}}
	if e.cache == nil {
		return e.fail(j, rj, errors.New("image jobs need the cache (their key is their files hash)"))
	}
	im := j.Image
	comp, err := e.cache.Compute(ctx, j, nil)
	if err != nil {
		return e.fail(j, rj, err)
	}
	rj.Key = comp.Key.String()
	tag := e.contentTag(ctx, j, comp)
	repo := im.Repository
	if repo == "" {
		repo = strings.ToLower(j.ID)
	}
	profile := e.opts.Images.Profile
	registries := im.Push[profile]
	tags := append([]string{tag}, im.TagNames(profile)...)
	var refs []image.Ref
	for _, reg := range registries {
		for _, t := range tags {
			refs = append(refs, image.RefIn(reg, repo, t))
		}
	}
	if len(registries) > 0 {
		e.warnUnusedTags(j, profile)
	}

	switch {
	case j.Cache != nil && !*j.Cache:
		rj.Cache = runrec.Cache{Result: "off", Reason: "disabled"}
	case e.opts.NoCache:
		rj.Cache.Reason = "disabled"
	case e.opts.Images.Load:
		rj.Cache.Reason = "--load writes the image"
	case len(registries) == 0:
		rj.Cache.Reason = fmt.Sprintf("profile %s pushes nowhere", profile)
	default:
		found, err := e.imageExists(ctx, refs, image.FilesPart(rj.Key), len(tags))
		if err != nil {
			e.opts.Observer.Warn(j.ID, "registry: "+err.Error()+"; building")
			rj.Cache.Reason = "registry error"
			break
		}
		if found {
			rj.Status, rj.Cache = runrec.Cached, runrec.Cache{Result: "hit", Reason: "image exists"}
			e.opts.Observer.JobLine(j.ID, []byte(fmt.Sprintf("sparkwing: %s exists in every registry of profile %s: nothing to build or push", refs[0].Repo+":"+tag, profile)))
			e.replayImageLog(j, comp)
			return rj, sched.Succeeded
		}
		rj.Cache.Reason = "no entry"
		if prev := e.lastKeys[j.ID]; prev != "" && prev != rj.Key {
			rj.Cache.Reason = "inputs changed"
		}
	}

	t0 := time.Now()
	for rj.Attempts = 1; ; rj.Attempts++ {
		err = e.buildImage(ctx, j, refs)
		if err == nil || ctx.Err() != nil || rj.Attempts > j.Retries || e.images.setupErr != nil {
			break
		}
		e.opts.Observer.Warn(j.ID, fmt.Sprintf("%v; attempt %d of %d", err, rj.Attempts+1, j.Retries+1))
	}
	e.cache.Tree.Invalidate() // a local cache export or --load may have written files
	switch {
	case err != nil && ctx.Err() != nil:
		rj.Status, rj.Error = runrec.Cancelled, "cancelled"
		return rj, sched.Cancelled
	case err != nil:
		return e.fail(j, rj, err)
	}
	if rj.Cache.Result != "off" && e.cache.Store != nil {
		e.store(ctx, j, comp, nil, nil, time.Since(t0))
	}
	rj.Status = runrec.Ran
	return rj, sched.Succeeded
}

// contentTag is the image's tag; -dirty only when a file BuildKit receives
// differs from the commit.
func (e *execution) contentTag(ctx context.Context, j plan.Job, comp *cache.Computed) string {
	commit := e.images.readCommit(ctx, e.opts.Root)
	im := j.Image
	paths := []string{im.ResolvedDockerfile()}
	for _, f := range comp.Inputs {
		paths = append(paths, f.Path)
	}
	dirs := []string{im.ContextDir()}
	for _, name := range im.ContextNames() {
		if d := im.Contexts[name]; !filepath.IsAbs(d) {
			dirs = append(dirs, path.Clean(d))
		}
	}
	return image.ContentTag(commit.SHA, commit.SHA != "" && commit.Dirty(e.opts.Root, paths, dirs), comp.Key.String())
}

// buildImage runs BuildKit, its progress in the job's log, within the
// job's timeout.
func (e *execution) buildImage(ctx context.Context, j plan.Job, refs []image.Ref) error {
	if j.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, j.Timeout)
		defer cancel()
	}
	f, err := os.Create(e.run.LogPath(j.ID))
	if err != nil {
		return err
	}
	defer f.Close()
	lines := &ui.LineWriter{Obs: e.opts.Observer, Job: j.ID}
	defer lines.Close()
	log := io.MultiWriter(f, lines)

	im := j.Image
	names := make([]string, len(refs))
	for i, r := range refs {
		names[i] = r.String()
		fmt.Fprintf(log, "sparkwing: image %s\n", names[i])
	}
	if len(refs) == 0 {
		fmt.Fprintf(log, "sparkwing: profile %s names no registry for %s: building without pushing\n", e.opts.Images.Profile, j.ID)
	}
	if !im.NoDoctor {
		e.doctor(j, log)
	}
	c, err := e.images.connect(ctx)
	if err != nil {
		return err
	}
	req := image.Request{Root: e.opts.Root, Image: im, Refs: names, Log: log,
		Warn: func(msg string) { e.opts.Observer.Warn(j.ID, "BuildKit: "+msg) }}
	if e.opts.Images.Load {
		req.OCITar = filepath.Join(e.opts.Root, LoadDir, j.ID+".tar")
		fmt.Fprintf(log, "sparkwing: writing %s\n", filepath.Join(LoadDir, j.ID+".tar"))
	}
	res, err := image.Build(ctx, c, req)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("timed out after %v", j.Timeout)
	}
	if err != nil {
		return err
	}
	cached := 0
	for _, s := range res.Steps {
		if s.Cached {
			cached++
		}
	}
	fmt.Fprintf(log, "sparkwing: built %s in %d steps (%d cached)\n", short(res.Digest), len(res.Steps), cached)
	return nil
}

// imageExists says whether every registry has the content tag. When a
// registry has the same files under another commit's tag, the new tag is
// added to that manifest (nothing built, no layer pushed). Extra tags are
// moved to the content tag's manifest when they point elsewhere.
func (e *execution) imageExists(ctx context.Context, refs []image.Ref, files string, perRegistry int) (bool, error) {
	reg := e.images.registry()
	for i := 0; i < len(refs); i += perRegistry {
		content := refs[i]
		digest, err := reg.Digest(ctx, content)
		if err != nil {
			return false, err
		}
		if digest == "" {
			other, err := reg.FindTag(ctx, content, func(t string) bool { return image.SameFiles(t, files) })
			if err != nil || other == "" {
				return false, err
			}
			if err := reg.Retag(ctx, content, other); err != nil {
				return false, err
			}
			if digest, err = reg.Digest(ctx, content); err != nil || digest == "" {
				return false, err
			}
		}
		for _, extra := range refs[i+1 : i+perRegistry] {
			if d, err := reg.Digest(ctx, extra); err != nil {
				return false, err
			} else if d != digest {
				if err := reg.Retag(ctx, extra, content.Tag); err != nil {
					return false, err
				}
			}
		}
	}
	return true, nil
}

// registry is the run's registry client, made on first use (it reads the
// Docker config file).
func (s *images) registry() *image.Registry {
	s.regOnce.Do(func() {
		if s.reg = s.opts.Registry; s.reg == nil {
			s.reg = image.NewRegistry()
		}
	})
	return s.reg
}

// replayImageLog shows the log of the build that made the image, when this
// machine stored it.
func (e *execution) replayImageLog(j plan.Job, comp *cache.Computed) {
	if e.cache.Store == nil {
		return
	}
	entry, err := e.cache.Store.Get(comp.Key)
	if err != nil {
		return
	}
	e.replayLog(j, entry)
}

// doctor shows the Dockerfile doctor's findings as warnings before a build.
func (e *execution) doctor(j plan.Job, log io.Writer) {
	path := j.Image.ResolvedDockerfile()
	data, err := fileset.ReadUserFile(filepath.Join(e.opts.Root, path), 16<<20)
	if err != nil {
		return // the build reports it
	}
	f, err := dockerfile.Parse(path, data)
	if err != nil {
		return
	}
	ctxDir := filepath.Join(e.opts.Root, j.Image.ContextDir())
	for _, fd := range dockerfile.Check(f, &dockerfile.Context{Dir: ctxDir}) {
		if fd.Severity < dockerfile.Warning {
			continue
		}
		msg := fmt.Sprintf("doctor: %s:%d: [%s] %s", fd.Path, fd.Line, fd.Rule, fd.Message)
		fmt.Fprintln(log, "sparkwing: "+msg)
		e.opts.Observer.Warn(j.ID, msg+" (sparkwing doctor explain "+fd.Rule+"; `doctor: false` turns this off)")
	}
}

// warnUnusedTags names extra tags pushed with nothing declared to use them.
func (e *execution) warnUnusedTags(j plan.Job, profile string) {
	var unused []string
	for _, t := range j.Image.Tags {
		if t.UsedBy == "" {
			unused = append(unused, strings.ReplaceAll(t.Name, "{profile}", profile))
		}
	}
	if len(unused) > 0 {
		e.opts.Observer.Warn(j.ID, fmt.Sprintf("pushing %d more tag(s) than the config says anything uses (%s); say what pulls each with `used_by:`, or drop it",
			len(unused), strings.Join(unused, ", ")))
	}
}

func short(digest string) string {
	if len(digest) > 19 {
		return digest[:19]
	}
	if digest == "" {
		return "image"
	}
	return digest
}
