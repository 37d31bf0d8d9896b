package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
)

// Workspace is the project tree as the cache writes to it.
//
// Every path a restore, a sweep or a collection touches goes through an
// os.Root of the project: each component is resolved inside the root, so
// a symlink anywhere on the way (a chain of them, `..` in their text) can
// never lead a write, a delete or a new directory outside the project.
//
// The workspace also keeps, in .sparkwing/state/ (which ignores itself for
// git):
//
//	tmp/PID.RANDOM        files being restored, renamed into place when
//	                      whole; a dead process's leftovers are removed
//	jobs/PIPELINE/JOB     one file per job: the job's lock, the process
//	                      group of its running command, and the ledger of
//	                      the files it last put in the tree
//
// The ledger is what makes the stale-file sweep safe: a restore deletes
// only files that an earlier run or restore of the same job produced and
// that still hold what it produced, never a file a user made or edited.
type Workspace struct {
	Dir  string // the project root
	root *os.Root

	prepared   sync.Once
	prepareErr error
	mu         sync.Mutex
	jobDirs    map[string]*os.Root // pipeline → its directory of job locks, opened once
}

// StateDir is where the workspace keeps its files, relative to the root.
const StateDir = ".sparkwing/state"

const (
	tmpDir  = StateDir + "/tmp"
	jobsDir = StateDir + "/jobs"
)

// OpenWorkspace opens the project at dir. Nothing is written until a job
// is locked or a file restored.
func OpenWorkspace(dir string) (*Workspace, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &Workspace{Dir: dir, root: r}, nil
}

// Close releases the root.
func (w *Workspace) Close() error {
	w.mu.Lock()
	for _, r := range w.jobDirs {
		r.Close()
	}
	w.jobDirs = nil
	w.mu.Unlock()
	return w.root.Close()
}

// jobDir returns the directory of pipeline's job locks, opened once: each
// lock is then one open, not one per path component.
func (w *Workspace) jobDir(pipeline string) (*os.Root, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if r := w.jobDirs[pipeline]; r != nil {
		return r, nil
	}
	dir := jobsDir + "/" + pipeline
	if err := w.root.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r, err := w.root.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	if w.jobDirs == nil {
		w.jobDirs = map[string]*os.Root{}
	}
	w.jobDirs[pipeline] = r
	return r, nil
}

// prepare makes the state directory, once, and removes what killed
// processes left in its temporary directory.
func (w *Workspace) prepare() error {
	w.prepared.Do(func() {
		if err := w.makeState(); err != nil {
			w.prepareErr = fmt.Errorf("preparing %s: %w", filepath.Join(w.Dir, StateDir), err)
		}
	})
	return w.prepareErr
}

func (w *Workspace) makeState() error {
	if err := w.root.MkdirAll(tmpDir, 0o755); err != nil {
		return err
	}
	ignore := StateDir + "/.gitignore"
	if _, err := w.root.Lstat(ignore); errors.Is(err, fs.ErrNotExist) {
		w.root.WriteFile(ignore, []byte("# written by sparkwing: its state, not sources\n*\n"), 0o644)
	}
	f, err := w.root.Open(tmpDir)
	if err != nil {
		return err
	}
	names, _ := f.Readdirnames(-1)
	f.Close()
	for _, n := range names {
		pid, _, _ := strings.Cut(n, ".")
		if p, err := strconv.Atoi(pid); err == nil && !alive(p) {
			w.root.RemoveAll(tmpDir + "/" + n)
		}
	}
	return nil
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}

// tempName returns a new name in the temporary directory.
func tempName() string {
	var b [6]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s/%d.%s", tmpDir, os.Getpid(), hex.EncodeToString(b[:]))
}

// JobLock is one job's hold on the tree: while it is held, no other
// sparkwing process runs or restores that job in this project.
type JobLock struct {
	f      *os.File
	state  jobState
	orphan int // process group of an earlier run found alive when locking
}

// orphanWait bounds how long a job waits for the processes of an earlier
// run of it (whose sparkwing was killed) to be gone.
var orphanWait = 30 * time.Second

// LockJob takes job's lock in this project, waiting while another process
// holds it. say is told once if it has to wait. If processes of an
// earlier run of the job (one whose sparkwing died) are still alive, it
// waits for them too; Orphaned then reports that they outlived the wait,
// and the caller must not store what the job produces.
func (w *Workspace) LockJob(ctx context.Context, pipeline, job string, say func(string)) (*JobLock, error) {
	if err := w.prepare(); err != nil {
		return nil, err
	}
	dir, err := w.jobDir(pipeline)
	if err != nil {
		return nil, err
	}
	f, err := dir.OpenFile(job, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return nil, err
	}
	if err := flockWait(ctx, f, func() {
		say(fmt.Sprintf("waiting for another sparkwing process running job %s in this project", job))
	}); err != nil {
		f.Close()
		return nil, err
	}
	l := &JobLock{f: f}
	l.read()
	if l.state.Running > 0 && groupAlive(l.state.Running) {
		say(fmt.Sprintf("waiting for processes of an earlier run of job %s (process group %d) to end", job, l.state.Running))
		for deadline := time.Now().Add(orphanWait); groupAlive(l.state.Running) && time.Now().Before(deadline); {
			select {
			case <-ctx.Done():
				l.Unlock()
				return nil, ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
		if groupAlive(l.state.Running) {
			l.orphan = l.state.Running
		}
	}
	return l, nil
}

func groupAlive(pgid int) bool { return syscall.Kill(-pgid, 0) == nil }

// Orphaned reports that processes of an earlier run of the job outlived
// the wait in LockJob: a result made or restored now could be mixed with
// what they write.
func (l *JobLock) Orphaned() bool { return l.orphan > 0 && groupAlive(l.orphan) }

// flockWait takes an exclusive flock on f, telling waiting() once if it
// must wait, and giving up when ctx is done.
func flockWait(ctx context.Context, f *os.File, waiting func()) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if err != syscall.EWOULDBLOCK {
		return err
	}
	waiting()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != syscall.EWOULDBLOCK {
			return err
		}
	}
}

// Unlock releases the lock.
func (l *JobLock) Unlock() {
	if l != nil && l.f != nil {
		l.f.Close() // closing the only descriptor releases the flock
		l.f = nil
	}
}

// checkOutputPath makes sure p is a path an output may have: clean,
// relative, not under .sparkwing/ or .git/, and matched by one of globs.
// Entries can come from elsewhere (a shared cache), so a restore checks
// every path before it touches it.
func checkOutputPath(p string, globs []string) error {
	switch {
	case p == "" || p == "." || path.IsAbs(p) || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../"):
		return fmt.Errorf("output path %q is not inside the project", p)
	case reserved(p):
		return fmt.Errorf("output path %q is under .sparkwing/ or .git/", p)
	case !fileset.MatchAny(globs, p):
		return fmt.Errorf("output path %q matches none of the job's outputs", p)
	}
	return nil
}

// reserved reports whether p lies in a directory no output may touch.
func reserved(p string) bool {
	top, _, _ := strings.Cut(p, "/")
	return top == ".sparkwing" || top == ".git"
}
