// Package goinput resolves a job's `go:` inputs: the files the go command
// reads to build a set of packages and everything they import, found with
// `go list -deps`, so that a Go job's key follows its package graph
// instead of globs a user keeps current by hand.
//
// What counts, for each package the graph reaches:
//
//   - in the main module, a module it replaces with a directory, or the
//     vendor directory: the package's files by content. Those are its Go,
//     cgo, assembly and syso files, its embedded files (git-ignored or
//     not: the compiler reads them), and the files its build constraints
//     leave out today, whose content decides whether they are left out.
//     With tests, its test files and testdata too. A main package's
//     default.pgo counts (go build uses it).
//   - in a module from the module cache: the module's path and version
//     (go.sum, an input, pins its content).
//   - in the standard library: the toolchain's version.
//
// Files that the build leaves out for this platform or these tags can
// import packages the graph does not reach; those are followed too (their
// files count, a missing one is watched for), so a build tag given on the
// command line or a GOOS flip cannot leave an edited package out of the key.
//
// The go env settings that change a build (GOFLAGS, GOOS, CGO_ENABLED, the
// C toolchain ...; the go env file's included) and the toolchain's version
// are manifest lines.
//
// A resolution is kept under the project's state directory with the stat
// of every path it depends on: each file above, each package directory and
// directory of embedded files, every directory a `...` pattern walks, the
// go.mod, go.sum, go.work and go env files (and where a new one would
// change the module), and the go command on PATH. While none of those
// changed, a run uses it without starting the go command: a no-op runs no
// `go list`. Nor does an edit that changes what `go list` reads of no Go
// file (its head: head.go) and the names in no directory (a save through
// a temporary file renamed over the old one changes the directory, not its
// names). A path too recent to trust when it was listed has an unknown
// stat, so it is checked in those ways every time.
package goinput

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// format names what a kept resolution holds and how it was found; a
// change to either changes it, so older ones are not read.
const format = "sparkwing goinput v3"

// maxKept bounds a kept resolution's file.
const maxKept = 256 << 20

// Resolver resolves `go:` inputs of the jobs below one project root. Safe
// for concurrent use: one go input resolved by several jobs at once runs
// the go command once.
type Resolver struct {
	Root string
	Dir  string // where resolutions are kept; "" keeps none
	// Clock is when a listing starts (time.Now if nil); a path changed
	// within two seconds of it is not trusted.
	Clock func() time.Time

	mu    sync.Mutex
	calls map[string]*call
}

type call struct {
	done chan struct{}
	res  *Resolution
	err  error
}

// Resolution is what one `go:` input stands for.
type Resolution struct {
	Files []string // relative to the root, sorted: hashed as the job's inputs
	Lines []string // manifest lines: the toolchain, go env settings, modules by version
	// Snap is the stat of every path the resolution depends on. A path too
	// recent to trust has an unknown stat (it always counts as changed, so
	// the next run checks its head), and Racy names it.
	Snap *fileset.Snapshot
	Racy string
	// Heads holds, for each Go file, the digest of what the go command
	// reads of it to list packages (head.go); Free are the files whose
	// content it does not read (embedded files, testdata). An edit that
	// changes neither leaves the listing as it was.
	Heads map[string]string
	Free  []string
	// Dirs holds, for each directory the resolution depends on, the
	// digest of its entries' names (head.go) when they are known to be
	// those the listing saw, or "": a directory whose file was saved
	// through a temporary one (renamed over it) changed, but not its
	// names, and leaves the listing as it was.
	Dirs map[string]string
	// Packages are the import paths the patterns matched, sorted.
	Packages []string
}

// Error is a `go:` input the go command cannot resolve: a pattern that
// matches nothing, a broken import, a syntax error. It is the user's to
// fix, before anything runs.
type Error struct {
	Input plan.GoInput
	Dir   string // where the go command ran
	Msg   string // what the go command said
}

func (e *Error) Error() string {
	return fmt.Sprintf("input {%s}: %s", e.Input, strings.TrimSpace(e.Msg))
}

