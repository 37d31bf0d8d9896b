package sparkwing

import (
	"context"
	"fmt"
	"time"
)

// Step is the body of a Go job. It runs in its own process, started by the
// engine, with the project root as its working directory. A returned error
// fails the job; ctx is cancelled when the run is interrupted or times out.
type Step func(ctx context.Context, j *JobContext) error

// Plan collects the jobs of one pipeline run. Plan methods are called once per
// process, from one goroutine.
type Plan struct {
	jobs []*Job
	byID map[string]*Job
	errs []error
}

// Job is one node of the pipeline's graph. Its setters return the job so
// they can be chained.
type Job struct {
	spec WireJob
	step Step
	plan *Plan
}

// Run adds a job that runs command with /bin/sh -e in the project root.
func (p *Plan) Run(id, command string) *Job {
	j := p.add(id)
	j.spec.Run = command
	return j
}

// GoTests says which Go packages a GoTest job tests, and how.
type GoTests struct {
	Packages []string `json:"packages"`        // patterns: ./...
	Flags    []string `json:"flags,omitempty"` // go test flags, such as -race (not -json, -c, -o)
	Dir      string   `json:"dir,omitempty"`   // where the go command runs, relative to the project root
}

// GoTest adds a job that runs the tests of t.Packages with `go test`:
// each package's result is cached on its own, and the packages that must
// run (their files, or those of a package they import, changed) run in
// one go test process, sharing compilation.
func (p *Plan) GoTest(id string, t GoTests) *Job {
	j := p.add(id)
	j.spec.GoTest = &t
	return j
}

// Go adds a job whose body is the Go function step.
func (p *Plan) Go(id string, step Step) *Job {
	j := p.add(id)
	j.spec.Step = true
	j.step = step
	if step == nil {
		p.errs = append(p.errs, fmt.Errorf("job %q: Go step is nil", id))
	}
	return j
}

// ImageSpec describes an image job: a Dockerfile built with BuildKit and
// tagged commit-<sha12>-files-<hash12> by the content BuildKit receives.
// Fields mirror the `image:` keys of the project file; paths are relative
// to the project root.
type ImageSpec struct {
	Dockerfile string            `json:"dockerfile,omitempty"` // default: Dockerfile in the context
	Context    string            `json:"context,omitempty"`    // default: the project root
	Contexts   map[string]string `json:"contexts,omitempty"`   // named build contexts (COPY --from=NAME)
	Target     string            `json:"target,omitempty"`
	Args       map[string]string `json:"args,omitempty"` // build args
	Platforms  []string          `json:"platforms,omitempty"`
	Repository string            `json:"repository,omitempty"` // default: the job id
	// Push lists registries by profile (sparkwing run --profile NAME):
	// {"local": {"127.0.0.1:5000"}, "prod": {"ghcr.io/acme"}}.
	Push      map[string][]string `json:"push,omitempty"`
	Tags      []ImageTag          `json:"tags,omitempty"`       // extra tags
	CacheFrom []string            `json:"cache_from,omitempty"` // type=registry,ref=… or type=local,src=…
	CacheTo   []string            `json:"cache_to,omitempty"`   // type=registry,ref=…,mode=max or type=local,dest=…
	NoDoctor  bool                `json:"no_doctor,omitempty"`  // no Dockerfile doctor warnings before building
	// WholeContext keys the image by its whole build context, not only
	// what the target's stages read (`fingerprint: context`): for a base
	// image whose ONBUILD triggers copy from the context.
	WholeContext bool `json:"whole_context,omitempty"`
	// Export writes a target's files into a project directory instead of
	// building an image; they are the job's outputs.
	Export *ImageExport `json:"export,omitempty"`
	// Sync maps files of the build context (relative to the project root)
	// to their paths in the image, for `sparkwing dev --sync`: a new build
	// of them is copied into the running containers and the process
	// restarted, instead of a new image and a rollout.
	Sync map[string]string `json:"sync,omitempty"`
}

