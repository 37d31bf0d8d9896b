package project

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// maxErrors bounds how many problems one parse reports.
const maxErrors = 20

// Parse decodes a project file. path is used in error messages only. It
// returns every problem found (up to maxErrors) as an ErrorList.
func Parse(path string, data []byte) (*File, error) {
	d := &decoder{path: path, anchors: map[string]ast.Node{}}
	f := d.file(data)
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	return f, nil
}

type decoder struct {
	path    string
	errs    ErrorList
	anchors map[string]ast.Node
	depth   int
}

func (d *decoder) errorf(n ast.Node, format string, args ...any) {
	d.errorAt(pos(n), format, args...)
}

func (d *decoder) errorAt(p Pos, format string, args ...any) {
	if len(d.errs) < maxErrors {
		d.errs = append(d.errs, &Error{Path: d.path, Pos: p, Msg: fmt.Sprintf(format, args...)})
	}
}

func pos(n ast.Node) Pos {
	if n == nil {
		return Pos{}
	}
	if m, ok := n.(*ast.MappingNode); ok && len(m.Values) > 0 {
		n = m.Values[0].Key
	}
	if mv, ok := n.(*ast.MappingValueNode); ok {
		n = mv.Key
	}
	t := n.GetToken()
	if t == nil || t.Position == nil {
		return Pos{}
	}
	return Pos{Line: t.Position.Line, Col: t.Position.Column}
}

func (d *decoder) file(data []byte) *File {
	f := &File{Path: d.path}
	tree, err := parser.ParseBytes(data, 0)
	if err != nil {
		d.syntaxError(err)
		return f
	}
	var body ast.Node
	for _, doc := range tree.Docs {
		if doc.Body == nil {
			continue
		}
		if body != nil {
			d.errorf(doc.Body, "only one YAML document is allowed; remove the `---`")
			return f
		}
		body = doc.Body
	}
	if body == nil {
		d.errorAt(Pos{}, "the file is empty: add `pipelines:` (or run `sparkwing init` for a starter)")
		return f
	}
	for _, kv := range d.mapping(body, "the top level") {
		switch kv.key {
		case "pipelines":
			f.Pipelines = d.pipelines(kv.value)
		case "buildkit":
			f.Buildkit = d.str(kv.value, "`buildkit`")
		case "cache":
			f.Cache = d.cacheSettings(kv.value)
		case "sparks":
			f.Sparks = d.sparkList(kv.value)
		case "sparks_refresh":
			f.SparksRefresh = d.duration(kv.value, "`sparks_refresh`")
		default:
			d.unknownKey(kv, "at the top level", topKeys)
		}
	}
	if len(d.errs) == 0 && len(f.Pipelines) == 0 {
		d.errorf(body, "no pipelines: add at least one under `pipelines:`")
	}
	return f
}

// cacheSettings reads the top-level `cache:`.
func (d *decoder) cacheSettings(n ast.Node) CacheSettings {
	var c CacheSettings
	for _, kv := range d.mapping(n, "`cache`") {
		switch kv.key {
		case "remote":
			c.Remote, c.RemoteLine = d.str(kv.value, "`cache.remote`"), pos(kv.value).Line
		case "trusted":
			c.Trusted, _ = d.strings(kv.value, "`cache.trusted`")
			if c.Trusted == nil {
				c.Trusted = []string{} // an explicit empty list: trust no other namespace
			}
		case "remote_write":
			c.RemoteWrite = d.boolean(kv.value, "`cache.remote_write`")
		default:
			d.unknownKey(kv, "in `cache`", cacheKeys)
		}
	}
	return c
}

// syntaxError reports a YAML parse error at its position.
func (d *decoder) syntaxError(err error) {
	var ye interface {
		GetToken() *token.Token
		GetMessage() string
	}
	if errors.As(err, &ye) && ye.GetToken() != nil && ye.GetToken().Position != nil {
		p := ye.GetToken().Position
		msg := ye.GetMessage()
		d.errorAt(Pos{p.Line, p.Column}, "%s%s", strings.ReplaceAll(msg, "\t", `\t`), syntaxFix(msg))
		return
	}
	d.errorAt(Pos{}, "%s", strings.TrimSpace(err.Error()))
}

// syntaxFix is what to do about the YAML parser's commonest complaints.
func syntaxFix(msg string) string {
	switch {
	case strings.Contains(msg, "mapping value is not allowed in this context"):
		return `: a value containing ": " must be quoted, e.g. run: 'echo "status: ok"', or written as a block (run: |, then the command indented on the next line)`
	case strings.Contains(msg, "found character '\t'"):
		return ": YAML indents with spaces only; replace the tab with spaces"
	}
	return ""
}

// keyValue is one entry of a mapping, with merge keys expanded.
type keyValue struct {
	key   string
	node  ast.Node // the key
	value ast.Node
}

// resolve unwraps anchors, aliases and tags.
func (d *decoder) resolve(n ast.Node) ast.Node {
	for i := 0; i < 100; i++ {
		switch v := n.(type) {
		case *ast.AnchorNode:
			d.anchors[v.Name.GetToken().Value] = v.Value
			n = v.Value
		case *ast.AliasNode:
			target, ok := d.anchors[v.Value.GetToken().Value]
			if !ok {
				d.errorf(v, "alias *%s refers to no anchor defined before it", v.Value.GetToken().Value)
				return nil
			}
			n = target
		case *ast.TagNode:
			n = v.Value
		default:
			return n
		}
	}
	return nil
}

