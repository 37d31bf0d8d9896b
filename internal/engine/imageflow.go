package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/image"
	"github.com/sparkwing-dev/sparkwing/internal/job"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
	"github.com/sparkwing-dev/sparkwing/internal/sched"
	"github.com/sparkwing-dev/sparkwing/internal/ui"
)

// ImageOptions configure image jobs.
type ImageOptions struct {
	Buildkit string // buildkitd address
	Helper   string // sparkwing-image; "" finds it (image.FindHelper)
	Profile  string // selects each image's `push` registries
	Load     bool   // also write each image to .sparkwing/images/JOB.tar
}

// LoadDir is where --load writes OCI tars, relative to the project root.
const LoadDir = ".sparkwing/images"

// images is the state image jobs of one run share: one search for the
// helper, one look at git, and the first setup error.
type images struct {
	opts ImageOptions

	commitOnce sync.Once
	commit     image.Commit

	mu       sync.Mutex
	helper   *image.Helper
	setupErr error // no helper, or buildkitd unreachable: a setup problem, exit 2
}

func (s *images) readCommit(ctx context.Context, root string) image.Commit {
	s.commitOnce.Do(func() { s.commit = image.ReadCommit(ctx, root) })
	return s.commit
}

// builder finds the helper once per run; a setup error is remembered, so
// every image job reports the same one without trying again.
func (s *images) builder() (*image.Helper, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.helper == nil && s.setupErr == nil {
		path, err := image.FindHelper(s.opts.Helper)
		if err != nil {
			s.setupErr = err
		} else {
			s.helper = &image.Helper{Path: path, Addr: s.opts.Buildkit}
		}
	}
	return s.helper, s.setupErr
}

// failedSetup remembers a setup error: an unreachable buildkitd, a
// missing helper.
func (s *images) failedSetup(err error) {
	var ue *image.UnreachableError
	var me *image.MissingHelperError
	if errors.As(err, &ue) || errors.As(err, &me) {
		s.mu.Lock()
		s.setupErr = err
		s.mu.Unlock()
	}
}

func (s *images) setupError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setupErr
}

// checkTargets finds, before any job starts, an image job whose target
// its Dockerfile has no stage of. A Dockerfile not there yet (a job
// writes it) is left to the build.
func checkTargets(root string, p *plan.Plan) error {
	for _, j := range p.Jobs {
		if j.Image == nil || j.Image.Target == "" {
			continue
		}
		df := j.Image.ResolvedDockerfile()
		content, err := fileset.ReadUserFile(filepath.Join(root, df), 16<<20)
		if err != nil {
			continue
		}
		if stages := image.StageNames(content); !slices.Contains(stages, strings.ToLower(j.Image.Target)) {
			return &image.TargetError{Job: j.ID, Dockerfile: df, Target: j.Image.Target, Stages: stages}
		}
	}
	return nil
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
		e.images.failedSetup(err)
		return e.fail(j, rj, err)
	}
	rj.Key = comp.Key.String()
	if len(im.Push[e.opts.Images.Profile]) > 0 {
		e.warnUnusedTags(j, e.opts.Images.Profile)
	}
	d := e.images.decide(ctx, e.opts.Root, j, comp, e.opts.NoCache, e.lastKeys(), func(msg string) { e.opts.Observer.Warn(j.ID, msg) })
	rj.Cache = d.cache
	if len(d.refs) > 0 {
		e.deploys.setRef(j.ID, d.refs[0].String()) // the content tag at the profile's first registry
	}
	if d.cache.Result == "hit" {
		rj.Status = runrec.Cached
		e.opts.Observer.JobLine(j.ID, []byte(fmt.Sprintf("sparkwing: %s exists in every registry of profile %s: nothing to build or push", d.refs[0].Repo+":"+d.tag, d.profile)))
		e.replayImageLog(j, comp)
		return rj, sched.Succeeded
	}
	refs := d.refs

	t0 := time.Now()
	rj.Attempts, err = e.buildRetrying(ctx, j, refs)
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

// exportImage builds an export job's target with BuildKit's local
// exporter into a new directory beside its output, then puts that in the
// output's place: the output holds exactly the target's files, and a
// failed or interrupted build leaves the old ones.
func (e *execution) exportImage(ctx context.Context, j plan.Job) job.Result {
	res := job.Result{Status: job.OK}
	var err error
	res.Attempts, err = e.buildRetrying(ctx, j, nil)
	switch {
	case err != nil && ctx.Err() != nil:
		res.Status, res.Err = job.Cancelled, errors.New("cancelled")
	case err != nil:
		res.Status, res.Err = job.Failed, err
	}
	return res
}

// buildRetrying builds j as often as its retries allow, until a build
// succeeds, the run is cancelled or BuildKit cannot be reached.
func (e *execution) buildRetrying(ctx context.Context, j plan.Job, refs []image.Ref) (attempts int, err error) {
	for attempts = 1; ; attempts++ {
		err = e.buildImage(ctx, j, refs)
		if err == nil || ctx.Err() != nil || attempts > j.Retries || e.images.setupError() != nil {
			return attempts, err
		}
		e.opts.Observer.Warn(j.ID, fmt.Sprintf("%v; attempt %d of %d", err, attempts+1, j.Retries+1))
	}
}

