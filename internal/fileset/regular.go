package fileset

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// NotRegularError is a file sparkwing reads (a store entry or blob, a run
// record, the stat cache, an input) that turned out to be something else:
// a FIFO would block forever, and a symlink to /dev/zero never ends.
type NotRegularError struct {
	Path string
	Mode fs.FileMode
}

func (e *NotRegularError) Error() string {
	if e.Mode&fs.ModeSymlink != 0 {
		return fmt.Sprintf("%s is a symlink, not a regular file", e.Path)
	}
	return fmt.Sprintf("%s is not a regular file (%s)", e.Path, e.Mode.Type())
}

// OpenRegular opens path for reading if it is a regular file: a final
// symlink is not followed and a FIFO does not block the open. It is for
// the files sparkwing writes itself, which are never links.
func OpenRegular(path string) (*os.File, fs.FileInfo, error) {
	return openRegular(path, syscall.O_NOFOLLOW)
}

// OpenUserFile is OpenRegular for a file a user names (a project file, a
// Dockerfile), which may be a symlink to a regular file.
func OpenUserFile(path string) (*os.File, fs.FileInfo, error) {
	return openRegular(path, 0)
}

func openRegular(path string, flags int) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|flags, 0)
	if err != nil {
		if pe, ok := err.(*fs.PathError); ok && pe.Err == syscall.ELOOP {
			return nil, nil, &NotRegularError{Path: path, Mode: fs.ModeSymlink}
		}
		return nil, nil, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = &NotRegularError{Path: path, Mode: st.Mode()}
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

// ReadRegular reads the regular file at path (see OpenRegular), refusing
// one larger than max bytes, and never reading more than its size said
// when it was opened.
func ReadRegular(path string, max int64) ([]byte, error) {
	return readBounded(OpenRegular, path, max)
}

// ReadUserFile is ReadRegular for a file a user names (see OpenUserFile).
func ReadUserFile(path string, max int64) ([]byte, error) {
	return readBounded(OpenUserFile, path, max)
}

func readBounded(open func(string) (*os.File, fs.FileInfo, error), path string, max int64) ([]byte, error) {
	f, st, err := open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st.Size() > max {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d it may be", path, st.Size(), max)
	}
	data := make([]byte, st.Size())
	n, err := io.ReadFull(f, data)
	if err == io.ErrUnexpectedEOF {
		err = nil // it shrank while read: what was there
	}
	return data[:n], err
}

// WriteAtomic writes data to a new file beside path, with permissions
// perm, and renames it into place: a reader, or a process killed midway,
// never leaves half a file, and of concurrent writers the last rename
// wins. The temporary file is removed on any error.
func WriteAtomic(path string, data []byte, perm fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	if perm != 0o600 { // CreateTemp's
		err = tmp.Chmod(perm)
	}
	if err == nil {
		_, err = tmp.Write(data)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
