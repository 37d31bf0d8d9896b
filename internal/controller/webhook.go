package controller

// GitHub push webhooks. A delivery is checked against the secret
// (X-Hub-Signature-256), then the pushed commit is fetched into the
// repository's mirror and its .sparkwing/sparkwing.yaml read there: each
// pipeline whose `on: push` filter the push passes is queued, as if
// triggered. Each run's idempotency key names the delivery and the
// pipeline, so a delivery sent twice (GitHub's redeliver, a retrying
// proxy) queues each run once, even when the two arrive together; a
// delivery that failed half-way queues the rest when it is sent again.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/sparkwing-dev/sparkwing/internal/controller/api"
	"github.com/sparkwing-dev/sparkwing/internal/project"
	"github.com/sparkwing-dev/sparkwing/internal/store"
)

// projectFile is where the controller reads a commit's pipelines.
const projectFile = project.Dir + "/" + project.FileName

// pushEvent is the part of GitHub's push payload the controller reads.
type pushEvent struct {
	Ref        string `json:"ref"`
	Before     string `json:"before"`
	After      string `json:"after"`
	Deleted    bool   `json:"deleted"`
	Repository struct {
		Name     string `json:"name"`
		CloneURL string `json:"clone_url"`
		SSHURL   string `json:"ssh_url"`
		GitURL   string `json:"git_url"`
		HTMLURL  string `json:"html_url"`
	} `json:"repository"`
	Commits []struct {
		Added    []string `json:"added"`
		Removed  []string `json:"removed"`
		Modified []string `json:"modified"`
	} `json:"commits"`
}

// parsePush decodes a push payload. ignore is set, with the reason, for
// a push that starts nothing (a deleted branch, a tag).
func parsePush(body []byte) (ev pushEvent, ignore string, err error) {
	if err := json.Unmarshal(body, &ev); err != nil {
		return ev, "", fmt.Errorf("the push payload is not valid JSON: %v", err)
	}
	branch, isBranch := strings.CutPrefix(ev.Ref, "refs/heads/")
	switch {
	case ev.Ref == "" || ev.Ref == "refs/heads/":
		return ev, "", errors.New("the push payload has no ref")
	case !isBranch:
		return ev, fmt.Sprintf("%s is not a branch: only branch pushes start runs", ev.Ref), nil
	case ev.Deleted:
		return ev, fmt.Sprintf("branch %s was deleted", branch), nil
	case !fullSHA.MatchString(ev.After):
		return ev, "", fmt.Errorf("the push payload's after %q is not a full commit id", ev.After)
	case ev.Repository.Name == "" && ev.Repository.CloneURL == "":
		return ev, "", errors.New("the push payload names no repository")
	}
	return ev, "", nil
}

// branch is the pushed branch's name.
func (ev *pushEvent) branch() string { return strings.TrimPrefix(ev.Ref, "refs/heads/") }

// validSignature checks X-Hub-Signature-256: "sha256=" and the hex
// HMAC-SHA256 of the body under the secret.
func validSignature(secret string, body []byte, header string) bool {
	got, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	sig, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(sig, mac.Sum(nil))
}

func (s *Server) githubWebhook(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.WebhookSecret == "" {
		return errorf(http.StatusForbidden, "webhooks are off: start the controller with --webhook-secret-file FILE holding the webhook's secret")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, api.MaxWebhook))
	if err != nil {
		return err
	}
	if !validSignature(s.cfg.WebhookSecret, body, r.Header.Get("X-Hub-Signature-256")) {
		return errorf(http.StatusUnauthorized, "X-Hub-Signature-256 is missing or does not match the body: the webhook's secret must be the one in --webhook-secret-file")
	}
	switch event := r.Header.Get("X-GitHub-Event"); event {
	case "ping":
		writeJSON(w, http.StatusOK, api.WebhookResult{Message: "pong"})
		return nil
	case "push":
	default:
		writeJSON(w, http.StatusAccepted, api.WebhookResult{Message: fmt.Sprintf("event %q ignored: only push events start runs", event)})
		return nil
	}
	delivery := r.Header.Get("X-GitHub-Delivery")
	if delivery == "" || len(delivery) > 200 {
		return errorf(http.StatusBadRequest, "the delivery has no usable X-GitHub-Delivery id")
	}
	if seen, err := s.st.DeliverySeen(r.Context(), delivery); err != nil || seen {
		if err == nil {
			writeJSON(w, http.StatusOK, api.WebhookResult{Message: "delivery " + delivery + " was handled before", Duplicate: true})
		}
		return err
	}
	ev, ignore, err := parsePush(body)
	if err != nil {
		return errorf(http.StatusBadRequest, "%v", err)
	}
	if ignore != "" {
		writeJSON(w, http.StatusAccepted, api.WebhookResult{Message: ignore})
		return nil
	}
	res, err := s.push(r.Context(), delivery, &ev)
	if err != nil {
		return err
	}
	if _, err := s.st.FirstDelivery(r.Context(), delivery, s.now()); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, res)
	return nil
}

