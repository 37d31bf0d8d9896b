package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// argoApp is the part of an Argo CD Application (GET
// /api/v1/applications/NAME) a gitops deploy waits on.
type argoApp struct {
	Status struct {
		Sync struct {
			Status   string `json:"status"`   // Synced, OutOfSync, Unknown
			Revision string `json:"revision"` // the commit it runs
		} `json:"sync"`
		Health struct {
			Status  string `json:"status"` // Healthy, Progressing, Degraded, Suspended, Missing, Unknown
			Message string `json:"message"`
		} `json:"health"`
		OperationState struct {
			Phase   string `json:"phase"` // Running, Succeeded, Failed, Error
			Message string `json:"message"`
		} `json:"operationState"`
	} `json:"status"`
}

// argoPoll is how often the application is read: Argo CD's API streams
// changes too, but a read a second is simpler and its refresh is slower.
const argoPoll = time.Second

// waitArgoCD waits until Argo CD application app runs revision, synced
// and healthy ($ARGOCD_SERVER, an https URL or host:port, or http:// for
// a plain one; $ARGOCD_AUTH_TOKEN). The first read asks Argo CD to
// refresh from git, so it sees the new commit now rather than at its next
// poll.
func waitArgoCD(ctx context.Context, app, revision string, timeout time.Duration, log io.Writer) error {
	server := os.Getenv("ARGOCD_SERVER")
	if server == "" {
		return &configError{msg: fmt.Sprintf("waiting for Argo CD application %s needs ARGOCD_SERVER", app),
			hint: "set ARGOCD_SERVER (and ARGOCD_AUTH_TOKEN) as for the argocd CLI"}
	}
	if !strings.Contains(server, "://") {
		server = "https://" + server
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 15 * time.Second}
	start, last := time.Now(), ""
	refresh := "?refresh=normal"
	for {
		a, err := readArgoApp(ctx, client, server, app, refresh)
		refresh = ""
		var ce *configError
		if errors.As(err, &ce) {
			return err
		}
		s := a.Status
		line := ""
		switch {
		case err != nil:
			line = err.Error()
		case s.OperationState.Phase == "Failed" || s.OperationState.Phase == "Error":
			return fmt.Errorf("Argo CD application %s failed to sync %s: %s", app, short(revision), s.OperationState.Message)
		case s.Sync.Revision != revision:
			line = fmt.Sprintf("argocd %s: runs %s, waiting for %s", app, short(s.Sync.Revision), short(revision))
		case s.Health.Status == "Degraded" || s.Health.Status == "Missing":
			return fmt.Errorf("Argo CD application %s is %s at %s: %s", app, s.Health.Status, short(revision), s.Health.Message)
		case s.Sync.Status == "Synced" && s.Health.Status == "Healthy":
			fmt.Fprintf(log, "argocd %s: synced to %s and healthy in %.1f s\n", app, short(revision), time.Since(start).Seconds())
			return nil
		default:
			line = fmt.Sprintf("argocd %s: %s, %s", app, s.Sync.Status, s.Health.Status)
		}
		if line != last {
			fmt.Fprintln(log, line)
			last = line
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("Argo CD application %s did not run %s synced and healthy in %v (%s)", app, short(revision), timeout, last)
		case <-time.After(argoPoll):
		}
	}
}

func readArgoApp(ctx context.Context, client *http.Client, server, app, query string) (*argoApp, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(server, "/")+"/api/v1/applications/"+url.PathEscape(app)+query, nil)
	if err != nil {
		return nil, &configError{msg: fmt.Sprintf("ARGOCD_SERVER %s: %v", server, err)}
	}
	if tok := os.Getenv("ARGOCD_AUTH_TOKEN"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := client.Do(req)
	if err != nil {
		return &argoApp{}, fmt.Errorf("argocd %s: %v", app, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		return nil, &configError{msg: fmt.Sprintf("Argo CD at %s refuses the token for application %s (%s)", server, app, resp.Status),
			hint: "set ARGOCD_AUTH_TOKEN to a token that may read the application"}
	case http.StatusNotFound:
		return nil, &configError{msg: fmt.Sprintf("Argo CD at %s has no application %s", server, app),
			hint: "fix `argocd` in the deploy job's gitops entry"}
	default:
		return &argoApp{}, fmt.Errorf("argocd %s: %s", app, resp.Status)
	}
	var a argoApp
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&a); err != nil {
		return &argoApp{}, fmt.Errorf("argocd %s: reading the application: %v", app, err)
	}
	return &a, nil
}

// short is a commit's first 12 hex digits.
func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
