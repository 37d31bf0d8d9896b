// Package plan is the job graph of one pipeline run: the resolved definition
// of each job, graph validation (unknown needs, cycles), selection of a
// subgraph and path lengths for scheduling and reporting.
//
// A Job value is everything that decides what a job does. The cache hashes
// it; the runner executes it. Nothing else may influence a job's result.
package plan

import (
	"fmt"
	"slices"
	"time"
)

// Job is one job, fully resolved.
type Job struct {
	ID          string
	Description string
	Run         string   // shell script, run with /bin/sh -e; empty for a Go step
	Step        *GoStep  // set for a Go step
	Image       *Image   // set for an image job
	Service     *Service `json:",omitempty"` // set for a service: started, checked, kept running
	Deploy      *Deploy  `json:",omitempty"` // set for a deploy job: rendered, applied, waited for
	Needs       []string
	Inputs      []string
	GoInputs    []GoInput `json:",omitempty"` // package graphs whose files are inputs (goinput.go)
	GoTest      *GoTest   `json:",omitempty"` // Run is its go test command, cached package by package
	Outputs     []string
	Env         []string // visible and part of the key
	Passthrough []string // visible, not part of the key
	Tools       []string
	Cache       *bool // nil: default (cached when it declares inputs)
	Timeout     time.Duration
	Retries     int
	Stamp       []string `json:",omitempty"` // git facts in its key and environment: StampEnv's keys
}

// StampEnv names the variable each git fact a job can stamp with is given
// to it in; the values are part of its key.
var StampEnv = map[string]string{
	"commit":   "SPARKWING_GIT_COMMIT",   // git rev-parse HEAD
	"describe": "SPARKWING_GIT_DESCRIBE", // git describe --tags --always --dirty
}

// GoStep says how to run a Go step: the compiled pipeline program, run as
// `Program step Pipeline Job Args...`.
type GoStep struct {
	Program  string   // path of the compiled pipeline binary
	Pipeline string   // registered pipeline type name
	Args     []string // the pipeline's arguments, as given
	Digest   string   // digest of the pipeline module's source
}

// Plan is a validated graph of jobs, in declaration order.
type Plan struct {
	Name  string
	Jobs  []Job
	index map[string]int
}

