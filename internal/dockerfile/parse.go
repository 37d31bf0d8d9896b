// Package dockerfile finds the layer-cache mistakes that make image builds
// slow. Files are read with BuildKit's own Dockerfile parser, so line
// continuations, heredocs, escape directives and instruction flags mean
// exactly what they mean to BuildKit; the rules work on that syntax tree
// and never touch the network.
package dockerfile

import (
	"bytes"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// File is a parsed Dockerfile.
type File struct {
	Path   string
	Lines  []string // the source, for fixes
	Syntax string   // the # syntax= directive, if any
	// HasSyntax: the file has a syntax directive line, even one with no
	// value; a second one would make it invalid.
	HasSyntax bool
	Escape    rune     // the escape character (\\ unless an escape directive says `)
	Args      []*Instr // ARGs before the first FROM
	Stages    []*Stage

	byRef map[string]*Stage // stage, once built
}

// Stage is one FROM and the instructions up to the next.
type Stage struct {
	Index  int
	Name   string // the AS name, lower-cased ("" if none)
	Base   string // the image or stage it starts from
	From   *Instr
	Instrs []*Instr
}

// Instr is one instruction.
type Instr struct {
	Cmd      string // upper case: RUN, COPY, ...
	Line     int    // first line, 1-based
	EndLine  int
	Flags    []string // --mount=..., --from=..., as written
	Args     []string // the words after the flags (for RUN in shell form, one string)
	Original string
	Heredocs []parser.Heredoc
	Stage    *Stage

	cmds [][]string // Commands, once read
}

// Commands is the simple commands of a RUN's shell text (see commands),
// split once: every rule reads them.
func (in *Instr) Commands() [][]string {
	if in.cmds == nil {
		in.cmds = commands(in.Text())
	}
	return in.cmds
}

// Text is the instruction's arguments as one string, with heredoc bodies.
func (in *Instr) Text() string {
	var b strings.Builder
	b.WriteString(strings.Join(in.Args, " "))
	for _, h := range in.Heredocs {
		b.WriteString("\n" + h.Content)
	}
	return b.String()
}

// Flag returns the values of a flag (--name=value) given to the instruction.
func (in *Instr) Flag(name string) []string {
	var out []string
	for _, f := range in.Flags {
		if v, ok := strings.CutPrefix(f, "--"+name+"="); ok {
			out = append(out, v)
		}
	}
	return out
}

// syntaxDirective matches a syntax directive among the parser directives
// that open a file (comment lines before anything else), whatever its
// case or value.
var syntaxDirective = regexp.MustCompile(`\A(?:[ \t]*#[^\n]*\n)*?[ \t]*#[ \t]*(?i:syntax)[ \t]*=`)

// Parse reads a Dockerfile. The only errors are the parser's own (an
// unknown instruction, a bad escape directive, an unterminated heredoc).
func Parse(path string, data []byte) (*File, error) {
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	f := &File{Path: path, Lines: strings.Split(string(data), "\n"), Escape: res.EscapeToken}
	f.Syntax, _, _, _ = parser.DetectSyntax(data)
	f.HasSyntax = f.Syntax != "" || syntaxDirective.Match(data)
	var cur *Stage
	for _, n := range res.AST.Children {
		in := &Instr{Cmd: strings.ToUpper(n.Value), Line: n.StartLine, EndLine: n.EndLine,
			Flags: n.Flags, Original: n.Original, Heredocs: n.Heredocs}
		for a := n.Next; a != nil; a = a.Next {
			in.Args = append(in.Args, a.Value)
		}
		if in.Cmd == "FROM" {
			cur = &Stage{Index: len(f.Stages), From: in}
			if len(in.Args) > 0 {
				cur.Base = in.Args[0]
			}
			if len(in.Args) >= 3 && strings.EqualFold(in.Args[1], "AS") {
				cur.Name = strings.ToLower(in.Args[2])
			}
			f.Stages = append(f.Stages, cur)
			in.Stage = cur
			continue
		}
		if cur == nil {
			if in.Cmd == "ARG" {
				f.Args = append(f.Args, in)
			}
			continue
		}
		in.Stage = cur
		cur.Instrs = append(cur.Instrs, in)
	}
	return f, nil
}

// root follows s's FROM through earlier stages to the stage that starts
// from an image.
func (f *File) root(s *Stage) *Stage {
	for {
		parent := f.stage(s.Base)
		if parent == nil || parent.Index >= s.Index {
			return s
		}
		s = parent
	}
}

// chain lists the instructions of the stages s starts from, then s's own
// up to (not including) upto.
func (f *File) chain(s *Stage, upto *Instr) []*Instr {
	var out []*Instr
	if parent := f.stage(s.Base); parent != nil && parent.Index < s.Index {
		out = f.chain(parent, nil)
	}
	for _, in := range s.Instrs {
		if in == upto {
			break
		}
		out = append(out, in)
	}
	return out
}

// image is the image s's stage chain starts from: a stage FROM a golang
// stage has the golang image's paths.
func (f *File) image(s *Stage) string { return f.root(s).Base }

// stage returns the stage with the given name or index, or nil.
func (f *File) stage(ref string) *Stage {
	if f.byRef == nil { // every rule walks stage chains: look them up once
		f.byRef = map[string]*Stage{}
		for _, s := range f.Stages {
			f.byRef[strconv.Itoa(s.Index)] = s
		}
		for _, s := range slices.Backward(f.Stages) { // a name beats an index, the first of a name wins
			if s.Name != "" {
				f.byRef[strings.ToLower(s.Name)] = s
			}
		}
	}
	return f.byRef[strings.ToLower(ref)]
}
