// Package pipeline compiles and talks to Go pipeline programs.
//
// A project's .sparkwing/ directory may be a Go module (package main, no
// main function) whose init functions register pipeline types with the
// SDK. Build compiles it against the SDK source embedded in this binary,
// using -modfile and -overlay so nothing is written into the project, and
// caches the program under a key of everything that can change it: the go
// command's identity, the Go environment, every file of the module and the
// SDK source. A hit runs no compiler at all.
package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/mod/modfile"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/sparks"
	sw "github.com/sparkwing-dev/sparkwing/sparkwing"
)

// sdkModule is the module path pipelines import the SDK from.
const sdkModule = "github.com/sparkwing-dev/sparkwing"

// goEnvKeys change what `go build` produces; their values are in the key.
var goEnvKeys = []string{"GOOS", "GOARCH", "GOFLAGS", "CGO_ENABLED", "GOEXPERIMENT",
	"GOAMD64", "GOARM64", "GOROOT", "GOTOOLCHAIN", "GOPROXY", "GONOSUMDB", "GOPRIVATE"}

// Program is a compiled pipeline program.
type Program struct {
	Path     string // the executable
	Digest   string // digest of the module's source files
	Compiled bool   // this call compiled it (a cache miss)
}

// CompileError is a failed compilation; Output is what the compiler said,
// with paths relative to Dir (the module, as the caller shows it).
type CompileError struct {
	Dir    string
	Output string
	Sparks []sparks.Spark // named when the error is in one of their files
}

// Error is the compiler's output with each "./file.go:line:col" made
// relative to where Dir is shown from, so it can be pasted into an editor.
func (e *CompileError) Error() string {
	lines := strings.Split(strings.TrimRight(e.Output, "\n"), "\n")
	for i, l := range lines {
		if rest, ok := strings.CutPrefix(l, "./"); ok {
			lines[i] = filepath.Join(e.Dir, rest)
		}
	}
	msg := fmt.Sprintf("compiling the Go pipelines in %s failed:\n%s", e.Dir, strings.Join(lines, "\n"))
	for _, s := range e.Sparks {
		at := s.Module + "@" + s.Version + "/"
		if s.Dir != "" {
			at = s.Dir + string(filepath.Separator)
		}
		if strings.Contains(e.Output, at) {
			version := s.Version
			if s.Dir != "" {
				version = "from " + s.Dir
			}
			msg += fmt.Sprintf("\n(the error is in spark %s: %s %s, named at %s)", s.Name, s.Module, version, s.Where)
		}
	}
	return msg
}

// Builder compiles pipeline programs into a cache directory.
type Builder struct {
	CacheDir string   // programs go under CacheDir/pipelines
	Environ  []string // environment of the go command
	Fresh    bool     // compile even when a program is cached (--no-cache)
	// Compiling, if set, is called when a compile starts (a cached program
	// needs none); the function it returns, when the compile ends.
	Compiling func() (done func(err error))
	// Sparks are the resolved sparks the module may import: each is
	// required at its version (or replaced by its local directory) in the
	// alternate go.mod, and is part of the program's key.
	Sparks []sparks.Spark
}

func (b *Builder) getenv(name string) string {
	prefix := name + "="
	for i := len(b.Environ) - 1; i >= 0; i-- {
		if strings.HasPrefix(b.Environ[i], prefix) {
			return b.Environ[i][len(prefix):]
		}
	}
	return ""
}

// NoModuleError says a Go pipeline was asked for where there is no Go
// module: a configuration error.
type NoModuleError struct{ Dir string }

func (e *NoModuleError) Error() string {
	return fmt.Sprintf("%s has no go.mod: Go pipelines (entrypoint:) need a Go module there; `sparkwing init` writes one", e.Dir)
}

// HasModule reports whether the project has a Go pipeline module.
func HasModule(moduleDir string) bool {
	_, err := os.Stat(filepath.Join(moduleDir, "go.mod"))
	return err == nil
}

// Build returns the program for the module in moduleDir, compiling it only
// when no program with the same key exists.
func (b *Builder) Build(ctx context.Context, moduleDir string) (*Program, error) {
	if !HasModule(moduleDir) {
		return nil, &NoModuleError{Dir: moduleDir}
	}
	src, err := b.sourceDigest(moduleDir)
	if err != nil {
		return nil, err
	}
	goPath, goID, err := b.goIdentity()
	if err != nil {
		return nil, err
	}
	key := b.key(src, goID)
	prog := &Program{Path: filepath.Join(b.CacheDir, "pipelines", key, "pipeline"), Digest: src}
	if !b.Fresh && intact(prog.Path) {
		return prog, nil
	}
	prog.Compiled = true
	done := func(error) {}
	if b.Compiling != nil {
		done = b.Compiling()
	}
	err = b.compile(ctx, goPath, moduleDir, prog.Path)
	done(err)
	if err != nil {
		return nil, err
	}
	return prog, record(prog.Path)
}

// A compiled program is trusted only as written: its size, digest and
// stat (inode, times) are recorded beside it when it is built, and a
// program whose stat no longer matches is hashed again. A truncated or
// replaced program is rebuilt instead of run.

