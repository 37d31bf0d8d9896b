package fileset

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
)

// Symlinked inputs are hashed as what a job reading the path would read:
//
//   - a link to a file is its text and the content of the file it leads
//     to, so editing the target changes the key;
//   - a link to a directory is walked as a directory, its files listed
//     under the link's path (a link back to a directory already being
//     walked is hashed by its text instead of walked forever);
//   - a dangling link is its text: when its target appears, the key
//     changes;
//   - a link that leads outside the project (an absolute text, or `..`
//     climbing above the root, anywhere on the chain) cannot be watched,
//     so the job is not cached: *OutsideError.

// OutsideError is an input path that a symlink leads out of the project.
type OutsideError struct {
	Path string // the input, relative to the root
	Link string // the symlink on the way that leaves
}

func (e *OutsideError) Error() string {
	return fmt.Sprintf("input %s leads outside the project through the symlink %s", e.Path, e.Link)
}

// LinkReader is what Resolve reads: an os.Root, typically.
type LinkReader interface {
	Lstat(name string) (fs.FileInfo, error)
	Readlink(name string) (string, error)
}

// ErrLoop is a chain of symlinks that does not end.
var ErrLoop = errors.New("too many levels of symlinks")

// Resolve follows every symlink on the way to rel, component by component,
// and returns the clean path inside the root it leads to, and whether that
// exists. A link with an absolute text, or whose `..` climbs above the
// root, is an *OutsideError (absolute links into the project count too:
// they break when the project moves).
func Resolve(r LinkReader, rel string) (target string, exists bool, err error) {
	var done []string // resolved components: real directories, never links
	todo := strings.Split(rel, "/")
	via := rel // the last symlink followed, for errors
	for hops := 0; len(todo) > 0; {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) == 0 {
				return "", false, &OutsideError{Path: rel, Link: via}
			}
			done = done[:len(done)-1]
			continue
		}
		p := path.Join(append(done, c)...)
		st, err := r.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			// The rest does not exist yet; where it would be is still
			// decided by its text.
			rest := path.Clean(path.Join(append(append([]string{}, done...), append([]string{c}, todo...)...)...))
			if rest == ".." || strings.HasPrefix(rest, "../") || path.IsAbs(rest) {
				return "", false, &OutsideError{Path: rel, Link: via}
			}
			return rest, false, nil
		}
		if err != nil {
			return "", false, err
		}
		if st.Mode()&fs.ModeSymlink == 0 {
			done = append(done, c)
			continue
		}
		if hops++; hops > 40 {
			return "", false, ErrLoop
		}
		link, err := r.Readlink(p)
		if err != nil {
			return "", false, err
		}
		if path.IsAbs(link) {
			return "", false, &OutsideError{Path: rel, Link: p}
		}
		// The link's text is relative to its own directory, which is done.
		todo = append(strings.Split(link, "/"), todo...)
		via = p
	}
	if len(done) == 0 {
		return ".", true, nil
	}
	return path.Join(done...), true, nil
}

// lazyRoot opens an os.Root of dir on first use: only projects with
// symlinked inputs pay for it.
type lazyRoot struct {
	dir  string
	once sync.Once
	root *os.Root
	err  error
}

func (l *lazyRoot) get() (*os.Root, error) {
	l.once.Do(func() { l.root, l.err = os.OpenRoot(l.dir) })
	return l.root, l.err
}

// resolve is Resolve inside dir.
func (l *lazyRoot) resolve(rel string) (string, bool, error) {
	r, err := l.get()
	if err != nil {
		return "", false, err
	}
	return Resolve(r, rel)
}
