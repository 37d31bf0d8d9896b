package cli

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
	"github.com/sparkwing-dev/sparkwing/internal/project"
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
		Short: "Entries, size, hit rate over this project's recent runs, biggest jobs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.cacheStatus(g, asJSON)
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	clean := &cobra.Command{
		Use:   "clean",
		Short: "Remove every entry (waits for running sparkwing processes)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := e.openStore()
			if err != nil {
				return err
			}
			_, before, _ := store.Entries()
			lock, err := store.LockExclusive()
			if err != nil {
				return err
			}
			defer lock.Unlock()
			if err := store.Clean(); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "removed everything from %s (%s)\n", store.Dir, human(before))
			return nil
		},
	}
	cmd.AddCommand(status, clean, newPruneCmd(e))
	return cmd
}

func newPruneCmd(e *env) *cobra.Command {
	var maxSize, maxAge string
	var dry bool
	cmd := &cobra.Command{
		Use:   "prune [--max-size SIZE] [--max-age AGE] [--dry-run]",
		Short: "Remove least recently used entries beyond a size or age",
		Long: `Remove entries unused for longer than --max-age, then the least recently used
until the cache fits --max-size, then any blob no entry needs. Without
limits, the default budget applies (10GiB, 14d).`,
		Example: "  sparkwing cache prune --max-size 2GiB\n  sparkwing cache prune --max-age 7d --dry-run",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
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
	return cmd
}

func (e *env) prune(opts cache.PruneOptions) error {
	store, err := e.openStore()
	if err != nil {
		return err
	}
	lock, err := store.LockExclusive()
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
			en.LastUsed.Local().Format("2006-01-02 15:04"), human(en.Bytes))
	}
	fmt.Fprintf(e.stdout, "%s %d of %d entries, %s of %s\n", verb, r.RemovedEntries, r.Entries, human(r.FreedBytes), human(r.Bytes))
	return nil
}

type cacheStatus struct {
	Dir     string            `json:"dir"`
	Entries int               `json:"entries"`
	Bytes   int64             `json:"bytes"`
	HitRate *float64          `json:"hit_rate"` // over this project's recent runs; null if none
	Runs    int               `json:"runs"`
	Biggest []cache.EntryInfo `json:"biggest"`
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
	st := cacheStatus{Dir: store.Dir, Entries: len(entries), Bytes: total, Biggest: []cache.EntryInfo{}}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Bytes > entries[j].Bytes })
	st.Biggest = append(st.Biggest, entries[:min(5, len(entries))]...)
	if dir, err := g.startDir(); err == nil {
		if root, err := project.FindRoot(dir); err == nil {
			st.HitRate, st.Runs = hitRate(runrec.Open(root))
		}
	}
	if asJSON {
		return writeJSON(e.stdout, st)
	}
	writeCacheStatus(e.stdout, st)
	return nil
}

// hitRate is the share of cacheable jobs restored rather than run, over the
// project's recorded runs.
func hitRate(runs *runrec.Store) (*float64, int) {
	ids, _ := runs.IDs()
	var hits, total, n int
	for _, id := range ids {
		rec, err := runs.Load(id)
		if err != nil {
			continue
		}
		n++
		for _, j := range rec.Jobs {
			if j.Cache.Result == "hit" || j.Cache.Result == "miss" {
				total++
				if j.Cache.Result == "hit" {
					hits++
				}
			}
		}
	}
	if total == 0 {
		return nil, n
	}
	r := float64(hits) / float64(total)
	return &r, n
}

func writeCacheStatus(w io.Writer, st cacheStatus) {
	fmt.Fprintf(w, "cache %s\n%d entries, %s (budget %s, entries unused for %s are removed)\n",
		st.Dir, st.Entries, human(st.Bytes), human(cache.DefaultMaxSize), "14 days")
	if st.HitRate != nil {
		fmt.Fprintf(w, "hit rate %.0f%% over this project's last %d runs\n", *st.HitRate*100, st.Runs)
	}
	if len(st.Biggest) > 0 {
		fmt.Fprintln(w, "\nbiggest entries:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, b := range st.Biggest {
			fmt.Fprintf(tw, "  %s/%s\t%s\tlast used %s\n", b.Pipeline, b.Job, human(b.Bytes), b.LastUsed.Local().Format("2006-01-02 15:04"))
		}
		tw.Flush()
	}
}

func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
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
