package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/remote/remotetest"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
)

// The remote cache benchmark restores the 1,000-job workload into a fresh
// clone with an empty local cache, all hits from a remote: sparkwing from
// bazel-remote and from MinIO (S3), and Turborepo from
// turborepo-remote-cache, each on 127.0.0.1, against each tool restoring
// the same workload from its full local cache. A fresh clone is the
// project's checkout with every ignored file removed (git clean -fdx).

// RemoteOptions configure the remote cache benchmark.
type RemoteOptions struct {
	Paths      Paths
	TurboCache string // node_modules holding turborepo-remote-cache
	Reps       int
	Jobs       int
	Work, Out  string
	Log        io.Writer
}

// RemoteCase is one way of restoring the workload.
type RemoteCase struct {
	Name    string    `json:"name"`
	Tool    string    `json:"tool"`
	From    string    `json:"from"` // local, bazel-remote, s3, turborepo-remote-cache
	Seconds []float64 `json:"seconds"`
	PeakMB  float64   `json:"peak_rss_mb"`
}

// RemoteResult is one run of the remote cache benchmark.
type RemoteResult struct {
	Date    string       `json:"date"`
	Machine string       `json:"machine"`
	Reps    int          `json:"reps"`
	Jobs    int          `json:"jobs"`
	Files   int          `json:"files"` // output files restored
	Bytes   int64        `json:"bytes"`
	Cases   []RemoteCase `json:"cases"`
}

type remoteCase struct {
	RemoteCase
	p       *Project
	env     []string // besides the entry's
	prepare func() error
	build   []string
	hits    string // what the tool prints when every job was restored
}

