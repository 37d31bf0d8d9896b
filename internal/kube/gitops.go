package kube

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/sparkwing-dev/sparkwing/internal/deploy"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// ReasonPinned is the cache reason of a gitops deploy whose pins the
// repository already holds.
const ReasonPinned = "already pinned"

// pushAttempts bounds the clone, edit, push cycle when the branch moves
// under it (another pipeline pinned at the same moment).
const pushAttempts = 3

// pinGitOps sets the deploy's images in the kustomization of a gitops
// repository (a structured edit of its `images:` list: comments, order
// and other entries kept), commits with a message naming the run and the
// content tags, and pushes. A repository that already pins exactly these
// is left alone.
func pinGitOps(ctx context.Context, req *deploy.Request, g plan.GitOps, pins map[string]string, log io.Writer) deploy.Message {
	where := fmt.Sprintf("%s %s (branch %s)", g.Repo, g.Path, g.Branch)
	var last error
	for range pushAttempts {
		changed, revision, err := pinOnce(ctx, req, g, pins)
		if err == errMoved {
			fmt.Fprintf(log, "%s moved while pinning: trying again\n", g.Branch)
			last = err
			continue
		}
		if err != nil {
			return failed(err, "")
		}
		m := deploy.Message{OK: true, Applied: changed}
		if changed {
			fmt.Fprintf(log, "pinned in %s: commit %s\n", where, short(revision))
		} else {
			fmt.Fprintf(log, "%s already pins these images: nothing to commit\n", where)
			m.Reason = ReasonPinned
		}
		if g.ArgoCD != "" {
			if err := waitArgoCD(ctx, g.ArgoCD, revision, cmp.Or(req.Deploy.Timeout, plan.DefaultDeployTimeout), log); err != nil {
				m = failed(err, "")
				m.Running = "the pin is committed; Argo CD runs what it last synced"
			}
		}
		return m
	}
	return deploy.Message{Error: fmt.Sprintf("%s kept moving: %v", where, last)}
}

var errMoved = fmt.Errorf("the branch moved")

// pinOnce clones the branch, edits, and pushes once.
func pinOnce(ctx context.Context, req *deploy.Request, g plan.GitOps, pins map[string]string) (changed bool, revision string, err error) {
	tmp, err := os.MkdirTemp("", "sparkwing-gitops-")
	if err != nil {
		return false, "", err
	}
	defer os.RemoveAll(tmp)
	repo := filepath.Join(tmp, "repo")
	if out, err := git(ctx, tmp, "clone", "--quiet", "--depth", "1", "--single-branch", "--branch", g.Branch, g.Repo, repo); err != nil {
		return false, "", &configError{msg: fmt.Sprintf("cannot clone gitops repository %s (branch %s): %s", g.Repo, g.Branch, lastLine(out)),
			hint: "check `gitops.repo` and `branch` in the deploy job, and that git can reach it with your credentials"}
	}
	dir := filepath.Join(repo, filepath.FromSlash(g.Path))
	file := ""
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			file = filepath.Join(dir, name)
			break
		}
	}
	if file == "" {
		return false, "", &configError{msg: fmt.Sprintf("gitops repository %s has no kustomization.yaml in %s (branch %s)", g.Repo, g.Path, g.Branch),
			hint: "point `gitops.path` at the overlay's directory in that repository"}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return false, "", err
	}
	edited, err := setImages(data, pins)
	if err != nil {
		return false, "", &configError{msg: fmt.Sprintf("gitops repository %s: %s: %v", g.Repo, filepath.ToSlash(filepath.Join(g.Path, filepath.Base(file))), err)}
	}
	if edited == nil {
		head, err := git(ctx, repo, "rev-parse", "HEAD")
		return false, strings.TrimSpace(head), err
	}
	if err := os.WriteFile(file, edited, 0o644); err != nil {
		return false, "", err
	}
	objs, err := render(dir)
	if err != nil {
		return false, "", err
	}
	if err := rendersPins(objs, pins, g.Repo+" "+g.Path); err != nil {
		return false, "", err
	}
	msg := commitMessage(req, pins)
	args := []string{"commit", "--quiet", "--all", "--message", msg}
	if out, _ := git(ctx, repo, "config", "user.email"); strings.TrimSpace(out) == "" {
		args = append([]string{"-c", "user.name=sparkwing", "-c", "user.email=sparkwing@localhost"}, args...)
	}
	if out, err := git(ctx, repo, args...); err != nil {
		return false, "", fmt.Errorf("committing the pin: %s", lastLine(out))
	}
	out, err := git(ctx, repo, "push", "--quiet", "origin", "HEAD:refs/heads/"+g.Branch)
	switch {
	case err == nil:
		head, err := git(ctx, repo, "rev-parse", "HEAD")
		return true, strings.TrimSpace(head), err
	case strings.Contains(out, "non-fast-forward") || strings.Contains(out, "fetch first"):
		return false, "", errMoved
	}
	return false, "", &configError{msg: fmt.Sprintf("gitops repository %s rejected the push to %s: %s", g.Repo, g.Branch, pushError(out)),
		hint: "check your push rights to it, and whether " + g.Branch + " is protected (then pin through a merge request)"}
}