// mapping returns the entries of a mapping node, or reports that n is not
// one. `<<: *anchor` merges are expanded; explicit keys win over merged ones.
func (d *decoder) mapping(n ast.Node, what string) []keyValue {
	d.depth++
	defer func() { d.depth-- }()
	m, ok := d.resolve(n).(*ast.MappingNode)
	if !ok || d.depth > 20 {
		if _, null := d.resolve(n).(*ast.NullNode); !null && n != nil {
			d.errorf(n, "%s must be a mapping (key: value lines)", what)
		}
		return nil
	}
	var merged, own []keyValue
	for _, mv := range m.Values {
		if _, isMerge := mv.Key.(*ast.MergeKeyNode); isMerge {
			merged = append(merged, d.mapping(mv.Value, "a `<<` merge")...)
			continue
		}
		k, ok := d.resolve(mv.Key).(ast.ScalarNode)
		if !ok {
			d.errorf(mv.Key, "keys must be plain strings")
			continue
		}
		own = append(own, keyValue{key: fmt.Sprint(k.GetValue()), node: mv.Key, value: mv.Value})
	}
	return overlay(merged, own)
}

func overlay(merged, own []keyValue) []keyValue {
	if len(merged) == 0 {
		return own
	}
	seen := map[string]bool{}
	for _, kv := range own {
		seen[kv.key] = true
	}
	out := own
	for _, kv := range merged {
		if !seen[kv.key] {
			out = append(out, kv)
			seen[kv.key] = true
		}
	}
	return out
}

func (d *decoder) unknownKey(kv keyValue, where string, known []string) {
	hint := ""
	if s := plan.Closest(kv.key, known); s != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", s)
	} else {
		hint = fmt.Sprintf(" (known keys: %s)", strings.Join(known, ", "))
	}
	if kv.key == "needs" {
		hint = " (`needs` belongs inside a job: indent it under the job that needs the others)"
	}
	d.errorf(kv.node, "unknown key %q %s%s", kv.key, where, hint)
}

func (d *decoder) str(n ast.Node, what string) string {
	switch v := d.resolve(n).(type) {
	case *ast.StringNode:
		return v.Value
	case *ast.LiteralNode:
		return v.Value.Value
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		return v.GetToken().Value
	case *ast.NullNode:
		return ""
	}
	d.errorf(n, "%s must be a string", what)
	return ""
}

// strings accepts a list of strings, or one string as a list of one.
func (d *decoder) strings(n ast.Node, what string) ([]string, []Pos) {
	r := d.resolve(n)
	if _, null := r.(*ast.NullNode); null || r == nil {
		return nil, nil
	}
	seq, ok := r.(*ast.SequenceNode)
	if !ok {
		if _, scalar := r.(ast.ScalarNode); scalar {
			return []string{d.str(n, what)}, []Pos{pos(n)}
		}
		d.errorf(n, "%s must be a list of strings", what)
		return nil, nil
	}
	var out []string
	var at []Pos
	for _, e := range seq.Values {
		if _, scalar := d.resolve(e).(ast.ScalarNode); !scalar {
			if m, ok := d.resolve(e).(*ast.MappingNode); ok && len(m.Values) == 1 {
				// The YAML parser reads host:port in a list inside {…} as a mapping.
				kv := strings.TrimSpace(m.Values[0].Key.String()) + ":" + strings.TrimSpace(m.Values[0].Value.String())
				d.errorf(e, "%s must be a list of strings: %s reads as a mapping here; quote it (\"%s\") or write the list on its own lines",
					what, kv, kv)
				continue
			}
			d.errorf(e, "%s must be a list of strings", what)
			continue
		}
		out = append(out, d.str(e, what))
		at = append(at, pos(e))
	}
	return out, at
}

func (d *decoder) boolean(n ast.Node, what string) *bool {
	if b, ok := d.resolve(n).(*ast.BoolNode); ok {
		v := b.Value
		return &v
	}
	d.errorf(n, "%s must be true or false", what)
	return nil
}

func (d *decoder) integer(n ast.Node, what string, lo, hi int) int {
	if i, ok := d.resolve(n).(*ast.IntegerNode); ok {
		v, err := strconv.Atoi(i.GetToken().Value)
		if err == nil && v >= lo && v <= hi {
			return v
		}
	}
	d.errorf(n, "%s must be a whole number from %d to %d", what, lo, hi)
	return 0
}

func (d *decoder) duration(n ast.Node, what string) time.Duration {
	s := d.str(n, what)
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		d.errorf(n, "%s must be a positive duration such as 90s, 10m or 1h30m, not %q", what, s)
		return 0
	}
	return v
}

// checkPaths rejects globs that are not valid or could reach outside the
// project root. An input may start with `!`: an exclusion.
func (d *decoder) checkPaths(key string, globs []string, at []Pos) {
	for i, g := range globs {
		if key == "inputs" {
			g = strings.TrimPrefix(g, "!")
		}
		clean := path.Clean(g)
		switch {
		case g == "" || path.IsAbs(g) || clean == ".." || strings.HasPrefix(clean, "../"):
			d.errorAt(at[i], "%s entry %q must be a path inside the project, relative to its root", key, globs[i])
		case !doublestar.ValidatePattern(g):
			d.errorAt(at[i], "%s entry %q is not a valid glob (check its brackets and braces)", key, globs[i])
		}
	}
}
