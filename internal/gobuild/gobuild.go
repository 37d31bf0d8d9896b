// Package gobuild rebuilds the binary of a `go build` job for a resident
// process (sparkwing dev) without the go command's own work: before its
// first compile, the go command loads the package graph and checks the
// build cache for every package, about 100 ms of a 400 ms one-file rebuild
// of a small HTTP service on two cores; the link is most of the rest.
//
// A build through the go command is recorded: its action graph
// (-debug-actiongraph: each package's compile command and the packages it
// imports, the link command) and its work directory (-work: the archives it
// compiled, their import configurations) are kept. The next build of the
// job replays that record when every input that changed since is a Go file
// one of the record's compiles read, and its head (package clause, build
// constraints, imports, embed patterns: goinput.Head) is as it was: those
// packages are compiled again by the same commands, their importers too
// when a package's export data changed, and the binary is linked by the
// same command. Anything else (a new file or import, go.mod, the command,
// the environment, an importer the record took from the build cache, a
// compile error) goes through the go command, which records anew.
//
// A replayed binary is the program the go command would link, from the
// same compiler and linker commands; only its build ID and version control
// stamp are the record's (with -trimpath and -ldflags=-buildid= it is the
// go command's binary byte for byte). It is stored as the job's result, and
// its log says it was replayed.
package gobuild

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/sparkwing-dev/sparkwing/internal/goinput"
	"github.com/sparkwing-dev/sparkwing/internal/piddir"
)

// Command is a job command the builder can take over: one `go build`.
type Command struct {
	Env  []string // NAME=VALUE words before `go`
	Args []string // the arguments after `go build`
}

// refused are the go build flags a record cannot be taken with or
// replayed for: they print instead of building, wrap the tools, replace
// files, change where the command runs, or are the builder's own.
var refused = map[string]bool{"n": true, "toolexec": true, "overlay": true, "C": true, "work": true,
	"json": true, "debug-actiongraph": true, "debug-trace": true, "debug-runtime-trace": true}

// Parse recognizes a job command that is one `go build` of plain words
// (no quoting, variables, redirection or second command; a trailing
// comment is allowed), optionally after NAME=VALUE assignments.
func Parse(run string) (Command, bool) {
	run, _, _ = strings.Cut(strings.TrimSpace(run), " #")
	if strings.ContainsAny(run, "\n;&|<>$`\\\"'(){}*?[]#~") {
		return Command{}, false
	}
	words := strings.Fields(run)
	var c Command
	for len(words) > 0 && isAssignment(words[0]) {
		if strings.HasPrefix(words[0], "PATH=") {
			return Command{}, false // which go runs would be the shell's to say
		}
		c.Env = append(c.Env, words[0])
		words = words[1:]
	}
	if len(words) < 2 || words[0] != "go" || words[1] != "build" {
		return Command{}, false
	}
	for _, a := range words[2:] {
		if a == "--" {
			break
		}
		name, value, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") {
			continue
		}
		if refused[name] || name == "buildmode" && value != "exe" && value != "default" {
			return Command{}, false
		}
	}
	c.Args = words[2:]
	return c, true
}

// boolFlags are go build's flags that take no value word after them.
var boolFlags = map[string]bool{"a": true, "n": true, "race": true, "msan": true, "asan": true, "cover": true,
	"v": true, "work": true, "x": true, "trimpath": true, "linkshared": true, "json": true, "i": true}

// Packages are the package arguments of the command.
func (c Command) Packages() []string {
	var pkgs []string
	for i := 0; i < len(c.Args); i++ {
		a := c.Args[i]
		switch {
		case a == "--":
			return append(pkgs, c.Args[i+1:]...)
		case !strings.HasPrefix(a, "-"):
			pkgs = append(pkgs, a)
		case !strings.Contains(a, "=") && !boolFlags[strings.TrimLeft(a, "-")]:
			i++ // its value
		}
	}
	return pkgs
}

