package cli

import (
	"cmp"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
	"github.com/sparkwing-dev/sparkwing/internal/project"
	"github.com/sparkwing-dev/sparkwing/internal/remote"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
)

func newCacheCmd(e *env, g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Inspect and trim the local job cache",
		Long: `The local cache lives in $SPARKWING_CACHE_DIR (default: the user cache
directory, e.g. ~/.cache/sparkwing) and is shared by every project and
every sparkwing process on the machine. It is kept under 10 GiB, and entries
unused for 14 days are removed, automatically (least recently used first).`,
	}
	var asJSON bool
	status := &cobra.Command{
		Use:   "status",
		Short: "Entries and size; this project's share, hit rate and biggest entries; other projects' shares",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.cacheStatus(g, asJSON)
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	clean := &cobra.Command{
		Use:   "clean",
		Short: "Remove every entry and compiled Go pipeline (waits for running sparkwing processes)",
		Long: `Remove every entry of the job cache, for every project, and the compiled Go
pipeline programs (the next run of a Go pipeline compiles it again). It
waits for running sparkwing processes to finish with the cache first.

What stays, and says so: the parsed project files and the SDK copy that
.sparkwing/go.work points editors at (both a few KiB, rewritten as needed).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.cleanCache()
		},
	}
	cmd.AddCommand(status, clean, newPruneCmd(e, g))
	return cmd
}

// lockedStore opens the store and waits until no other process uses it:
// for the verbs that remove entries.
func (e *env) lockedStore() (*cache.Store, *cache.Lock, error) {
	store, err := e.openStore()
	if err != nil {
		return nil, nil, err
	}
	lock, err := store.LockExclusive()
	return store, lock, err
}

func (e *env) cleanCache() error {
	dir, err := e.cacheDir()
	if err != nil {
		return err
	}
	store, lock, err := e.lockedStore()
	if err != nil {
		return err
	}
	defer lock.Unlock()
	entries, before, _ := store.Entries()
	if err := store.Clean(); err != nil {
		return err
	}
	programs := filepath.Join(dir, "pipelines")
	progBytes, progs := treeSize(programs, "pipeline")
	if err := os.RemoveAll(programs); err != nil {
		return err
	}
	var kept int64
	for _, d := range []string{"plans", "sdk"} {
		n, _ := treeSize(filepath.Join(dir, d), "")
		kept += n
	}
	fmt.Fprintf(e.stdout, "removed %d entries (%s) and %d compiled Go pipelines (%s) from %s\nkept: parsed project files and the SDK copy for editors (%s)\n",
		len(entries), runrec.Bytes(before), progs, runrec.Bytes(progBytes), dir, runrec.Bytes(kept))
	return nil
}

// treeSize is the bytes of the regular files under dir, and how many of
// them are named name.
func treeSize(dir, name string) (int64, int) {
	var bytes int64
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			bytes += info.Size()
		}
		if d.Name() == name {
			n++
		}
		return nil
	})
	return bytes, n
}

func newPruneCmd(e *env, g *globals) *cobra.Command {
	var maxSize, maxAge string
	var dry, remoteToo bool
	cmd := &cobra.Command{
		Use:   "prune [--max-size SIZE] [--max-age AGE] [--dry-run] [--remote]",
		Short: "Remove least recently used entries beyond a size or age",
		Long: `Remove entries unused for longer than --max-age, then the least recently used
until the cache fits --max-size, then any blob no entry needs. Without
limits, the default budget applies (10GiB, 14d).

With --remote, prune the project's remote cache instead: for S3, which has
no LRU of its own, remove entries not used for --max-age (a read renews an
entry's last-use mark at most once a day), then blobs no remaining entry
names; bazel-remote bounds itself (its --max_size).`,
		Example: "  sparkwing cache prune --max-size 2GiB\n  sparkwing cache prune --max-age 7d --dry-run\n  sparkwing cache prune --remote --max-age 30d --dry-run",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if remoteToo {
				if maxSize != "" {
					return usageError("--max-size does not apply to --remote: S3 is pruned by age (--max-age), bazel-remote by its own --max_size")
				}
				age, err := parseAge(maxAge)
				if maxAge == "" || err != nil {
					return usageError("--remote needs --max-age AGE (e.g. 30d): S3 keeps no size order")
				}
				return e.pruneRemote(g, age, dry)
			}
			opts := cache.PruneOptions{MaxSize: cache.DefaultMaxSize, MaxAge: cache.DefaultMaxAge, DryRun: dry}
			var err error
			if maxSize != "" || maxAge != "" {
				opts.MaxSize, opts.MaxAge = 0, 0
			}
			if maxSize != "" {
				if opts.MaxSize, err = parseSize(maxSize); err != nil {
					return usageError("--max-size %s: %v", maxSize, err)
				}
			}
			if maxAge != "" {
				if opts.MaxAge, err = parseAge(maxAge); err != nil {
					return usageError("--max-age %s: %v", maxAge, err)
				}
			}
			return e.prune(opts)
		},
	}
	cmd.Flags().StringVar(&maxSize, "max-size", "", "keep the cache under `SIZE` (e.g. 500MB, 2GiB)")
	cmd.Flags().StringVar(&maxAge, "max-age", "", "remove entries unused for longer than `AGE` (e.g. 36h, 7d)")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "say what would be removed, remove nothing")
	cmd.Flags().BoolVar(&remoteToo, "remote", false, "prune the project's remote cache (S3) by last use, not the local one")
	return cmd
}

// pruneRemote has sparkwing-remote prune the project's remote cache.
func (e *env) pruneRemote(g *globals, maxAge time.Duration, dry bool) error {
	root, file, err := e.loadProject(g)
	if err != nil {
		return err
	}
	cfg := remote.Config{Remote: file.Cache.Remote}
	s, err := remote.Resolve(cfg, "", e.getenv, root)
	if err != nil {
		return remoteSetupError(err)
	}
	if s == nil {
		return usageError("this project has no remote cache: set cache.remote in the project file, or SPARKWING_REMOTE_CACHE")
	}
	out, err := remote.Prune(e.ctx, s, e.getenv("SPARKWING_REMOTE_HELPER"), maxAge, dry)
	fmt.Fprint(e.stdout, out)
	return remoteSetupError(err)
}

func (e *env) prune(opts cache.PruneOptions) error {
	store, lock, err := e.lockedStore()
	if err != nil {
		return err
	}
	defer lock.Unlock()
	r, err := store.Prune(opts)
	if err != nil {
		return err
	}
	verb := "removed"
	if opts.DryRun {
		verb = "would remove"
	}
	for _, en := range r.Removed {
		fmt.Fprintf(e.stdout, "%s %s/%s %s (last used %s, %s)\n", verb, en.Pipeline, en.Job, short(en.Key),
			en.LastUsed.Local().Format("2006-01-02 15:04"), runrec.Bytes(en.Bytes))
	}
	fmt.Fprintf(e.stdout, "%s %d of %d entries, %s of %s\n", verb, r.RemovedEntries, r.Entries, runrec.Bytes(r.FreedBytes), runrec.Bytes(r.Bytes))
	return nil
}

type cacheStatus struct {
	Dir     string        `json:"dir"`
	Entries int           `json:"entries"`
	Bytes   int64         `json:"bytes"`
	Project *projectShare `json:"project"` // this project's part; null outside a project
	cacheUsage

	Biggest []cache.EntryInfo `json:"biggest"` // this project's, biggest first
	Others  []projectShare    `json:"others"`  // the other projects' parts, biggest first
}

// projectShare is what one project stored.
type projectShare struct {
	Root    string `json:"root"` // "" for entries stored before sparkwing recorded it
	Entries int    `json:"entries"`
	Bytes   int64  `json:"bytes"`
}

func (e *env) cacheStatus(g *globals, asJSON bool) error {
	store, err := e.openStore()
	if err != nil {
		return err
	}
	entries, total, err := store.Entries()
	if err != nil {
		return err
	}
	st := cacheStatus{Dir: store.Dir, Entries: len(entries), Bytes: total, Biggest: []cache.EntryInfo{}, Others: []projectShare{}}
	root := ""
	if dir, err := g.startDir(); err == nil {
		if r, err := project.FindRoot(dir); err == nil {
			root = r
			st.cacheUsage = usage(runrec.Open(root))
			st.Project = &projectShare{Root: root}
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Bytes > entries[j].Bytes })
	others := map[string]*projectShare{}
	for _, en := range entries {
		if st.Project != nil && en.Project == root {
			st.Project.Entries++
			st.Project.Bytes += en.Bytes
			if len(st.Biggest) < 5 {
				st.Biggest = append(st.Biggest, en)
			}
			continue
		}
		if others[en.Project] == nil {
			others[en.Project] = &projectShare{Root: en.Project}
		}
		others[en.Project].Entries++
		others[en.Project].Bytes += en.Bytes
	}
	for _, o := range others {
		st.Others = append(st.Others, *o)
	}
	sort.Slice(st.Others, func(i, j int) bool { return st.Others[i].Bytes > st.Others[j].Bytes })
	if asJSON {
		return writeJSON(e.stdout, st)
	}
	writeCacheStatus(e.stdout, st)
	return nil
}

// cacheUsage is what the cache did over a project's recorded runs.
type cacheUsage struct {
	Runs          int      `json:"runs"`
	HitRate       *float64 `json:"hit_rate"`        // jobs restored (locally or from the remote) of those looked up; null if none
	LocalHitRate  *float64 `json:"local_hit_rate"`  // restored from the local store
	RemoteHitRate *float64 `json:"remote_hit_rate"` // of the jobs the remote was asked for; null if it never was
	BytesDown     int64    `json:"bytes_down"`      // from the remote
	BytesUp       int64    `json:"bytes_up"`
	SavedMS       int64    `json:"saved_ms"` // each hit's stored duration less its restore
}

func usage(runs *runrec.Store) cacheUsage {
	var u cacheUsage
	var lookups, hits, local, asked, remoteHits int
	ids, _ := runs.IDs()
	for _, id := range ids {
		rec, err := runs.Load(id)
		if err != nil {
			continue
		}
		u.Runs++
		if rec.Remote != nil {
			u.BytesDown += rec.Remote.BytesDown
			u.BytesUp += rec.Remote.BytesUp
		}
		for _, j := range rec.Jobs {
			c := j.Cache
			if c.Result != "hit" && c.Result != "miss" {
				continue
			}
			lookups++
			if c.Remote == "hit" || c.Remote == "miss" || c.Remote == "error" {
				asked++
			}
			if c.Result == "hit" {
				hits++
				if c.Remote == "hit" {
					remoteHits++
				} else {
					local++
				}
				u.SavedMS += max(c.StoredMS-j.DurationMS, 0)
			}
		}
	}
	u.HitRate, u.LocalHitRate, u.RemoteHitRate = ratio(hits, lookups), ratio(local, lookups), ratio(remoteHits, asked)
	return u
}

func ratio(n, of int) *float64 {
	if of == 0 {
		return nil
	}
	r := float64(n) / float64(of)
	return &r
}

func writeCacheStatus(w io.Writer, st cacheStatus) {
	fmt.Fprintf(w, "cache %s (shared by every project on this machine)\n%d entries, %s (budget %s, entries unused for %s are removed)\n",
		st.Dir, st.Entries, runrec.Bytes(st.Bytes), runrec.Bytes(cache.DefaultMaxSize), "14 days")
	if st.Project != nil {
		fmt.Fprintf(w, "\nthis project (%s): %d entries, %s\n", st.Project.Root, st.Project.Entries, runrec.Bytes(st.Project.Bytes))
		if st.HitRate != nil {
			fmt.Fprintf(w, "hit rate %.0f%% over its last %d runs (%.0f%% local", *st.HitRate*100, st.Runs, *st.LocalHitRate*100)
			if st.RemoteHitRate != nil {
				fmt.Fprintf(w, "; the remote hit %.0f%% of what it was asked, %s down, %s up", *st.RemoteHitRate*100,
					runrec.Bytes(st.BytesDown), runrec.Bytes(st.BytesUp))
			}
			fmt.Fprintf(w, "); hits saved %s of job time\n", time.Duration(st.SavedMS)*time.Millisecond)
		}
		if len(st.Biggest) > 0 {
			fmt.Fprintln(w, "biggest entries (pipeline/job):")
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			for _, b := range st.Biggest {
				fmt.Fprintf(tw, "  %s/%s\t%s\tlast used %s\n", b.Pipeline, b.Job, runrec.Bytes(b.Bytes), b.LastUsed.Local().Format("2006-01-02 15:04"))
			}
			tw.Flush()
		}
	}
	if len(st.Others) > 0 {
		fmt.Fprintln(w, "\nother projects:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, o := range st.Others {
			fmt.Fprintf(tw, "  %s\t%d entries\t%s\n", cmp.Or(o.Root, "(stored before sparkwing named projects)"), o.Entries, runrec.Bytes(o.Bytes))
		}
		tw.Flush()
	}
}

// parseSize reads sizes like 512, 500MB, 2GiB, 1.5G (K, M, G, T are binary).
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
		{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
		{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"t", 1 << 40}, {"b", 1}}
	lower := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(lower, u.suffix) {
			lower, mult = strings.TrimSpace(strings.TrimSuffix(lower, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(lower, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("not a size (try 500MB or 2GiB)")
	}
	return int64(v * mult), nil
}

// parseAge reads Go durations plus days: 36h, 7d, 1d12h.
func parseAge(s string) (time.Duration, error) {
	var days float64
	if i := strings.Index(s, "d"); i > 0 {
		d, err := strconv.ParseFloat(s[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("not an age (try 36h or 7d)")
		}
		days, s = d, s[i+1:]
	}
	var rest time.Duration
	if s != "" {
		var err error
		if rest, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("not an age (try 36h or 7d)")
		}
	}
	total := time.Duration(days*24*float64(time.Hour)) + rest
	if total <= 0 {
		return 0, fmt.Errorf("must be positive")
	}
	return total, nil
}
