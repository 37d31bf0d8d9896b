package gitcache

import (
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
)

// A commit's new objects travel from the trigger to the controller and
// from the controller to a runner as a small pack. Indexing one with git
// and checking it is complete takes two git processes, a dozen
// milliseconds here, on the path from a trigger to its run. AddObjects
// does the same for the packs the trigger makes (every object whole, no
// deltas) in-process: it reads the pack, checks that everything the
// commit reaches is in the pack or already stored, and only then stores
// the pack as it came with an index it writes, the index last, as git
// reads a pack through it. Anything else, a pack with deltas or an object
// it cannot find, is left to git, which knows more.

// ErrNotWhole is a pack that has deltas: git must index it.
var ErrNotWhole = errors.New("the pack has deltas")

// maxInflated bounds the objects of a pack read here, together: a small
// pack may inflate a thousandfold.
const maxInflated = 64 << 20

// object is one git object read from a pack.
type object struct {
	kind   string // commit, tree, blob or tag
	data   []byte
	offset int    // of its entry in the pack
	crc    uint32 // of its entry's bytes, as the index records it
}

// kindOf names a pack entry's type that holds a whole object; "" for
// the others.
func kindOf(t byte) string {
	switch t {
	case 1:
		return "commit"
	case 2:
		return "tree"
	case 3:
		return "blob"
	case 4:
		return "tag"
	}
	return ""
}

// readPack reads a version 2 or 3 pack of whole objects, checking its
// trailing checksum and each object's size, and returns them by id.
func readPack(pack []byte) (map[string]object, error) {
	const head, trailer = 12, sha1.Size
	if len(pack) < head+trailer || string(pack[:4]) != "PACK" {
		return nil, errors.New("not a pack")
	}
	if len(pack) >= 1<<31 { // its index would need large offsets
		return nil, errors.New("the pack is too large to read here")
	}
	if v := binary.BigEndian.Uint32(pack[4:8]); v != 2 && v != 3 {
		return nil, fmt.Errorf("pack version %d", v)
	}
	body := pack[:len(pack)-trailer]
	if sum := sha1.Sum(body); !bytes.Equal(sum[:], pack[len(body):]) {
		return nil, errors.New("the pack's checksum does not match")
	}
	count := binary.BigEndian.Uint32(pack[8:12])
	if int64(count) > int64(len(body)) { // each entry takes bytes
		return nil, errors.New("the pack claims more objects than it can hold")
	}
	objs := make(map[string]object, min(count, 1024)) // not what the pack claims: it is checked as it is read
	budget := uint64(maxInflated)
	r := bytes.NewReader(body)
	r.Seek(head, io.SeekStart)
	for range count {
		offset := len(body) - r.Len()
		b, err := r.ReadByte()
		if err != nil {
			return nil, errors.New("the pack ends early")
		}
		t := b >> 4 & 7
		size, shift := uint64(b&15), 4
		for b&0x80 != 0 {
			if b, err = r.ReadByte(); err != nil || shift > 56 {
				return nil, errors.New("bad entry header")
			}
			size |= uint64(b&0x7f) << shift
			shift += 7
		}
		kind := kindOf(t)
		if kind == "" {
			if t == 6 || t == 7 {
				return nil, ErrNotWhole
			}
			return nil, fmt.Errorf("bad entry type %d", t)
		}
		if size > budget {
			return nil, errors.New("the pack's objects are too large to read here")
		}
		budget -= size
		// A bytes.Reader is an io.ByteReader, so zlib reads no further
		// than its stream's end: the next entry starts where it stops.
		z, err := zlib.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("entry data: %v", err)
		}
		data, err := io.ReadAll(io.LimitReader(z, int64(size)+1)) // to the stream's end, its checksum checked
		z.Close()
		if err != nil {
			return nil, fmt.Errorf("entry data: %v", err)
		}
		if uint64(len(data)) != size {
			return nil, errors.New("an entry's data is not its stated size")
		}
		id := objectID(kind, data)
		if _, dup := objs[id]; dup {
			return nil, fmt.Errorf("object %s is in the pack twice", id)
		}
		end := len(body) - r.Len()
		objs[id] = object{kind, data, offset, crc32.ChecksumIEEE(body[offset:end])}
	}
	if r.Len() != 0 {
		return nil, errors.New("bytes after the pack's last entry")
	}
	return objs, nil
}

