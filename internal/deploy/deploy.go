// Package deploy runs deploy jobs from sparkwing's side: it asks
// sparkwing-deploy, the helper that links Kubernetes' and kustomize's
// clients (internal/kube), to render, apply, wait and roll back, and reads
// its answer. The helper is a program of its own so that client-go never
// slows the start of a sparkwing run that deploys nothing.
package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/helperproc"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
)

// HelperName is the program that deploys; sparkwing looks for it in
// $SPARKWING_DEPLOY_HELPER, next to its own executable, then on PATH.
const HelperName = "sparkwing-deploy"

// WireVersion is the version of the request; a helper from another
// version of sparkwing refuses it.
const WireVersion = 1

// Request is what sparkwing writes to the helper's standard input.
type Request struct {
	V        int
	Root     string // the project root, absolute
	Pipeline string
	Job      string
	RunID    string // for the gitops commit's message
	Profile  string
	Force    bool // apply even when the cluster already runs it (--no-cache)
	Deploy   *plan.Deploy
	// Images maps each name of Deploy.Images to the reference its image
	// job produced: REGISTRY/REPO:TAG (the helper adds the digest).
	Images map[string]string
	// Expects are workloads the pipeline acts on after the deploy: each
	// must be in what is applied or already in the cluster.
	Expects []Workload `json:",omitempty"`
	// Sync, from sparkwing dev --sync: apply runs the containers of the
	// synced images under sparkwing-supervisor; the sync op copies the
	// files into them and restarts their process.
	Sync *Sync `json:",omitempty"`
	// Since, for the logs op, is the time from which the pods' lines are
	// wanted.
	Since time.Time `json:",omitzero"`
}

// Sync is what sparkwing dev --sync asks of a deploy.
type Sync struct {
	Supervisor string // sparkwing-supervisor on this machine, statically linked
	// Generation is the pod template's sparkwing.dev/sync annotation. The
	// sync op leaves it; a new value on apply rolls the pods out, so that
	// none keeps files synced since the last rollout.
	Generation string
	Files      []SyncFile
	// CheckOnly: the sync op only checks that the cluster runs what the
	// last deploy applied, and copies nothing.
	CheckOnly bool `json:",omitempty"`
}

// SyncFile is one file to copy into the containers that run Image.
type SyncFile struct {
	Image string // a name of Deploy.Images
	From  string // its path on this machine, absolute
	To    string // its path in the container
}

// SyncFiles are the files of job d's synced images (plan.Image.Sync).
func SyncFiles(p *plan.Plan, d plan.Job, root string) []SyncFile {
	var files []SyncFile
	for _, name := range d.Deploy.ImageNames() {
		i := p.Index(d.Deploy.Images[name])
		if i < 0 || p.Jobs[i].Image == nil {
			continue
		}
		im := p.Jobs[i].Image
		for _, from := range im.SyncPaths() {
			files = append(files, SyncFile{Image: name, From: filepath.Join(root, filepath.FromSlash(from)), To: im.Sync[from]})
		}
	}
	return files
}

// Workload is a Deployment, StatefulSet or DaemonSet the pipeline expects
// to exist; Source says who expects it (a job's kubectl command).
type Workload struct {
	Kind, Name string
	Namespace  string `json:",omitempty"` // "" the deploy's
	Source     string
}

// Message is one line the helper writes to file descriptor 3: the answer.
// Its standard output is the deploy's log (apply), or the difference
// (diff).
type Message struct {
	OK      bool   `json:",omitempty"`
	Applied bool   `json:",omitempty"` // apply: false with OK: already applied, nothing changed
	Reason  string `json:",omitempty"` // why nothing was applied: "already applied", "already pinned"
	// Phases split a deploy that applied.
	Phases  *runrec.DeployPhases `json:",omitempty"`
	Differs bool                 `json:",omitempty"` // diff: the live objects differ from what would be applied
	Key     string               `json:",omitempty"` // the rendered manifests and the cluster, hashed
	// Error says why the deploy failed; Config marks a configuration
	// error found before anything was applied (exit 2), with Hint saying
	// how to fix it.
	Error  string `json:",omitempty"`
	Config bool   `json:",omitempty"`
	Hint   string `json:",omitempty"`
	// Running says what runs now after a failure (the rollback's result).
	Running string `json:",omitempty"`
	// Stale, from the sync op, says why the files cannot be synced and the
	// deploy must be applied instead (the manifests changed, say).
	Stale string `json:",omitempty"`
	// Synced names the pods the sync op updated (NAMESPACE/NAME); Pods,
	// those a CheckOnly sync would update.
	Synced []string `json:",omitempty"`
	Pods   []string `json:",omitempty"`
}

