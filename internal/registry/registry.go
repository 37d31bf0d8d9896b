// Package registry speaks just enough of the OCI distribution API to ask
// whether an image is already in a registry, and to tag it there. It is
// linked only into sparkwing-image: net/http and the Docker credential
// helpers would cost every sparkwing start their initialisation.
package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"

	"github.com/sparkwing-dev/sparkwing/internal/image"
)

// manifestTypes are the manifest media types a registry may hold for an
// image BuildKit pushed.
var manifestTypes = []string{
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.docker.distribution.manifest.v2+json",
}

// Client speaks just enough of the OCI distribution API to ask whether a
// tag exists and to add a tag to a manifest that is already there.
// Credentials come from the Docker config file (~/.docker/config.json,
// credential helpers included) and never appear in errors or logs.
type Client struct {
	HTTP  *http.Client
	creds *configfile.ConfigFile
}

// New returns a client using the standard Docker config file.
func New() *Client {
	return &Client{HTTP: &http.Client{Timeout: 30 * time.Second}, creds: config.LoadDefaultConfigFile(io.Discard)}
}

func (r *Client) base(host string) string {
	if image.Loopback(host) {
		return "http://" + host
	}
	return "https://" + host
}

// Digest asks the registry (a HEAD on the manifest) for the digest of the
// manifest ref's tag names, or "" when the tag is not there.
func (r *Client) Digest(ctx context.Context, ref image.Ref) (string, error) {
	resp, err := r.do(ctx, http.MethodHead, ref, "/manifests/"+ref.Tag, "pull", nil, "")
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		if d := resp.Header.Get("Docker-Content-Digest"); d != "" {
			return d, nil
		}
		return "present", nil
	case http.StatusNotFound:
		return "", nil
	}
	return "", fmt.Errorf("%s: HEAD manifest: %s", ref, resp.Status)
}

// FindTag returns a tag of ref's repository for which match is true, or
// "" (from the repository's tag list; a missing repository has no tags).
func (r *Client) FindTag(ctx context.Context, ref image.Ref, match func(tag string) bool) (string, error) {
	resp, err := r.do(ctx, http.MethodGet, ref, "/tags/list", "pull", nil, "")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return "", nil
	default:
		return "", fmt.Errorf("%s: list tags: %s", ref.Host+"/"+ref.Repo, resp.Status)
	}
	var list struct{ Tags []string }
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&list); err != nil {
		return "", fmt.Errorf("%s: list tags: %w", ref.Host+"/"+ref.Repo, err)
	}
	for _, t := range list.Tags {
		if match(t) {
			return t, nil
		}
	}
	return "", nil
}

// Retag points ref's tag at the manifest tagged from in the same
// repository: no layer moves, and nothing is built.
func (r *Client) Retag(ctx context.Context, ref image.Ref, from string) error {
	body, ctype, err := r.get(ctx, ref, "/manifests/"+from)
	if err != nil {
		return err
	}
	return r.putManifest(ctx, ref, body, ctype)
}

// do sends one request, answering a Basic or Bearer challenge with the
// configured credentials (or anonymously) once.
func (r *Client) do(ctx context.Context, method string, ref image.Ref, path, actions string, body []byte, ctype string) (*http.Response, error) {
	u := r.base(ref.Host) + "/v2/" + ref.Repo + path
	send := func(auth string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", strings.Join(manifestTypes, ", "))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := r.HTTP.Do(req)
		if err != nil {
			return nil, fmt.Errorf("registry %s: %w", ref.Host, unwrapURL(err))
		}
		return resp, nil
	}
	resp, err := send("")
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	challenge := resp.Header.Get("WWW-Authenticate")
	resp.Body.Close()
	auth, err := r.authorize(ctx, ref, challenge, actions)
	if err != nil {
		return nil, err
	}
	return send(auth)
}

