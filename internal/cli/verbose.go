package cli

import (
	"cmp"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// --verbose shows what each job's cache key is made of: every line of its
// manifest (its command, outputs, env digests, tools, the outputs of the
// jobs it needs, and each input file with its mode and digest), so a user
// can see exactly what was hashed, as Turborepo's --summarize does.

// keyLog collects, per job, the manifest lines the cache hashes (it is the
// cache's Debug writer, which several goroutines write to at once).
type keyLog struct {
	mu    sync.Mutex
	lines map[string][]string
	rest  string
}

const keyLinePrefix = "sparkwing key "

func (k *keyLog) Write(p []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.lines == nil {
		k.lines = map[string][]string{}
	}
	text := k.rest + string(p)
	lines := strings.Split(text, "\n")
	k.rest = lines[len(lines)-1]
	for _, l := range lines[:len(lines)-1] {
		job, line, ok := strings.Cut(strings.TrimPrefix(l, keyLinePrefix), ": ")
		if !ok {
			continue
		}
		if strings.HasPrefix(line, "sparkwing manifest ") {
			k.lines[job] = nil // computed again: the last computation is the one used
		}
		k.lines[job] = append(k.lines[job], line)
	}
	return len(p), nil
}

// manifests returns what was collected, by job.
func (k *keyLog) manifests() map[string]string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[string]string{}
	for job, lines := range k.lines {
		out[job] = strings.Join(lines, "\n") + "\n"
	}
	return out
}

// writeHashed prints each job's key and manifest, in plan order; a job
// without one is named with why it has none (noKey).
func writeHashed(w io.Writer, pl *plan.Plan, keys, manifests, noKey map[string]string) {
	fmt.Fprintf(w, "\nwhat each job's cache key is made of (--verbose):\n")
	for _, j := range pl.Jobs {
		m := manifests[j.ID]
		if m == "" {
			fmt.Fprintf(w, "%s: no key (%s)\n", j.ID, cmp.Or(noKey[j.ID], "not cached"))
			continue
		}
		key := strings.TrimPrefix(keys[j.ID], "sha256:")
		if len(key) > 12 {
			key = key[:12]
		}
		files := strings.Count(m, "\nfile ")
		fmt.Fprintf(w, "%s: key %s, %d input files\n", j.ID, key, files)
		for _, l := range strings.Split(strings.TrimSuffix(m, "\n"), "\n") {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
}
