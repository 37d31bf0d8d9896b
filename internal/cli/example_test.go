package cli

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBundledExample runs the README's first command on a copy of
// examples/hello-service: the YAML build pipeline and the Go release
// pipeline, which builds with the go-service spark (the copy of
// examples/sparks-go beside it), starts the server and checks that it is
// healthy.
func TestBundledExample(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a Go project")
	}
	dir := filepath.Join(t.TempDir(), "hello-service")
	copyTree(t, "../../examples/hello-service", dir)
	copyTree(t, "../../examples/sparks-go", filepath.Join(filepath.Dir(dir), "sparks-go"))
	t.Setenv("SPARKWING_CACHE_DIR", filepath.Join(t.TempDir(), "cache"))

	var out, errOut bytes.Buffer
	if code := Main([]string{"-C", dir, "run", "build", "--output", "plain"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("run build: exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"✓ package", "hello-service.tar.gz", "5 ran"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "dist", "hello-service.tar.gz.sha256")); err != nil {
		t.Fatal(err)
	}

	out.Reset()
	if code := Main([]string{"-C", dir, "run", "release", "--version", "2.0.1", "--output", "plain"}, nil, &out, &errOut); code != 0 {
		t.Fatalf("run release: exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "ok 2.0.1 4 languages") || !strings.Contains(out.String(), "✓ vet") {
		t.Fatalf("release did not see a healthy server:\n%s", out.String())
	}
	manifest, err := os.ReadFile(filepath.Join(dir, "dist", "release.json"))
	if err != nil || !strings.Contains(string(manifest), `"version": "2.0.1"`) {
		t.Fatalf("manifest %q, %v", manifest, err)
	}
}

// copyTree copies the checked-in files of src (not outputs of earlier runs).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	skip := map[string]bool{"bin": true, "dist": true, "internal/gen": true, ".sparkwing/runs": true}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if skip[filepath.ToSlash(rel)] {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
