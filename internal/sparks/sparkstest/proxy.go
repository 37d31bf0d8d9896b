// Package sparkstest writes a Go module proxy on disk (for
// GOPROXY=file://DIR) that tests publish spark versions to: the real
// protocol the go command reads, with no server.
package sparkstest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/mod/zip"
)

// Proxy is a module proxy directory.
type Proxy struct {
	t        testing.TB
	Dir      string
	modCache string
}

// New makes an empty proxy in a temporary directory.
func New(t testing.TB) *Proxy { return &Proxy{t: t, Dir: t.TempDir(), modCache: t.TempDir()} }

// URL is the proxy's GOPROXY value.
func (p *Proxy) URL() string { return "file://" + filepath.ToSlash(p.Dir) }

// Publish adds version of the module with files (name → content; a
// go.mod is written when files has none).
func (p *Proxy) Publish(mod, version string, files map[string]string) {
	p.t.Helper()
	src := p.t.TempDir()
	if _, ok := files["go.mod"]; !ok {
		files["go.mod"] = "module " + mod + "\n\ngo 1.22\n"
	}
	for name, content := range files {
		path := filepath.Join(src, name)
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
	if err := Publish(p.Dir, mod, version, src); err != nil {
		p.t.Fatal(err)
	}
}

// Publish adds version of module mod, made of the files in src (which
// has its go.mod), to the proxy directory.
func Publish(proxyDir, mod, version, src string) error {
	esc, err := module.EscapePath(mod)
	if err != nil {
		return err
	}
	dir := filepath.Join(proxyDir, esc, "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	gomod, err := os.ReadFile(filepath.Join(src, "go.mod"))
	if err != nil {
		return err
	}
	var z bytes.Buffer
	if err := zip.CreateFromDir(&z, module.Version{Path: mod, Version: version}, src); err != nil {
		return err
	}
	info, _ := json.Marshal(map[string]any{"Version": version, "Time": time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	for name, data := range map[string][]byte{version + ".zip": z.Bytes(), version + ".info": info, version + ".mod": gomod} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	list, _ := os.ReadFile(filepath.Join(dir, "list"))
	versions := append(strings.Fields(string(list)), version)
	semver.Sort(versions)
	versions = slices.Compact(versions)
	return os.WriteFile(filepath.Join(dir, "list"), []byte(strings.Join(versions, "\n")+"\n"), 0o644)
}

// Env is the environment the go command needs to use only this proxy,
// with a module cache in a temporary directory (writable, so it can be
// removed) and no checksum database (which would need the network).
func (p *Proxy) Env() []string {
	return []string{"GOPROXY=" + p.URL(), "GOSUMDB=off", "GOMODCACHE=" + p.modCache, "GOFLAGS=-modcacherw", "GOTOOLCHAIN=local"}
}
