package buildctx

import (
	"os"
	"path/filepath"
	"testing"
)

// A named context has no Dockerfile: only its own .dockerignore applies,
// never one in the working directory (that would hide sent files from the
// hash and could give a wrong hit).
func TestIgnoreFileWithoutDockerfile(t *testing.T) {
	wd := t.TempDir()
	if err := os.WriteFile(filepath.Join(wd, ".dockerignore"), []byte("*\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(wd)
	ctx := t.TempDir()
	if got := IgnoreFile(ctx, ""); got != "" {
		t.Fatalf("IgnoreFile(ctx, \"\") = %q, want none", got)
	}
	own := filepath.Join(ctx, ".dockerignore")
	if err := os.WriteFile(own, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := IgnoreFile(ctx, ""); got != own {
		t.Fatalf("IgnoreFile(ctx, \"\") = %q, want %q", got, own)
	}
	df := filepath.Join(t.TempDir(), "api.Dockerfile")
	if err := os.WriteFile(df+".dockerignore", []byte("y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := IgnoreFile(ctx, df); got != df+".dockerignore" {
		t.Fatalf("IgnoreFile(ctx, %s) = %q, want the Dockerfile's own", df, got)
	}
}