// RunRemote runs the remote cache benchmark.
func RunRemote(ctx context.Context, o RemoteOptions) (*RemoteResult, error) {
	w, err := Synthetic("random", o.Jobs, 20)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(filepath.Join(o.Work, "remote")) // the tools run inside the projects
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	entries, err := setup(Options{Paths: o.Paths}, []Tool{sparkwing{}, turbo{}}, w, dir)
	if err != nil {
		return nil, err
	}
	sw, tb := entries[0], entries[1]
	var servers []*remotetest.Server
	defer func() {
		for _, s := range servers {
			s.Stop()
		}
	}()
	for _, kind := range []string{remotetest.BazelRemote, remotetest.S3} {
		s, err := remotetest.Start(kind, filepath.Join(dir, kind+".server"))
		if err != nil {
			return nil, err
		}
		servers = append(servers, s)
	}
	turboURL, stopTurbo, err := startTurboCache(o.TurboCache, filepath.Join(dir, "turbo.server"))
	if err != nil {
		return nil, err
	}
	defer stopTurbo()

	scratch := func(e *Entry, name string) string { return filepath.Join(e.P.Scratch, name) }
	fresh := func(e *Entry, empty ...string) func() error {
		return func() error {
			for _, d := range empty {
				if err := os.RemoveAll(d); err != nil {
					return err
				}
			}
			return git(e.P.Dir, "clean", "-fdxq")
		}
	}
	swEnv := func(cacheDir string, s *remotetest.Server) []string {
		env := []string{"SPARKWING_CACHE_DIR=" + cacheDir, "SPARKWING_REMOTE_CACHE=off"}
		if s != nil {
			env = append(env, s.Env...)
			env = append(env, "SPARKWING_REMOTE_CACHE="+s.URL, "SPARKWING_CACHE_KEY=bench-key-0123456789",
				"SPARKWING_CACHE_NAMESPACE=main")
		}
		return env
	}
	turboEnv := func(remote bool) []string {
		if !remote {
			return nil
		}
		return []string{"TURBO_API=" + turboURL, "TURBO_TOKEN=bench", "TURBO_TEAM=bench"}
	}
	swHits := fmt.Sprintf("%d cached", o.Jobs)
	turboHits := fmt.Sprintf("%d cached, %d total", o.Jobs, o.Jobs)
	swBuild := sw.Tool.Build(sw.P)
	turboBuild := func(cacheDir string) []string { return append(tb.Tool.Build(tb.P), "--cache-dir", cacheDir) }
	cases := []*remoteCase{
		{RemoteCase: RemoteCase{Name: "sparkwing, local store", Tool: "sparkwing", From: "local"}, p: sw.P,
			env: swEnv(scratch(sw, "full"), nil), prepare: fresh(sw), build: swBuild, hits: swHits},
		{RemoteCase: RemoteCase{Name: "sparkwing, bazel-remote", Tool: "sparkwing", From: "bazel-remote"}, p: sw.P,
			env: swEnv(scratch(sw, "empty"), servers[0]), prepare: fresh(sw, scratch(sw, "empty")), build: swBuild, hits: swHits},
		{RemoteCase: RemoteCase{Name: "sparkwing, S3 (MinIO)", Tool: "sparkwing", From: "s3"}, p: sw.P,
			env: swEnv(scratch(sw, "empty"), servers[1]), prepare: fresh(sw, scratch(sw, "empty")), build: swBuild, hits: swHits},
		{RemoteCase: RemoteCase{Name: "turbo, local cache", Tool: "turbo", From: "local"}, p: tb.P,
			env: turboEnv(false), prepare: fresh(tb), build: turboBuild(scratch(tb, "full")), hits: turboHits},
		{RemoteCase: RemoteCase{Name: "turbo, turborepo-remote-cache", Tool: "turbo", From: "turborepo-remote-cache"}, p: tb.P,
			env: turboEnv(true), prepare: fresh(tb, scratch(tb, "empty")), build: turboBuild(scratch(tb, "empty")), hits: turboHits},
	}
	// Fill each cache: the local ones, and every remote (sparkwing once per
	// remote, each with a local store of its own, so each run uploads).
	fill := []struct {
		e     *Entry
		env   []string
		build []string
	}{
		{sw, swEnv(scratch(sw, "full"), nil), swBuild},
		{sw, swEnv(scratch(sw, "fill-bazel"), servers[0]), swBuild},
		{sw, swEnv(scratch(sw, "fill-s3"), servers[1]), swBuild},
		{tb, turboEnv(true), turboBuild(scratch(tb, "full"))},
	}
	for _, f := range fill {
		if err := git(f.e.P.Dir, "clean", "-fdxq"); err != nil {
			return nil, err
		}
		if _, _, err := runIn(f.e, f.env, f.build); err != nil {
			return nil, err
		}
	}
	res := &RemoteResult{Date: time.Now().UTC().Format(time.RFC3339), Machine: machine(), Reps: o.Reps, Jobs: o.Jobs}
	for round := 0; round <= o.Reps; round++ { // round 0 warms up
		for k := range cases {
			c := cases[(k+round)%len(cases)]
			if err := c.prepare(); err != nil {
				return nil, err
			}
			e := &Entry{Tool: sw.Tool, P: c.p}
			s, out, err := runIn(e, c.env, c.build)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.Name, err)
			}
			if !strings.Contains(out, c.hits) {
				return nil, fmt.Errorf("%s: not every job was restored (no %q in its output):\n%s", c.Name, c.hits, lastLines(out, 15))
			}
			files, bytes, err := outputsOf(c.p)
			if err != nil || files != o.Jobs {
				return nil, fmt.Errorf("%s: %d outputs restored, want %d (%v)", c.Name, files, o.Jobs, err)
			}
			res.Files, res.Bytes = files, bytes
			if round > 0 {
				c.Seconds = append(c.Seconds, s.Seconds)
				c.PeakMB = max(c.PeakMB, float64(s.RSSKiB)/1024)
			}
			fmt.Fprintf(o.Log, "  %-32s %.3fs\n", c.Name, s.Seconds)
		}
	}
	for _, c := range cases {
		res.Cases = append(res.Cases, c.RemoteCase)
	}
	return res, writeRemote(o.Out, res)
}

