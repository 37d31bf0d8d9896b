package buildkit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/sparkwing-dev/sparkwing/internal/buildctx"
)

// Narrow says which part of the main context a build of scope reads. It
// does not reimplement the Dockerfile frontend: it runs BuildKit's own
// converter (the code the frontend runs inside buildkitd) and takes the
// FollowPaths it puts on the context, which is exactly what the frontend
// asks BuildKit's client to send.
//
// The converter cannot see base images here, so it is given empty ones.
// What a base image could change is caught instead: a variable in a
// source path that the Dockerfile does not set (it could come from the
// base image's ENV) makes the narrowing whole. Paths that depend on the
// target platform make it whole unless the job names its platforms.
// Anything the converter cannot read makes it whole too.
//
// Not caught: a base image's ONBUILD triggers that copy from the context.
func Narrow(ctx context.Context, scope *buildctx.Scope) *buildctx.Narrowing {
	if syntax := customFrontend(scope); syntax != "" {
		return &buildctx.Narrowing{Whole: true, Reason: fmt.Sprintf("%s: syntax=%s, a frontend other than the Dockerfile one", scope.Dockerfile, syntax)}
	}
	content := neutralizeChecks(scope.Content)
	targets := scope.Platforms
	independent := len(targets) == 0
	if independent {
		// The build runs on the builder's platform, unknown here: the
		// paths must be the same for two different ones.
		targets = []string{"linux/amd64", "linux/arm64"}
	}
	var union []string
	for i, p := range targets {
		spec, err := platforms.Parse(p)
		if err != nil {
			return &buildctx.Narrowing{Whole: true, Reason: fmt.Sprintf("platform %q: %v", p, err)}
		}
		paths, n := narrowFor(ctx, scope, content, spec)
		if n != nil {
			return n
		}
		if independent && i > 0 && !slices.Equal(paths, union) {
			return &buildctx.Narrowing{Whole: true, Reason: fmt.Sprintf("%s: the paths it copies depend on the target platform (%s reads %s, %s reads %s); name `platforms:` to narrow",
				scope.Dockerfile, targets[0], quoteAll(union), p, quoteAll(paths))}
		}
		union = append(union, paths...)
	}
	slices.Sort(union)
	return &buildctx.Narrowing{Paths: slices.Compact(union)}
}

// narrowFor converts the Dockerfile for one platform. It returns the
// context's FollowPaths, or a whole narrowing (with its reason).
func narrowFor(ctx context.Context, scope *buildctx.Scope, content []byte, spec ocispecs.Platform) ([]string, *buildctx.Narrowing) {
	var undefined []string
	opt := dockerfile2llb.ConvertOpt{
		Config: dockerui.Config{
			BuildArgs:      scope.Args,
			Target:         scope.Target,
			BuildPlatforms: []ocispecs.Platform{spec},
		},
		TargetPlatform: &spec,
		MetaResolver:   emptyImages{},
		Warn: func(rule, _, _, msg string, loc []parser.Range) {
			if rule == linter.RuleUndefinedVar.Name && len(loc) > 0 {
				undefined = append(undefined, fmt.Sprintf("%s:%d: %s", scope.Dockerfile, loc[0].Start.Line, msg))
			}
		},
	}
	res, err := dockerfile2llb.Dockerfile2LLB(ctx, content, opt)
	if err != nil {
		return nil, &buildctx.Narrowing{Whole: true, Reason: fmt.Sprintf("%s: %v", scope.Dockerfile, oneLine(err))}
	}
	if culprit := undefinedInSource(scope, content, undefined); culprit != "" {
		return nil, &buildctx.Narrowing{Whole: true, Reason: culprit}
	}
	def, err := res.State.Marshal(ctx)
	if err != nil {
		return nil, &buildctx.Narrowing{Whole: true, Reason: fmt.Sprintf("%s: %v", scope.Dockerfile, err)}
	}
	paths := []string{}
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			return nil, &buildctx.Narrowing{Whole: true, Reason: fmt.Sprintf("%s: %v", scope.Dockerfile, err)}
		}
		src := op.GetSource()
		if src == nil || src.Identifier != "local://"+dockerui.DefaultLocalNameContext {
			continue
		}
		follow, ok := src.Attrs[pb.AttrFollowPaths]
		if !ok {
			return nil, &buildctx.Narrowing{Whole: true, Reason: wholeContextInstruction(scope, content)}
		}
		var more []string
		if err := json.Unmarshal([]byte(follow), &more); err != nil {
			return nil, &buildctx.Narrowing{Whole: true, Reason: fmt.Sprintf("%s: %v", scope.Dockerfile, err)}
		}
		paths = append(paths, more...)
	}
	slices.Sort(paths)
	return slices.Compact(paths), nil
}

// customFrontend is the frontend the build names (a `# syntax=`
// directive, or the BUILDKIT_SYNTAX build arg, which wins) when it is not
// the Dockerfile frontend, whose reading of sources the converter shares;
// else "".
func customFrontend(scope *buildctx.Scope) string {
	syntax, _, _, _ := parser.DetectSyntax(scope.Content)
	if arg, ok := scope.Args["BUILDKIT_SYNTAX"]; ok {
		syntax = arg
	}
	if syntax == "" {
		return ""
	}
	name, _, _ := strings.Cut(syntax, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name = name[:i]
	}
	switch strings.TrimPrefix(name, "docker.io/") {
	case "docker/dockerfile", "docker/dockerfile-upstream":
		return ""
	}
	return syntax
}

// emptyImages answers for every base image with an empty Linux image of
// the platform asked for: no layers, no ENV, no ONBUILD.
type emptyImages struct{}