// exportInto makes an empty directory beside dir (relative to the root),
// for BuildKit to export into, and returns it with the function that puts
// it in dir's place (ok) or removes it. Both go through an os.Root of the
// project, so no symlink can lead them outside it.
func exportInto(projectRoot, dir string) (tmp string, finish func(ok bool) error, err error) {
	root, err := os.OpenRoot(projectRoot)
	if err != nil {
		return "", nil, err
	}
	dir = path.Clean(dir)
	parent, base := path.Split(dir)
	parent = path.Clean(cmp.Or(parent, "."))
	if err := root.MkdirAll(parent, 0o755); err != nil {
		root.Close()
		return "", nil, fmt.Errorf("export.to %s: %w", dir, err)
	}
	suffix := fmt.Sprintf(".%s.export-%d", base, time.Now().UnixNano())
	rel := path.Join(parent, suffix)
	if err := root.Mkdir(rel, 0o755); err != nil {
		root.Close()
		return "", nil, fmt.Errorf("export.to %s: %w", dir, err)
	}
	return filepath.Join(projectRoot, filepath.FromSlash(rel)), func(ok bool) error {
		defer root.Close()
		if !ok {
			return root.RemoveAll(rel)
		}
		old := rel + ".old"
		if err := root.Rename(dir, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
			root.RemoveAll(rel)
			return fmt.Errorf("export.to %s: %w", dir, err)
		}
		if err := root.Rename(rel, dir); err != nil {
			root.Rename(old, dir)
			root.RemoveAll(rel)
			return fmt.Errorf("export.to %s: %w", dir, err)
		}
		return root.RemoveAll(old)
	}, nil
}

// imageDecision is what a run does with an image job before building:
// the refs it pushes, and whether every one of them is there already.
type imageDecision struct {
	tag, profile string
	refs         []image.Ref
	cache        runrec.Cache // a hit (image exists), or why it must build
}

// decide works out an image job's content tag and asks each registry of
// the profile for it. A run and a prediction (plan) both call it, so they
// agree; warn is told of a registry that cannot be asked.
func (s *images) decide(ctx context.Context, root string, j plan.Job, comp *cache.Computed, noCache bool,
	lastKeys map[string]string, warn func(string)) imageDecision {
	im := j.Image
	d := imageDecision{tag: s.contentTag(ctx, root, j, comp), profile: s.opts.Profile, cache: runrec.Cache{Result: "miss"}}
	repo := im.Repository
	if repo == "" {
		repo = strings.ToLower(j.ID)
	}
	registries := im.Push[d.profile]
	tags := append([]string{d.tag}, im.TagNames(d.profile)...)
	for _, reg := range registries {
		for _, t := range tags {
			d.refs = append(d.refs, image.RefIn(reg, repo, t))
		}
	}
	key := comp.Key.String()
	switch {
	case j.Cache != nil && !*j.Cache:
		d.cache = runrec.Cache{Result: "off", Reason: "disabled"}
	case noCache:
		d.cache.Reason = "disabled"
	case s.opts.Load:
		d.cache.Reason = "--load writes the image"
	case len(registries) == 0:
		d.cache.Reason = fmt.Sprintf("profile %s pushes nowhere", d.profile)
	default:
		found, err := s.exists(ctx, d.refs, image.FilesPart(key), len(tags))
		switch {
		case err != nil:
			warn("registry: " + err.Error() + "; building")
			d.cache.Reason = "registry error"
		case found:
			d.cache = runrec.Cache{Result: "hit", Reason: "image exists"}
		default:
			d.cache.Reason = missReason(lastKeys, j.ID, key)
		}
	}
	return d
}

// contentTag is the image's tag; -dirty only when a file BuildKit receives
// differs from the commit.
func (s *images) contentTag(ctx context.Context, root string, j plan.Job, comp *cache.Computed) string {
	commit := s.readCommit(ctx, root)
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
	return image.ContentTag(commit.SHA, commit.SHA != "" && commit.Dirty(root, paths, dirs), comp.Key.String())
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
	if len(refs) == 0 && im.Export == "" {
		fmt.Fprintf(log, "sparkwing: profile %s names no registry for %s: building without pushing\n", e.opts.Images.Profile, j.ID)
	}
	b, err := e.images.builder()
	if err != nil {
		return err
	}
	req := image.Request{Root: e.opts.Root, Image: im, Refs: names, Log: log,
		Warn: func(msg string) { e.opts.Observer.Warn(j.ID, msg) }}
	if im.Export != "" {
		fmt.Fprintf(log, "sparkwing: exporting target %s to %s\n", cmp.Or(im.Target, "(the last stage)"), im.Export)
		tmp, finish, err := exportInto(e.opts.Root, im.Export)
		if err != nil {
			return err
		}
		req.ExportDir = tmp
		res, err := b.Build(ctx, req)
		e.images.failedSetup(err)
		if err == nil {
			err = finish(true)
		} else {
			finish(false)
		}
		if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("timed out after %v", j.Timeout)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(log, "sparkwing: exported %s in %d steps (%d cached)\n", im.Export, len(res.Steps), cachedSteps(res))
		return nil
	}
	if e.opts.Images.Load {
		req.OCITar = filepath.Join(e.opts.Root, LoadDir, j.ID+".tar")
		fmt.Fprintf(log, "sparkwing: writing %s\n", filepath.Join(LoadDir, j.ID+".tar"))
	}
	res, err := b.Build(ctx, req)
	e.images.failedSetup(err)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("timed out after %v", j.Timeout)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "sparkwing: built %s in %d steps (%d cached)\n", short(res.Digest), len(res.Steps), cachedSteps(res))
	return nil
}

func cachedSteps(res *image.Result) int {
	n := 0
	for _, s := range res.Steps {
		if s.Cached {
			n++
		}
	}
	return n
}

// exists asks sparkwing-image whether every registry has the
// content tag (see registry.Client.Ensure).
func (s *images) exists(ctx context.Context, refs []image.Ref, files string, perRegistry int) (bool, error) {
	b, err := s.builder()
	if err != nil {
		return false, err
	}
	return b.Exists(ctx, refs, perRegistry, files)
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
