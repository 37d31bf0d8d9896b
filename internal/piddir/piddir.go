// Package piddir gives a process directories named after it (PID-*), so
// that what a killed process left behind can be found and removed: a
// directory whose process is gone is an orphan. The test servers use it
// (imagetest's buildkitd and registry, pgtest's PostgreSQL).
package piddir

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// New makes a new directory in root (made if missing) for this process.
func New(root string) (string, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	return os.MkdirTemp(root, strconv.Itoa(os.Getpid())+"-")
}

// Orphans are the directories in root named after a process that is gone.
func Orphans(root string) []string {
	entries, _ := os.ReadDir(root)
	var out []string
	for _, e := range entries {
		pidText, _, ok := strings.Cut(e.Name(), "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); err == nil || err == syscall.EPERM {
			continue // its process still runs
		}
		out = append(out, filepath.Join(root, e.Name()))
	}
	return out
}