// authorize answers a challenge: Basic with the stored credentials, or a
// Bearer token fetched from the challenge's realm.
func (r *Client) authorize(ctx context.Context, ref image.Ref, challenge, actions string) (string, error) {
	user, pass := r.credentials(ref.Host)
	scheme, params := parseChallenge(challenge)
	switch scheme {
	case "basic":
		if user == "" {
			return "", fmt.Errorf("registry %s wants a login: run `docker login %s`", ref.Host, ref.Host)
		}
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth(user, pass)
		return req.Header.Get("Authorization"), nil
	case "bearer":
		q := url.Values{}
		q.Set("service", params["service"])
		q.Set("scope", "repository:"+ref.Repo+":"+actions)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, params["realm"]+"?"+q.Encode(), nil)
		if err != nil {
			return "", fmt.Errorf("registry %s: bad token realm", ref.Host)
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := r.HTTP.Do(req)
		if err != nil {
			return "", fmt.Errorf("registry %s: token: %w", ref.Host, unwrapURL(err))
		}
		defer resp.Body.Close()
		var tok struct {
			Token       string `json:"token"`
			AccessToken string `json:"access_token"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&tok) != nil {
			return "", fmt.Errorf("registry %s: token request: %s (check `docker login %s`)", ref.Host, resp.Status, ref.Host)
		}
		if tok.Token == "" {
			tok.Token = tok.AccessToken
		}
		return "Bearer " + tok.Token, nil
	}
	return "", fmt.Errorf("registry %s: unsupported authentication %q", ref.Host, scheme)
}

func (r *Client) credentials(host string) (user, pass string) {
	if r.creds == nil {
		return "", ""
	}
	ac, err := r.creds.GetAuthConfig(host)
	if err != nil {
		return "", ""
	}
	if ac.IdentityToken != "" {
		return "<token>", ac.IdentityToken
	}
	return ac.Username, ac.Password
}

// parseChallenge reads `Bearer realm="…",service="…"`.
func parseChallenge(h string) (string, map[string]string) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	params := map[string]string{}
	for rest != "" {
		var kv string
		kv, rest = splitParam(rest)
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		params[strings.ToLower(k)] = strings.Trim(v, `"`)
	}
	return strings.ToLower(scheme), params
}

// splitParam takes one comma-separated parameter, honouring quotes.
func splitParam(s string) (string, string) {
	quoted := false
	for i, c := range s {
		switch {
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// unwrapURL drops net/url's "Get "http://…":" prefix, which repeats the URL.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Ensure says whether every registry has the content tag: refs are, for
// each registry in turn, perRegistry references whose first is the
// content tag. When a registry has the same files under another commit's
// tag (sameFiles), the content tag is added to that manifest: nothing
// built, no layer pushed. Extra tags are moved to the content tag's
// manifest when they point elsewhere.
func (r *Client) Ensure(ctx context.Context, refs []image.Ref, perRegistry int, sameFiles func(tag string) bool) (bool, error) {
	if perRegistry < 1 || len(refs)%perRegistry != 0 {
		return false, fmt.Errorf("%d references are not %d a registry", len(refs), perRegistry)
	}
	for i := 0; i < len(refs); i += perRegistry {
		content := refs[i]
		digest, err := r.Digest(ctx, content)
		if err != nil {
			return false, err
		}
		if digest == "" {
			other, err := r.FindTag(ctx, content, sameFiles)
			if err != nil || other == "" {
				return false, err
			}
			if err := r.Retag(ctx, content, other); err != nil {
				return false, err
			}
			if digest, err = r.Digest(ctx, content); err != nil || digest == "" {
				return false, err
			}
		}
		for _, extra := range refs[i+1 : i+perRegistry] {
			if d, err := r.Digest(ctx, extra); err != nil {
				return false, err
			} else if d != digest {
				if err := r.Retag(ctx, extra, content.Tag); err != nil {
					return false, err
				}
			}
		}
	}
	return true, nil
}