// ImageExport builds Target (default: the image's target, else the last
// stage) with BuildKit's local exporter into To, a directory in the
// project: the files the stage holds, no image and no push.
type ImageExport struct {
	Target string `json:"target,omitempty"`
	To     string `json:"to"`
}

// ImageTag is an extra tag ({profile} becomes the run's profile) and what
// pulls it; a tag that names no user draws a warning when pushed.
type ImageTag struct {
	Name   string `json:"name"`
	UsedBy string `json:"used_by,omitempty"`
}

// Image adds a job that builds a container image. It is cached by what
// BuildKit would receive: when every registry of the run's profile already
// has the image's content tag, nothing is built or pushed.
func (p *Plan) Image(id string, spec ImageSpec) *Job {
	j := p.add(id)
	j.spec.Image = &spec
	return j
}

// ServiceSpec is a long-running process: started after the jobs it needs,
// reported healthy when its check passes, never cached. `sparkwing run`
// keeps it until the run ends (jobs that need it can test it); `sparkwing
// dev` keeps it running and restarts it when what it needs changes.
type ServiceSpec struct {
	Run          string   `json:"run"`                     // the command, run with /bin/sh -e
	Health       string   `json:"health,omitempty"`        // http://127.0.0.1:8080/healthz, tcp:HOST:PORT or exec: CMD
	ReadyTimeout string   `json:"ready_timeout,omitempty"` // default 30s
	StopSignal   string   `json:"stop_signal,omitempty"`   // default TERM
	StopTimeout  string   `json:"stop_timeout,omitempty"`  // default 5s
	RestartOn    []string `json:"restart_on,omitempty"`    // default: the jobs it needs
}

// Service adds a service job.
func (p *Plan) Service(id string, spec ServiceSpec) *Job {
	j := p.add(id)
	j.spec.Service = &spec
	return j
}

// DeploySpec deploys a kustomize overlay to Kubernetes: its images pinned
// to what image jobs of the run built (tag and digest), applied with
// server-side apply, waited for, health-checked, and rolled back when that
// fails. Fields mirror the `deploy:` keys of the project file.
type DeploySpec struct {
	Kustomize     string            `json:"kustomize"`                 // overlay directory; {profile} becomes the run's profile
	Images        map[string]string `json:"images,omitempty"`          // image name in the manifests: the image job that builds it
	Context       string            `json:"context,omitempty"`         // kubeconfig context; default the current one
	NoRolloutWait bool              `json:"no_rollout_wait,omitempty"` // do not wait for workloads to roll out
	Timeout       string            `json:"timeout,omitempty"`         // apply and rollout; default 2m
	Health        []string          `json:"health,omitempty"`          // checks after the rollout, as a service's health
	HealthTimeout string            `json:"health_timeout,omitempty"`  // default 30s
	KeepOnFailure bool              `json:"keep_on_failure,omitempty"` // leave a failed revision instead of rolling back
	Expects       []string          `json:"expects,omitempty"`         // workloads (deployment/api) that must exist after it
	Prune         bool              `json:"prune,omitempty"`           // delete what its last deploy applied and this one lacks
	// GitOps, by profile: pin the images in a gitops repository instead
	// of applying.
	GitOps map[string]GitOpsSpec `json:"gitops,omitempty"`
}

// GitOpsSpec is where a profile's deploys are pinned: the kustomization in
// Path of Branch (default main) of the git repository Repo.
type GitOpsSpec struct {
	Repo   string `json:"repo"`
	Path   string `json:"path"`
	Branch string `json:"branch,omitempty"`
	ArgoCD string `json:"argocd,omitempty"` // the Argo CD application to wait for
}

// Deploy adds a deploy job; it needs the image jobs it pins.
func (p *Plan) Deploy(id string, spec DeploySpec) *Job {
	j := p.add(id)
	j.spec.Deploy = &spec
	return j
}

// Errorf rejects the plan, typically an argument that is out of range: the
// run stops before any job starts, with the message and exit status 2.
func (p *Plan) Errorf(format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf(format, args...))
}

// Job returns the job with the given id, or nil.
func (p *Plan) Job(id string) *Job { return p.byID[id] }