// ValidID reports whether id can name a job or pipeline: it is used as a
// file name for logs and cache entries.
func ValidID(id string) bool {
	if id == "" || len(id) > 128 || !alnum(id[0]) {
		return false
	}
	for i := 1; i < len(id); i++ {
		if c := id[i]; !alnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// Identifier reports whether s is a C identifier: [A-Za-z_][A-Za-z0-9_]*,
// as environment variable and Go names are. (Checked by hand: package
// level regexps cost every start of sparkwing their compile.)
func Identifier(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !alnum(c) && c != '_' {
			return false
		}
	}
	return true
}

func alnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// New validates jobs and returns the plan. Errors are typed (*JobError,
// *NeedError, *CycleError) so the caller can point at where the job was
// declared.
func New(name string, jobs []Job) (*Plan, error) {
	p := &Plan{Name: name, Jobs: jobs, index: make(map[string]int, len(jobs))}
	for i, j := range jobs {
		j = withGoEnv(j)
		jobs[i] = j
		if err := checkJob(j); err != nil {
			return nil, err
		}
		if _, dup := p.index[j.ID]; dup {
			return nil, &JobError{Job: j.ID, Msg: "is declared twice"}
		}
		p.index[j.ID] = i
	}
	if err := p.checkNeeds(); err != nil {
		return nil, err
	}
	if err := p.checkDeploys(); err != nil {
		return nil, err
	}
	if err := checkSharedOutputs(jobs); err != nil {
		return nil, err
	}
	if cycle := p.findCycle(); cycle != nil {
		return nil, &CycleError{Path: cycle}
	}
	return p, nil
}

func checkJob(j Job) error {
	switch {
	case !ValidID(j.ID):
		return &JobError{Job: j.ID, Msg: "is not a valid job id: use letters, digits, '.', '_' and '-', starting with a letter or digit"}
	case kinds(j) == 0:
		return &JobError{Job: j.ID, Msg: "has nothing to do: give it a `run` command, an `image`, a `service`, a `deploy` or a Go step"}
	case len(j.GoInputs) > 0 && j.Image != nil:
		return &JobError{Job: j.ID, Msg: "has `go:` inputs and an `image`: an image's inputs are its build context"}
	case kinds(j) > 1:
		return &JobError{Job: j.ID, Msg: "has more than one of a `run` command, an `image`, a `service`, a `deploy` and a Go step; keep one"}
	case j.Image != nil:
		if err := j.Image.Check(); err != nil {
			return &JobError{Job: j.ID, Msg: err.Error()}
		}
	case j.Service != nil:
		if err := j.Service.Check(); err != nil {
			return &JobError{Job: j.ID, Msg: err.Error()}
		}
		for _, r := range j.Service.RestartOn {
			if !slices.Contains(j.Needs, r) {
				return &JobError{Job: j.ID, Msg: fmt.Sprintf("restarts on %q, which it does not need: add it to `needs`, so it is built before the service starts", r)}
			}
		}
		if len(j.Inputs) > 0 || len(j.Outputs) > 0 || len(j.GoInputs) > 0 || len(j.Tools) > 0 {
			return &JobError{Job: j.ID, Msg: "is a service with inputs, outputs or tools: a service is never cached; the jobs it needs build what it runs"}
		}
	case j.Deploy != nil:
		if err := j.Deploy.Check(); err != nil {
			return &JobError{Job: j.ID, Msg: err.Error()}
		}
		if len(j.Inputs) > 0 || len(j.Outputs) > 0 || len(j.GoInputs) > 0 || len(j.Tools) > 0 {
			return &JobError{Job: j.ID, Msg: "is a deploy with inputs, outputs or tools: a deploy's inputs are its rendered manifests, and the cluster says whether they are applied"}
		}
	case j.Retries < 0:
		return &JobError{Job: j.ID, Msg: "has negative retries"}
	case j.Timeout < 0:
		return &JobError{Job: j.ID, Msg: "has a negative timeout"}
	}
	for _, g := range j.GoInputs {
		if err := g.Check(); err != nil {
			return &JobError{Job: j.ID, Msg: "has a bad `go:` input: " + err.Error()}
		}
	}
	if t := j.GoTest; t != nil {
		switch err := t.Check(); {
		case err != nil:
			return &JobError{Job: j.ID, Msg: "has a bad `go_test`: " + err.Error()}
		case j.Run != t.Command(false):
			return &JobError{Job: j.ID, Msg: "has `go_test` and a `run` command or other kind: go_test is its command; keep one"}
		case len(j.Outputs) > 0:
			return &JobError{Job: j.ID, Msg: "has `go_test` and outputs: a Go test job's result is its packages' test results"}
		}
	}
	return checkPaths(j)
}

// kinds counts what j does: a command, a Go step, an image, a service, a
// deploy.
func kinds(j Job) int {
	n := 0
	for _, set := range []bool{j.Run != "", j.Step != nil, j.Image != nil, j.Service != nil, j.Deploy != nil} {
		if set {
			n++
		}
	}
	return n
}

func (p *Plan) checkNeeds() error {
	for _, j := range p.Jobs {
		seen := map[string]bool{}
		for k, n := range j.Needs {
			if _, ok := p.index[n]; !ok {
				return &NeedError{Job: j.ID, Need: n, Index: k, Suggest: closest(n, p.ids())}
			}
			if seen[n] {
				return &NeedError{Job: j.ID, Need: n, Index: k, Dup: true}
			}
			seen[n] = true
		}
	}
	return nil
}

func (p *Plan) ids() []string {
	ids := make([]string, len(p.Jobs))
	for i, j := range p.Jobs {
		ids[i] = j.ID
	}
	return ids
}

// Index returns the position of job id in p.Jobs, or -1.
func (p *Plan) Index(id string) int {
	if i, ok := p.index[id]; ok {
		return i
	}
	return -1
}

// Deps returns, for each job, the indices of the jobs it needs.
func (p *Plan) Deps() [][]int {
	deps := make([][]int, len(p.Jobs))
	for i, j := range p.Jobs {
		for _, n := range j.Needs {
			deps[i] = append(deps[i], p.index[n])
		}
	}
	return deps
}

// Only returns the plan restricted to the named jobs and everything they
// need, transitively.
func (p *Plan) Only(ids []string) (*Plan, error) {
	keep := make([]bool, len(p.Jobs))
	var visit func(i int)
	visit = func(i int) {
		if keep[i] {
			return
		}
		keep[i] = true
		for _, n := range p.Jobs[i].Needs {
			visit(p.index[n])
		}
	}
	for _, id := range ids {
		i, ok := p.index[id]
		if !ok {
			return nil, fmt.Errorf("--only %s: pipeline %s has no such job%s", id, p.Name, SuggestOrList(id, p.ids(), "jobs"))
		}
		visit(i)
	}
	var jobs []Job
	for i, j := range p.Jobs {
		if keep[i] {
			jobs = append(jobs, j)
		}
	}
	return New(p.Name, jobs)
}
