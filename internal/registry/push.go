package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"

	"github.com/sparkwing-dev/sparkwing/internal/image"
)

// Config is what an image runs, from its configuration blob.
type Config struct {
	Entrypoint []string
	Cmd        []string
}

// maxManifest bounds a manifest or configuration blob read.
const maxManifest = 16 << 20

// Config reads the configuration of the image ref names (ref.Tag is a tag
// or a digest); of an index, the linux image for this machine's
// architecture, where the local cluster runs.
func (r *Client) Config(ctx context.Context, ref image.Ref) (*Config, error) {
	body, _, err := r.get(ctx, ref, "/manifests/"+ref.Tag)
	if err != nil {
		return nil, err
	}
	var m struct {
		Manifests []struct {
			Digest   string
			Platform struct{ OS, Architecture string }
		}
		Config struct{ Digest string }
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%s: manifest: %v", ref, err)
	}
	if len(m.Manifests) > 0 {
		var pick string
		for _, e := range m.Manifests {
			if e.Platform.OS == "linux" && e.Platform.Architecture == runtime.GOARCH {
				pick = e.Digest
				break
			}
		}
		if pick == "" {
			return nil, fmt.Errorf("%s has no linux/%s image", ref, runtime.GOARCH)
		}
		if body, _, err = r.get(ctx, ref, "/manifests/"+pick); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, fmt.Errorf("%s: manifest %s: %v", ref, pick, err)
		}
	}
	if m.Config.Digest == "" {
		return nil, fmt.Errorf("%s: the manifest names no configuration", ref)
	}
	body, _, err = r.get(ctx, ref, "/blobs/"+m.Config.Digest)
	if err != nil {
		return nil, err
	}
	if got := digestOf(body); got != m.Config.Digest {
		return nil, fmt.Errorf("%s: configuration blob is %s, want %s", ref, got, m.Config.Digest)
	}
	var c struct{ Config Config }
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("%s: configuration: %v", ref, err)
	}
	return &c.Config, nil
}

// get reads path (a manifest or a blob) of ref's repository, and its
// media type.
func (r *Client) get(ctx context.Context, ref image.Ref, path string) ([]byte, string, error) {
	resp, err := r.do(ctx, http.MethodGet, ref, path, "pull", nil, "")
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("%s: GET %s: %s", ref.Host+"/"+ref.Repo, path, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxManifest))
	return body, resp.Header.Get("Content-Type"), err
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// PushImage pushes a one-layer linux image for this machine's
// architecture: layer is an uncompressed tar, config its configuration
// (rootfs is filled in). It returns the manifest's digest; blobs the
// registry has are not sent again.
func (r *Client) PushImage(ctx context.Context, ref image.Ref, layer []byte, config Config) (string, error) {
	cfg, err := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH, "os": "linux",
		"config": config,
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{digestOf(layer)}},
	})
	if err != nil {
		return "", err
	}
	for _, blob := range [][]byte{layer, cfg} {
		if err := r.pushBlob(ctx, ref, blob); err != nil {
			return "", err
		}
	}
	const manifestType = "application/vnd.oci.image.manifest.v1+json"
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": manifestType,
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digestOf(cfg), "size": len(cfg)},
		"layers": []map[string]any{{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digestOf(layer), "size": len(layer)}},
	})
	if err := r.putManifest(ctx, ref, manifest, manifestType); err != nil {
		return "", err
	}
	return digestOf(manifest), nil
}

// putManifest puts manifest (of media type ctype) under ref's tag.
func (r *Client) putManifest(ctx context.Context, ref image.Ref, manifest []byte, ctype string) error {
	resp, err := r.do(ctx, http.MethodPut, ref, "/manifests/"+ref.Tag, "pull,push", manifest, ctype)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: put manifest: %s", ref, resp.Status)
	}
	return nil
}

// pushBlob uploads blob in one piece unless the repository has it.
func (r *Client) pushBlob(ctx context.Context, ref image.Ref, blob []byte) error {
	digest := digestOf(blob)
	head, err := r.do(ctx, http.MethodHead, ref, "/blobs/"+digest, "pull", nil, "")
	if err != nil {
		return err
	}
	head.Body.Close()
	if head.StatusCode == http.StatusOK {
		return nil
	}
	start, err := r.do(ctx, http.MethodPost, ref, "/blobs/uploads/", "pull,push", nil, "")
	if err != nil {
		return err
	}
	start.Body.Close()
	if start.StatusCode != http.StatusAccepted {
		return fmt.Errorf("%s: start upload: %s", ref.Host+"/"+ref.Repo, start.Status)
	}
	loc, err := start.Request.URL.Parse(start.Header.Get("Location"))
	if err != nil || start.Header.Get("Location") == "" {
		return fmt.Errorf("%s: start upload: no usable Location", ref.Host+"/"+ref.Repo)
	}
	q := loc.Query()
	q.Set("digest", digest)
	loc.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, loc.String(), bytes.NewReader(blob))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	if auth := start.Request.Header.Get("Authorization"); auth != "" {
		req.Header.Set("Authorization", auth)
	}
	put, err := r.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("registry %s: %w", ref.Host, unwrapURL(err))
	}
	put.Body.Close()
	if put.StatusCode != http.StatusCreated {
		return fmt.Errorf("%s: upload %s: %s", ref.Host+"/"+ref.Repo, digest, put.Status)
	}
	return nil
}

// SplitPinned splits REGISTRY/REPO:TAG@sha256:… (or without the digest)
// into a reference whose Tag is the digest when there is one.
func SplitPinned(pinned string) (image.Ref, error) {
	name, digest, hasDigest := strings.Cut(pinned, "@")
	slash := strings.IndexByte(name, '/')
	if slash <= 0 {
		return image.Ref{}, fmt.Errorf("%q is not REGISTRY/REPOSITORY[:TAG][@DIGEST]", pinned)
	}
	host, repo := name[:slash], name[slash+1:]
	tag := "latest"
	if colon := strings.LastIndexByte(repo, ':'); colon >= 0 {
		repo, tag = repo[:colon], repo[colon+1:]
	}
	if hasDigest {
		tag = digest
	}
	if _, err := url.Parse("http://" + host); err != nil || repo == "" || tag == "" {
		return image.Ref{}, fmt.Errorf("%q is not REGISTRY/REPOSITORY[:TAG][@DIGEST]", pinned)
	}
	return image.Ref{Host: host, Repo: repo, Tag: tag}, nil
}
