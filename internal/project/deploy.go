package project

import (
	"github.com/goccy/go-yaml/ast"

	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

var (
	deployKeys     = []string{"kustomize", "images", "context", "wait", "health", "on_failure", "expects", "gitops", "prune"}
	gitopsKeys     = []string{"repo", "path", "branch", "argocd"}
	deployWaitKeys = []string{"rollout", "timeout", "health"}
	// deployJobKeys are the job keys a deploy job may have besides `deploy`.
	deployJobKeys = []string{"deploy", "needs", "description", "env", "passthrough", "timeout", "retries"}
)

// deploy decodes a job's `deploy:` mapping.
func (d *decoder) deploy(n ast.Node) *plan.Deploy {
	dep := &plan.Deploy{Rollout: true, OnFailure: plan.OnFailureRollback}
	before := len(d.errs)
	for _, kv := range d.mapping(n, "`deploy`") {
		what := "`deploy." + kv.key + "`"
		switch kv.key {
		case "kustomize":
			dep.Kustomize = d.str(kv.value, what)
		case "images":
			dep.Images = d.stringMap(kv.value, what)
		case "context":
			dep.Context = d.str(kv.value, what)
		case "wait":
			for _, w := range d.mapping(kv.value, what) {
				switch w.key {
				case "rollout":
					if b := d.boolean(w.value, "`deploy.wait.rollout`"); b != nil {
						dep.Rollout = *b
					}
				case "timeout":
					dep.Timeout = d.duration(w.value, "`deploy.wait.timeout`")
				case "health":
					dep.HealthTimeout = d.duration(w.value, "`deploy.wait.health`")
				default:
					d.unknownKey(w, "in `deploy.wait`", deployWaitKeys)
				}
			}
		case "health":
			var at []Pos
			dep.Health, at = d.strings(kv.value, what)
			for i, h := range dep.Health {
				if _, err := plan.ParseHealth(h); err != nil {
					d.errorAt(at[i], "%s: %v", what, err)
				}
			}
		case "gitops":
			dep.GitOps = map[string]plan.GitOps{}
			for _, p := range d.mapping(kv.value, what) {
				g := plan.GitOps{Branch: plan.DefaultGitOpsBranch}
				for _, f := range d.mapping(p.value, what+"."+p.key) {
					w := what + "." + p.key + "." + f.key
					switch f.key {
					case "repo":
						g.Repo = d.str(f.value, w)
					case "path":
						g.Path = d.str(f.value, w)
					case "branch":
						g.Branch = d.str(f.value, w)
					case "argocd":
						g.ArgoCD = d.str(f.value, w)
					default:
						d.unknownKey(f, "in `deploy.gitops."+p.key+"`", gitopsKeys)
					}
				}
				dep.GitOps[p.key] = g
			}
		case "prune":
			if b := d.boolean(kv.value, what); b != nil {
				dep.Prune = *b
			}
		case "expects":
			dep.Expects, _ = d.strings(kv.value, what)
		case "on_failure":
			dep.OnFailure = d.str(kv.value, what)
			if dep.OnFailure != plan.OnFailureRollback && dep.OnFailure != plan.OnFailureKeep {
				d.errorf(kv.value, "%s %q: use rollback (restore the previous revision) or keep (leave the failed one)", what, dep.OnFailure)
			}
		default:
			d.unknownKey(kv, "in `deploy`", deployKeys)
		}
	}
	if len(d.errs) == before {
		if err := dep.Check(); err != nil {
			d.errorf(n, "deploy: %v", err)
		}
	}
	return dep
}