// Hint says how to fix it.
func (e *Error) Hint() string {
	return fmt.Sprintf("sparkwing runs `go list -deps` in %s to find the files this job reads: fix the package pattern or the code the go command points at", e.Dir)
}

// Resolve returns what in stands for when the go command runs with env
// (the job's environment). seen, if not nil, is told every path the
// resolution depends on, with its stat (or spoiled when one cannot be
// trusted).
func (r *Resolver) Resolve(ctx context.Context, in plan.GoInput, env []string, seen *fileset.Seen) (*Resolution, error) {
	id := r.id(in, env)
	r.mu.Lock()
	if r.calls == nil {
		r.calls = map[string]*call{}
	}
	c, ok := r.calls[id]
	if !ok {
		c = &call{done: make(chan struct{})}
		r.calls[id] = c
	}
	r.mu.Unlock()
	if !ok {
		c.res, c.err = r.resolve(ctx, id, in, env)
		close(c.done)
		// Only calls in flight are shared: a later one checks the tree
		// again, since a job that ran since may have changed it.
		r.mu.Lock()
		delete(r.calls, id)
		r.mu.Unlock()
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if c.err != nil {
		return nil, c.err
	}
	if c.res.Snap == nil {
		seen.Spoil(c.res.Racy) // not even stat-ed
	} else {
		seen.AddSnapshot(c.res.Snap) // racy paths have unknown stats: a record with them never holds
	}
	return c.res, nil
}

// id names a resolution: everything besides the tree that can change it,
// this program included (another build of sparkwing may resolve otherwise).
func (r *Resolver) id(in plan.GoInput, env []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%q\x00%q\x00%t\x00", format, program(), r.Root, filepath.Clean(in.Dir), in.Packages, in.Tests)
	for _, kv := range slices.Sorted(slices.Values(env)) {
		if name, _, _ := strings.Cut(kv, "="); readByGo(name) {
			fmt.Fprintf(h, "%s\x00", kv)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// program identifies the running executable by its stat.
var program = sync.OnceValue(func() string {
	exe, err := os.Executable()
	if err != nil {
		return "unknown"
	}
	st, err := os.Stat(exe)
	if err != nil {
		return "unknown"
	}
	return fmt.Sprintf("%s %d %d", exe, st.Size(), st.ModTime().UnixNano())
})

// readByGo says whether the go command's listing can depend on a variable
// (the job's other variables, such as its stamps, cannot).
func readByGo(name string) bool {
	switch name {
	case "PATH", "HOME", "XDG_CONFIG_HOME", "CC", "CXX", "AR", "PKG_CONFIG":
		return true
	}
	return strings.HasPrefix(name, "GO") || strings.HasPrefix(name, "CGO_")
}

func (r *Resolver) resolve(ctx context.Context, id string, in plan.GoInput, env []string) (*Resolution, error) {
	started := time.Now()
	if r.Clock != nil {
		started = r.Clock()
	}
	res := r.load(id)
	if res != nil {
		changed := res.Snap.ChangedPaths(r.Root, maxEdits)
		if len(changed) == 0 {
			return res, nil
		}
		if res.stillListed(r.Root, changed) {
			// Bodies edited, nothing the listing read: the same listing,
			// with the stats of now.
			snap, racy, err := fileset.StatPathsRacy(r.Root, res.Snap.Paths(), started)
			if err == nil {
				res.Snap, res.Racy = snap, racy
				r.keep(id, res)
				return res, nil
			}
			// A path that cannot be stat-ed: list again.
		}
	}
	l := &lister{root: r.Root, dir: filepath.Join(r.Root, filepath.FromSlash(in.Dir)), in: in, env: env,
		files: map[string]bool{}, watch: map[string]bool{}, lines: map[string]bool{}, listed: map[string]bool{},
		heads: map[string]string{}, free: map[string]bool{},
		local: map[string]string{}, parsed: map[string]bool{}, matched: map[string]bool{}}
	var before map[string]string // the names of the directories the last listing depended on
	if res != nil {
		before = dirNames(r.Root, slices.Collect(maps.Keys(res.Dirs)))
	}
	if err := l.run(ctx); err != nil {
		return nil, err
	}
	res = &Resolution{Files: sortedKeys(l.files), Lines: sortedKeys(l.lines), Heads: l.heads, Free: sortedKeys(l.free),
		Dirs: map[string]string{}, Packages: sortedKeys(l.matched)}
	// A directory's names are known to be those the listing saw when
	// they were the same before it and after it; others are recorded
	// unknown, and are known after the next listing.
	for p := range l.watch {
		if st, err := os.Lstat(filepath.Join(r.Root, filepath.FromSlash(p))); err == nil && st.IsDir() {
			res.Dirs[p] = ""
		}
	}
	for p, now := range dirNames(r.Root, slices.Collect(maps.Keys(res.Dirs))) {
		if was, ok := before[p]; ok && was == now {
			res.Dirs[p] = now
		}
	}
	snap, racy, err := fileset.StatPathsRacy(r.Root, append(sortedKeys(l.watch), res.Files...), started)
	if err != nil { // not kept, and the run cannot vouch for the tree
		res.Racy = err.Error()
		return res, nil
	}
	res.Snap, res.Racy = snap, racy
	r.keep(id, res)
	return res, nil
}

// kept is a resolution's file body before its snapshot.
type kept struct {
	Files    []string
	Lines    []string
	Heads    map[string]string
	Free     []string
	Dirs     map[string]string
	Packages []string
}

func (r *Resolver) path(id string) string { return filepath.Join(r.Dir, id) }

// load reads a kept resolution; nil when there is none or it is damaged.
func (r *Resolver) load(id string) *Resolution {
	if r.Dir == "" {
		return nil
	}
	data, err := fileset.ReadRegular(r.path(id), maxKept)
	if err != nil {
		return nil
	}
	header, body, _ := bytes.Cut(data, []byte("\n"))
	sum := sha256.Sum256(body)
	if string(header) != format+" "+hex.EncodeToString(sum[:]) {
		return nil
	}
	text, bin, _ := bytes.Cut(body, []byte("\n"))
	var k kept
	if json.Unmarshal(text, &k) != nil {
		return nil
	}
	snap, rest, err := fileset.ParseSnapshot(bin)
	if err != nil || len(rest) != 0 {
		return nil
	}
	return &Resolution{Files: k.Files, Lines: k.Lines, Snap: snap, Heads: k.Heads, Free: k.Free, Dirs: k.Dirs, Packages: k.Packages}
}

// keep writes res for later runs; a failure only costs a later go list.
func (r *Resolver) keep(id string, res *Resolution) {
	if r.Dir == "" {
		return
	}
	text, err := json.Marshal(kept{Files: res.Files, Lines: res.Lines, Heads: res.Heads, Free: res.Free, Dirs: res.Dirs, Packages: res.Packages})
	if err != nil {
		return
	}
	body := res.Snap.AppendBinary(append(text, '\n'))
	sum := sha256.Sum256(body)
	if os.MkdirAll(r.Dir, 0o755) == nil {
		fileset.WriteAtomic(r.path(id), append([]byte(format+" "+hex.EncodeToString(sum[:])+"\n"), body...), 0o644)
		r.trim()
	}
}

// maxResolutions bounds how many resolutions are kept: past it, the
// least recently written go first.
const maxResolutions = 512

func (r *Resolver) trim() {
	entries, err := os.ReadDir(r.Dir)
	if err != nil || len(entries) <= maxResolutions {
		return
	}
	type aged struct {
		name string
		mod  time.Time
	}
	var all []aged
	for _, e := range entries {
		if info, err := e.Info(); err == nil {
			all = append(all, aged{e.Name(), info.ModTime()})
		}
	}
	slices.SortFunc(all, func(a, b aged) int { return a.mod.Compare(b.mod) })
	for _, a := range all[:max(len(all)-maxResolutions, 0)] {
		os.Remove(filepath.Join(r.Dir, a.name))
	}
}

// lister runs the go command for one resolution and collects what it
// depends on. Paths are kept relative to the root.
type lister struct {
	root, dir string
	in        plan.GoInput
	env       []string
	goCmd     string
	goEnv     map[string]string

	files   map[string]bool   // hashed by content
	heads   map[string]string // Go file → its head's digest (head.go)
	free    map[string]bool   // files whose content the listing does not read
	watch   map[string]bool   // stat only: directories, files whose absence counts
	lines   map[string]bool   // manifest lines
	listed  map[string]bool   // import paths listed
	matched map[string]bool   // import paths the patterns matched
	local   map[string]string // module path → directory, for modules whose packages count by file
	leftOut []string          // files the build leaves out, whose imports are followed
	parsed  map[string]bool   // those already followed
}

func (l *lister) run(ctx context.Context) error {
	if st, err := os.Stat(l.dir); err != nil || !st.IsDir() {
		return &Error{Input: l.in, Dir: l.dir, Msg: fmt.Sprintf("dir %s is not a directory of the project", l.in.Dir)}
	}
	if err := l.findGo(); err != nil {
		return err
	}
	if err := l.readGoEnv(ctx); err != nil {
		return err
	}
	args := l.listArgs()
	if l.in.Tests {
		args = append(args, "-test")
	}
	pkgs, err := l.list(ctx, append(args, l.in.Packages...), true)
	if err != nil {
		return err
	}
	l.add(pkgs)
	for _, p := range pkgs {
		if len(p.Match) > 0 && p.ForTest == "" && !strings.HasSuffix(p.ImportPath, ".test") {
			l.matched[p.ImportPath] = true
		}
	}
	for _, p := range l.in.Packages {
		l.watchPattern(p)
	}
	// Follow what left-out files import, until nothing new comes in.
	for range 8 {
		more := l.leftOutImports()
		if len(more) == 0 {
			break
		}
		pkgs, err := l.list(ctx, append(l.listArgs("-e"), more...), false)
		if err != nil {
			return err
		}
		l.add(pkgs)
		for _, ip := range more {
			if !l.listed[ip] {
				l.watchMissing(ip)
				l.listed[ip] = true // asked once
			}
		}
	}
	return nil
}

// listArgs are go list's arguments before the patterns.
func (l *lister) listArgs(flags ...string) []string {
	args := append([]string{"list", "-deps", "-json=" + strings.Join(listFields, ",")}, flags...)
	if strings.Contains(l.goEnv["GOFLAGS"], "-mod=mod") {
		args = append(args, "-mod=readonly") // listing never edits go.mod
	}
	return args
}

// pkg is what go list says of a package (the fields in listFields).
type pkg struct {
	Dir, ImportPath, Name, ForTest string
	Standard                       bool
	Match                          []string
	Module                         *module
	Error                          *struct{ Err string }

	GoFiles, CgoFiles, CFiles, CXXFiles, MFiles, HFiles, FFiles, SFiles               []string
	SwigFiles, SwigCXXFiles, SysoFiles, IgnoredGoFiles, IgnoredOtherFiles, EmbedFiles []string
	TestGoFiles, XTestGoFiles, TestEmbedFiles, XTestEmbedFiles                        []string
}

type module struct {
	Path, Version, Dir, GoMod string
	Main                      bool
	Replace                   *module
}

// listFields are the fields asked of go list: naming them spares it
// working out what it is not asked (such as whether each package is stale).
var listFields = []string{"Dir", "ImportPath", "Name", "ForTest", "Standard", "Match", "Module", "Error",
	"GoFiles", "CgoFiles", "CFiles", "CXXFiles", "MFiles", "HFiles", "FFiles", "SFiles",
	"SwigFiles", "SwigCXXFiles", "SysoFiles", "IgnoredGoFiles", "IgnoredOtherFiles", "EmbedFiles",
	"TestGoFiles", "XTestGoFiles", "TestEmbedFiles", "XTestEmbedFiles"}

// goEnvNames are read from `go env`: the settings that change a build are
// keyed (buildEnv), the rest say where things are.
var goEnvNames = []string{"GOVERSION", "GOMOD", "GOWORK", "GOENV"}

// buildEnv are the go env settings in the key: the ones that change what
// a build produces. Their values as the go command sees them include the
// go env file's.
var buildEnv = []string{"GOFLAGS", "GOOS", "GOARCH", "CGO_ENABLED", "GOEXPERIMENT", "GOFIPS140",
	"GO386", "GOAMD64", "GOARM", "GOARM64", "GOMIPS", "GOMIPS64", "GOPPC64", "GORISCV64", "GOWASM",
	"CC", "CXX", "CGO_CFLAGS", "CGO_CPPFLAGS", "CGO_CXXFLAGS", "CGO_FFLAGS", "CGO_LDFLAGS", "PKG_CONFIG", "AR"}

func (l *lister) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, l.goCmd, args...)
	cmd.Dir, cmd.Env = l.dir, l.env
	return cmd
}

func (l *lister) readGoEnv(ctx context.Context) error {
	var stdout, stderr bytes.Buffer
	cmd := l.command(ctx, append([]string{"env", "-json"}, append(goEnvNames, buildEnv...)...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return l.failed(err, &stderr)
	}
	if err := json.Unmarshal(stdout.Bytes(), &l.goEnv); err != nil {
		return fmt.Errorf("reading go env: %w", err)
	}
	mod := l.goEnv["GOMOD"]
	if mod == "" || mod == os.DevNull {
		return &Error{Input: l.in, Dir: l.dir, Msg: "no go.mod in " + l.dir + " or above it: `go:` inputs resolve packages of a Go module (set `dir:` to the module's directory)"}
	}
	l.lines["go-version "+l.goEnv["GOVERSION"]] = true
	for _, name := range buildEnv {
		if l.goEnv[name] == "" {
			continue // as the go command reads it, empty is unset
		}
		d := sha256.Sum256([]byte(l.goEnv[name]))
		l.lines[fmt.Sprintf("go-env %q %s", name, hex.EncodeToString(d[:]))] = true
	}
	modRoot := filepath.Dir(mod)
	l.addFile(mod)
	l.watchPath(filepath.Join(modRoot, "go.sum"), true)
	l.watchPath(filepath.Join(modRoot, "vendor"), false)
	if _, err := os.Stat(filepath.Join(modRoot, "vendor", "modules.txt")); err == nil {
		l.addFile(filepath.Join(modRoot, "vendor", "modules.txt"))
	}
	if env := l.goEnv["GOENV"]; env != "" && env != "off" {
		l.watchPath(env, false)
	}
	work := l.goEnv["GOWORK"]
	if work != "" && work != "off" {
		l.addFile(work)
		l.watchPath(work+".sum", true)
	}
	// A go.mod appearing between here and the module's root, or a go.work
	// above here, would change what the go command builds.
	for d := l.dir; d != modRoot && filepath.Dir(d) != d; d = filepath.Dir(d) {
		l.watchPath(filepath.Join(d, "go.mod"), false)
	}
	if work == "" {
		for d := l.dir; ; d = filepath.Dir(d) {
			l.watchPath(filepath.Join(d, "go.work"), false)
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return nil
}

// list runs go list and decodes the packages it prints. With strict, a
// pattern that matches nothing is an error.
func (l *lister) list(ctx context.Context, args []string, strict bool) ([]pkg, error) {
	var stdout, stderr bytes.Buffer
	cmd := l.command(ctx, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, l.failed(err, &stderr)
	}
	if strict && strings.Contains(stderr.String(), "matched no packages") {
		return nil, &Error{Input: l.in, Dir: l.dir, Msg: stderr.String()}
	}
	var pkgs []pkg
	dec := json.NewDecoder(&stdout)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			return pkgs, nil
		} else if err != nil {
			return nil, fmt.Errorf("reading go list's output: %w", err)
		}
		pkgs = append(pkgs, p)
	}
}

func (l *lister) failed(err error, stderr *bytes.Buffer) error {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return &Error{Input: l.in, Dir: l.dir, Msg: stderr.String()}
	}
	return fmt.Errorf("running %s: %w", l.goCmd, err)
}

// add takes in the packages of one go list.
func (l *lister) add(pkgs []pkg) {
	for _, p := range pkgs {
		l.listed[p.ImportPath] = true
		if p.Standard || p.Dir == "" {
			continue
		}
		if m := p.Module; m != nil && !l.byFile(p) {
			line := fmt.Sprintf("go-module %q %s", m.Path, m.Version)
			if r := m.Replace; r != nil {
				line += " => " + r.Path + " " + r.Version
			}
			l.lines[line] = true
			continue
		}
		if m := p.Module; m != nil {
			dir := m.Dir
			if m.Replace != nil {
				dir = m.Replace.Dir
			}
			if dir != "" {
				l.local[m.Path] = dir
				l.addFile(filepath.Join(dir, "go.mod"))
			}
		}
		l.addPackage(p)
	}
}

// byFile says whether p's files count by content: it is in the main
// module, a module replaced by a directory, or the vendor directory.
func (l *lister) byFile(p pkg) bool {
	m := p.Module
	if m == nil || m.Main || m.Replace != nil && m.Replace.Version == "" {
		return true
	}
	vendor := filepath.Join(filepath.Dir(l.goEnv["GOMOD"]), "vendor") + string(filepath.Separator)
	return strings.HasPrefix(p.Dir, vendor)
}

func (l *lister) addPackage(p pkg) {
	l.watchPath(p.Dir, false)
	lists := [][]string{p.GoFiles, p.CgoFiles, p.CFiles, p.CXXFiles, p.MFiles, p.HFiles, p.FFiles, p.SFiles,
		p.SwigFiles, p.SwigCXXFiles, p.SysoFiles, p.IgnoredGoFiles, p.IgnoredOtherFiles, p.EmbedFiles}
	if l.in.Tests {
		lists = append(lists, p.TestGoFiles, p.XTestGoFiles, p.TestEmbedFiles, p.XTestEmbedFiles)
	}
	for _, list := range lists {
		for _, f := range list {
			if filepath.IsAbs(f) {
				continue // generated by the go command (a test main), not read from here
			}
			l.addFile(filepath.Join(p.Dir, f))
		}
	}
	for _, list := range [][]string{p.GoFiles, p.CgoFiles, p.IgnoredGoFiles, p.TestGoFiles, p.XTestGoFiles} {
		for _, f := range list {
			if !filepath.IsAbs(f) && strings.HasSuffix(f, ".go") {
				l.addHead(filepath.Join(p.Dir, f))
			}
		}
	}
	for _, list := range [][]string{p.EmbedFiles, p.TestEmbedFiles, p.XTestEmbedFiles} {
		for _, f := range list {
			l.free[l.rel(filepath.Join(p.Dir, f))] = true
		}
	}
	for _, f := range p.IgnoredGoFiles {
		l.leftOut = append(l.leftOut, filepath.Join(p.Dir, f))
	}
	// Every directory on the way to an embedded file: a new file or
	// directory there can be embedded too.
	for _, list := range [][]string{p.EmbedFiles, p.TestEmbedFiles, p.XTestEmbedFiles} {
		for _, f := range list {
			for d := filepath.Dir(filepath.Join(p.Dir, f)); d != p.Dir && strings.HasPrefix(d, p.Dir); d = filepath.Dir(d) {
				l.watchPath(d, false)
			}
		}
	}
	if p.Name == "main" && p.ForTest == "" {
		l.watchOrAdd(filepath.Join(p.Dir, "default.pgo"))
	}
	if l.in.Tests && len(p.Match) > 0 {
		l.walk(filepath.Join(p.Dir, "testdata"), true)
	}
}

// watchPattern watches, for a pattern with "...", every directory it
// could match a new package in.
func (l *lister) watchPattern(pattern string) {
	if !strings.Contains(pattern, "...") && pattern != "all" {
		return
	}
	base := filepath.Dir(l.goEnv["GOMOD"])
	if strings.HasPrefix(pattern, ".") {
		prefix, _, _ := strings.Cut(pattern, "...")
		base = filepath.Join(l.dir, filepath.FromSlash(strings.TrimSuffix(prefix, "/")))
	}
	l.walk(base, false)
}

// walk watches dir and the directories below it the go command would
// look into, adding every file when files is set.
func (l *lister) walk(dir string, files bool) {
	entries, err := os.ReadDir(dir)
	l.watchPath(dir, false)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case e.IsDir() && (files || !skipDir(name)):
			l.walk(filepath.Join(dir, name), files)
		case files && !e.IsDir():
			l.addFile(filepath.Join(dir, name))
			l.free[l.rel(filepath.Join(dir, name))] = true
		}
	}
}

