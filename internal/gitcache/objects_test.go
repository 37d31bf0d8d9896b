package gitcache

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
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

// FuzzPackIndex builds a well-formed index of the ids in the input and
// checks every lookup against the set; the raw input, read as an index,
// must not crash the reader.
func FuzzPackIndex(f *testing.F) {
	f.Add([]byte("0123456789abcdefghij0123456789abcdefghiJ"), byte(3))
	f.Add(bytes.Repeat([]byte{0xff}, 60), byte(0))
	f.Fuzz(func(t *testing.T, data []byte, probe byte) {
		dir := t.TempDir()
		raw := filepath.Join(dir, "raw.idx")
		os.WriteFile(raw, data, 0o644)
		lookup(t, raw, bytes.Repeat([]byte{probe}, 20))

		set := map[[20]byte]bool{}
		for i := 0; i+20 <= len(data); i += 20 {
			set[[20]byte(data[i:i+20])] = true
		}
		ids := slices.SortedFunc(maps.Keys(set), func(a, b [20]byte) int { return bytes.Compare(a[:], b[:]) })
		idx := []byte{0xff, 't', 'O', 'c', 0, 0, 0, 2}
		for b := range 256 {
			n := 0
			for _, id := range ids {
				if int(id[0]) <= b {
					n++
				}
			}
			idx = binary.BigEndian.AppendUint32(idx, uint32(n))
		}
		for _, id := range ids {
			idx = append(idx, id[:]...)
		}
		idx = append(idx, bytes.Repeat([]byte{probe}, 40)...) // what follows the ids in a real index
		path := filepath.Join(dir, "good.idx")
		os.WriteFile(path, idx, 0o644)
		for _, id := range ids {
			for _, q := range [][20]byte{id, flip(id, probe)} {
				if got := lookup(t, path, q[:]); got != set[q] {
					t.Fatalf("lookup of %x in %d ids = %v, want %v", q, len(ids), got, set[q])
				}
			}
		}
	})
}

// lookup is inPackIndex on the index file at path.
func lookup(t *testing.T, path string, id []byte) bool {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return inPackIndex(f, id)
}

func flip(id [20]byte, probe byte) [20]byte {
	id[int(probe)%20] ^= 1 << (probe % 8)
	return id
}
