package project

import (
	"path"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

var (
	topKeys      = []string{"pipelines", "buildkit", "cache", "sparks", "sparks_refresh"}
	cacheKeys    = []string{"remote", "trusted", "remote_write"}
	pipelineKeys = []string{"name", "description", "jobs", "entrypoint", "runs_on", "on"}
	jobKeys      = []string{"run", "needs", "inputs", "outputs", "env", "passthrough",
		"tools", "cache", "timeout", "retries", "description", "image", "stamp", "go_test", "service", "deploy"}
)

func (d *decoder) pipelines(n ast.Node) []*Pipeline {
	seq, ok := d.resolve(n).(*ast.SequenceNode)
	if !ok {
		if _, null := d.resolve(n).(*ast.NullNode); !null {
			d.errorf(n, "`pipelines` must be a list (each entry starts with `- name: ...`)")
		}
		return nil
	}
	var out []*Pipeline
	seen := map[string]Pos{}
	for _, e := range seq.Values {
		p := d.pipeline(e)
		if p == nil {
			continue
		}
		if first, dup := seen[p.Name]; dup {
			d.errorAt(p.Pos, "pipeline %q is defined twice (first at line %d)", p.Name, first.Line)
			continue
		}
		seen[p.Name] = p.Pos
		out = append(out, p)
	}
	return out
}

func (d *decoder) pipeline(n ast.Node) *Pipeline {
	p := &Pipeline{Pos: pos(n), path: d.path, pos: map[string]*jobPos{}}
	var jobsNode ast.Node
	for _, kv := range d.mapping(n, "a pipeline") {
		switch kv.key {
		case "name":
			p.Name = d.str(kv.value, "`name`")
			p.Pos = pos(kv.value)
		case "description":
			p.Description = d.str(kv.value, "`description`")
		case "entrypoint":
			p.Entrypoint = d.str(kv.value, "`entrypoint`")
			p.EntryPos = pos(kv.value)
			if !plan.Identifier(p.Entrypoint) {
				d.errorf(kv.value, "`entrypoint` must name a Go type, such as BuildDeploy")
			}
		case "jobs":
			jobsNode = kv.node
			p.Jobs = d.jobs(p, kv.value)
		case "runs_on":
			p.RunsOn = d.runsOn(kv.value)
		case "on":
			p.On = d.triggers(kv.value)
		default:
			d.unknownKey(kv, "in a pipeline", pipelineKeys)
		}
	}
	switch {
	case p.Name == "":
		d.errorf(n, "pipeline has no `name`")
		return nil
	case !plan.ValidID(p.Name):
		d.errorAt(p.Pos, "pipeline name %q is not valid: use letters, digits, '.', '_' and '-'", p.Name)
	case p.Entrypoint != "" && jobsNode != nil:
		d.errorf(jobsNode, "pipeline %q has both `jobs` and `entrypoint`; a pipeline is either YAML jobs or a Go type", p.Name)
	case p.Entrypoint == "" && len(p.Jobs) == 0 && len(d.errs) == 0:
		d.errorAt(p.Pos, "pipeline %q has no jobs: add `jobs:` or an `entrypoint:` Go type", p.Name)
	}
	if len(d.errs) == 0 && p.Entrypoint == "" {
		if _, err := p.Plan(); err != nil {
			d.errs = append(d.errs, err.(*Error))
		}
	}
	return p
}

func (d *decoder) jobs(p *Pipeline, n ast.Node) []plan.Job {
	var jobs []plan.Job
	for _, kv := range d.mapping(n, "`jobs`") {
		if _, dup := p.pos[kv.key]; dup {
			d.errorf(kv.node, "job %q is defined twice in pipeline %q", kv.key, p.Name)
			continue
		}
		if _, isList := d.resolve(kv.value).(*ast.SequenceNode); isList && kv.key == "needs" {
			d.errorf(kv.node, "`needs` is at the level of the job names, where it would be a job: indent it under the job that needs the others")
			continue
		}
		jp := &jobPos{key: pos(kv.node)}
		p.pos[kv.key] = jp
		jobs = append(jobs, d.job(kv, jp))
	}
	return jobs
}

func (d *decoder) job(entry keyValue, jp *jobPos) plan.Job {
	j := plan.Job{ID: entry.key}
	if !plan.ValidID(j.ID) {
		d.errorf(entry.node, "job id %q is not valid: it names log files, so use letters, digits, '.', '_' and '-', starting with a letter or digit", j.ID)
	}
	before := len(d.errs)
	fields := d.mapping(entry.value, "job "+j.ID)
	for _, kv := range fields {
		if kv.key == "image" {
			j.Image = d.image(kv.value)
			if j.Image.Export != "" {
				j.Outputs = []string{path.Clean(j.Image.Export)} // stored, restored and checked as any job's
			}
		}
	}
	for _, kv := range fields {
		switch kv.key {
		case "service":
			j.Service = d.service(kv.value)
		case "deploy":
			j.Deploy = d.deploy(kv.value)
		}
	}
	for _, kv := range fields {
		if j.Service != nil && !slices.Contains(serviceJobKeys, kv.key) {
			d.errorf(kv.node, "%s", serviceKeyError(kv.key, j.ID))
			continue
		}
		if j.Deploy != nil && !slices.Contains(deployJobKeys, kv.key) {
			d.errorf(kv.node, "`%s` does not apply to deploy job %s: its inputs are its rendered manifests, and the cluster says whether they are applied (keys: %s)",
				kv.key, j.ID, strings.Join(deployJobKeys, ", "))
			continue
		}
		if j.Image != nil && !slices.Contains(imageJobKeys, kv.key) {
			d.errorf(kv.node, "`%s` does not apply to image job %s: an image's inputs are its build context (keys: %s)",
				kv.key, j.ID, strings.Join(imageJobKeys, ", "))
			continue
		}
		what := "`" + kv.key + "`"
		var at []Pos
		switch kv.key {
		case "run":
			j.Run = d.str(kv.value, what)
		case "description":
			j.Description = d.str(kv.value, what)
		case "needs":
			j.Needs, jp.needs = d.strings(kv.value, what)
		case "inputs":
			j.Inputs, j.GoInputs, at = d.inputs(kv.value)
			d.checkPaths(kv.key, j.Inputs, at)
		case "outputs":
			j.Outputs, at = d.strings(kv.value, what)
			d.checkPaths(kv.key, j.Outputs, at)
			jp.outputs = map[string]Pos{}
			for i, o := range j.Outputs {
				jp.outputs[o] = at[i]
			}
		case "env":
			j.Env = d.envNames(kv.value, what)
		case "passthrough":
			j.Passthrough = d.envNames(kv.value, what)
		case "tools":
			j.Tools, _ = d.strings(kv.value, what)
		case "cache":
			j.Cache = d.boolean(kv.value, what)
		case "timeout":
			j.Timeout = d.duration(kv.value, what)
		case "retries":
			j.Retries = d.integer(kv.value, what, 0, 100)
		case "stamp":
			j.Stamp, at = d.strings(kv.value, what)
			for i, s := range j.Stamp {
				if _, ok := plan.StampEnv[s]; !ok {
					d.errorAt(at[i], "`stamp` entry %q: a job can stamp with commit (git rev-parse HEAD) or describe (git describe --tags --always --dirty)", s)
				}
			}
		case "go_test":
			j.GoTest = d.goTest(kv.value)
		case "image", "service", "deploy":
		default:
			d.unknownKey(kv, "in job "+j.ID, jobKeys)
		}
	}
	// A job whose own keys had errors (a typo'd `run`, say) is not also
	// reported as empty.
	if j.Run == "" && j.Image == nil && j.GoTest == nil && j.Service == nil && j.Deploy == nil && len(d.errs) == before {
		d.errorf(entry.node, "job %q has nothing to do: add `run: <command>`, `go_test:`, `image:`, `service:` or `deploy:`", j.ID)
	}
	if j.GoTest != nil && j.Run != "" {
		d.errorf(entry.node, "job %q has `run` and `go_test`: go_test runs `go test` itself; keep one", j.ID)
	}
	return j
}

var (
	goInputKeys = []string{"go", "dir", "tests"}
	goTestKeys  = []string{"packages", "flags", "dir"}
)

// goTest reads `go_test: ./...` (patterns) or `go_test: {packages: ...,
// flags: [...], dir: ...}`.
func (d *decoder) goTest(n ast.Node) *plan.GoTest {
	t := &plan.GoTest{}
	if _, isMap := d.resolve(n).(*ast.MappingNode); !isMap {
		t.Packages, _ = d.strings(n, "`go_test`")
	} else {
		for _, kv := range d.mapping(n, "`go_test`") {
			switch kv.key {
			case "packages":
				t.Packages, _ = d.strings(kv.value, "`packages`")
			case "flags":
				t.Flags, _ = d.strings(kv.value, "`flags`")
			case "dir":
				t.Dir = d.str(kv.value, "`dir`")
			default:
				d.unknownKey(kv, "in `go_test`", goTestKeys)
			}
		}
	}
	if err := t.Check(); err != nil {
		d.errorf(n, "`go_test`: %v", err)
	}
	return t
}

// inputs reads a job's `inputs`: globs, and `{go: PATTERNS, dir: DIR,
// tests: BOOL}` entries.
func (d *decoder) inputs(n ast.Node) ([]string, []plan.GoInput, []Pos) {
	seq, ok := d.resolve(n).(*ast.SequenceNode)
	if !ok {
		globs, at := d.strings(n, "`inputs`")
		return globs, nil, at
	}
	var globs []string
	var gos []plan.GoInput
	var at []Pos
	for _, e := range seq.Values {
		switch d.resolve(e).(type) {
		case ast.ScalarNode:
			globs = append(globs, d.str(e, "`inputs`"))
			at = append(at, pos(e))
		case *ast.MappingNode:
			gos = append(gos, d.goInput(e))
		default:
			d.errorf(e, "`inputs` entries are globs (\"src/**/*.go\") or Go packages ({go: ./cmd/server})")
		}
	}
	return globs, gos, at
}

func (d *decoder) goInput(n ast.Node) plan.GoInput {
	var g plan.GoInput
	var goAt ast.Node
	for _, kv := range d.mapping(n, "a `go:` input") {
		switch kv.key {
		case "go":
			g.Packages, _ = d.strings(kv.value, "`go`")
			goAt = kv.value
		case "dir":
			g.Dir = d.str(kv.value, "`dir`")
		case "tests":
			if b := d.boolean(kv.value, "`tests`"); b != nil {
				g.Tests = *b
			}
		default:
			d.unknownKey(kv, "in a `go:` input", goInputKeys)
		}
	}
	if goAt == nil {
		d.errorf(n, "an `inputs` mapping is a Go input: give it `go: PACKAGES` (for example {go: ./cmd/server})")
	} else if err := g.Check(); err != nil {
		d.errorf(goAt, "`go:` input: %v", err)
	}
	return g
}

func (d *decoder) envNames(n ast.Node, what string) []string {
	names, at := d.strings(n, what)
	for i, name := range names {
		if !plan.Identifier(name) {
			d.errorAt(at[i], "%s entry %q is not an environment variable name", what, name)
		}
	}
	return names
}