// skipDir: directories the go command skips when it matches "...".
func skipDir(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor"
}

// watchMissing watches where an import path that resolved to no package
// would be, if it is in a module whose packages count by file.
func (l *lister) watchMissing(importPath string) {
	for mod, dir := range l.local {
		rest, ok := strings.CutPrefix(importPath, mod+"/")
		if !ok {
			continue
		}
		for d := filepath.Join(dir, filepath.FromSlash(rest)); d != dir && filepath.Dir(d) != d; d = filepath.Dir(d) {
			l.watchPath(d, false)
		}
	}
}

// addFile makes abs an input, hashed by content.
func (l *lister) addFile(abs string) { l.files[l.rel(abs)] = true }

// watchPath makes abs a path whose stat the resolution depends on; with
// orFile, a file that exists is an input (it is read when it exists).
func (l *lister) watchPath(abs string, orFile bool) {
	if orFile {
		l.watchOrAdd(abs)
		return
	}
	l.watch[l.rel(abs)] = true
}

func (l *lister) watchOrAdd(abs string) {
	if st, err := os.Lstat(abs); err == nil && st.Mode().IsRegular() {
		l.addFile(abs)
		return
	}
	l.watch[l.rel(abs)] = true
}

func (l *lister) rel(abs string) string {
	rel, err := filepath.Rel(l.root, abs)
	if err != nil {
		return filepath.ToSlash(abs)
	}
	return filepath.ToSlash(rel)
}

