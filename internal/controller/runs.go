package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/controller/api"
	"github.com/sparkwing-dev/sparkwing/internal/gitcache"
	"github.com/sparkwing-dev/sparkwing/internal/store"
)

var fullSHA = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// trigger queues a run: POST /api/v1/runs with an api.Trigger. The
// repository's mirror is refreshed first, so the commit pushed a moment
// ago is the one that runs; a commit the upstream does not have must come
// with a bundle (the answer's code "need_bundle" asks for one).
func (s *Server) trigger(w http.ResponseWriter, r *http.Request) error {
	var t api.Trigger
	if err := decode(w, r, api.MaxTrigger, &t); err != nil {
		return err
	}
	if err := checkTrigger(&t); err != nil {
		return err
	}
	if t.Key != "" { // a retry of a trigger already queued costs no fetch
		if old, err := s.st.RunByKey(r.Context(), t.Key); err == nil {
			writeJSON(w, http.StatusOK, s.runView(old))
			return nil
		}
	}
	if _, err := s.ensureRepo(r.Context(), t.Repo, t.RepoURL, !t.NoAutoRegister); err != nil {
		return err
	}
	if err := s.checkCommit(r.Context(), &t); err != nil {
		return err
	}
	run, created, err := s.st.CreateRun(r.Context(), store.Run{Repo: t.Repo, Branch: t.Branch, SHA: t.SHA, Pipeline: t.Pipeline,
		Args: t.Args, RunsOn: t.RunsOn, Key: t.Key, Bundle: t.Bundle, Patch: t.Patch, Dirty: t.Dirty, Created: s.now()})
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		s.log.Info("run queued", "run", run.ID, "repo", run.Repo, "sha", run.SHA, "pipeline", run.Pipeline)
		s.wake.Notify(queueKey)
	}
	writeJSON(w, status, s.runView(run))
	return nil
}

func checkTrigger(t *api.Trigger) error {
	if t.Pipeline == "" {
		return errorf(http.StatusBadRequest, "the trigger names no pipeline")
	}
	if !fullSHA.MatchString(t.SHA) {
		return errorf(http.StatusBadRequest, "sha %q is not a full commit id (40 hex digits)", t.SHA)
	}
	if t.RepoURL == "" && t.Repo == "" {
		return errorf(http.StatusBadRequest, "the trigger names no repository (repo_url or repo)")
	}
	if t.Repo == "" {
		t.Repo = gitcache.NameFor(t.RepoURL)
	}
	if err := gitcache.CheckName(t.Repo); err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	if len(t.Patch) > 0 && !t.Dirty {
		return errorf(http.StatusBadRequest, "a trigger with a patch must be marked dirty")
	}
	return nil
}

// ensureRepo returns the registered repository name, registering and
// mirroring url first when it is unknown and auto is set.
func (s *Server) ensureRepo(ctx context.Context, name, url string, auto bool) (store.Repo, error) {
	repo, err := s.st.Repo(ctx, name)
	if err == nil && s.git.Has(name) {
		return repo, nil
	}
	if !errors.Is(err, store.ErrNotFound) && err != nil {
		return repo, err
	}
	if err == nil && url == "" {
		url = repo.URL // registered, but its mirror is gone: make it again
	}
	if url == "" || (!auto && errors.Is(err, store.ErrNotFound)) {
		return repo, errorf(http.StatusNotFound, "repository %q is not registered with the controller: register it with POST %s?name=%s&repo=URL, or trigger without --no-auto-register", name, api.PathRegister, name)
	}
	return s.registerRepo(ctx, name, url)
}

func (s *Server) registerRepo(ctx context.Context, name, url string) (store.Repo, error) {
	if err := s.git.Clone(ctx, name, url); err != nil {
		var ue *gitcache.UpstreamError
		if errors.As(err, &ue) {
			return store.Repo{}, errorf(http.StatusBadGateway, "cannot mirror repository %q from %s: %v", name, url, ue.Err)
		}
		return store.Repo{}, err
	}
	repo := store.Repo{Name: name, URL: url, Created: s.now()}
	if err := s.st.PutRepo(ctx, repo); err != nil {
		return repo, err
	}
	s.log.Info("repository registered", "repo", name, "url", url)
	return repo, nil
}