// push queues the runs a push starts.
func (s *Server) push(ctx context.Context, delivery string, ev *pushEvent) (api.WebhookResult, error) {
	var res api.WebhookResult
	repo, err := s.pushedRepo(ctx, ev)
	if err != nil {
		return res, err
	}
	if err := s.git.Refresh(ctx, repo.Name, ev.After); err != nil {
		return res, errorf(http.StatusBadGateway, "refreshing repository %q: %v", repo.Name, err)
	}
	if !s.git.HasCommit(ctx, repo.Name, ev.After) {
		return res, errorf(http.StatusBadGateway, "commit %s is not in %s after a fetch from %s", ev.After[:12], repo.Name, repo.URL)
	}
	f, err := s.projectAt(ctx, repo.Name, ev.After)
	if errors.Is(err, os.ErrNotExist) {
		res.Message = fmt.Sprintf("commit %s has no %s: nothing to run", ev.After[:12], projectFile)
		return res, nil
	}
	if err != nil {
		return res, err
	}
	changed := s.pushChanges(ctx, repo.Name, ev)
	for _, p := range f.Pipelines {
		if p.On == nil || p.On.Push == nil {
			continue
		}
		if ok, why := p.On.Push.Match(ev.branch(), changed); !ok {
			res.Skipped = append(res.Skipped, api.SkippedPush{Pipeline: p.Name, Reason: why})
			continue
		}
		run, created, err := s.st.CreateRun(ctx, store.Run{Repo: repo.Name, Branch: ev.branch(), SHA: ev.After, Pipeline: p.Name,
			RunsOn: p.RunsOn, Key: "github:" + delivery + ":" + p.Name, Created: s.now()})
		if err != nil {
			return res, err
		}
		if created {
			s.log.Info("run queued by a push", "run", run.ID, "repo", run.Repo, "branch", run.Branch, "sha", run.SHA, "pipeline", run.Pipeline)
			s.wake.Notify(queueKey)
		}
		res.Runs = append(res.Runs, s.runView(run))
	}
	if len(res.Runs) == 0 && len(res.Skipped) == 0 {
		res.Message = "no pipeline has `on: push`"
	}
	return res, nil
}

// pushedRepo finds the registered repository a push is for: by any of
// its URLs, else by its name.
func (s *Server) pushedRepo(ctx context.Context, ev *pushEvent) (store.Repo, error) {
	repos, err := s.st.Repos(ctx)
	if err != nil {
		return store.Repo{}, err
	}
	urls := []string{ev.Repository.CloneURL, ev.Repository.SSHURL, ev.Repository.GitURL, ev.Repository.HTMLURL}
	for _, r := range repos {
		if slices.ContainsFunc(urls, func(u string) bool { return u != "" && sameURL(u, r.URL) }) {
			return r, nil
		}
	}
	for _, r := range repos {
		if r.Name == ev.Repository.Name {
			return r, nil
		}
	}
	return store.Repo{}, errorf(http.StatusNotFound, "repository %s is not registered with the controller: register it with POST %s?name=%s&repo=%s",
		ev.Repository.Name, api.PathRegister, ev.Repository.Name, ev.Repository.CloneURL)
}

func sameURL(a, b string) bool {
	norm := func(u string) string { return strings.TrimSuffix(strings.TrimRight(u, "/"), ".git") }
	return norm(a) == norm(b)
}

// projectAt parses the project file of commit sha.
func (s *Server) projectAt(ctx context.Context, repo, sha string) (*project.File, error) {
	data, err := s.git.ReadFile(ctx, repo, sha, projectFile)
	if err != nil {
		return nil, err
	}
	f, err := project.Parse(fmt.Sprintf("%s@%s:%s", repo, sha[:12], projectFile), data)
	if err != nil {
		return nil, errorf(http.StatusUnprocessableEntity, "%v", err)
	}
	return f, nil
}

// pushChanges lists the files a push changed: the diff between the
// commits before and after it when the mirror has both, else what the
// payload's commits list (GitHub lists at most 20), else nil (unknown).
func (s *Server) pushChanges(ctx context.Context, repo string, ev *pushEvent) []string {
	if fullSHA.MatchString(ev.Before) && strings.Trim(ev.Before, "0") != "" && s.git.HasCommit(ctx, repo, ev.Before) {
		if files, err := s.git.Changed(ctx, repo, ev.Before, ev.After); err == nil {
			return files
		}
	}
	var files []string
	for _, c := range ev.Commits {
		files = append(append(append(files, c.Added...), c.Removed...), c.Modified...)
	}
	if len(files) == 0 {
		return nil
	}
	slices.Sort(files)
	return slices.Compact(files)
}
