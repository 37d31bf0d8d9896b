package cache

import (
	"os"
	"path/filepath"
	"syscall"
)

// Lock is a hold on the store: runs hold it shared while they read and
// write entries; pruning holds it exclusively, so it never deletes what a
// concurrent run is restoring or has written but not yet published.
type Lock struct{ f *os.File }

// LockShared blocks until the store can be used alongside other runs.
func (s *Store) LockShared() (*Lock, error) { return s.lock(syscall.LOCK_SH) }

// LockExclusive blocks until no run uses the store.
func (s *Store) LockExclusive() (*Lock, error) { return s.lock(syscall.LOCK_EX) }

// TryLockExclusive returns nil, nil when another process uses the store.
func (s *Store) TryLockExclusive() (*Lock, error) {
	l, err := s.lock(syscall.LOCK_EX | syscall.LOCK_NB)
	if err == syscall.EWOULDBLOCK {
		return nil, nil
	}
	return l, err
}

func (s *Store) lock(how int) (*Lock, error) {
	f, err := os.OpenFile(filepath.Join(s.Dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, err
	}
	return &Lock{f: f}, nil
}

// Unlock releases the hold.
func (l *Lock) Unlock() {
	if l != nil && l.f != nil {
		syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
		l.f.Close()
	}
}