// checkCommit makes sure the run's commit can be checked out: from the
// bundle sent with it, or from the mirror, refreshed now.
func (s *Server) checkCommit(ctx context.Context, t *api.Trigger) error {
	if len(t.Bundle) > 0 {
		return s.checkBundle(ctx, t)
	}
	if s.addPack(ctx, t) {
		return nil
	}
	if err := s.git.Refresh(ctx, t.Repo, t.SHA); err != nil {
		return errorf(http.StatusBadGateway, "refreshing repository %q: %v", t.Repo, err)
	}
	if !s.git.HasCommit(ctx, t.Repo, t.SHA) {
		return &httpError{status: http.StatusUnprocessableEntity, code: "need_bundle",
			msg: fmt.Sprintf("commit %s is not in %s (not pushed?): send it as a bundle", t.SHA[:12], t.Repo)}
	}
	return nil
}

// addPack adds the commit from the pack sent with the trigger, when the
// mirror lacks it and the pack completes it, and reports whether it did.
// The mirror is refreshed a little later (its branches move on with the
// push), not on the way to the run. Any pack the mirror cannot
// take is ignored: the commit comes from the upstream, as without one.
func (s *Server) addPack(ctx context.Context, t *api.Trigger) bool {
	if len(t.Pack) == 0 || len(t.Pack) > gitcache.MaxPack || gitcache.Stored(s.git.Path(t.Repo), t.SHA) {
		return false
	}
	start := time.Now()
	read := "in-process" // a pack of whole objects, as the trigger makes them
	if gitcache.AddObjects(s.git.Path(t.Repo), t.SHA, t.Pack) != nil {
		read = "git"
		if err := s.git.AddPack(ctx, t.Repo, t.SHA, t.Pack); err != nil {
			s.log.Info("the trigger's pack was not taken; fetching", "repo", t.Repo, "sha", t.SHA, "err", err)
			return false
		}
	}
	s.log.Info("commit added from the trigger's pack", "repo", t.Repo, "sha", t.SHA, "read", read, "took", time.Since(start).Round(100*time.Microsecond))
	s.triggerPacks.add(t.SHA, t.Pack)
	time.AfterFunc(refreshAfterPack, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if err := s.git.Refresh(ctx, t.Repo, ""); err != nil {
			s.log.Warn("refreshing the mirror after a trigger", "repo", t.Repo, "err", err)
		}
	})
	return true
}

// refreshAfterPack is how long after a trigger that brought its commit
// the mirror's branches are fetched: the fetch's four git processes then
// do not compete for the CPU with the run's start (claim, checkout,
// sparkwing), which the commit no longer waits for.
const refreshAfterPack = time.Second

// checkBundle refuses a bundle that does not hold the commit, or that
// needs commits the mirror lacks.
func (s *Server) checkBundle(ctx context.Context, t *api.Trigger) error {
	f, err := os.CreateTemp("", "sparkwing-bundle-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(t.Bundle)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, "git", "-C", s.git.Path(t.Repo), "bundle", "list-heads", f.Name()).CombinedOutput()
	if err != nil {
		return errorf(http.StatusBadRequest, "the bundle is not a git bundle: %s", strings.TrimSpace(string(out)))
	}
	if !strings.Contains(string(out), t.SHA) {
		return errorf(http.StatusBadRequest, "the bundle does not contain commit %s", t.SHA)
	}
	if out, err := exec.CommandContext(ctx, "git", "-C", s.git.Path(t.Repo), "bundle", "verify", "--quiet", f.Name()).CombinedOutput(); err != nil {
		return &httpError{status: http.StatusBadRequest, code: "bundle_prerequisites",
			msg: fmt.Sprintf("the bundle needs commits the mirror of %s does not have: %s", t.Repo, strings.TrimSpace(string(out)))}
	}
	return nil
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) error {
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return errorf(http.StatusBadRequest, "limit %q: use a number from 1 to 1000", v)
		}
		limit = n
	}
	runs, err := s.st.Runs(r.Context(), limit)
	if err != nil {
		return err
	}
	out := make([]api.Run, 0, len(runs))
	for _, run := range runs {
		out = append(out, s.runView(run))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) showRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.st.Run(r.Context(), r.PathValue("id"))
	if err != nil {
		return fmt.Errorf("run %q: %w", r.PathValue("id"), err)
	}
	writeJSON(w, http.StatusOK, s.runView(run))
	return nil
}

func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request) error {
	run, err := s.st.RequestCancel(r.Context(), r.PathValue("id"), s.now())
	if err != nil {
		return fmt.Errorf("run %q: %w", r.PathValue("id"), err)
	}
	s.log.Info("cancel requested", "run", run.ID, "status", run.Status)
	s.wake.Notify(run.ID)
	s.wake.Notify(holderKey(run.ID))
	writeJSON(w, http.StatusOK, s.runView(run))
	return nil
}
