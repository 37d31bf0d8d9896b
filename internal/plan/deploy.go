package plan

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"time"
)

// Deploy is what a deploy job applies: a kustomize overlay, rendered with
// each of its images pinned to what an image job of the run produced,
// applied to a Kubernetes cluster with server-side apply, waited for and
// health-checked, and rolled back when that fails.
type Deploy struct {
	// Kustomize is the overlay directory, relative to the project root;
	// {profile} becomes the run's profile.
	Kustomize string
	// Images maps an image name as the manifests write it (the name
	// kustomize's `images:` would match) to the image job that builds it.
	Images map[string]string
	// Context is the kubeconfig context ({profile} becomes the run's
	// profile); "" the kubeconfig's current context.
	Context string        `json:",omitempty"`
	Rollout bool          // wait for Deployments, StatefulSets and DaemonSets to roll out
	Timeout time.Duration // for the apply and the rollout
	Health  []string      `json:",omitempty"` // checks after the rollout, as a service's `health`
	// Expects names workloads (deployment/api) the pipeline needs to
	// exist after the deploy, besides those its later jobs' kubectl
	// commands act on.
	Expects []string `json:",omitempty"`
	// HealthTimeout is how long the checks may take to pass once the
	// rollout is done.
	HealthTimeout time.Duration
	OnFailure     string // rollback or keep
	// Prune deletes, after a successful deploy, what the job's previous
	// deploy applied and this one no longer has.
	Prune bool `json:",omitempty"`
	// GitOps, by profile: instead of applying, pin the images in a
	// gitops repository's kustomization, commit and push.
	GitOps map[string]GitOps `json:",omitempty"`
}

// GitOps is where a profile's deploys are pinned: the kustomization in
// Path of Branch of the git repository Repo.
type GitOps struct {
	Repo   string
	Path   string
	Branch string
	// ArgoCD names the Argo CD application that syncs Path: the deploy
	// waits until it runs the pushed commit and is healthy.
	ArgoCD string `json:",omitempty"`
}

// DefaultGitOpsBranch is the branch pins go to when none is named.
const DefaultGitOpsBranch = "main"

// Deploy defaults and choices.
const (
	DefaultDeployTimeout = 2 * time.Minute
	DefaultHealthTimeout = 30 * time.Second
	OnFailureRollback    = "rollback"
	OnFailureKeep        = "keep"
)

// Overlay is the overlay directory for profile.
func (d *Deploy) Overlay(profile string) string {
	return path.Clean(strings.ReplaceAll(d.Kustomize, "{profile}", profile))
}

// KubeContext is the kubeconfig context for profile ("" the current one).
func (d *Deploy) KubeContext(profile string) string {
	return strings.ReplaceAll(d.Context, "{profile}", profile)
}

// ImageNames are the pinned image names, sorted.
func (d *Deploy) ImageNames() []string {
	names := make([]string, 0, len(d.Images))
	for n := range d.Images {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Check validates the deploy's settings.
func (d *Deploy) Check() error {
	k := strings.TrimSpace(d.Kustomize)
	switch {
	case k == "":
		return fmt.Errorf("a deploy needs `kustomize`: the overlay directory, such as deploy/overlays/{profile}")
	case path.IsAbs(k) || k == ".." || strings.HasPrefix(path.Clean(k), "../"):
		return fmt.Errorf("kustomize %q is outside the project: name a directory inside it", d.Kustomize)
	case d.OnFailure != OnFailureRollback && d.OnFailure != OnFailureKeep:
		return fmt.Errorf("on_failure %q: use rollback or keep", d.OnFailure)
	case d.Timeout < 0 || d.HealthTimeout < 0:
		return fmt.Errorf("a deploy's timeouts cannot be negative")
	}
	for _, name := range d.ImageNames() {
		if name == "" || strings.ContainsAny(name, " @") {
			return fmt.Errorf("image name %q: write the name as the manifests write it, without tag or digest", name)
		}
		if !ValidID(d.Images[name]) {
			return fmt.Errorf("image %s: %q is not a job id", name, d.Images[name])
		}
	}
	for _, h := range d.Health {
		if _, err := ParseHealth(h); err != nil {
			return err
		}
	}
	for profile, g := range d.GitOps {
		p := path.Clean(g.Path)
		switch {
		case strings.TrimSpace(g.Repo) == "":
			return fmt.Errorf("gitops %s: name the repository with `repo` (a URL or path git can clone)", profile)
		case path.IsAbs(g.Path) || p == ".." || strings.HasPrefix(p, "../"):
			return fmt.Errorf("gitops %s: path %q must be a directory inside the repository, such as overlays/%s", profile, g.Path, profile)
		case strings.HasPrefix(g.Branch, "-") || strings.ContainsAny(g.Branch, " ~^:?*[\\"):
			return fmt.Errorf("gitops %s: branch %q is not a branch name", profile, g.Branch)
		}
	}
	for _, e := range d.Expects {
		kind, name, ok := strings.Cut(e, "/")
		if !ok || name == "" || !slices.Contains([]string{"deployment", "statefulset", "daemonset"}, strings.ToLower(kind)) {
			return fmt.Errorf("expects %q: write deployment/NAME, statefulset/NAME or daemonset/NAME", e)
		}
	}
	return nil
}

// checkDeploys checks what a deploy job needs from the rest of the plan:
// each image it pins comes from an image job it needs.
func (p *Plan) checkDeploys() error {
	for _, j := range p.Jobs {
		if j.Deploy == nil {
			continue
		}
		for _, name := range j.Deploy.ImageNames() {
			id := j.Deploy.Images[name]
			i := p.Index(id)
			switch {
			case !slices.Contains(j.Needs, id):
				return &JobError{Job: j.ID, Msg: fmt.Sprintf("pins image %s to job %q, which it does not need: add it to `needs`, so it is built first", name, id)}
			case p.Jobs[i].Image == nil || p.Jobs[i].Image.Export != "":
				return &JobError{Job: j.ID, Msg: fmt.Sprintf("pins image %s to job %q, which builds no image: name an `image:` job", name, id)}
			}
		}
	}
	return nil
}
