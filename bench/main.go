// Command bench runs sparkwing's side-by-side benchmarks; bench/run installs
// the peers and calls it. See bench/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sparkwing-dev/sparkwing/internal/bench"
)

func main() {
	var o bench.Options
	var tools, only string
	var report, images, imageGraph, devBench, deployBench, dispatchBench, storage, remoteCache, controller, sparksBench bool
	var air, buildctl string
	var turboCache string
	var remoteJobs, triggers int
	var storageMB int
	flag.BoolVar(&o.Quick, "quick", false, "the CI subset: no-op and edit on sparkwing, make and go-task, and the 2× floor gate")
	flag.IntVar(&o.Reps, "reps", 5, "measured runs per tool and scenario (after one warm-up)")
	flag.StringVar(&tools, "tools", "", "comma-separated peers to compare (default: every installed one)")
	flag.StringVar(&only, "only", "", "comma-separated workloads to run, such as random-100x20,longpole-chain-last (default: all)")
	flag.BoolVar(&o.Loaded, "loaded", false, "run every comparison beside a CPU hog on each core (writes LOADED.md, or quick-loaded-results.json with -quick)")
	flag.BoolVar(&o.Merge, "merge", false, "keep the results of workloads not run this time from the last results.json")
	flag.BoolVar(&report, "report", false, "only render RESULTS.md and ratios.svg again from results.json")
	flag.BoolVar(&images, "images", false, "only the image benchmark: a Go service built by BuildKit with and without cache mounts (writes IMAGES.md)")
	flag.BoolVar(&imageGraph, "image-graph", false, "only the image-graph benchmark: per-target fingerprints against whole-context hashing after a one-target edit, and export against --load (writes IMAGEGRAPH.md)")
	flag.BoolVar(&devBench, "dev", false, "only the dev-loop benchmark: edit → healthy for the example service with sparkwing dev, a go build && restart script and air, and dev's check on 1,000 jobs (writes DEV.md)")
	flag.StringVar(&air, "air", "", "air binary (the dev-loop benchmark)")
	flag.BoolVar(&deployBench, "deploy", false, "only the deploy benchmark: edit → built → pushed → rolled out → healthy for the example service on a real cluster, against a buildctl + kubectl script (writes DEPLOY.md)")
	flag.BoolVar(&dispatchBench, "dispatch", false, "only the dispatch benchmark: a triggered run claimed by a warm runner and by a Job on a real cluster, against a bare Job's start (writes DISPATCH.md)")
	flag.StringVar(&buildctl, "buildctl", "", "buildctl binary (the deploy and dispatch benchmarks)")
	flag.BoolVar(&storage, "storage", false, "only the storage benchmark: store, restore and log replay of large outputs against cp, with peak memory (writes STORAGE.md)")
	flag.IntVar(&storageMB, "storage-mb", 1024, "size of the big output in the storage benchmark")
	flag.StringVar(&o.Work, "work", ".tools/bench-work", "scratch directory for the generated projects (emptied first)")
	flag.StringVar(&o.Out, "out", "bench", "where to write RESULTS.md, results.json and ratios.svg")
	flag.StringVar(&o.Paths.Sparkwing, "sparkwing", "", "the sparkwing binary to measure")
	flag.StringVar(&o.Paths.Task, "task", "", "go-task binary")
	flag.StringVar(&o.Paths.Mage, "mage", "", "mage binary")
	flag.StringVar(&o.Paths.Bazel, "bazel", "bazel", "bazel binary")
	flag.StringVar(&o.Paths.NodeModules, "node-modules", "", "node_modules holding turbo and nx")
	flag.BoolVar(&remoteCache, "remote", false, "only the remote cache benchmark: a fresh clone of the 1,000-job workload restored from bazel-remote, S3 and (Turborepo) turborepo-remote-cache, against local restores (writes REMOTE.md)")
	flag.StringVar(&turboCache, "turbo-cache", "", "node_modules holding turborepo-remote-cache")
	flag.IntVar(&remoteJobs, "remote-jobs", 1000, "jobs in the remote cache benchmark's workload")
	flag.BoolVar(&controller, "controller", false, "only the controller benchmark: trigger and log latency, log throughput and claims on SQLite and PostgreSQL, against local runs (writes CONTROLLER.md)")
	flag.IntVar(&triggers, "triggers", 50, "triggers measured in the controller benchmark")
	flag.BoolVar(&o.Go, "go", false, "only the Go-native comparison: a real Go project from the module proxy, sparkwing's go: inputs against make, go-task and mage (writes GO.md)")
	flag.BoolVar(&sparksBench, "sparks", false, "only the sparks benchmark: a Go pipeline's cached run with 0, 1 and 5 sparks, and the first run after a release (writes SPARKS.md)")
	flag.Parse()
	if tools != "" {
		o.Tools = strings.Split(tools, ",")
	}
	if only != "" {
		o.Only = strings.Split(only, ",")
	}
	o.Log = os.Stdout
	if err := os.MkdirAll(o.Out, 0o755); err != nil { // before the work, not after it
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if report {
		if err := bench.Rewrite(o.Out); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if images {
		_, err := bench.RunImages(context.Background(), bench.ImageOptions{Reps: o.Reps, Work: o.Work, Out: o.Out,
			Source: "examples/hello-service", Log: os.Stdout})
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if devBench {
		_, err := bench.RunDev(context.Background(), bench.DevOptions{Sparkwing: o.Paths.Sparkwing, Air: air, Reps: o.Reps,
			Source: "examples/hello-service", Work: o.Work, Out: o.Out, Log: os.Stdout})
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if deployBench {
		_, err := bench.RunDeploy(context.Background(), bench.DeployOptions{Sparkwing: o.Paths.Sparkwing, Buildctl: buildctl,
			Reps: o.Reps, Source: "examples/hello-service", Work: o.Work, Out: o.Out, Log: os.Stdout})
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if dispatchBench {
		root, _ := filepath.Abs(".")
		_, err := bench.RunDispatch(context.Background(), bench.DispatchOptions{Root: root, Buildctl: buildctl, Reps: o.Reps,
			Out: o.Out, Log: os.Stdout})
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if imageGraph {
		_, err := bench.RunImageGraph(context.Background(), bench.ImageGraphOptions{Sparkwing: o.Paths.Sparkwing, Reps: o.Reps,
			Work: o.Work, Out: o.Out, Log: os.Stdout})
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if controller {
		_, err := bench.RunController(context.Background(), bench.ControllerOptions{Bin: filepath.Dir(o.Paths.Sparkwing),
			Triggers: triggers, FloodMB: 20, Runs: 500, Runners: 50, Work: o.Work, Out: o.Out, Log: os.Stdout})
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if sparksBench {
		_, err := bench.RunSparks(context.Background(), bench.SparksOptions{Sparkwing: o.Paths.Sparkwing, Reps: max(o.Reps, 40),
			Work: o.Work, Out: o.Out, Log: os.Stdout})
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if remoteCache {
		if err := o.Paths.Resolve(); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(2)
		}
		_, err := bench.RunRemote(context.Background(), bench.RemoteOptions{Paths: o.Paths, TurboCache: turboCache,
			Reps: o.Reps, Jobs: remoteJobs, Work: o.Work, Out: o.Out, Log: os.Stdout})
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if storage {
		_, err := bench.RunStorage(context.Background(), bench.StorageOptions{Sparkwing: o.Paths.Sparkwing, Reps: min(o.Reps, 3),
			SizeMB: storageMB, Work: o.Work, Out: o.Out, Log: os.Stdout})
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := o.Paths.Resolve(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	res, err := bench.Run(o, "bench/run "+strings.Join(os.Args[1:], " "))
	if res != nil {
		for _, line := range res.SummaryLines() {
			fmt.Println(line)
		}
	}
	if res != nil && res.Gate != nil {
		fmt.Printf("gate: sparkwing no-op on %s is %.2f× the lstat floor (limit %.1f×)\n", res.Gate.Workload, res.Gate.Ratio, res.Gate.Limit)
		if res.Gate.MakeRatio > 0 {
			fmt.Printf("make -r: sparkwing no-op on %s takes %.2f× make -j2 -r's time, by medians (reported, not gated)\n",
				res.Gate.Workload, res.Gate.MakeRatio)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
