package kube

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"
)

// fakeArgoCD answers GET /api/v1/applications/NAME as Argo CD's API does
// (the fields a gitops deploy reads), for the applications a script
// registers with `argocdapp NAME REPO BRANCH HEALTH`. Argo CD itself
// cannot run here (its controllers need images from registries this
// machine cannot reach), so this small fake stands in for it. A refresh
// (?refresh=normal) syncs the application to the head of BRANCH in the
// bare repository REPO; it reports Progressing once, then HEALTH.
type fakeArgoCD struct {
	token string
	mu    sync.Mutex
	apps  map[string]*fakeApp
}

type fakeApp struct {
	repo, branch, health string
	revision             string
	progressing          bool
}

func newFakeArgoCD(token string) (*fakeArgoCD, *httptest.Server) {
	f := &fakeArgoCD{token: token, apps: map[string]*fakeApp{}}
	return f, httptest.NewServer(f)
}

func (f *fakeArgoCD) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		http.Error(w, `{"error":"invalid session"}`, http.StatusUnauthorized)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/api/v1/applications/")
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.apps[name]
	if !ok || a == nil || r.Method != http.MethodGet {
		http.Error(w, `{"error":"application not found"}`, http.StatusNotFound)
		return
	}
	if r.URL.Query().Get("refresh") != "" {
		out, err := exec.Command("git", "-C", a.repo, "rev-parse", a.branch).Output()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if rev := strings.TrimSpace(string(out)); rev != a.revision {
			a.revision, a.progressing = rev, true
		}
	}
	health := a.health
	if a.progressing {
		health, a.progressing = "Progressing", false
	}
	var app argoApp
	app.Status.Sync.Status, app.Status.Sync.Revision = "Synced", a.revision
	app.Status.Health.Status = health
	if health == "Degraded" {
		app.Status.Health.Message = "Deployment web exceeded its progress deadline"
	}
	json.NewEncoder(w).Encode(app)
}

// argocdapp NAME REPO BRANCH HEALTH: register an application with the fake.
func (f *fakeArgoCD) cmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: argocdapp NAME REPO BRANCH HEALTH")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	prev := f.apps[args[0]]
	a := &fakeApp{repo: ts.MkAbs(args[1]), branch: args[2], health: args[3]}
	if prev != nil {
		a.revision = prev.revision
	}
	f.apps[args[0]] = a
}
