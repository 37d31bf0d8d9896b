package devloop

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/deploy"
	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
)

// Sync is what `sparkwing dev --sync` needs to copy new builds of an
// image's synced files (plan.Image.Sync) into the running pods instead of
// building the image and rolling it out.
type Sync struct {
	// Key is an image job's key without its synced files' content
	// (cache.SyncKey): while it stays as it was at the last rollout, the
	// image differs at most in those files.
	Key func(ctx context.Context, image plan.Job) (string, error)
	// Copy runs the deploy helper's sync op for deploy job d; with
	// checkOnly, only its check that the cluster runs what the last
	// deploy applied (the manifests may have changed). An answer with
	// Stale set says why it could not: then dev deploys.
	Copy func(ctx context.Context, d plan.Job, checkOnly bool) (*deploy.Message, error)
	// SetGeneration sets the pod template generation the next build's
	// deploys apply (deploy.Sync.Generation).
	SetGeneration func(string)
}

// SyncTargets are the deploy jobs of p that pin an image job with synced
// files, and every image job those deploys pin: a sync builds none of
// them, and needs each to be as it was at the last rollout but for its
// synced files.
func SyncTargets(p *plan.Plan) (images, deploys []plan.Job) {
	for _, j := range p.Jobs {
		if j.Deploy == nil {
			continue
		}
		var pinned []plan.Job
		synced := false
		for _, name := range j.Deploy.ImageNames() {
			if i := p.Index(j.Deploy.Images[name]); i >= 0 && p.Jobs[i].Image != nil {
				pinned = append(pinned, p.Jobs[i])
				synced = synced || len(p.Jobs[i].Image.Sync) > 0
			}
		}
		if !synced {
			continue
		}
		deploys = append(deploys, j)
		for _, im := range pinned {
			if !slices.ContainsFunc(images, func(x plan.Job) bool { return x.ID == im.ID }) {
				images = append(images, im)
			}
		}
	}
	return images, deploys
}

// syncState is the dev loop's record of what the cluster runs.
type syncState struct {
	o       *Sync
	images  []plan.Job
	deploys []plan.Job
	pre     *plan.Plan // the build without the images the deploys pin, and what follows them

	// Set by the last rollout that ended well; nil keys: none yet, or the
	// last deploy failed, so the next change deploys.
	keys map[string]string // image job → Key
	// files are the synced files' digests as the pods have them.
	files map[string]fileset.Digest
	// pods hold the synced files (NAMESPACE/NAME) since the last sync;
	// nil since a rollout, when every pod runs the image's files. A pod
	// not in it started afterwards, from the image.
	pods map[string]bool
	// dirty says a sync may have reached some pods and not others: the
	// next deploy must roll them all out afresh, under a new generation.
	// (After a sync that reached every pod, the pods hold what the image
	// would: a deploy that leaves the pod template as it is may leave
	// them.)
	dirty      bool
	generation int
}

func newSyncState(o *Sync, build *plan.Plan, session string) *syncState {
	s := &syncState{o: o}
	s.images, s.deploys = SyncTargets(build)
	after := map[string]bool{}
	var keep []string
	for _, i := range plan.Topo(build.Deps()) {
		j := build.Jobs[i]
		down := slices.ContainsFunc(s.images, func(im plan.Job) bool { return im.ID == j.ID })
		for _, n := range j.Needs {
			down = down || after[n]
		}
		after[j.ID] = down
		if !down {
			keep = append(keep, j.ID)
		}
	}
	s.pre, _ = build.Only(keep)
	if s.pre == nil {
		s.pre = &plan.Plan{Name: build.Name}
	}
	o.SetGeneration(session)
	return s
}

// beforeDeploy is called before a build that may deploy: a pod that may
// hold synced files gets a new generation, so the deploy rolls it out.
func (s *syncState) beforeDeploy(session string) {
	if s.dirty {
		s.generation++
		s.o.SetGeneration(fmt.Sprintf("%s-%d", session, s.generation))
	}
}

// afterDeploy records what a build that deployed left in the cluster.
func (s *syncState) afterDeploy(ctx context.Context, ok bool, root string) {
	s.keys, s.files = nil, nil
	if !ok {
		return
	}
	keys := map[string]string{}
	for _, im := range s.images {
		k, err := s.o.Key(ctx, im)
		if err != nil {
			return
		}
		keys[im.ID] = k
	}
	files, err := s.digests(root)
	if err != nil {
		return
	}
	s.keys, s.files, s.dirty, s.pods = keys, files, false, nil
}

func (s *syncState) digests(root string) (map[string]fileset.Digest, error) {
	out := map[string]fileset.Digest{}
	for _, im := range s.images {
		for _, from := range im.Image.SyncPaths() {
			d, err := fileset.HashFile(filepath.Join(root, filepath.FromSlash(from)))
			if err != nil {
				return nil, err
			}
			out[from] = d
		}
	}
	return out, nil
}