// objectID is git's name for an object: the SHA-1 of its header and data.
func objectID(kind string, data []byte) string {
	h := sha1.New()
	h.Write(objectHeader(kind, data))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

func objectHeader(kind string, data []byte) []byte {
	return []byte(kind + " " + strconv.Itoa(len(data)) + "\x00")
}

// incomplete names an object the commit reaches that is neither in the
// pack nor stored (as far as Stored can tell).
type incomplete struct{ id, from string }

func (e *incomplete) Error() string {
	return fmt.Sprintf("object %s (from %s) is neither in the pack nor stored", e.id, e.from)
}

// reaches checks that every object sha reaches is in objs or stored in
// gitDir, with the type it is reached as. A stored object is taken as
// complete: a repository only ever gets objects with what they reach (a
// fetch checks it, and so does this). Only objects from the pack are
// read; what it returns nil for is complete, any error may be git
// knowing more.
func reaches(gitDir, sha string, objs map[string]object) error {
	stored := openStore(gitDir)
	defer stored.close()
	seen := map[string]bool{}
	var walk func(id, kind, from string) error
	walk = func(id, kind, from string) error {
		if seen[id] {
			return nil
		}
		seen[id] = true
		o, ok := objs[id]
		if !ok {
			if stored.has(id) {
				return nil
			}
			return &incomplete{id, from}
		}
		if kind != "" && o.kind != kind {
			return fmt.Errorf("object %s is a %s, reached as a %s from %s", id, o.kind, kind, from)
		}
		switch o.kind {
		case "commit", "tag":
			return walkHeaders(o, func(key, ref string) error {
				switch key {
				case "tree":
					return walk(ref, "tree", id)
				case "parent":
					return walk(ref, "commit", id)
				case "object":
					return walk(ref, "", id)
				}
				return nil
			})
		case "tree":
			return walkTree(o.data, func(mode, ref string) error {
				switch mode {
				case "160000": // a submodule's commit lives in its own repository
					return nil
				case "40000":
					return walk(ref, "tree", id)
				}
				return walk(ref, "blob", id)
			})
		}
		return nil
	}
	if _, ok := objs[sha]; !ok {
		return &incomplete{sha, "the trigger"}
	}
	return walk(sha, "commit", "the trigger")
}

// walkHeaders calls fn with each header line's key and value of a commit
// or tag, up to the blank line before its message; a key that names an
// object must have a full id.
func walkHeaders(o object, fn func(key, ref string) error) error {
	rest := o.data
	for len(rest) > 0 {
		line, after, ok := bytes.Cut(rest, []byte("\n"))
		if !ok || len(line) == 0 {
			return nil
		}
		rest = after
		key, value, _ := bytes.Cut(line, []byte(" "))
		switch string(key) {
		case "tree", "parent", "object":
			if !isID(value) {
				return fmt.Errorf("a %s's %s is not an object id", o.kind, key)
			}
			if err := fn(string(key), string(value)); err != nil {
				return err
			}
		}
	}
	return nil
}

func isID(b []byte) bool {
	if len(b) != 40 {
		return false
	}
	_, err := hex.Decode(make([]byte, 20), b)
	return err == nil && bytes.Equal(b, bytes.ToLower(b))
}

// walkTree calls fn with each entry's mode and object id.
func walkTree(data []byte, fn func(mode, ref string) error) error {
	for len(data) > 0 {
		sp := bytes.IndexByte(data, ' ')
		nul := bytes.IndexByte(data, 0)
		if sp < 1 || nul < sp || len(data) < nul+1+20 {
			return errors.New("a tree entry is cut short")
		}
		if err := fn(string(data[:sp]), hex.EncodeToString(data[nul+1:nul+21])); err != nil {
			return err
		}
		data = data[nul+21:]
	}
	return nil
}

// AddObjects adds commit sha from pack to the repository at gitDir when
// the pack has only whole objects and, with what gitDir stores, has
// everything sha reaches. It returns ErrNotWhole for a pack with deltas,
// and an error for anything else it cannot add: then gitDir may still
// be able to take the pack through git, which the caller asks. The pack
// goes in as it came, with an index written here: two files, where the
// same objects loose would be a file each.
func AddObjects(gitDir, sha string, pack []byte) error {
	objs, err := readPack(pack)
	if err != nil {
		return err
	}
	if err := reaches(gitDir, sha, objs); err != nil {
		return err
	}
	sum := pack[len(pack)-sha1.Size:]
	name := filepath.Join(gitDir, "objects", "pack", "pack-"+hex.EncodeToString(sum))
	if err := writeFile(name+".pack", pack); err != nil {
		return err
	}
	// The index last: git finds a pack's objects through its index, so
	// none is seen before all are there.
	return writeFile(name+".idx", packIndex(objs, sum))
}

// packIndex is a version 2 pack index of objs, for the pack whose
// checksum is sum: the ids sorted, after a table of how many start with
// each byte value up to it; then each one's CRC-32 and offset; then the
// pack's checksum and the index's own.
func packIndex(objs map[string]object, sum []byte) []byte {
	ids := slices.Sorted(maps.Keys(objs))
	idx := []byte{0xff, 't', 'O', 'c', 0, 0, 0, 2}
	var fanout [256]uint32
	for _, id := range ids {
		first, _ := strconv.ParseUint(id[:2], 16, 8)
		for b := first; b < 256; b++ {
			fanout[b]++
		}
	}
	for _, n := range fanout {
		idx = binary.BigEndian.AppendUint32(idx, n)
	}
	for _, id := range ids {
		raw, _ := hex.DecodeString(id)
		idx = append(idx, raw...)
	}
	for _, id := range ids {
		idx = binary.BigEndian.AppendUint32(idx, objs[id].crc)
	}
	for _, id := range ids { // a small pack: every offset fits in 31 bits
		idx = binary.BigEndian.AppendUint32(idx, uint32(objs[id].offset))
	}
	idx = append(idx, sum...)
	own := sha1.Sum(idx)
	return append(idx, own[:]...)
}

// writeFile writes data to path whole, read-only (as git's packs are);
// a file already there (the same pack, named by its checksum) is left as
// it is.
func writeFile(path string, data []byte) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return fileset.WriteAtomic(path, data, 0o444)
}

// Parents returns the parents of commit sha as a pack of whole objects
// holds it; ok is false for any other pack, or one without the commit.
func Parents(pack []byte, sha string) (parents []string, ok bool) {
	objs, err := readPack(pack)
	c, found := objs[sha]
	if err != nil || !found || c.kind != "commit" {
		return nil, false
	}
	err = walkHeaders(c, func(key, ref string) error {
		if key == "parent" {
			parents = append(parents, ref)
		}
		return nil
	})
	return parents, err == nil
}