func (emptyImages) ResolveImageConfig(_ context.Context, ref string, opt sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	p := platforms.DefaultSpec()
	if opt.ImageOpt != nil && opt.ImageOpt.Platform != nil {
		p = *opt.ImageOpt.Platform
	}
	config, err := json.Marshal(ocispecs.Image{Platform: p, RootFS: ocispecs.RootFS{Type: "layers"}})
	return ref, "", config, err
}

// checkDirective is a `# check=` line: it could turn off the converter's
// report of undefined variables, which the narrowing relies on.
var checkDirective = regexp.MustCompile(`(?im)^[ \t]*#[ \t]*check[ \t]*=.*$`)

// neutralizeChecks blanks every `# check=` comment, keeping the lines.
func neutralizeChecks(content []byte) []byte {
	return checkDirective.ReplaceAll(content, []byte("#"))
}

// contextReader is an instruction that reads from the main context.
type contextReader struct {
	line    int
	text    string
	sources []string // as written, before expansion
}

// contextReaders lists the instructions that read the main context
// (COPY and ADD without --from, bind mounts without from) in the stages
// a build of target reaches, or in every stage (all).
func contextReaders(content []byte, target string, all bool) []contextReader {
	ast, err := parser.Parse(bytes.NewReader(content))
	if err != nil {
		return nil
	}
	stages, _, err := instructions.Parse(ast.AST, linter.New(&linter.Config{}))
	if err != nil || len(stages) == 0 {
		return nil
	}
	used := reachable(stages, target)
	if all {
		used = nil
		for i := range stages {
			used = append(used, i)
		}
	}
	var out []contextReader
	for _, i := range used {
		for _, cmd := range stages[i].Commands {
			r := contextReader{text: cmd.Name()}
			if code, ok := cmd.(fmt.Stringer); ok {
				r.text = code.String()
			}
			if loc := cmd.Location(); len(loc) > 0 {
				r.line = loc[0].Start.Line
			}
			switch c := cmd.(type) {
			case *instructions.CopyCommand:
				if c.From == "" {
					r.sources = c.SourcePaths
				}
			case *instructions.AddCommand:
				for _, s := range c.SourcePaths {
					if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
						r.sources = append(r.sources, s)
					}
				}
			case *instructions.RunCommand:
				// Mount flags are read when expanded; as written is enough here.
				c.Expand(func(word string) (string, error) { return word, nil })
				for _, m := range instructions.GetMounts(c) {
					// The frontend asks for the context for every mount
					// without from= but a cache mount, even a tmpfs one.
					if m.From == "" && m.Type != instructions.MountTypeCache && m.Type != instructions.MountTypeSecret && m.Type != instructions.MountTypeSSH {
						r.sources = append(r.sources, m.Source)
					}
				}
			}
			if len(r.sources) > 0 {
				out = append(out, r)
			}
		}
	}
	return out
}

// reachable lists, in file order, the stages a build of target uses: the
// target (default the last), and the stages named by FROM, COPY --from
// and RUN --mount from=, recursively. Names are taken as written.
func reachable(stages []instructions.Stage, target string) []int {
	index := func(name string) int {
		for i, st := range stages {
			if strings.EqualFold(st.Name, name) || fmt.Sprint(i) == name {
				return i
			}
		}
		return -1
	}
	start := len(stages) - 1
	if target != "" {
		if start = index(target); start < 0 {
			return nil
		}
	}
	seen := map[int]bool{}
	var visit func(int)
	visit = func(i int) {
		if i < 0 || seen[i] {
			return
		}
		seen[i] = true
		visit(index(stages[i].BaseName))
		for _, cmd := range stages[i].Commands {
			switch c := cmd.(type) {
			case *instructions.CopyCommand:
				visit(index(c.From))
			case *instructions.RunCommand:
				for _, m := range instructions.GetMounts(c) {
					visit(index(m.From))
				}
			}
		}
	}
	visit(start)
	var out []int
	for i := range stages {
		if seen[i] {
			out = append(out, i)
		}
	}
	return out
}

// wholeContextInstruction names the first instruction whose source, as
// written, is the whole context (`COPY . .`, a bind mount without
// source), or says a source expands to it.
func wholeContextInstruction(scope *buildctx.Scope, content []byte) string {
	for _, r := range contextReaders(content, scope.Target, false) {
		for _, s := range r.sources {
			if path.Join("/", filepath.ToSlash(s)) == "/" {
				return fmt.Sprintf("%s:%d: %s", scope.Dockerfile, r.line, r.text)
			}
		}
	}
	return scope.Dockerfile + ": a source that expands to the whole context"
}

// undefinedInSource picks, of the converter's undefined-variable reports
// (NAME:LINE: message), the first on an instruction that reads the
// context, with that instruction. Every stage's instructions count: the
// converter reports only on the stages it built.
func undefinedInSource(scope *buildctx.Scope, content []byte, undefined []string) string {
	if len(undefined) == 0 {
		return ""
	}
	for _, r := range contextReaders(content, "", true) {
		prefix := fmt.Sprintf("%s:%d: ", scope.Dockerfile, r.line)
		for _, u := range undefined {
			if strings.HasPrefix(u, prefix) {
				return fmt.Sprintf("%s%s: %s, and the base image may set it", prefix, r.text, strings.TrimPrefix(u, prefix))
			}
		}
	}
	return ""
}

func quoteAll(paths []string) string {
	if len(paths) == 0 {
		return "nothing"
	}
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = fmt.Sprintf("%q", p)
	}
	return strings.Join(q, " ")
}

func oneLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