// checkCluster is what a save with nothing to copy still asks of each
// deploy: what it applies may have changed (a manifest), which only its
// helper can tell, and a pod may have started since the last sync, from
// the image. It returns those pods; false, having said why, when dev must
// deploy instead (or ctx is done).
func (d *dev) checkCluster(ctx context.Context) (fresh []string, ok bool) {
	s := d.sync
	for _, dj := range s.deploys {
		m, err := s.o.Copy(ctx, dj, true)
		switch {
		case ctx.Err() != nil:
			return nil, false
		case err != nil:
			d.say("%s: checking the cluster: %v; deploying", dj.ID, err)
			return nil, false
		case m.Stale != "":
			d.say("%s: %s: deploying", dj.ID, m.Stale)
			return nil, false
		}
		for _, p := range m.Pods {
			if s.pods != nil && !s.pods[p] {
				fresh = append(fresh, p)
			}
		}
	}
	return fresh, true
}

// trySync handles a change by syncing when it can: it builds what comes
// before the images the deploys pin, and copies the synced files into the
// pods when the images would differ in nothing else. It returns false, having said
// why, when the change must be built and deployed instead.
func (d *dev) trySync(ctx context.Context, edited, start time.Time, t *Timing) bool {
	s := d.sync
	if s.keys == nil {
		return false
	}
	rec, err := d.o.Build(ctx, s.pre, nil)
	if ctx.Err() != nil {
		return true
	}
	t.BuildMS = ms(time.Since(start))
	if err == nil && rec.Status != runrec.Success {
		err = fmt.Errorf("%s", failure(rec))
	}
	if err != nil {
		t.Failed = err.Error()
		t.TotalMS = ms(time.Since(edited))
		d.say("build failed: %v; the cluster runs what it ran", err)
		d.record(*t)
		return true
	}
	for _, j := range rec.Jobs {
		if j.Status == runrec.Ran {
			t.Ran++
		}
	}
	for _, im := range s.images {
		k, err := s.o.Key(ctx, im)
		switch {
		case err != nil:
			d.say("%s: %v; building and rolling it out", im.ID, err)
			return false
		case k != s.keys[im.ID]:
			d.say("%s changes in more than its synced files: building and rolling it out", im.ID)
			return false
		}
	}
	files, err := s.digests(d.o.Root)
	if err != nil {
		d.say("reading the synced files: %v; building and rolling out instead", err)
		return false
	}
	var changed []string
	for from, sum := range files {
		if s.files[from] != sum {
			changed = append(changed, from)
		}
	}
	if len(changed) == 0 {
		fresh, ok := d.checkCluster(ctx)
		if !ok {
			return ctx.Err() != nil
		}
		if len(fresh) == 0 {
			t.TotalMS = ms(time.Since(edited))
			d.record(*t)
			if t.Ran > 0 {
				d.say("edit → built in %s (detect %s · build %s); no synced file changed, so nothing was synced",
					Secs(t.TotalMS), Secs(t.DetectMS), Secs(t.BuildMS))
			}
			return true
		}
		d.say("%s started after the last sync, from the image: syncing into the pods again", strings.Join(fresh, ", "))
		changed = slices.Collect(maps.Keys(files))
	}
	s.dirty = true // from here on some pods may hold the new files, and others not
	pods := map[string]bool{}
	for _, dj := range s.deploys {
		m, err := s.o.Copy(ctx, dj, false)
		switch {
		case ctx.Err() != nil:
			return true
		case err != nil:
			d.say("%s: syncing: %v; building and rolling out instead", dj.ID, err)
			return false
		case m.Stale != "":
			d.say("%s: cannot sync (%s): building and rolling out instead", dj.ID, m.Stale)
			return false
		}
		t.Synced = append(t.Synced, dj.ID)
		for _, p := range m.Synced {
			pods[p] = true
		}
		if m.Phases != nil {
			t.SyncMS += float64(m.Phases.CheckMS + m.Phases.SyncMS)
			t.HealthMS += float64(m.Phases.HealthMS)
		}
	}
	s.files, s.dirty, s.pods = files, false, pods
	t.TotalMS = ms(time.Since(edited))
	d.record(*t)
	slices.Sort(changed)
	d.say("edit → healthy on the cluster, synced, in %s (detect %s · build %s · sync %s · health %s): %s into %s",
		Secs(t.TotalMS), Secs(t.DetectMS), Secs(t.BuildMS), Secs(t.SyncMS), Secs(t.HealthMS),
		strings.Join(changed, ", "), strings.Join(t.Synced, ", "))
	return true
}
