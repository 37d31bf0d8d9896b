package project

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func writeProject(t *testing.T, root, content string) {
	t.Helper()
	os.MkdirAll(filepath.Join(root, Dir), 0o755)
	if err := os.WriteFile(filepath.Join(root, Dir, FileName), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPlanCacheGivesWhatParsingGives: a file read back from the plan
// cache decodes to exactly what parsing it gives, and any change of the
// file, the program or the cache file means parsing again (issue 13).
func TestPlanCacheGivesWhatParsingGives(t *testing.T) {
	sparks := "sparks:\n  - {name: go, source: example.com/s, version: ^1.4}\nsparks_refresh: 1h\n" + good
	for name, src := range map[string]string{"jobs": good, "images": imageSrc, "sparks": sparks} {
		t.Run(name, func(t *testing.T) {
			root, cache := t.TempDir(), filepath.Join(t.TempDir(), "plan")
			writeProject(t, root, src)
			want, err := Parse("display.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ { // parsed and stored, then read from the cache
				got, err := LoadCached(root, "display.yaml", cache, "prog")
				if err != nil {
					t.Fatal(err)
				}
				if !sameFile(t, got, want) {
					t.Fatalf("load %d differs from a parse:\n%+v\nwant\n%+v", i, got.Pipelines[0], want.Pipelines[0])
				}
			}
			if _, err := os.Stat(cache); err != nil {
				t.Fatal("nothing was cached")
			}
		})
	}
}

// sameFile compares what a load gives: the pipelines and their plans.
func sameFile(t *testing.T, a, b *File) bool {
	if a.Path != b.Path || a.Buildkit != b.Buildkit || len(a.Pipelines) != len(b.Pipelines) ||
		!reflect.DeepEqual(a.Sparks, b.Sparks) || a.SparksRefresh != b.SparksRefresh {
		return false
	}
	for i := range a.Pipelines {
		pa, pb := a.Pipelines[i], b.Pipelines[i]
		if pa.Name != pb.Name || pa.Description != pb.Description || pa.Entrypoint != pb.Entrypoint ||
			!reflect.DeepEqual(pa.Jobs, pb.Jobs) {
			return false
		}
		if pa.Entrypoint == "" {
			la, err1 := pa.Plan()
			lb, err2 := pb.Plan()
			if err1 != nil || err2 != nil || !reflect.DeepEqual(la.Jobs, lb.Jobs) {
				return false
			}
		}
	}
	return true
}

func TestPlanCacheIsNeverStale(t *testing.T) {
	root, cache := t.TempDir(), filepath.Join(t.TempDir(), "plan")
	writeProject(t, root, good)
	if _, err := LoadCached(root, "f.yaml", cache, "prog"); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(filepath.Join(root, Dir, FileName))
	// Edited with its size and mtime kept, as an editor in the same second could.
	edited := []byte(good)
	copy(edited[len(edited)-8:], "Relaxes\n")
	os.WriteFile(filepath.Join(root, Dir, FileName), edited, 0o644)
	os.Chtimes(filepath.Join(root, Dir, FileName), st.ModTime(), st.ModTime())
	f, err := LoadCached(root, "f.yaml", cache, "prog")
	if err != nil || f.Pipeline("release").Entrypoint != "Relaxes" {
		t.Fatalf("an edit in the same second read the old plan: %v", err)
	}
	// Another program may decode differently: it parses again.
	data, _ := os.ReadFile(cache)
	if _, err := LoadCached(root, "f.yaml", cache, "another build"); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.ReadFile(cache); string(now) == string(data) {
		t.Fatal("another program took the cached plan")
	}
	// A damaged or foreign cache file is ignored.
	for _, junk := range []string{"", "sparkwing-plan v1 0000\n{}", "garbage"} {
		os.WriteFile(cache, []byte(junk), 0o644)
		if f, err := LoadCached(root, "f.yaml", cache, "prog"); err != nil || f.Pipeline("release").Entrypoint != "Relaxes" {
			t.Fatalf("with cache file %q: %v", junk, err)
		}
	}
	// A file with errors is reported, never cached.
	writeProject(t, root, "pipelines: [\n")
	if _, err := LoadCached(root, "f.yaml", cache, "prog"); err == nil {
		t.Fatal("a broken file loaded")
	}
}
