package devloop

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"
)

// maxChangeSet bounds how long a burst of events (a git checkout, an
// editor's save dance) is gathered into one change set.
const maxChangeSet = time.Second

// changeSet is the paths a burst of events touched, and when its first
// event came.
type changeSet struct {
	first time.Time
	paths []string
	// created marks the paths whose first event in the set created them,
	// and the directories made in it whose event is ignored (where a
	// build writes its outputs), which are not in paths.
	created  map[string]bool
	overflow bool // the kernel dropped events: anything may have changed
}

// all is every path, for an overflowed set: the watcher cannot say which.
const all = "."

// settle drops the paths created and gone again within the set (a
// compiler's or an editor's temporary file): the tree is as it was there.
// A path gone from a directory the set created counts too: its creation
// can come before the watch on the new directory. It reports whether
// anything is left. The loop settles a set when it takes it, so a file's
// whole life within the set is seen.
func (cs *changeSet) settle(root string) bool {
	cs.paths = slices.DeleteFunc(cs.paths, func(rel string) bool {
		if !cs.created[rel] && !cs.created[path.Dir(rel)] {
			return false
		}
		_, err := os.Lstat(filepath.Join(root, filepath.FromSlash(rel)))
		return errors.Is(err, fs.ErrNotExist)
	})
	if cs.overflow {
		cs.paths = append(cs.paths, all) // the root: whatever a build relied on
	}
	return len(cs.paths) > 0
}

// watcher watches every directory of the project but the ignored ones,
// and gathers events into change sets.
type watcher struct {
	fs      *fsnotify.Watcher
	root    string
	ignore  func(rel string, event bool) bool
	changes chan changeSet
	errs    chan error
	dirs    int
	done    chan struct{}
}

func watch(root string, ignore func(string, bool) bool, quiet time.Duration) (*watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &watcher{fs: fw, root: root, ignore: ignore, changes: make(chan changeSet), errs: make(chan error, 1), done: make(chan struct{})}
	if err := w.add(root); err != nil {
		fw.Close()
		return nil, err
	}
	go w.run(quiet)
	return w, nil
}

// add watches dir and every directory below it that is not ignored.
func (w *watcher) add(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // gone meanwhile
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if rel, _ := filepath.Rel(w.root, p); rel != "." && w.ignore(filepath.ToSlash(rel), false) {
			return filepath.SkipDir
		}
		if err := w.fs.Add(p); err != nil {
			return err
		}
		w.dirs++
		return nil
	})
}

// run gathers events into change sets and hands each to the loop; events
// that come while the loop is busy are merged into the set it takes next.
func (w *watcher) run(quiet time.Duration) {
	var cs *changeSet
	var timer <-chan time.Time
	var ready changeSet
	var out chan changeSet // w.changes once a set is ready, else nil
	// begin gives the set being gathered its first change: the clock of
	// its maxChangeSet starts.
	begin := func() {
		if cs == nil {
			cs = &changeSet{created: map[string]bool{}}
		}
		if cs.first.IsZero() {
			cs.first = time.Now()
		}
	}
	for {
		select {
		case <-w.done:
			return
		case out <- ready:
			ready, out = changeSet{}, nil
		case ev, ok := <-w.fs.Events:
			if !ok {
				return
			}
			rel, err := filepath.Rel(w.root, ev.Name)
			if err != nil || w.ignore(filepath.ToSlash(rel), false) {
				continue
			}
			rel = filepath.ToSlash(rel)
			newDir := false
			if ev.Has(fsnotify.Create) {
				if st, err := os.Lstat(ev.Name); err == nil && st.IsDir() {
					w.add(ev.Name)
					newDir = true
				}
			}
			if w.ignore(rel, true) {
				if newDir {
					// Its files' first events can come before the watch
					// on it: settle must know it is new.
					if cs == nil {
						cs = &changeSet{created: map[string]bool{}}
					}
					cs.created[rel] = true
				}
				continue
			}
			begin()
			if _, seen := cs.created[rel]; !seen {
				cs.paths = append(cs.paths, rel)
				cs.created[rel] = ev.Has(fsnotify.Create)
			}
			timer = time.After(min(quiet, time.Until(cs.first.Add(maxChangeSet))))
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				begin()
				cs.overflow = true
				timer = time.After(quiet)
				continue
			}
			select {
			case w.errs <- err:
			default:
			}
		case <-timer:
			if out == nil {
				ready = *cs
			} else { // the loop is busy: one set, each path as it first came
				for _, p := range cs.paths {
					if _, seen := ready.created[p]; !seen {
						ready.paths = append(ready.paths, p)
						ready.created[p] = cs.created[p]
					}
				}
				for p, made := range cs.created { // the ignored directories made
					if _, seen := ready.created[p]; !seen {
						ready.created[p] = made
					}
				}
				ready.overflow = ready.overflow || cs.overflow
			}
			out, cs, timer = w.changes, nil, nil
		}
	}
}

func (w *watcher) close() {
	close(w.done)
	w.fs.Close()
}
