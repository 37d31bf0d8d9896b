package sparks

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/mod/modfile"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
)

// local is a spark module replaced for local development.
type local struct {
	via string // where the replacement is written
	dir string // its directory; "" for a replacement by another module
}

// replacements finds the modules the pipeline module's go.mod replaces,
// and those the go.work in scope (GOWORK, or the nearest go.work above
// moduleDir) uses or replaces with a directory: a spark among them is
// built from there, not resolved. sparkwing compiles with GOWORK=off, so
// a workspace counts only through what is found here.
func replacements(moduleDir, gowork string) (map[string]local, error) {
	out := map[string]local{}
	gomod := filepath.Join(moduleDir, "go.mod")
	if data, err := fileset.ReadUserFile(gomod, 16<<20); err == nil {
		if mf, err := modfile.Parse(gomod, data, nil); err == nil { // a bad go.mod is the compile's to report
			for _, r := range mf.Replace {
				l := local{via: "replace in " + filepath.Join(filepath.Base(moduleDir), "go.mod")}
				if r.New.Version == "" {
					l.dir = absIn(moduleDir, r.New.Path)
				}
				out[r.Old.Path] = l
			}
		}
	}
	work := workFile(moduleDir, gowork)
	if work == "" {
		return out, nil
	}
	data, err := fileset.ReadUserFile(work, 16<<20)
	if err != nil {
		return nil, fmt.Errorf("the workspace file %s: %w", work, err)
	}
	wf, err := modfile.ParseWork(work, data, nil)
	if err != nil {
		return nil, fmt.Errorf("the workspace file: %w", err)
	}
	base := filepath.Dir(work)
	via := "go.work at " + work
	for _, u := range wf.Use {
		dir := absIn(base, u.Path)
		modData, err := fileset.ReadUserFile(filepath.Join(dir, "go.mod"), 16<<20)
		if err != nil {
			continue // the go command reports a use without a module
		}
		if path := modfile.ModulePath(modData); path != "" {
			if _, ok := out[path]; !ok { // the module's own replace wins, as in the go command
				out[path] = local{via: via, dir: dir}
			}
		}
	}
	for _, r := range wf.Replace {
		if _, ok := out[r.Old.Path]; !ok {
			l := local{via: via}
			if r.New.Version == "" {
				l.dir = absIn(base, r.New.Path)
			}
			out[r.Old.Path] = l
		}
	}
	return out, nil
}

// workFile is the go.work the go command would use for moduleDir: GOWORK
// when set ("off": none), else the nearest one in it or above it.
func workFile(moduleDir, gowork string) string {
	switch gowork {
	case "off":
		return ""
	case "":
	default:
		return gowork
	}
	dir, err := filepath.Abs(moduleDir)
	if err != nil {
		return ""
	}
	for {
		if st, err := os.Stat(filepath.Join(dir, "go.work")); err == nil && st.Mode().IsRegular() {
			return filepath.Join(dir, "go.work")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func absIn(base, path string) string {
	if !filepath.IsAbs(path) {
		path = filepath.Join(base, path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Clean(path)
	}
	return abs
}
