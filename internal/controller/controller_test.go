package controller

// In-process tests of the controller's HTTP face: a real SQLite store, a
// real git upstream (a bare repository on disk, mirrored with git), the
// server behind httptest. The end-to-end tests with runners and the CLI
// are in internal/remoterun.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/controller/api"
	"github.com/sparkwing-dev/sparkwing/internal/gitcache"
	"github.com/sparkwing-dev/sparkwing/internal/store"
)

const secret = "webhook-secret"

const pipelines = `pipelines:
  - name: build
    runs_on: {os: linux}
    on:
      push: {branches: [main], paths: ["src/**", "!src/**/*.md"]}
    jobs: {a: {run: echo build}}
  - name: docs
    on:
      push: {paths: ["docs/**"]}
    jobs: {a: {run: echo docs}}
  - name: release
    on:
      push: {branches: ["release/**"]}
    jobs: {a: {run: echo release}}
  - name: nightly
    on:
      schedule: ["0 * * * *"]
    jobs: {a: {run: echo nightly}}
  - name: manual
    jobs: {a: {run: echo manual}}
`

// fixture is a controller over a fresh store and git cache, with one
// upstream repository "app" registered.
type fixture struct {
	t     *testing.T
	srv   *Server
	http  *httptest.Server
	st    *store.SQL
	token string // admin
	work  string // a clone of the upstream, to commit and push from
	up    string // the upstream's path (its URL)

	mu  sync.Mutex
	now time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	git, err := gitcache.New(filepath.Join(dir, "mirrors"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, st: st, now: time.Date(2026, 12, 6, 10, 30, 0, 0, time.UTC)}
	f.srv = New(Config{Store: st, Git: git, WebhookSecret: secret, Now: f.clock})
	f.http = httptest.NewServer(f.srv.Handler())
	t.Cleanup(f.http.Close)
	if f.token, err = CreateToken(ctx, st, "admin", []string{store.ScopeAdmin, store.ScopeTrigger, store.ScopeRunner}, f.now); err != nil {
		t.Fatal(err)
	}

	f.up = filepath.Join(dir, "app.git")
	f.git("", "init", "-q", "--bare", "-b", "main", f.up)
	f.work = filepath.Join(dir, "work")
	f.git("", "clone", "-q", f.up, f.work)
	f.git(f.work, "checkout", "-q", "-b", "main")
	f.write(".sparkwing/sparkwing.yaml", pipelines)
	f.write("src/a.go", "package a\n")
	f.commitPush("init", "main")
	if code, body := f.do("POST", api.PathRegister+"?name=app&repo="+f.up, nil, "Authorization", "Bearer "+f.token); code != 200 {
		t.Fatalf("register: %d %s", code, body)
	}
	return f
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) set(t time.Time) {
	f.mu.Lock()
	f.now = t
	f.mu.Unlock()
}

func (f *fixture) git(dir string, args ...string) string {
	f.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		f.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func (f *fixture) write(rel, content string) {
	p := filepath.Join(f.work, rel)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// commitPush commits everything and pushes it to branch; it returns the
// commit.
func (f *fixture) commitPush(msg, branch string) string {
	f.git(f.work, "add", "-A")
	f.git(f.work, "commit", "-q", "-m", msg)
	f.git(f.work, "push", "-q", "origin", "HEAD:"+branch)
	return f.git(f.work, "rev-parse", "HEAD")
}

// do sends a request and returns the status and body.
func (f *fixture) do(method, path string, body []byte, hdr ...string) (int, string) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.http.URL+path, bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e api.Error
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return resp.StatusCode, e.Error // unescaped, for the messages' quotes
	}
	return resp.StatusCode, string(b)
}

func sign(body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// deliver sends a signed GitHub delivery.
func (f *fixture) deliver(event, id string, payload any) (int, api.WebhookResult, string) {
	f.t.Helper()
	body, _ := json.Marshal(payload)
	code, out := f.do("POST", api.PathGitHub, body, "X-GitHub-Event", event, "X-GitHub-Delivery", id, "X-Hub-Signature-256", sign(body))
	var res api.WebhookResult
	json.Unmarshal([]byte(out), &res)
	return code, res, out
}

func (f *fixture) push(ref, before, after string) map[string]any {
	return map[string]any{"ref": ref, "before": before, "after": after,
		"repository": map[string]any{"name": "app", "clone_url": f.up + "/"}}
}

// runs lists the queued runs as "pipeline@branch".
func (f *fixture) runs() []string {
	f.t.Helper()
	runs, err := f.st.Runs(context.Background(), 100)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, r := range runs {
		out = append(out, r.Pipeline+"@"+r.Branch)
	}
	slices.Sort(out)
	return out
}

func pipelinesOf(res api.WebhookResult) (ran, skipped []string) {
	for _, r := range res.Runs {
		ran = append(ran, r.Pipeline)
	}
	for _, s := range res.Skipped {
		skipped = append(skipped, s.Pipeline)
	}
	return
}

func TestWebhookPushFilters(t *testing.T) {
	f := newFixture(t)
	base := f.git(f.work, "rev-parse", "HEAD")
	f.write("src/b.go", "package a\n")
	head := f.commitPush("src change", "main")

	code, res, out := f.deliver("push", "d1", f.push("refs/heads/main", base, head))
	ran, skipped := pipelinesOf(res)
	if code != http.StatusAccepted || strings.Join(ran, ",") != "build" || strings.Join(skipped, ",") != "docs,release" {
		t.Fatalf("push to main changing src: %d %s", code, out)
	}
	if r := res.Runs[0]; r.SHA != head || r.Branch != "main" || r.Repo != "app" {
		t.Errorf("the run is not of the pushed commit: %+v", r)
	}
	run, _ := f.st.Run(context.Background(), res.Runs[0].ID)
	if run.RunsOn["os"] != "linux" {
		t.Errorf("the run lost the pipeline's runs_on: %v", run.RunsOn)
	}

	// The same delivery again, and at the same time: nothing new.
	for range 2 {
		if code, res, out := f.deliver("push", "d1", f.push("refs/heads/main", base, head)); code != http.StatusOK || !res.Duplicate {
			t.Errorf("duplicate delivery: %d %s", code, out)
		}
	}
	if got := f.runs(); len(got) != 1 {
		t.Errorf("runs after the duplicates: %v", got)
	}

	// Only a markdown file under src: excluded by !src/**/*.md.
	f.write("src/notes.md", "x\n")
	md := f.commitPush("notes", "main")
	if _, res, out := f.deliver("push", "d2", f.push("refs/heads/main", head, md)); len(res.Runs) != 0 {
		t.Errorf("a push of only an excluded path queued runs: %s", out)
	}

	// A release branch: release runs, build does not (its branch filter).
	f.write("src/c.go", "package a\n")
	rel := f.commitPush("release", "release/1.0")
	_, res, out = f.deliver("push", "d3", f.push("refs/heads/release/1.0", md, rel))
	if ran, _ := pipelinesOf(res); strings.Join(ran, ",") != "release" {
		t.Errorf("push to release/1.0: %s", out)
	}
	for _, s := range res.Skipped {
		if s.Pipeline == "build" && !strings.Contains(s.Reason, "branch release/1.0 matches no pattern") {
			t.Errorf("build skipped for %q", s.Reason)
		}
	}

	// A new branch (before is zeros): the payload's commit list decides.
	newBranch := map[string]any{"ref": "refs/heads/docs-x", "before": strings.Repeat("0", 40), "after": rel,
		"repository": map[string]any{"name": "app"}, "commits": []map[string]any{{"modified": []string{"docs/x.md"}}}}
	if _, res, out := f.deliver("push", "d4", newBranch); len(res.Runs) != 1 || res.Runs[0].Pipeline != "docs" {
		t.Errorf("new branch touching docs: %s", out)
	}
	if got := strings.Join(f.runs(), " "); got != "build@main docs@docs-x release@release/1.0" {
		t.Errorf("runs: %s", got)
	}
}

func TestWebhookRefusals(t *testing.T) {
	f := newFixture(t)
	head := f.git(f.work, "rev-parse", "HEAD")
	good, _ := json.Marshal(f.push("refs/heads/main", "", head))
	for _, tc := range []struct {
		name   string
		body   []byte
		hdr    []string
		status int
		want   string
	}{
		{"bad signature", good, []string{"X-GitHub-Event", "push", "X-GitHub-Delivery", "a", "X-Hub-Signature-256", sign([]byte("other"))},
			401, "X-Hub-Signature-256 is missing or does not match"},
		{"no signature", good, []string{"X-GitHub-Event", "push", "X-GitHub-Delivery", "b"}, 401, "does not match"},
		{"malformed", []byte(`{"ref": `), []string{"X-GitHub-Event", "push", "X-GitHub-Delivery", "c", "X-Hub-Signature-256", sign([]byte(`{"ref": `))},
			400, "not valid JSON"},
		{"no delivery id", good, []string{"X-GitHub-Event", "push", "X-Hub-Signature-256", sign(good)}, 400, "X-GitHub-Delivery"},
		{"ping", []byte(`{}`), []string{"X-GitHub-Event", "ping", "X-Hub-Signature-256", sign([]byte(`{}`))}, 200, "pong"},
		{"other event", []byte(`{}`), []string{"X-GitHub-Event", "issues", "X-Hub-Signature-256", sign([]byte(`{}`))}, 202, "only push events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := f.do("POST", api.PathGitHub, tc.body, tc.hdr...)
			if code != tc.status || !strings.Contains(out, tc.want) {
				t.Errorf("%d %s, want %d and %q", code, out, tc.status, tc.want)
			}
		})
	}
	if _, res, out := f.deliver("push", "tag", f.push("refs/tags/v1", "", head)); !strings.Contains(res.Message, "not a branch") {
		t.Errorf("tag push: %s", out)
	}
	if _, res, out := f.deliver("push", "del", map[string]any{"ref": "refs/heads/x", "deleted": true, "after": strings.Repeat("0", 40)}); !strings.Contains(res.Message, "deleted") {
		t.Errorf("deleted branch: %s", out)
	}
	unknown := map[string]any{"ref": "refs/heads/main", "after": head, "repository": map[string]any{"name": "other", "clone_url": "https://example.com/other.git"}}
	if code, _, out := f.deliver("push", "unk", unknown); code != 404 || !strings.Contains(out, "/git/register?name=other") {
		t.Errorf("unregistered repository: %d %s", code, out)
	}
	big := bytes.Repeat([]byte(" "), api.MaxWebhook+1)
	if code, out := f.do("POST", api.PathGitHub, big, "X-GitHub-Event", "push", "X-Hub-Signature-256", sign(big)); code != 413 {
		t.Errorf("an oversized delivery: %d %s", code, out)
	}
	if got := f.runs(); len(got) != 0 {
		t.Errorf("refused deliveries queued runs: %v", got)
	}
	off := New(Config{Store: f.st, Git: f.srv.git})
	rec := httptest.NewRecorder()
	off.Handler().ServeHTTP(rec, httptest.NewRequest("POST", api.PathGitHub, bytes.NewReader(good)))
	if rec.Code != 403 || !strings.Contains(rec.Body.String(), "--webhook-secret-file") {
		t.Errorf("webhooks without a secret: %d %s", rec.Code, rec.Body.String())
	}
}

// A broken project file at the pushed commit is the delivery's error,
// with the file and line; the controller goes on serving.
func TestWebhookBadProjectFile(t *testing.T) {
	f := newFixture(t)
	base := f.git(f.work, "rev-parse", "HEAD")
	f.write(".sparkwing/sparkwing.yaml", "pipelines:\n  - name: b\n    on: {push: {brnches: [main]}}\n    jobs: {a: {run: x}}\n")
	head := f.commitPush("typo", "main")
	code, _, out := f.deliver("push", "bad", f.push("refs/heads/main", base, head))
	if code != http.StatusUnprocessableEntity || !strings.Contains(out, `sparkwing.yaml:3:`) || !strings.Contains(out, `did you mean "branches"`) {
		t.Errorf("%d %s", code, out)
	}
	if code, _ := f.do("GET", "/healthz", nil); code != 200 {
		t.Errorf("healthz after a bad delivery: %d", code)
	}
}

// Schedules on a fake clock: nothing for the past when first seen, one
// run when due, one (not four) after the controller missed four.
func TestSchedules(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	step := func(at string, want int) {
		t.Helper()
		tm, _ := time.Parse(time.RFC3339, at)
		f.set(tm)
		f.srv.runSchedules(ctx)
		if got := f.runs(); len(got) != want {
			t.Fatalf("at %s: %d runs %v, want %d", at, len(got), got, want)
		}
	}
	step("2026-12-06T10:30:00Z", 0) // first seen: counts from now
	step("2026-12-06T10:59:59Z", 0)
	step("2026-12-06T11:00:00Z", 1)
	step("2026-12-06T11:00:05Z", 1)
	step("2026-12-06T15:10:00Z", 2) // 12, 13, 14 and 15 missed: one run
	step("2026-12-06T15:59:00Z", 2)
	runs, _ := f.st.Runs(ctx, 10)
	head := f.git(f.work, "rev-parse", "HEAD")
	for _, r := range runs {
		if r.Pipeline != "nightly" || r.Branch != "main" || r.SHA != head {
			t.Errorf("scheduled run: %+v", r)
		}
	}
	// A tick recorded before a crash that lost it queues the same run
	// again, which its key turns into nothing new.
	f.st.SetTick(ctx, "app/nightly/0 * * * *", time.Date(2026, 12, 6, 14, 0, 0, 0, time.UTC))
	step("2026-12-06T15:59:30Z", 2)
}

// Bad requests to the API get a clear status and message, and the
// server keeps serving.
func TestBadRequests(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	auth := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	trig, _ := CreateToken(ctx, f.st, "trig", []string{store.ScopeTrigger}, f.now)
	head := f.git(f.work, "rev-parse", "HEAD")
	run, _, _ := f.st.CreateRun(ctx, store.Run{Repo: "app", Branch: "main", SHA: head, Pipeline: "manual", Created: f.now})
	claimed, _, _ := f.st.Claim(ctx, store.Claim{Runner: "r", Lease: time.Minute, Now: f.now})
	logPath := api.PathRuns + "/" + run.ID + "/log?fence=" + strconv.FormatInt(claimed.Fence, 10) + "&offset=0"
	for _, tc := range []struct {
		name, method, path string
		body               []byte
		hdr                []string
		status             int
		want               string
	}{
		{"no token", "GET", api.PathRuns, nil, nil, 401, `needs a token with the "trigger" scope`},
		{"wrong token", "GET", api.PathRuns, nil, auth("swc_nope"), 401, "unknown or revoked"},
		{"wrong scope", "POST", api.PathClaim, []byte(`{"runner":"x"}`), auth(trig), 403, `token "trig" has scopes trigger; this endpoint needs "runner"`},
		{"malformed trigger", "POST", api.PathRuns, []byte(`{"pipeline": 3`), auth(f.token), 400, "not valid JSON"},
		{"unknown field", "POST", api.PathRuns, []byte(`{"pipelin": "x"}`), auth(f.token), 400, `unknown field "pipelin"`},
		{"short sha", "POST", api.PathRuns, []byte(`{"pipeline":"x","sha":"abc","repo":"app"}`), auth(f.token), 400, "not a full commit id"},
		{"bundle without the sha", "POST", api.PathRuns, mustJSON(api.Trigger{Pipeline: "x", Repo: "app", SHA: strings.Repeat("a", 40), Bundle: f.bundle()}),
			auth(f.token), 400, "does not contain commit " + strings.Repeat("a", 40)},
		{"not a bundle", "POST", api.PathRuns, mustJSON(api.Trigger{Pipeline: "x", Repo: "app", SHA: strings.Repeat("a", 40), Bundle: []byte("junk")}),
			auth(f.token), 400, "not a git bundle"},
		{"huge log chunk", "POST", logPath, bytes.Repeat([]byte("x"), api.MaxLogChunk+1), auth(f.token), 413, "over the limit"},
		{"unknown run", "GET", api.PathRuns + "/nope", nil, auth(f.token), 404, "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := f.do(tc.method, tc.path, tc.body, tc.hdr...)
			if code != tc.status || !strings.Contains(out, tc.want) {
				t.Errorf("%d %s, want %d and %q", code, out, tc.status, tc.want)
			}
		})
	}
	if got, _ := f.st.Run(ctx, run.ID); got.LogSize != 0 {
		t.Errorf("a refused log chunk was stored in part: %d bytes", got.LogSize)
	}
	if got := f.runs(); len(got) != 1 {
		t.Errorf("refused triggers queued runs: %v", got)
	}
}

