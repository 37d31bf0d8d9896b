package gobuild

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
	"github.com/sparkwing-dev/sparkwing/internal/goinput"
)

// record is what one build through the go command did, enough to do it
// again for new function bodies.
type record struct {
	tmp      string   // the record's directory: the go command's work directory is in it
	env      []string // the compiler's environment
	linkEnv  []string // the linker's
	manifest string   // the job's cache manifest for what its archives hold

	steps     map[string]*step    // by import path: the packages the build compiled, one compile each
	importers map[string][]string // by import path: the packages of the build that import it
	order     []string            // import paths, each after the packages it imports
	sources   map[string]string   // a step's Go file, relative to the job's directory → its package
	heads     map[string]string   // such a file → its head at the build

	link   []string // the link command
	built  string   // the link's output
	target string   // where the go command put it, absolute
}

type step struct {
	argv []string
	out  string // the archive it writes
}

// action is what -debug-actiongraph says of one action of the build.
type action struct {
	Mode, Package  string
	Deps           []int
	Objdir, Target string
	Cmd            []string
}

// load reads a build's action graph into a record; an error means the
// build cannot be replayed (a cgo main package, several binaries, a
// go command whose graph is not as expected).
func load(graph, dir string) (*record, error) {
	data, err := os.ReadFile(graph)
	if err != nil {
		return nil, err
	}
	var actions []action
	if err := json.Unmarshal(data, &actions); err != nil {
		return nil, fmt.Errorf("the go command's action graph: %w", err)
	}
	rec := &record{steps: map[string]*step{}, importers: map[string][]string{},
		sources: map[string]string{}, heads: map[string]string{}}
	var links, installs int
	for _, a := range actions {
		switch a.Mode {
		case "link":
			links++
			if len(a.Cmd) != 1 {
				return nil, errors.New("the link is not one command")
			}
			rec.link = splitCmd(a.Cmd[0])
			if len(rec.link) == 0 || filepath.Base(rec.link[0]) != "link" {
				return nil, errors.New("the link is not the go linker's")
			}
			rec.built = flagValue(rec.link, "-o")
		case "link-install":
			installs++
			rec.target = a.Target
			if !filepath.IsAbs(rec.target) {
				rec.target = filepath.Join(dir, rec.target)
			}
		case "build":
			for _, d := range a.Deps {
				if d >= 0 && d < len(actions) && actions[d].Mode == "build" {
					imp := actions[d].Package
					rec.importers[imp] = append(rec.importers[imp], a.Package)
				}
			}
			if s := compileStep(a); s != nil {
				rec.steps[a.Package] = s
				rec.addSources(a.Package, s, a.Objdir, dir)
			}
		}
	}
	if links != 1 || installs != 1 || rec.built == "" {
		return nil, errors.New("the build does not link one binary")
	}
	rec.order = buildOrder(actions)
	return rec, nil
}

// compileStep is a build action's compile, when it is one command of the
// go compiler (not cgo's, not with assembly); nil otherwise.
func compileStep(a action) *step {
	if len(a.Cmd) != 1 {
		return nil
	}
	argv := splitCmd(a.Cmd[0])
	if len(argv) == 0 || filepath.Base(argv[0]) != "compile" || flagValue(argv, "-o") == "" ||
		flagValue(argv, "-asmhdr") != "" || flagValue(argv, "-symabis") != "" {
		return nil
	}
	return &step{argv: argv, out: flagValue(argv, "-o")}
}

// addSources notes the step's Go files under dir, with their heads. A
// file the go command generated (in the action's objdir) or one that does
// not parse is left out: a change to it cannot be replayed.
func (rec *record) addSources(pkg string, s *step, objdir, dir string) {
	for _, arg := range s.argv[1:] {
		if !strings.HasSuffix(arg, ".go") || strings.HasPrefix(arg, "-") ||
			objdir != "" && strings.HasPrefix(arg, objdir) {
			continue
		}
		abs := arg
		if !filepath.IsAbs(abs) {
			abs = filepath.Join(dir, abs)
		}
		rel, err := filepath.Rel(dir, abs)
		if err != nil || !filepath.IsLocal(rel) {
			continue
		}
		data, err := os.ReadFile(abs)
		if err != nil {
			continue
		}
		if h, ok := goinput.Head(data); ok {
			rel = filepath.ToSlash(rel)
			rec.sources[rel], rec.heads[rel] = pkg, h
		}
	}
}

// buildOrder lists the build actions' packages, each after its imports.
func buildOrder(actions []action) []string {
	seen := make([]bool, len(actions))
	var order []string
	var visit func(i int)
	visit = func(i int) {
		if seen[i] {
			return
		}
		seen[i] = true
		for _, d := range actions[i].Deps {
			if d >= 0 && d < len(actions) {
				visit(d)
			}
		}
		if actions[i].Mode == "build" {
			order = append(order, actions[i].Package)
		}
	}
	for i := range actions {
		visit(i)
	}
	return order
}

