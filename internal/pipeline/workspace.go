package pipeline

import (
	"bytes"
	"fmt"
	"path/filepath"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
)

// The pipeline module's go.mod requires the SDK at v0.0.0, a version no
// proxy serves: sparkwing builds against the copy embedded in its binary.
// So that editors, gopls and `go vet` in .sparkwing/ resolve the SDK too,
// sparkwing keeps a go.work beside the go.mod that replaces the SDK with
// that same copy, extracted under the cache directory. The file is
// machine-specific (an absolute path) and ignored for git. `init` creates
// it; a compile only brings up to date a go.work that sparkwing wrote, and
// never adds one to a project that did not ask for it. The compile
// itself runs with GOWORK=off. A workspace counts only where it points a
// spark at a directory (sparks.Resolve): that directory then replaces
// the spark in the alternate go.mod, and its files are in the key.

// WorkFile is the workspace file sparkwing keeps in the pipeline module.
const WorkFile = "go.work"

// workMarker is the first line of a go.work sparkwing wrote; one without
// it is the user's, and is never touched.
const workMarker = "// Written by sparkwing so editors and `go vet` find the SDK it builds with."

// notSources are the module files the go command does not read when
// sparkwing compiles (GOWORK=off).
var notSources = map[string]bool{WorkFile: true, WorkFile + ".sum": true}

// KeepWorkspace extracts the SDK and writes moduleDir's go.work to point at
// it, unless the go.work there is the user's own. It reports whether the
// file was written.
func (b *Builder) KeepWorkspace(moduleDir string) (bool, error) {
	sdkDir, err := b.extractSDK()
	if err != nil {
		return false, err
	}
	return keepWorkspace(moduleDir, sdkDir, true)
}

// keepWorkspace writes the go.work; one that is not there is created only
// if create is set.
func keepWorkspace(moduleDir, sdkDir string, create bool) (bool, error) {
	path := filepath.Join(moduleDir, WorkFile)
	old, err := fileset.ReadUserFile(path, 1<<20)
	if err != nil && !create {
		return false, nil
	}
	if err == nil && !bytes.HasPrefix(old, []byte(workMarker+"\n")) {
		return false, nil // the user's own workspace
	}
	want := []byte(fmt.Sprintf("%s\n// It is machine-specific (see .gitignore); sparkwing rewrites it when its SDK changes.\n\ngo %s\n\nuse .\n\nreplace %s => %s\n",
		workMarker, moduleGoVersion(moduleDir), sdkModule, sdkDir))
	if bytes.Equal(old, want) {
		return false, nil
	}
	if err := fileset.WriteAtomic(path, want, 0o644); err != nil {
		return false, err
	}
	return true, nil
}

// moduleGoVersion is the go version a workspace over the module must
// declare: the module's own, and at least the SDK's.
func moduleGoVersion(moduleDir string) string {
	const sdkGo = "1.22"
	path := filepath.Join(moduleDir, "go.mod")
	data, err := fileset.ReadUserFile(path, 16<<20)
	if err != nil {
		return sdkGo
	}
	mf, err := modfile.ParseLax(path, data, nil)
	if err != nil || mf.Go == nil {
		return sdkGo
	}
	if v := mf.Go.Version; semver.Compare("v"+v, "v"+sdkGo) >= 0 {
		return v
	}
	return sdkGo
}
