package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/sparkwing-dev/sparkwing/internal/controller/api"
	"github.com/sparkwing-dev/sparkwing/internal/gitcache"
	"github.com/sparkwing-dev/sparkwing/internal/store"
)

func repoView(r store.Repo) api.Repo { return api.Repo{Name: r.Name, URL: r.URL, Created: r.Created} }

// register is the seeds' POST /git/register?name=NAME&repo=URL: mirror
// the repository and remember it.
func (s *Server) register(w http.ResponseWriter, r *http.Request) error {
	name, url := r.URL.Query().Get("name"), r.URL.Query().Get("repo")
	if url == "" {
		return errorf(http.StatusBadRequest, "register needs ?repo=URL (and ?name=NAME, default the URL's last part)")
	}
	if name == "" {
		name = gitcache.NameFor(url)
	}
	if err := gitcache.CheckName(name); err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	if old, err := s.st.Repo(r.Context(), name); err == nil && old.URL != url && s.git.Has(name) {
		return errorf(http.StatusConflict, "repository %q is registered from %s: delete it first (DELETE %s/%s) to register it from %s", name, old.URL, api.PathRepos, name, url)
	}
	repo, err := s.registerRepo(r.Context(), name, url)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, repoView(repo))
	return nil
}

func (s *Server) listRepos(w http.ResponseWriter, r *http.Request) error {
	repos, err := s.st.Repos(r.Context())
	if err != nil {
		return err
	}
	out := make([]api.Repo, 0, len(repos))
	for _, repo := range repos {
		out = append(out, repoView(repo))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) refreshRepo(w http.ResponseWriter, r *http.Request) error {
	repo, err := s.ensureRepo(r.Context(), r.PathValue("name"), "", false)
	if err != nil {
		return err
	}
	if err := s.git.Refresh(r.Context(), repo.Name, ""); err != nil {
		return errorf(http.StatusBadGateway, "refreshing repository %q: %v", repo.Name, err)
	}
	writeJSON(w, http.StatusOK, repoView(repo))
	return nil
}

func (s *Server) deleteRepo(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if err := s.st.DeleteRepo(r.Context(), name); err != nil {
		return err
	}
	if err := s.git.Remove(name); err != nil {
		return fmt.Errorf("remove the mirror of %q: %w", name, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) gitInfoRefs(w http.ResponseWriter, r *http.Request) error {
	if err := gitcache.CheckName(r.PathValue("name")); err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	s.git.ServeInfoRefs(w, r, r.PathValue("name"))
	return nil
}

func (s *Server) gitUploadPack(w http.ResponseWriter, r *http.Request) error {
	if err := gitcache.CheckName(r.PathValue("name")); err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	s.git.ServeUploadPack(w, r, r.PathValue("name"))
	return nil
}

// maxClaimPack bounds the pack sent with a claim; past it the runner
// fetches, as it does without one.
const maxClaimPack = 8 << 20

// packFor returns what a runner holding commit have lacks of the run's
// commit, as a pack to send with the claim, and where it came from:
// "trigger" (the pack the trigger brought, when have is the commit's
// parent) or "made". The runner then skips a fetch (several git
// processes and round trips) on the path from trigger to run. Nil, and
// the runner fetches, when it has no mirror of the repository or already
// has the commit, when the controller's mirror lacks have, or when the
// pack would be large.
func (s *Server) packFor(ctx context.Context, run store.Run, have string) (pack []byte, from string) {
	if have == "" || have == run.SHA || len(run.Bundle) > 0 || !fullSHA.MatchString(have) || !gitcache.Stored(s.git.Path(run.Repo), have) {
		return nil, "none"
	}
	if p := s.triggerPacks.get(run.SHA); p != nil {
		if parents, ok := gitcache.Parents(p, run.SHA); ok && len(parents) == 1 && parents[0] == have {
			return p, "trigger"
		}
	}
	pack, err := s.git.Pack(ctx, run.Repo, run.SHA, have, maxClaimPack)
	if err != nil {
		if !errors.Is(err, gitcache.ErrTooBig) && ctx.Err() == nil {
			s.log.Warn("no pack for the runner; it fetches", "run", run.ID, "err", err)
		}
		return nil, "none"
	}
	return pack, "made"
}

// triggerPacks keeps the packs that the last triggers brought their
// commits in (taken, so checked complete against the mirror), by commit:
// a runner that has the commit's parent gets the pack as it came, with
// no pack-objects on the way from the trigger to its run.
type triggerPacks struct {
	mu    sync.Mutex
	packs map[string][]byte
	order []string // oldest first
}

// keptPacks bounds triggerPacks (each pack is at most gitcache.MaxPack).
const keptPacks = 16

func (t *triggerPacks) add(sha string, pack []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.packs == nil {
		t.packs = map[string][]byte{}
	}
	if _, ok := t.packs[sha]; ok {
		return
	}
	if len(t.order) == keptPacks {
		delete(t.packs, t.order[0])
		t.order = t.order[1:]
	}
	t.packs[sha] = pack
	t.order = append(t.order, sha)
}

func (t *triggerPacks) get(sha string) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.packs[sha]
}