// dirty says which packages a build with j's manifest must compile again,
// or ok false when the record cannot make that build: something changed
// besides the Go files its compiles read, or such a file's head changed.
func (rec *record) dirty(j Job) (dirty map[string]bool, ok bool) {
	dirty = map[string]bool{}
	for _, c := range cache.Diff(rec.manifest, j.Manifest) {
		pkg, ok := rec.sources[c.Name]
		if c.Kind != "file" || c.What != "changed" || !ok {
			return nil, false
		}
		data, err := os.ReadFile(filepath.Join(j.Dir, filepath.FromSlash(c.Name)))
		if err != nil {
			return nil, false
		}
		if h, ok := goinput.Head(data); !ok || h != rec.heads[c.Name] {
			return nil, false
		}
		dirty[pkg] = true
	}
	return dirty, true
}

// replay compiles the dirty packages, and the importers of those whose
// export data changed, then links and installs the binary. The record's
// archives change as it goes: on an error it is no longer usable.
func (rec *record) replay(ctx context.Context, j Job, dirty map[string]bool, out io.Writer) error {
	for _, pkg := range rec.order {
		if !dirty[pkg] {
			continue
		}
		s := rec.steps[pkg]
		if s == nil {
			return fmt.Errorf("%s: the record has no compile of it", pkg)
		}
		before, err := exportData(s.out)
		if err != nil {
			return err
		}
		if err := rec.run(ctx, j, s.argv, rec.env, out); err != nil {
			return err
		}
		after, err := exportData(s.out)
		if err != nil {
			return err
		}
		if !bytes.Equal(before, after) {
			for _, imp := range rec.importers[pkg] {
				dirty[imp] = true
			}
		}
	}
	if err := rec.run(ctx, j, rec.link, rec.linkEnv, out); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(rec.target), 0o777); err != nil {
		return err
	}
	return os.Rename(rec.built, rec.target)
}

func (rec *record) run(ctx context.Context, j Job, argv, env []string, out io.Writer) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = j.Dir, env
	return j.Exec(ctx, cmd, out)
}

// said names what a replay compiled, for the job's log.
func (rec *record) said(dirty map[string]bool) string {
	var pkgs []string
	for _, p := range rec.order {
		if dirty[p] {
			pkgs = append(pkgs, p)
		}
	}
	if len(pkgs) == 0 {
		return "linked"
	}
	return "compiled " + strings.Join(pkgs, ", ") + "; linked"
}

// flagValue is the value of a "-name value" or "-name=value" argument.
func flagValue(argv []string, name string) string {
	for i, a := range argv {
		if a == name && i+1 < len(argv) {
			return argv[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

// splitCmd splits a command line as the go command prints it: arguments
// separated by spaces, an argument that needs it in Go's double quotes.
// nil when it is not such a line.
func splitCmd(line string) []string {
	var argv []string
	for line != "" {
		if line[0] == ' ' {
			line = line[1:]
			continue
		}
		if line[0] == '"' {
			q, err := strconv.QuotedPrefix(line)
			if err != nil {
				return nil
			}
			arg, err := strconv.Unquote(q)
			if err != nil {
				return nil
			}
			argv, line = append(argv, arg), line[len(q):]
			if line != "" && line[0] != ' ' {
				return nil
			}
			continue
		}
		arg, rest, _ := strings.Cut(line, " ")
		argv, line = append(argv, arg), rest
	}
	return argv
}

// exportData is the export data of a Go package archive (its __.PKGDEF
// member): what its importers are compiled against. Its build ID line is
// left out: the go command rewrites it after a compile, and it is not
// what importers read.
func exportData(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pkgdef, err := archiveExport(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pkgdef, nil
}

// archiveExport finds the export data in an archive's bytes.
func archiveExport(data []byte) ([]byte, error) {
	const magic = "!<arch>\n"
	if !bytes.HasPrefix(data, []byte(magic)) {
		return nil, errors.New("not an archive")
	}
	data = data[len(magic):]
	for len(data) >= 60 {
		name := strings.TrimRight(string(data[:16]), " ")
		size, err := strconv.Atoi(strings.TrimSpace(string(data[48:58])))
		if err != nil || size < 0 || size > len(data)-60 {
			break
		}
		if name == "__.PKGDEF" {
			return withoutBuildID(data[60 : 60+size]), nil
		}
		data = data[min(60+size+size%2, len(data)):] // members are padded to an even size, the last maybe not
	}
	return nil, errors.New("no export data")
}

// withoutBuildID drops the "build id" line of an export data header.
func withoutBuildID(pkgdef []byte) []byte {
	header, rest, ok := bytes.Cut(pkgdef, []byte("\n$$"))
	if !ok {
		return pkgdef
	}
	var out []byte
	for line := range bytes.Lines(header) {
		if !bytes.HasPrefix(line, []byte("build id ")) {
			out = append(out, line...)
		}
	}
	return append(append(out, "\n$$"...), rest...)
}