// CoveredBy says whether a job's `go:` inputs (package patterns resolved
// in the project's root) are sure to hold every file the command builds
// from: each package it builds is one of them, or they hold ./... . A
// build from other files (globs a user keeps) is not replayed: a file left
// out of them would be compiled by the go command and not by a replay.
func (c Command) CoveredBy(patterns []string) bool {
	pkgs := c.Packages()
	if len(pkgs) == 0 {
		pkgs = []string{"."}
	}
	for _, p := range pkgs {
		if !slices.Contains(patterns, p) && !slices.Contains(patterns, "./...") {
			return false
		}
	}
	return true
}

func isAssignment(w string) bool {
	name, _, ok := strings.Cut(w, "=")
	if !ok || name == "" || name[0] >= '0' && name[0] <= '9' {
		return false
	}
	for _, r := range name {
		if r != '_' && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// Job is one build of a job's binary.
type Job struct {
	ID      string
	Dir     string // where the command runs: the project's root
	Command Command
	Env     []string // the job's environment
	// Manifest is the job's cache manifest (cache.Manifest): one "file"
	// line per input file, the other lines for everything else the build
	// depends on. Two builds whose manifests differ only in Go files the
	// record compiled can replay it.
	Manifest string
	Out      io.Writer // the job's log
	// Exec runs one process of the build as the job's own (job.Runner.Exec).
	Exec func(ctx context.Context, cmd *exec.Cmd, out io.Writer) error
}

// Builder keeps the last record of each job it built. Safe for concurrent
// use by builds of different jobs.
type Builder struct {
	root string // where the per-process directory is made

	mu          sync.Mutex
	dir         string // this process's directory under root, made at the first record
	seq         int
	recs        map[string]*record // by job
	unsupported bool               // the go command has no -debug-actiongraph
}

// New returns a builder keeping its records' work directories under root
// (a directory of the project's state), and removes what a builder of a
// process that is gone left there.
func New(root string) *Builder {
	for _, dir := range piddir.Orphans(root) {
		os.RemoveAll(dir)
	}
	return &Builder{root: root, recs: map[string]*record{}}
}

// Close removes every record.
func (b *Builder) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
	b.recs = map[string]*record{}
}

// Forget drops the job's record: the caller found the job's inputs
// changed while it built, so what the record's archives were compiled from
// may not be what its manifest says.
func (b *Builder) Forget(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.drop(id)
}

func (b *Builder) drop(id string) {
	if rec := b.recs[id]; rec != nil {
		os.RemoveAll(rec.tmp)
		delete(b.recs, id)
	}
}

// Build builds j's binary, by replaying its record when it can and with
// the go command otherwise; the job's log says which. An error is the
// build's.
func (b *Builder) Build(ctx context.Context, j Job) error {
	b.mu.Lock()
	rec := b.recs[j.ID]
	b.mu.Unlock()
	if rec != nil {
		if dirty, ok := rec.dirty(j); ok {
			// The tools' output is not shown: a failure goes to the go
			// command, which says why.
			err := rec.replay(ctx, j, dirty, io.Discard)
			if err == nil {
				rec.manifest = j.Manifest // what its archives hold now
				fmt.Fprintf(j.Out, "sparkwing: rebuilt without the go command: %s\n", rec.said(dirty))
				return nil
			}
			if ctx.Err() != nil {
				b.Forget(j.ID)
				return ctx.Err()
			}
		}
	}
	return b.record(ctx, j)
}

// record runs the go command with its action graph and work directory
// kept, and keeps them as the job's record.
func (b *Builder) record(ctx context.Context, j Job) error {
	goCmd, err := lookGo(j.Env)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.drop(j.ID)
	tmp, err := b.newTmp()
	unsupported := b.unsupported
	b.mu.Unlock()
	if err != nil || unsupported {
		return plain(ctx, j, goCmd)
	}
	env := append(slices.Clip(j.Env), j.Command.Env...)
	graph := filepath.Join(tmp, "actions.json")
	args := append([]string{"build", "-work", "-debug-actiongraph=" + graph}, j.Command.Args...)
	cmd := exec.Command(goCmd, args...)
	cmd.Dir, cmd.Env = j.Dir, append(slices.Clip(env), "GOTMPDIR="+tmp)
	var out bytes.Buffer // what a plain go build would print, once -work's line is dropped
	err = j.Exec(ctx, cmd, &out)
	if err != nil && bytes.Contains(out.Bytes(), []byte("flag provided but not defined: -debug-actiongraph")) {
		os.RemoveAll(tmp)
		b.mu.Lock()
		b.unsupported = true // a go command without it: build as the job says
		b.mu.Unlock()
		return plain(ctx, j, goCmd)
	}
	for line := range bytes.Lines(out.Bytes()) {
		if !bytes.HasPrefix(line, []byte("WORK="+tmp)) {
			j.Out.Write(line)
		}
	}
	if err != nil {
		os.RemoveAll(tmp)
		return err
	}
	rec, err := load(graph, j.Dir)
	if err == nil {
		rec.env, rec.linkEnv, err = toolEnv(ctx, goCmd, j.Dir, env, j.Command.Args)
	}
	if err != nil {
		os.RemoveAll(tmp) // built, but not replayable: the next build runs the go command
		return nil
	}
	rec.tmp, rec.manifest = tmp, j.Manifest
	b.mu.Lock()
	b.recs[j.ID] = rec
	b.mu.Unlock()
	return nil
}

// plain runs the job's command through the go command, unrecorded.
func plain(ctx context.Context, j Job, goCmd string) error {
	cmd := exec.Command(goCmd, append([]string{"build"}, j.Command.Args...)...)
	cmd.Dir, cmd.Env = j.Dir, append(slices.Clip(j.Env), j.Command.Env...)
	return j.Exec(ctx, cmd, j.Out)
}

// newTmp makes a directory for one record. b.mu is held.
func (b *Builder) newTmp() (string, error) {
	if b.dir == "" {
		dir, err := piddir.New(b.root)
		if err != nil {
			return "", err
		}
		b.dir = dir
	}
	b.seq++
	dir := filepath.Join(b.dir, strconv.Itoa(b.seq))
	return dir, os.Mkdir(dir, 0o755)
}

// lookGo finds the go command on the job's PATH, as its shell would.
func lookGo(env []string) (string, error) {
	if found, _ := goinput.GoCommand(env); found != "" {
		return found, nil
	}
	return "", errors.New("go: command not found on the job's PATH")
}

// toolEnv is the environment the go command gives the compiler and the
// linker: the job's, with every go env setting made explicit (the go env
// file's included), as the go command does for the tools it runs. The
// linker's also sets GOROOT, which -trimpath clears.
func toolEnv(ctx context.Context, goCmd, dir string, env, args []string) (tools, link []string, err error) {
	cmd := exec.CommandContext(ctx, goCmd, "env", "-json")
	cmd.Dir, cmd.Env = dir, env
	data, err := cmd.Output()
	if err != nil {
		return nil, nil, fmt.Errorf("go env: %w", err)
	}
	var settings map[string]string
	if err := json.Unmarshal(data, &settings); err != nil {
		return nil, nil, fmt.Errorf("go env: %w", err)
	}
	tools = slices.Clip(env)
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		if settings[k] != "" {
			tools = append(tools, k+"="+settings[k])
		}
	}
	tools = append(tools, "PWD="+dir)
	goroot := settings["GOROOT"]
	if trimpath(append(strings.Fields(settings["GOFLAGS"]), args...)) {
		goroot = ""
	}
	return tools, append(slices.Clip(tools), "GOROOT="+goroot), nil
}

// trimpath says whether go build flags (GOFLAGS' first, then the command
// line's, the last one counting) ask for -trimpath.
func trimpath(flags []string) bool {
	on := false
	for _, f := range flags {
		name, value, hasValue := strings.Cut(strings.TrimLeft(f, "-"), "=")
		if strings.HasPrefix(f, "-") && name == "trimpath" {
			on = !hasValue
			if hasValue {
				on, _ = strconv.ParseBool(value)
			}
		}
	}
	return on
}