func (p *Plan) add(id string) *Job {
	if p.byID == nil {
		p.byID = map[string]*Job{}
	}
	if _, dup := p.byID[id]; dup {
		p.errs = append(p.errs, fmt.Errorf("job %q is added twice", id))
	}
	j := &Job{spec: WireJob{ID: id}, plan: p}
	p.jobs = append(p.jobs, j)
	p.byID[id] = j
	return j
}

// ID returns the job's id.
func (j *Job) ID() string { return j.spec.ID }

// Needs makes j start only after each of deps succeeded.
func (j *Job) Needs(deps ...*Job) *Job {
	for _, d := range deps {
		if d == nil {
			j.plan.errs = append(j.plan.errs, fmt.Errorf("job %q needs a nil job", j.spec.ID))
			continue
		}
		j.spec.Needs = append(j.spec.Needs, d.spec.ID)
	}
	return j
}

// Inputs declares the files (globs relative to the project root, ** allowed)
// whose content the job's result depends on.
func (j *Job) Inputs(globs ...string) *Job { j.spec.Inputs = append(j.spec.Inputs, globs...); return j }

// GoPackages is a Go input: every file the go command reads to build the
// packages and what they import, inside the main module and directories
// it replaces modules with, found with `go list -deps` (embedded files
// count, git-ignored or not); modules from the module cache count by
// version. A job with Go inputs is also keyed by the Go variables that
// change a build (GOOS, GOFLAGS, CGO_ENABLED, ...) and sees them.
type GoPackages struct {
	Packages []string `json:"packages"`        // patterns, as go list takes them: ./cmd/server, ./...
	Dir      string   `json:"dir,omitempty"`   // where the go command runs, relative to the project root
	Tests    bool     `json:"tests,omitempty"` // the packages' test files and testdata too
}

// GoInputs declares Go packages as inputs (see GoPackages):
// j.GoInputs("./cmd/server").
func (j *Job) GoInputs(patterns ...string) *Job {
	return j.GoInput(GoPackages{Packages: patterns})
}

// GoInput declares one Go input with its options.
func (j *Job) GoInput(in GoPackages) *Job {
	j.spec.GoInputs = append(j.spec.GoInputs, in)
	return j
}

// Outputs declares the files the job produces.
func (j *Job) Outputs(globs ...string) *Job {
	j.spec.Outputs = append(j.spec.Outputs, globs...)
	return j
}

// Env declares environment variables the job reads; their values are part of
// its cache key.
func (j *Job) Env(names ...string) *Job { j.spec.Env = append(j.spec.Env, names...); return j }

// Passthrough declares environment variables the job may see but that do not
// change its result (HOME, GOCACHE, ...).
func (j *Job) Passthrough(names ...string) *Job {
	j.spec.Passthrough = append(j.spec.Passthrough, names...)
	return j
}

// Tools declares commands (such as "go version") whose output identifies a
// tool the job uses.
func (j *Job) Tools(commands ...string) *Job {
	j.spec.Tools = append(j.spec.Tools, commands...)
	return j
}

// Cache turns caching of the job on or off explicitly.
func (j *Job) Cache(on bool) *Job { j.spec.Cache = &on; return j }

// Timeout fails the job when one attempt runs longer than d.
func (j *Job) Timeout(d time.Duration) *Job { j.spec.Timeout = d.String(); return j }

// Retries runs a failed job again, up to n more times.
func (j *Job) Retries(n int) *Job { j.spec.Retries = n; return j }

// Stamp puts git facts in the job's key and environment: "commit" (as
// SPARKWING_GIT_COMMIT) and "describe" (git describe --tags --always
// --dirty, as SPARKWING_GIT_DESCRIBE). A binary that stamps its version
// from git is then rebuilt for a new commit or tag, and nothing else is.
func (j *Job) Stamp(facts ...string) *Job { j.spec.Stamp = append(j.spec.Stamp, facts...); return j }

// Describe sets the job's one-line description.
func (j *Job) Describe(text string) *Job { j.spec.Description = text; return j }