func (f *fixture) bundle() []byte {
	p := filepath.Join(f.t.TempDir(), "b.bundle")
	f.git(f.work, "bundle", "create", "-q", p, "HEAD")
	b, _ := os.ReadFile(p)
	return b
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// A claim that names a commit the runner has gets the rest of the run's
// commit as a thin pack that completes the runner's mirror; a claim
// that names nothing usable gets no pack (the runner fetches).
func TestClaimCarriesPack(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := api.NewClient(f.http.URL, f.token)
	first := f.git(f.work, "rev-parse", "HEAD")
	mirror := filepath.Join(t.TempDir(), "runner.git")
	f.git("", "init", "-q", "--bare", mirror)
	f.git(mirror, "fetch", "-q", f.up, "+main:refs/sparkwing/tip")
	f.write("src/b.go", strings.Repeat("package a // more\n", 500))
	second := f.commitPush("second", "main")

	for i, have := range []string{first, "", second, strings.Repeat("b", 40), "--all"} {
		if _, err := c.Trigger(ctx, api.Trigger{Pipeline: "manual", Repo: "app", SHA: second, Key: strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
		a, err := c.Claim(ctx, api.Claim{Runner: "r", Have: map[string]string{"app": have}})
		if err != nil || a == nil {
			t.Fatalf("claim with have %q: %v %v", have, a, err)
		}
		if have != first {
			if len(a.Pack) > 0 {
				t.Errorf("have %q: got a pack of %d bytes", have, len(a.Pack))
			}
			continue
		}
		if len(a.Pack) == 0 {
			t.Fatalf("have %q: no pack", have)
		}
		cmd := exec.Command("git", "index-pack", "--stdin", "--fix-thin")
		cmd.Dir, cmd.Stdin = mirror, bytes.NewReader(a.Pack)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("index-pack: %v\n%s", err, out)
		}
		f.git(mirror, "rev-list", "--objects", "--missing=error", second) // every object there
	}
}
