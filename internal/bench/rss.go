package bench

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// RunMeasured runs cmd and returns the peak resident memory of its own
// process, in KiB. The rusage of a waited child will not do on Linux: its
// ru_maxrss survives execve, and Go starts children by vfork, so a child of
// a large process reports that process's peak. VmHWM in /proc is the
// process's own high-water mark; it is read until the process exits, and
// as a high-water mark the last reading holds everything but the last
// instant.
func RunMeasured(cmd *exec.Cmd) (peakKiB int64, err error) {
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	status := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status"
	for {
		if hwm := readHWM(status); hwm > peakKiB {
			peakKiB = hwm
		}
		select {
		case err := <-done:
			return peakKiB, err
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func readHWM(status string) int64 {
	f, err := os.Open(status)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
