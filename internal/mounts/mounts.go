// Package mounts finds and removes the mounts a killed program left below
// a directory, so that the directory can be removed: a test cluster's
// kubelet, a test buildkitd's build containers.
package mounts

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"syscall"
)

// Under returns the mount points below dir (not dir itself), from this
// process's mount table.
func Under(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// The mount point is the fifth field, with spaces and the like
		// escaped in octal.
		if fields := strings.Fields(sc.Text()); len(fields) > 4 {
			if p := unescape(fields[4]); strings.HasPrefix(p, dir+"/") {
				points = append(points, p)
			}
		}
	}
	return points
}

// UnmountUnder unmounts every mount below dir, deepest first (lazily: one
// still in use goes once it is not).
func UnmountUnder(dir string) {
	for range 3 { // a mount can hide another of the same path
		points := Under(dir)
		if len(points) == 0 {
			return
		}
		slices.SortFunc(points, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
		for _, p := range points {
			syscall.Unmount(p, syscall.MNT_DETACH)
		}
	}
}

func unescape(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}