func sumPath(prog string) string { return prog + ".sum" }

// record writes the sum of the program at prog.
func record(prog string) error {
	line, err := sumLine(prog, "")
	if err != nil {
		return err
	}
	tmp := sumPath(prog) + fmt.Sprintf(".%d", os.Getpid())
	if err := os.WriteFile(tmp, []byte(line), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, sumPath(prog))
}

// sumLine describes the program at prog: its stat, size and digest (the
// digest given, or hashed when "").
func sumLine(prog, digest string) (string, error) {
	st, err := os.Lstat(prog)
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", &fileset.NotRegularError{Path: prog, Mode: st.Mode()}
	}
	if digest == "" {
		d, err := fileset.HashFile(prog)
		if err != nil {
			return "", err
		}
		digest = d.String()
	}
	s, _ := st.Sys().(*syscall.Stat_t)
	if s == nil {
		s = &syscall.Stat_t{}
	}
	return fmt.Sprintf("sparkwing program v1 %d %d %d %d %d %s\n", s.Dev, s.Ino, st.Size(), st.ModTime().UnixNano(),
		s.Ctim.Nano(), digest), nil
}

// intact reports whether the program at prog is the one recorded.
func intact(prog string) bool {
	want, err := fileset.ReadRegular(sumPath(prog), 4096)
	if err != nil {
		return false
	}
	fields := strings.Fields(string(want))
	if len(fields) == 0 || len(fields[len(fields)-1]) != 64 {
		return false // a damaged sum: the program is rebuilt and the sum written again
	}
	digest := fields[len(fields)-1]
	if now, err := sumLine(prog, digest); err == nil && now == string(want) {
		return true // unchanged since it was recorded: not read
	}
	now, err := sumLine(prog, "")
	if err != nil || !strings.HasSuffix(now, " "+digest+"\n") {
		os.Remove(prog) // damaged: rebuilt by the caller
		return false
	}
	return record(prog) == nil // the same bytes, moved or touched
}

