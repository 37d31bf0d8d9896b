package cli

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// --verbose shows what each job's cache key is made of: every line of its
// manifest (its command, outputs, env digests, tools, the outputs of the
// jobs it needs, and each input file with its mode and digest), so a user
// can see exactly what was hashed, as Turborepo's --summarize does.

// keyLog collects each job's manifest as the cache computes its key
// (Cache.Keyed, called from several goroutines at once); a job keyed again
// keeps the last one, the one the run used.
type keyLog struct {
	mu    sync.Mutex
	jobs  map[string]string
	notes []string // what the engine said of the last run's record
}

func (k *keyLog) explain(msg string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.notes = append(k.notes, msg)
}

func (k *keyLog) explained() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.notes)
}

// writeExplained prints what the engine said of the last run's record,
// the no-op's shortcut that --verbose does not take.
func writeExplained(w io.Writer, notes []string) {
	for _, n := range notes {
		fmt.Fprintf(w, "no-op shortcut: %s\n", n)
	}
}

func (k *keyLog) keyed(job, manifest string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.jobs == nil {
		k.jobs = map[string]string{}
	}
	k.jobs[job] = manifest
}

// manifests returns what was collected, by job.
func (k *keyLog) manifests() map[string]string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return maps.Clone(k.jobs)
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