// setImages sets each pinned image in a kustomization's `images:` list
// (name, newName, newTag, digest), keeping its comments, order and other
// entries. It returns nil when the file already pins exactly these.
func setImages(data []byte, pins map[string]string) ([]byte, error) {
	doc, err := kyaml.Parse(string(data))
	if err != nil {
		return nil, err
	}
	before, err := doc.String()
	if err != nil {
		return nil, err
	}
	list, err := doc.Pipe(kyaml.LookupCreate(kyaml.SequenceNode, "images"))
	if err != nil {
		return nil, fmt.Errorf("`images` is not a list: %v", err)
	}
	names := make([]string, 0, len(pins))
	for n := range pins {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		newName, tag, digest := splitRef(pins[name])
		entry, err := list.Pipe(kyaml.MatchElement("name", name))
		if err != nil {
			return nil, err
		}
		if entry == nil {
			entry = kyaml.NewMapRNode(&map[string]string{"name": name})
			if err := list.PipeE(kyaml.Append(entry.YNode())); err != nil {
				return nil, err
			}
		}
		for _, f := range []struct{ key, value string }{{"newName", newName}, {"newTag", tag}, {"digest", digest}} {
			if f.value == "" {
				if err := entry.PipeE(kyaml.Clear(f.key)); err != nil {
					return nil, err
				}
				continue
			}
			if cur := entry.Field(f.key); cur != nil && cur.Value.YNode().Kind == kyaml.ScalarNode {
				n := cur.Value.YNode() // set in place: a comment on the line stays
				n.Value, n.Tag = f.value, kyaml.NodeTagString
				continue
			}
			if err := entry.PipeE(kyaml.SetField(f.key, kyaml.NewStringRNode(f.value))); err != nil {
				return nil, err
			}
		}
	}
	after, err := doc.String()
	if err != nil {
		return nil, err
	}
	if after == before {
		return nil, nil
	}
	return []byte(after), nil
}

// rendersPins checks that the overlay, rendered with its new pins, runs
// each pinned image somewhere: a name no container uses pins nothing.
func rendersPins(objs []*unstructured.Unstructured, pins map[string]string, overlay string) error {
	running := map[string]bool{}
	for _, o := range objs {
		path, ok := podSpecPaths[o.GetKind()]
		if !ok {
			continue
		}
		for _, list := range []string{"initContainers", "containers"} {
			cs, _, _ := unstructured.NestedSlice(o.Object, append(append([]string{}, path...), list)...)
			for _, c := range cs {
				if m, ok := c.(map[string]any); ok {
					ref, _ := m["image"].(string)
					running[ref] = true
				}
			}
		}
	}
	for name, ref := range pins {
		if !running[ref] {
			return &configError{msg: fmt.Sprintf("image %s is in no container of %s once pinned (no container runs %s)", name, overlay, ref),
				hint: "name the image in `deploy.images` as the gitops overlay's manifests write it, without tag or digest"}
		}
	}
	return nil
}

// splitRef splits REGISTRY/REPO:TAG@DIGEST.
func splitRef(ref string) (name, tag, digest string) {
	name, digest, _ = strings.Cut(ref, "@")
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name, tag = name[:i], name[i+1:]
	}
	return name, tag, digest
}

// commitMessage names the pins, the pipeline and the run.
func commitMessage(req *deploy.Request, pins map[string]string) string {
	names := make([]string, 0, len(pins))
	for n := range pins {
		names = append(names, n)
	}
	slices.Sort(names)
	var tags []string
	for _, n := range names {
		_, tag, _ := splitRef(pins[n])
		tags = append(tags, n+":"+tag)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "sparkwing: pin %s\n\nPipeline %s, job %s, run %s, profile %s.\n\n", strings.Join(tags, ", "), req.Pipeline, req.Job, req.RunID, req.Profile)
	for _, n := range names {
		fmt.Fprintf(&b, "%s: %s\n", n, pins[n])
	}
	return b.String()
}

// pushError is the line of git's push output that says why, without the
// remote's "To URL" chatter.
func pushError(out string) string {
	var keep []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "remote:"))
		if l != "" && !strings.HasPrefix(l, "To ") && !strings.HasPrefix(l, "error: failed to push") && !strings.HasPrefix(l, "hint:") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "; ")
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