// GoCommand is the go command a job with environment env runs, as its
// shell finds it on PATH (absolute directories only); tried are the places
// looked at before it. found is "" when there is none.
func GoCommand(env []string) (found string, tried []string) {
	path := lookupPath(env)
	for _, dir := range filepath.SplitList(path) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue
		}
		candidate := filepath.Join(dir, "go")
		if st, err := os.Stat(candidate); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return candidate, tried
		}
		tried = append(tried, candidate)
	}
	return "", tried
}

// findGo finds the go command on the job's PATH, watching every place it
// was looked for (a go installed earlier on PATH is another toolchain)
// and every link on the way to it.
func (l *lister) findGo() error {
	found, tried := GoCommand(l.env)
	for _, p := range tried {
		l.watchPath(p, false)
	}
	if found != "" {
		l.goCmd = found
		for hop := found; ; {
			l.watchPath(hop, false)
			target, err := os.Readlink(hop)
			if err != nil {
				break
			}
			if !filepath.IsAbs(target) {
				target = filepath.Join(filepath.Dir(hop), target)
			}
			hop = target
		}
		return nil
	}
	path := lookupPath(l.env)
	return &Error{Input: l.in, Dir: l.dir, Msg: "the go command is not on the job's PATH (" + path + "): `go:` inputs are found with `go list`"}
}

// lookupPath is PATH's value in env (the last one counts).
func lookupPath(env []string) string {
	var path string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	return path
}

func sortedKeys(m map[string]bool) []string {
	return slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
}
