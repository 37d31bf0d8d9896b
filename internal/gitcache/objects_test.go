package gitcache

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestStored checks the direct lookup against git itself: every object
// git lists is found, in loose form, in one pack and in several, and
// ids next to real ones (the first, last and a middle byte changed) are
// not.
func TestStored(t *testing.T) {
	u := newUpstream(t)
	for i := range 40 {
		u.commit(fmt.Sprintf("file%d", i))
	}
	gitDir := filepath.Join(u.work, ".git")
	check := func(stage string) {
		t.Helper()
		all := strings.Fields(u.git(u.work, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)"))
		if len(all) < 120 {
			t.Fatalf("%s: git lists only %d objects", stage, len(all))
		}
		known := map[string]bool{}
		for _, id := range all {
			known[id] = true
			if !Stored(gitDir, id) {
				t.Errorf("%s: %s is stored but not found", stage, id)
			}
		}
		for _, id := range all {
			for _, at := range []int{0, 20, 39} {
				b := []byte(id)
				b[at] = "1f"[b[at]&1] // another hex digit
				if other := string(b); !known[other] && Stored(gitDir, other) {
					t.Errorf("%s: %s (not stored) is found", stage, other)
				}
			}
		}
	}
	check("loose")
	u.git(u.work, "repack", "-q", "-a", "-d")
	check("one pack")
	for i := range 5 {
		u.commit(fmt.Sprintf("more%d", i))
		u.git(u.work, "repack", "-q") // a pack of the new objects only
	}
	if packs, _ := filepath.Glob(filepath.Join(gitDir, "objects", "pack", "*.idx")); len(packs) < 2 {
		t.Fatalf("want several packs, have %d", len(packs))
	}
	check("several packs")
	for _, bad := range []string{"", "abc", strings.Repeat("z", 40), strings.Repeat("0", 40), strings.Repeat("f", 40)} {
		if Stored(gitDir, bad) {
			t.Errorf("Stored(%q) = true", bad)
		}
	}
}
