// Package project reads .sparkwing/sparkwing.yaml: a strict schema where every
// mistake is reported with its file, line and column and, where it can
// guess, the fix.
package project

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// Dir is the directory that marks a sparkwing project; FileName is the
// project file inside it.
const (
	Dir      = ".sparkwing"
	FileName = "sparkwing.yaml"
)

// File is a parsed project file.
type File struct {
	Path      string
	Pipelines []*Pipeline
	Buildkit  string // `buildkit:` the buildkitd address for image jobs
	Cache     CacheSettings
	Sparks    []Spark
	// SparksRefresh is how long a resolved latest or range of a spark is
	// used before asking again (`sparks_refresh:`; 0: the default).
	SparksRefresh time.Duration
}

// CacheSettings are the file's `cache:`: the shared remote cache.
type CacheSettings struct {
	Remote      string   `json:"remote,omitempty"`       // URL
	Trusted     []string `json:"trusted,omitempty"`      // namespaces read after the run's own
	RemoteWrite *bool    `json:"remote_write,omitempty"` // nil: write when there is a signing key
	RemoteLine  int      `json:"remote_line,omitempty"`  // of `remote:`, for messages
}

// Pipeline is one entry of `pipelines:`. Either Jobs (a YAML pipeline) or
// Entrypoint (a Go pipeline type) is set.
type Pipeline struct {
	Name        string
	Description string
	Entrypoint  string
	Jobs        []plan.Job
	RunsOn      map[string]string `json:",omitempty"` // labels a runner needs to take its remote runs
	On          *Triggers         `json:",omitempty"` // what starts it on the controller
	Pos         Pos               // of its name
	EntryPos    Pos               // of its entrypoint's value

	path string
	pos  map[string]*jobPos // by job id
	plan *plan.Plan         // validated when the file was parsed
}

type jobPos struct {
	key     Pos
	needs   []Pos
	outputs map[string]Pos // by glob
}

// Pos is a 1-based line and column.
type Pos struct{ Line, Col int }

// Error is a problem at a place in the project file.
type Error struct {
	Path string
	Pos  Pos
	Msg  string
}

func (e *Error) Error() string {
	if e.Pos.Line == 0 {
		return fmt.Sprintf("%s: %s", e.Path, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.Path, e.Pos.Line, e.Pos.Col, e.Msg)
}

// ErrorList holds every problem found in one file, in file order.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// NotFoundError says no project file was found.
type NotFoundError struct{ Looked []string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("no %s/%s found (looked in %s); run `sparkwing init` to create one",
		Dir, FileName, strings.Join(e.Looked, ", "))
}

// FindRoot returns the nearest directory at or above dir that holds
// .sparkwing/sparkwing.yaml.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	var looked []string
	for d := dir; ; d = filepath.Dir(d) {
		looked = append(looked, d)
		if _, err := os.Stat(filepath.Join(d, Dir, FileName)); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	if len(looked) > 3 {
		looked = append(looked[:2], "every directory up to "+looked[len(looked)-1])
	}
	return "", &NotFoundError{Looked: looked}
}

// maxFile bounds a project file.
const maxFile = 16 << 20

// Load reads the project file of the project rooted at root; display is
// how error messages name the file.
func Load(root, display string) (*File, error) {
	path := filepath.Join(root, Dir, FileName)
	data, err := fileset.ReadUserFile(path, maxFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, &NotFoundError{Looked: []string{root}}
	}
	if err != nil {
		return nil, err
	}
	return Parse(display, data)
}

// Pipeline returns the named pipeline or nil.
func (f *File) Pipeline(name string) *Pipeline {
	for _, p := range f.Pipelines {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Names returns the pipeline names in file order.
func (f *File) Names() []string {
	names := make([]string, len(f.Pipelines))
	for i, p := range f.Pipelines {
		names[i] = p.Name
	}
	return names
}

// Plan validates the pipeline's job graph; errors point into the file.
func (p *Pipeline) Plan() (*plan.Plan, error) {
	if p.plan != nil {
		return p.plan, nil
	}
	pl, err := plan.New(p.Name, p.Jobs)
	if err == nil {
		p.plan = pl
		return pl, nil
	}
	return nil, p.locate(err)
}

// locate turns a plan error into an Error at the place it came from.
func (p *Pipeline) locate(err error) error {
	var (
		je *plan.JobError
		ne *plan.NeedError
		ce *plan.CycleError
	)
	switch {
	case errors.As(err, &ne):
		jp := p.pos[ne.Job]
		pos := jp.key
		if ne.Index < len(jp.needs) {
			pos = jp.needs[ne.Index]
		}
		return &Error{Path: p.path, Pos: pos, Msg: err.Error()}
	case errors.As(err, &ce):
		return &Error{Path: p.path, Pos: p.pos[ce.Path[0]].key, Msg: err.Error()}
	case errors.As(err, &je) && p.pos[je.Job] != nil:
		jp := p.pos[je.Job]
		pos, ok := jp.outputs[je.Output]
		if !ok {
			pos = jp.key
		}
		return &Error{Path: p.path, Pos: pos, Msg: err.Error()}
	}
	return &Error{Path: p.path, Pos: p.Pos, Msg: err.Error()}
}