// runIn runs build in e's project with extra environment, measured.
func runIn(e *Entry, extra, build []string) (Sample, string, error) {
	cmd := exec.Command(build[0], build[1:]...)
	cmd.Dir = e.P.Dir
	cmd.Env = append(e.Env(), extra...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	s, err := measured(cmd, e.P.Paths.Spawn)
	if err != nil {
		return s, out.String(), fmt.Errorf("%s: %v\n%s", strings.Join(build, " "), err, lastLines(out.String(), 20))
	}
	return s, out.String(), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// outputsOf counts the workload's output files in p and their bytes.
func outputsOf(p *Project) (files int, bytes int64, err error) {
	for i := range p.W.Jobs {
		st, err := os.Stat(filepath.Join(p.Dir, p.W.Output(i)))
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return 0, 0, err
		}
		files++
		bytes += st.Size()
	}
	return files, bytes, nil
}

// startTurboCache starts turborepo-remote-cache (local storage) on the
// loopback and returns its URL.
func startTurboCache(nodeModules, dir string) (string, func(), error) {
	cli := filepath.Join(nodeModules, "turborepo-remote-cache", "dist", "cli.js")
	if _, err := os.Stat(cli); err != nil {
		return "", nil, fmt.Errorf("turborepo-remote-cache is not installed (bench/run --remote installs it): %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	cmd := exec.Command("node", cli)
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", port), "HOST=127.0.0.1", "TURBO_TOKEN=bench",
		"STORAGE_PROVIDER=local", "STORAGE_PATH="+filepath.Join(dir, "store"), "STORAGE_PATH_USE_TMP_FOLDER=false",
		"LOG_LEVEL=warn", "NODE_ENV=production")
	log, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		return "", nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		cmd.Process.Kill()
		cmd.Wait()
		log.Close()
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			text, _ := os.ReadFile(filepath.Join(dir, "log"))
			return "", nil, fmt.Errorf("turborepo-remote-cache did not start:\n%s", text)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// writeRemote writes REMOTE.md and remote.json.
func writeRemote(dir string, r *RemoteResult) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "remote.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "REMOTE.md"), []byte(RemoteReport(r)), 0o644)
}

// RemoteReport renders REMOTE.md.
func RemoteReport(r *RemoteResult) string {
	var b strings.Builder
	b.WriteString("# Remote cache: a fresh clone restored from a remote\n\n")
	b.WriteString("Written by `bench/run --remote`. Do not edit.\n\n")
	fmt.Fprintf(&b, "- **Date:** %s\n- **Machine:** %s\n- **Reps:** %d, interleaved, after a warm-up round; medians with the min–max spread\n", r.Date, r.Machine, r.Reps)
	fmt.Fprintf(&b, "- **Workload:** random-%dx20 (%d jobs, %d output files, %s); every server on 127.0.0.1\n", r.Jobs, r.Jobs, r.Files, runrec.Bytes(r.Bytes))
	b.WriteString("- **Method:** each case starts from a fresh clone (`git clean -fdx`: no outputs, no run records, no local state). The local cases restore from the tool's full local cache; the remote ones start with an empty local cache and restore everything from the remote (sparkwing writes each hit into its local store too, as a real first run does). Every case must report every job restored and leave every output in place.\n\n")
	b.WriteString("| case | median | min–max | files/s | MB/s | peak RSS | ÷ the tool's local restore |\n|---|---:|---:|---:|---:|---:|---:|\n")
	local := map[string]float64{}
	med := map[string]float64{}
	for _, c := range r.Cases {
		s := &Series{}
		for _, x := range c.Seconds {
			s.Samples = append(s.Samples, Sample{Seconds: x})
		}
		m := s.Median()
		med[c.Name] = m
		if c.From == "local" {
			local[c.Tool] = m
		}
	}
	for _, c := range r.Cases {
		s := &Series{}
		for _, x := range c.Seconds {
			s.Samples = append(s.Samples, Sample{Seconds: x})
		}
		lo, hi := s.Range()
		m := med[c.Name]
		fmt.Fprintf(&b, "| %s | %.3f s | %.3f–%.3f s | %.0f | %.2f | %.0f MiB | %.2f× |\n", c.Name, m, lo, hi,
			float64(r.Files)/m, float64(r.Bytes)/1e6/m, c.PeakMB, m/local[c.Tool])
	}
	if t, s := med["turbo, turborepo-remote-cache"], med["sparkwing, bazel-remote"]; t > 0 && s > 0 {
		fmt.Fprintf(&b, "\nCold clone to all-hit from a remote: sparkwing from bazel-remote takes **%.2f×** Turborepo's time from turborepo-remote-cache", s/t)
		if s3 := med["sparkwing, S3 (MinIO)"]; s3 > 0 {
			fmt.Fprintf(&b, "; from S3, **%.2f×**", s3/t)
		}
		b.WriteString(".\n")
	}
	return b.String()
}
