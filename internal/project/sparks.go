package project

import (
	"fmt"

	"github.com/goccy/go-yaml/ast"
	"golang.org/x/mod/module"

	"github.com/sparkwing-dev/sparkwing/internal/sparks"
)

// Spark is one entry of `sparks:`: a Go module of pipeline code that the
// Go pipelines import, at a version resolved when they are compiled.
type Spark struct {
	Name    string
	Source  string // the module path
	Version string // latest (the default), v1.4.2, ^1.4, ~1.4.2, ">=1.2 <2"
	Pos     Pos    // of the entry
}

var sparkKeys = []string{"name", "source", "version"}

// sparkList reads the top-level `sparks:`.
func (d *decoder) sparkList(n ast.Node) []Spark {
	seq, ok := d.resolve(n).(*ast.SequenceNode)
	if !ok {
		if _, null := d.resolve(n).(*ast.NullNode); !null {
			d.errorf(n, "`sparks` must be a list (each entry starts with `- name: ...`)")
		}
		return nil
	}
	var out []Spark
	names, sources := map[string]Pos{}, map[string]Pos{}
	for _, e := range seq.Values {
		s := Spark{Pos: pos(e), Version: "latest"}
		var sourceNode, versionNode ast.Node
		for _, kv := range d.mapping(e, "a spark") {
			switch kv.key {
			case "name":
				s.Name = d.str(kv.value, "`name`")
			case "source":
				s.Source, sourceNode = d.str(kv.value, "`source`"), kv.value
			case "version":
				s.Version, versionNode = d.str(kv.value, "`version`"), kv.value
			default:
				d.unknownKey(kv, "in a spark", sparkKeys)
			}
		}
		switch {
		case s.Name == "":
			d.errorAt(s.Pos, "a spark has no `name` (what messages call it, such as go-service)")
			continue
		case sourceNode == nil || s.Source == "":
			d.errorAt(s.Pos, "spark %q has no `source`: the Go module it comes from, such as github.com/acme/sparks-go", s.Name)
			continue
		}
		if err := module.CheckPath(s.Source); err != nil {
			d.errorf(sourceNode, "spark %q: `source` %q is not a Go module path (%v)", s.Name, s.Source, err)
			continue
		}
		if _, err := sparks.ParseConstraint(s.Version); err != nil {
			d.errorf(versionNode, "spark %q: %v", s.Name, err)
			continue
		}
		if first, dup := names[s.Name]; dup {
			d.errorAt(s.Pos, "spark %q is named twice (first at line %d)", s.Name, first.Line)
			continue
		}
		if first, dup := sources[s.Source]; dup {
			d.errorf(sourceNode, "spark %q: %s is already a spark (line %d): one entry per module", s.Name, s.Source, first.Line)
			continue
		}
		names[s.Name], sources[s.Source] = s.Pos, s.Pos
		out = append(out, s)
	}
	return out
}

// SparkSpecs are the file's sparks as the resolver takes them.
func (f *File) SparkSpecs() []sparks.Spec {
	var out []sparks.Spec
	for _, s := range f.Sparks {
		out = append(out, sparks.Spec{Name: s.Name, Module: s.Source, Constraint: s.Version,
			Where: fmt.Sprintf("%s:%d:%d", f.Path, s.Pos.Line, s.Pos.Col)})
	}
	return out
}
