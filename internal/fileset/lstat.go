package fileset

import (
	"cmp"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// rootStat lstat-s paths below a root through an open descriptor of the
// root: the kernel walks only the relative path's components (an input
// deep in a checkout costs half the lookups of its absolute path), and
// nothing is allocated. A no-op's lstat of every input is most of its
// work.
type rootStat struct {
	dir  string
	once sync.Once
	fd   int // -1 when the root could not be opened: lstat then uses paths
}

// stat is what a lstat says of a file.
type stat struct {
	key  statKey
	mode fs.FileMode
	size int64
}

func (r *rootStat) open() {
	r.fd = -1
	fd, err := unix.Open(r.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	r.fd = fd
	runtime.AddCleanup(r, func(fd int) { unix.Close(fd) }, fd)
}

// lstat is os.Lstat(filepath.Join(dir, rel)) for a relative rel.
func (r *rootStat) lstat(rel string) (stat, error) {
	r.once.Do(r.open)
	if r.fd < 0 || filepath.IsAbs(rel) || hasDotDot(rel) {
		// Join would clean a ".." lexically, where the kernel resolves it
		// after any symlink: keep Join's meaning.
		st, err := os.Lstat(filepath.Join(r.dir, filepath.FromSlash(rel)))
		if err != nil {
			return stat{}, err
		}
		return stat{key: keyOf(st), mode: st.Mode(), size: st.Size()}, nil
	}
	var st unix.Stat_t
	for {
		err := unix.Fstatat(r.fd, rel, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return stat{}, &fs.PathError{Op: "lstat", Path: filepath.Join(r.dir, filepath.FromSlash(rel)), Err: err}
		}
		break
	}
	mode := modeOf(st.Mode)
	return stat{mode: mode, size: st.Size, key: statKey{
		dev: int64(st.Dev), ino: int64(st.Ino), size: st.Size, mode: uint32(mode),
		mtime: st.Mtim.Sec*1e9 + st.Mtim.Nsec, ctime: st.Ctim.Sec*1e9 + st.Ctim.Nsec,
	}}, nil
}

func hasDotDot(rel string) bool {
	return rel == ".." || strings.HasPrefix(rel, "../") || strings.HasSuffix(rel, "/..") || strings.Contains(rel, "/../")
}

// modeOf converts a stat mode as package os does.
func modeOf(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFBLK:
		mode |= fs.ModeDevice
	case unix.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFDIR:
		mode |= fs.ModeDir
	case unix.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case unix.S_IFLNK:
		mode |= fs.ModeSymlink
	case unix.S_IFSOCK:
		mode |= fs.ModeSocket
	}
	if m&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if m&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if m&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// readDir is os.ReadDir(filepath.Join(dir, rel)), the directory opened
// relative to the root (following a last component that is a symlink, as
// os.ReadDir does).
func (r *rootStat) readDir(rel string) ([]fs.DirEntry, error) {
	r.once.Do(r.open)
	abs := filepath.Join(r.dir, filepath.FromSlash(rel))
	if r.fd < 0 || filepath.IsAbs(rel) || hasDotDot(rel) {
		return os.ReadDir(abs)
	}
	fd, err := unix.Openat(r.fd, cmp.Or(rel, "."), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	for err == unix.EINTR {
		fd, err = unix.Openat(r.fd, cmp.Or(rel, "."), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: abs, Err: err}
	}
	f := os.NewFile(uintptr(fd), abs)
	defer f.Close()
	list, err := f.ReadDir(-1)
	slices.SortFunc(list, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return list, err
}