// maxRequest bounds what the helper reads; a real request is a few KiB.
const maxRequest = 1 << 20

// DecodeRequest reads and checks the helper's request for op. The sync
// op pins what the cluster runs, so it needs no image references; it
// needs Sync. The logs op follows what runs, and needs neither.
func DecodeRequest(op string, r io.Reader) (*Request, error) {
	var req Request
	if err := helperproc.Decode(r, maxRequest, &req); err != nil {
		return nil, err
	}
	switch {
	case req.V != WireVersion:
		return nil, fmt.Errorf("request version %d, this %s speaks %d: install the %s that matches sparkwing (go install ./cmd/... in one checkout)", req.V, HelperName, WireVersion, HelperName)
	case req.Deploy == nil:
		return nil, errors.New("request names no deploy")
	case !filepath.IsAbs(req.Root):
		return nil, fmt.Errorf("request root %q is not absolute", req.Root)
	}
	if err := req.Deploy.Check(); err != nil {
		return nil, fmt.Errorf("request: %w", err)
	}
	if op == "sync" && (req.Sync == nil || len(req.Sync.Files) == 0) {
		return nil, errors.New("a sync request names no file to sync")
	}
	for _, name := range req.Deploy.ImageNames() {
		if req.Images[name] == "" && op != "sync" && op != "logs" {
			return nil, fmt.Errorf("request has no reference for image %s", name)
		}
	}
	if s := req.Sync; s != nil {
		if !filepath.IsAbs(s.Supervisor) {
			return nil, fmt.Errorf("request's supervisor %q is not absolute", s.Supervisor)
		}
		for _, f := range s.Files {
			if !slices.Contains(req.Deploy.ImageNames(), f.Image) || !filepath.IsAbs(f.From) || !path.IsAbs(f.To) {
				return nil, fmt.Errorf("request syncs %+v: want an image of the deploy and absolute paths", f)
			}
		}
	}
	for _, w := range req.Expects {
		if w.Kind == "" || w.Name == "" {
			return nil, fmt.Errorf("request expects a workload without kind or name (%+v)", w)
		}
	}
	return &req, nil
}

// ConfigError is a deploy that could not start: its configuration (the
// overlay, an image name, the kubeconfig context, the API server) is
// wrong, and nothing was applied. The run exits 2.
type ConfigError struct {
	Job, Msg, Fix string
}

func (e *ConfigError) Error() string { return fmt.Sprintf("deploy %s: %s", e.Job, e.Msg) }

// Hint says how to fix it.
func (e *ConfigError) Hint() string { return e.Fix }

// FindHelper locates sparkwing-deploy (see helperproc.Find); nothing
// found is a *helperproc.MissingError.
func FindHelper(explicit string) (string, error) {
	return helperproc.Find(HelperName, "deploy jobs", "SPARKWING_DEPLOY_HELPER", explicit)
}

// Ops are what the helper does: apply a deploy, print how the live
// objects differ from what it would apply, sync files into the running
// containers (sparkwing dev --sync), or follow the logs of the deploy's
// pods until it is stopped (sparkwing dev).
var Ops = []string{"apply", "diff", "sync", "logs"}

// Run runs op (one of Ops) of one deploy through the helper at program:
// its log to log. A configuration error is a *ConfigError; a failed
// deploy is an error with the reason and what runs now; a sync that could
// not be done is an answer with Stale set.
func Run(ctx context.Context, program, op string, req Request, log io.Writer) (*Message, error) {
	req.V = WireVersion
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var last *Message
	runErr := helperproc.Run(ctx, program, op, body, log, func(line []byte) {
		var m Message
		if json.Unmarshal(line, &m) == nil && (m.OK || m.Error != "") {
			last = &m
		}
	})
	switch {
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case last != nil && last.Stale != "":
		return last, nil
	case last != nil && last.Config:
		return last, &ConfigError{Job: req.Job, Msg: last.Error, Fix: last.Hint}
	case last != nil && last.Error != "":
		msg := last.Error
		if last.Running != "" {
			msg += "; " + last.Running
		}
		return last, errors.New(msg)
	case last != nil && last.OK && runErr == nil:
		return last, nil
	case runErr != nil:
		return nil, runErr
	}
	return nil, fmt.Errorf("%s exited without a result", HelperName)
}
