package gitcache

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
)

// Stored reports whether the repository at gitDir (a bare repository or
// a .git directory) stores the object id, a 40-digit SHA-1, loose or in
// a pack. It reads git's files itself, which takes microseconds where
// running git takes milliseconds: it is on the path from a trigger to
// its run. Only a yes is certain: a no may be an object in a place this
// does not read (an alternate, a newer index format), so before acting
// on a no, ask git (HasCommit does).
func Stored(gitDir, id string) bool {
	s := openStore(gitDir)
	defer s.close()
	return s.has(id)
}

// store answers Stored for many ids of one repository, listing and
// opening its pack indexes once, when an id is first not loose.
type store struct {
	objects string
	idxs    []*os.File
	listed  bool
}

func openStore(gitDir string) *store { return &store{objects: filepath.Join(gitDir, "objects")} }

func (s *store) has(id string) bool {
	raw, err := hex.DecodeString(id)
	if err != nil || len(raw) != 20 {
		return false
	}
	if _, err := os.Stat(filepath.Join(s.objects, id[:2], id[2:])); err == nil {
		return true
	}
	if !s.listed {
		s.listed = true
		paths, _ := filepath.Glob(filepath.Join(s.objects, "pack", "pack-*.idx"))
		for _, p := range paths {
			if f, err := os.Open(p); err == nil { // a repack may have removed it since the listing
				s.idxs = append(s.idxs, f)
			}
		}
	}
	for _, f := range s.idxs {
		if inPackIndex(f, raw) {
			return true
		}
	}
	return false
}

func (s *store) close() {
	for _, f := range s.idxs {
		f.Close()
	}
}

// inPackIndex looks id up in a version 2 pack index f: a 256-entry table
// of how many ids start with a byte up to each value, then the sorted
// ids. A file it cannot read, or of another version, answers no.
func inPackIndex(f *os.File, id []byte) bool {
	const header, fanout, width = 8, 256 * 4, 20
	var head [header]byte
	if _, err := f.ReadAt(head[:], 0); err != nil || !bytes.Equal(head[:], []byte{0xff, 't', 'O', 'c', 0, 0, 0, 2}) {
		return false
	}
	count := func(b int) (uint32, bool) { // ids whose first byte is at most b
		if b < 0 {
			return 0, true
		}
		var n [4]byte
		_, err := f.ReadAt(n[:], int64(header+4*b))
		return binary.BigEndian.Uint32(n[:]), err == nil
	}
	lo, ok1 := count(int(id[0]) - 1)
	hi, ok2 := count(int(id[0]))
	if !ok1 || !ok2 || lo > hi {
		return false
	}
	end := hi
	var got [width]byte
	for lo < hi { // the first id not below id
		mid := lo + (hi-lo)/2
		if _, err := f.ReadAt(got[:], int64(header+fanout)+int64(mid)*width); err != nil {
			return false
		}
		if bytes.Compare(got[:], id) < 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == end {
		return false
	}
	_, err := f.ReadAt(got[:], int64(header+fanout)+int64(lo)*width)
	return err == nil && bytes.Equal(got[:], id)
}