// key hashes everything that can change the compiled program.
func (b *Builder) key(srcDigest, goID string) string {
	h := sha256.New()
	fmt.Fprintf(h, "sparkwing pipeline program v1\nprotocol %d\nsdk %s\ngo %s\nhost %s/%s\nsource %s\n",
		sw.ProtocolVersion, sdkDigest(), goID, runtime.GOOS, runtime.GOARCH, srcDigest)
	for _, k := range goEnvKeys {
		fmt.Fprintf(h, "env %s=%q\n", k, b.getenv(k))
	}
	for _, s := range b.Sparks { // a local one's files are in srcDigest
		fmt.Fprintf(h, "spark %s %q %q\n", s.Module, s.Version, s.Dir)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// GoCommand is the go command the builder runs.
func (b *Builder) GoCommand() (string, error) {
	path, _, err := b.goIdentity()
	return path, err
}

// goIdentity finds the go command on PATH and identifies it by its
// resolved path, size and modification time, without running it.
func (b *Builder) goIdentity() (path, id string, err error) {
	for _, dir := range filepath.SplitList(b.getenv("PATH")) {
		p := filepath.Join(dir, "go")
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			real, err := filepath.EvalSymlinks(p)
			if err != nil {
				return "", "", err
			}
			rst, err := os.Stat(real)
			if err != nil {
				return "", "", err
			}
			return p, fmt.Sprintf("%s %d %d", real, rst.Size(), rst.ModTime().UnixNano()), nil
		}
	}
	return "", "", errors.New("Go pipelines need the go command, and none is on PATH (install Go from https://go.dev/dl)")
}

// sdkFiles lists the SDK's non-test source files, sorted.
func sdkFiles() []string {
	names, _ := fs.Glob(sw.Source(), "*.go")
	var out []string
	for _, n := range names {
		if !strings.HasSuffix(n, "_test.go") {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func sdkDigest() string {
	h := sha256.New()
	for _, n := range sdkFiles() {
		data, _ := fs.ReadFile(sw.Source(), n)
		fmt.Fprintf(h, "%s %x\n", n, sha256.Sum256(data))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// compile builds the program into a private temporary directory and renames
// it into place, so concurrent builds and kills never leave a partial file.
func (b *Builder) compile(ctx context.Context, goPath, moduleDir, dest string) error {
	sdkDir, err := b.extractSDK()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Dir(dest)), ".build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	modFile, overlay, err := writeBuildFiles(tmp, moduleDir, sdkDir, b.Sparks)
	if err != nil {
		return err
	}
	out := filepath.Join(tmp, "pipeline")
	args := []string{"build", "-modfile=" + modFile, "-overlay=" + overlay, "-trimpath", "-buildvcs=false", "-o", out}
	if len(b.Sparks) > 0 {
		// The go.mod is sparkwing's copy, and the sparks' requirements
		// (and their checksums, verified as for any download) are not in
		// it yet: let the go command add them there.
		args = append(args, "-mod=mod")
	}
	cmd := exec.CommandContext(ctx, goPath, append(args, ".")...)
	cmd.Dir = moduleDir
	cmd.Env = append(append([]string{}, b.Environ...), "GOWORK=off")
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &CompileError{Dir: moduleDir, Output: output.String(), Sparks: b.Sparks}
	}
	keepWorkspace(moduleDir, sdkDir, false) // for editors only: the build does not need it
	return os.Rename(out, dest)
}

// writeBuildFiles writes the alternate go.mod (the module's own, plus the
// SDK replaced by its embedded copy), its go.sum, and the overlay that adds
// the generated main function.
func writeBuildFiles(tmp, moduleDir, sdkDir string, sparkList []sparks.Spark) (modPath, overlayPath string, err error) {
	data, err := fileset.ReadUserFile(filepath.Join(moduleDir, "go.mod"), 16<<20)
	if err != nil {
		return "", "", err
	}
	mf, err := modfile.Parse(filepath.Join(moduleDir, "go.mod"), data, nil)
	if err != nil {
		return "", "", err
	}
	if !requires(mf, sdkModule) {
		mf.AddNewRequire(sdkModule, "v0.0.0", false)
	}
	if err := mf.AddReplace(sdkModule, "", sdkDir, ""); err != nil {
		return "", "", err
	}
	if err := addSparks(mf, sparkList); err != nil {
		return "", "", err
	}
	modData, err := mf.Format()
	if err != nil {
		return "", "", err
	}
	modPath = filepath.Join(tmp, "go.mod")
	if err := os.WriteFile(modPath, modData, 0o644); err != nil {
		return "", "", err
	}
	if sum, err := fileset.ReadUserFile(filepath.Join(moduleDir, "go.sum"), 1<<30); err == nil {
		if err := os.WriteFile(filepath.Join(tmp, "go.sum"), sum, 0o644); err != nil {
			return "", "", err
		}
	}
	mainPath := filepath.Join(tmp, "main.go")
	if err := os.WriteFile(mainPath, []byte(generatedMain), 0o644); err != nil {
		return "", "", err
	}
	absModule, _ := filepath.Abs(moduleDir)
	overlay, _ := json.Marshal(map[string]map[string]string{
		"Replace": {filepath.Join(absModule, "zz_sparkwing_main.go"): mainPath}})
	overlayPath = filepath.Join(tmp, "overlay.json")
	return modPath, overlayPath, os.WriteFile(overlayPath, overlay, 0o644)
}

const generatedMain = `// Code generated by sparkwing. DO NOT EDIT.

package main

import sw "` + sdkModule + `/sparkwing"

func main() { sw.Main() }
`

// addSparks requires each spark at its resolved version, or, when a
// go.work points it at a directory, replaces it with that directory (a
// replace in the go.mod itself is already there).
func addSparks(mf *modfile.File, list []sparks.Spark) error {
	for _, s := range list {
		version := s.Version
		if version == "" {
			version = "v0.0.0" // replaced: any version names it
		}
		if s.Version != "" || !requires(mf, s.Module) {
			if err := mf.AddRequire(s.Module, version); err != nil {
				return err
			}
		}
		if s.Dir != "" && !replaces(mf, s.Module) {
			if err := mf.AddReplace(s.Module, "", s.Dir, ""); err != nil {
				return err
			}
		}
	}
	return nil
}

func replaces(mf *modfile.File, path string) bool {
	for _, r := range mf.Replace {
		if r.Old.Path == path {
			return true
		}
	}
	return false
}

func requires(mf *modfile.File, path string) bool {
	for _, r := range mf.Require {
		if r.Mod.Path == path {
			return true
		}
	}
	return false
}

// sdkIntact reports whether an extracted SDK still holds the embedded
// source (it is read only when a program is compiled).
func sdkIntact(dir string) bool {
	for _, n := range sdkFiles() {
		want, _ := fs.ReadFile(sw.Source(), n)
		got, err := fileset.ReadRegular(filepath.Join(dir, "sparkwing", n), int64(len(want))+1)
		if err != nil || !bytes.Equal(got, want) {
			return false
		}
	}
	return true
}

// extractSDK writes the embedded SDK as a module under the cache, once per
// SDK version.
func (b *Builder) extractSDK() (string, error) {
	dir := filepath.Join(b.CacheDir, "sdk", sdkDigest())
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
		if sdkIntact(dir) {
			return dir, nil
		}
		if err := os.RemoveAll(dir); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".sdk-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := os.Mkdir(filepath.Join(tmp, "sparkwing"), 0o755); err != nil {
		return "", err
	}
	for _, n := range sdkFiles() {
		data, _ := fs.ReadFile(sw.Source(), n)
		if err := os.WriteFile(filepath.Join(tmp, "sparkwing", n), data, 0o644); err != nil {
			return "", err
		}
	}
	gomod := "module " + sdkModule + "\n\ngo 1.22\n"
	if err := os.WriteFile(filepath.Join(tmp, "go.mod"), []byte(gomod), 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, "go.mod")); statErr == nil {
			return dir, nil // another process extracted it first
		}
		return "", err
	}
	return dir, nil
}
