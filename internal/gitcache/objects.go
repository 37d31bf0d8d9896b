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
	raw, err := hex.DecodeString(id)
	if err != nil || len(raw) != 20 {
		return false
	}
	objects := filepath.Join(gitDir, "objects")
	if _, err := os.Stat(filepath.Join(objects, id[:2], id[2:])); err == nil {
		return true
	}
	idxs, _ := filepath.Glob(filepath.Join(objects, "pack", "pack-*.idx"))
	for _, idx := range idxs {
		if inPackIndex(idx, raw) {
			return true
		}
	}
	return false
}

// inPackIndex looks id up in a version 2 pack index: a 256-entry table
// of how many ids start with a byte up to each value, then the sorted
// ids. A file it cannot read, or of another version, answers no.
func inPackIndex(path string, id []byte) bool {
	f, err := os.Open(path)
	if err != nil {
		return false // a repack removed it since the listing: the caller asks git
	}
	defer f.Close()
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
	_, err = f.ReadAt(got[:], int64(header+fanout)+int64(lo)*width)
	return err == nil && bytes.Equal(got[:], id)
}
