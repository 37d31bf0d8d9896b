package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/deploy/kubetest"
	"github.com/sparkwing-dev/sparkwing/internal/devloop"
	"github.com/sparkwing-dev/sparkwing/internal/image/imagetest"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
)

// The deploy benchmark measures edit → built → pushed → rolled out →
// healthy for the bundled example service on a real single-node cluster
// (kubetest) pulling from a real registry, with BuildKit building: the
// example's `ship` pipeline (sparkwing run ship --profile local) against
// the loop a team writes by hand, a script that builds the binary, builds
// and pushes the image with buildctl, `kubectl set image` and `kubectl
// rollout status`, then waits for the same health check. Each edit
// changes what the service answers; the time is from the write to the
// first answer of the new build.

// DeployOptions configure the deploy benchmark.
type DeployOptions struct {
	Sparkwing string // the sparkwing binary; sparkwing-image, sparkwing-deploy and sparkwing-supervisor beside it
	Buildctl  string // BuildKit's CLI, for the script
	Source    string // the example service
	Reps      int
	Work, Out string
	Log       io.Writer
}

// DeployResult is one run of it.
type DeployResult struct {
	Date    string               `json:"date"`
	Machine string               `json:"machine"`
	Reps    int                  `json:"reps"`
	Healthy map[string][]float64 `json:"edit_to_healthy_ms"` // sparkwing, script → ms per edit
	Phases  map[string][]float64 `json:"sparkwing_phases_ms"`
	// SyncPhases split sparkwing dev --sync's edits, from its timing lines.
	SyncPhases map[string][]float64 `json:"sync_phases_ms,omitempty"`
}

// deployTools are the loops compared: the first two alternate edit by
// edit; `sparkwing dev`, then `sparkwing dev --sync`, then take their own
// edits, watching the tree.
var deployTools = []string{"sparkwing run", "script", "sparkwing dev", "sparkwing dev --sync"}

// syncPhases are the parts of sparkwing dev --sync's edit → healthy.
var syncPhases = []string{"detect", "build", "sync", "health"}

// deployPhases are the parts of sparkwing's edit → healthy, in order.
var deployPhases = []string{"build", "image", "check", "apply", "rollout", "health"}

const deployScript = `#!/bin/sh
# One edit's build, push and rollout, as a team's script does it.
set -e
go run ./tools/gen
CGO_ENABLED=0 go build -trimpath -o dist/image/server ./cmd/server
ref="$REGISTRY/hello-service:script-$(date +%s%N)"
"$BUILDCTL" --addr "$BUILDKIT_HOST" build --frontend dockerfile.v0 \
  --local context=dist/image --local dockerfile=deploy \
  --output "type=image,name=$ref,push=true,registry.insecure=true" >/dev/null 2>&1
"$KUBECTL" set image deployment/hello-service "server=$ref" >/dev/null
"$KUBECTL" rollout status deployment/hello-service --timeout=2m >/dev/null
`

// RunDeploy runs the benchmark.
func RunDeploy(ctx context.Context, o DeployOptions) (*DeployResult, error) {
	work, err := filepath.Abs(o.Work)
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(o.Log, "deploy: starting buildkitd, a registry and a Kubernetes cluster")
	srv, err := imagetest.Start()
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	cluster, err := kubetest.Start(srv.Registry)
	if err != nil {
		return nil, err
	}
	defer cluster.Stop()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	dir := filepath.Join(work, "deploy-example")
	_, port, _ := net.SplitHostPort(addr)
	if err := copyExample(o.Source, dir, map[string]string{"127.0.0.1:5000": srv.Registry, "8080": port}); err != nil {
		return nil, err
	}
	env := append(os.Environ(), "SPARKWING_CACHE_DIR="+filepath.Join(dir, ".cache"), "KUBECONFIG="+cluster.Kubeconfig,
		"BUILDKIT_HOST="+srv.Buildkit, "REGISTRY="+srv.Registry, "BUILDCTL="+o.Buildctl, "KUBECTL="+cluster.Kubectl,
		"PATH="+filepath.Dir(o.Sparkwing)+string(os.PathListSeparator)+os.Getenv("PATH"))
	ship := func() (string, error) {
		cmd := exec.CommandContext(ctx, o.Sparkwing, "run", "ship", "--profile", "local", "--output", "plain")
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("sparkwing run ship: %v\n%s", err, lastLines(string(out), 20))
		}
		return string(out), nil
	}
	fmt.Fprintln(o.Log, "deploy: first deploy")
	if _, err := ship(); err != nil {
		return nil, err
	}
	if _, err := awaitAnswer(ctx, addr, "Hello, bench!"); err != nil {
		return nil, err
	}
	res := &DeployResult{Date: time.Now().UTC().Format(time.RFC3339), Machine: machine(), Reps: o.Reps,
		Healthy: map[string][]float64{}, Phases: map[string][]float64{}}
	greet := filepath.Join(dir, "internal/greet/greet.go")
	for rep := 1; rep <= 2*o.Reps; rep++ {
		tool := deployTools[rep%2] // alternate, so both see the same machine
		t0, err := edit(greet, rep)
		if err != nil {
			return nil, err
		}
		switch tool {
		case "sparkwing run":
			if _, err := ship(); err != nil {
				return nil, err
			}
		case "script":
			cmd := exec.CommandContext(ctx, "sh", "-c", deployScript)
			cmd.Dir, cmd.Env = dir, env
			if out, err := cmd.CombinedOutput(); err != nil {
				return nil, fmt.Errorf("the script: %v\n%s", err, lastLines(string(out), 20))
			}
		}
		if _, err := awaitAnswer(ctx, addr, "Hello, bench!"+edition(rep)); err != nil {
			return nil, fmt.Errorf("%s, edit %d: %w", tool, rep, err)
		}
		ms := float64(time.Since(t0).Microseconds()) / 1000
		res.Healthy[tool] = append(res.Healthy[tool], ms)
		fmt.Fprintf(o.Log, "deploy: edit %d, %s: %.0f ms\n", rep, tool, ms)
		if tool == "sparkwing run" {
			if err := shipPhases(dir, res); err != nil {
				return nil, err
			}
		}
	}
	if err := devEdits(ctx, o, dir, env, addr, greet, 2*o.Reps, false, res); err != nil {
		return nil, err
	}
	if err := devEdits(ctx, o, dir, env, addr, greet, 3*o.Reps, true, res); err != nil {
		return nil, err
	}
	return res, writeDeploy(o.Out, res)
}

// devEdits times o.Reps more edits with `sparkwing dev ship` watching the
// tree: the cluster variant of the dev loop, with --sync if sync.
func devEdits(ctx context.Context, o DeployOptions, dir string, env []string, addr, greet string, done int, sync bool, res *DeployResult) error {
	tool, args := "sparkwing dev", []string{"dev", "ship", "--profile", "local"}
	if sync {
		tool, args = "sparkwing dev --sync", append(args, "--sync")
	}
	stats := filepath.Join(dir, ".sparkwing", "dev", "ship.jsonl")
	before, _ := devloop.ReadTimings(stats)
	cmd := exec.CommandContext(ctx, o.Sparkwing, args...)
	cmd.Dir, cmd.Env = dir, env
	out := &logTail{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Wait()
	defer cmd.Process.Signal(os.Interrupt)
	for t0 := time.Now(); ; time.Sleep(50 * time.Millisecond) { // its first build: the script's image goes
		if ts, _ := devloop.ReadTimings(stats); len(ts) > len(before) {
			break
		}
		if time.Since(t0) > 3*time.Minute {
			return fmt.Errorf("%s ship never finished its first build:\n%s", tool, out)
		}
	}
	fmt.Fprintf(o.Log, "deploy: %s ship is watching\n", tool)
	for rep := done + 1; rep <= done+o.Reps; rep++ {
		t0, err := edit(greet, rep)
		if err != nil {
			return err
		}
		if _, err := awaitAnswer(ctx, addr, "Hello, bench!"+edition(rep)); err != nil {
			return fmt.Errorf("%s, edit %d: %w\n%s", tool, rep, err, out)
		}
		ms := float64(time.Since(t0).Microseconds()) / 1000
		res.Healthy[tool] = append(res.Healthy[tool], ms)
		fmt.Fprintf(o.Log, "deploy: edit %d, %s: %.0f ms\n", rep, tool, ms)
		time.Sleep(time.Second) // let its health check and timing line finish before the next edit
	}
	if !sync {
		return nil
	}
	ts, err := devloop.ReadTimings(stats)
	if err != nil {
		return err
	}
	res.SyncPhases = map[string][]float64{}
	for _, t := range ts[len(before):] {
		if t.Mode() != "sync" || !t.EditToHealthy() {
			continue
		}
		for _, p := range t.Phases() {
			res.SyncPhases[p.Name] = append(res.SyncPhases[p.Name], p.MS)
		}
	}
	if n := len(res.SyncPhases["sync"]); n < o.Reps {
		return fmt.Errorf("sparkwing dev --sync synced %d of %d edits; the others rolled out:\n%s", n, o.Reps, out)
	}
	return nil
}

// copyExample copies the example into dir with the replacements made in
// its project file and manifests, and commits it (content tags name the
// commit).
func copyExample(src, dir string, replace map[string]string) error {
	os.RemoveAll(dir)
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		return err
	}
	for _, sub := range []string{"runs", "state", "dev"} {
		os.RemoveAll(filepath.Join(dir, ".sparkwing", sub))
	}
	for _, f := range []string{".sparkwing/sparkwing.yaml", "deploy/base/deployment.yaml", "deploy/overlays/local/kustomization.yaml"} {
		p := filepath.Join(dir, f)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for from, to := range replace {
			data = bytes.ReplaceAll(data, []byte(from), []byte(to))
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"}, {"-c", "user.name=b", "-c", "user.email=b@example.com", "commit", "-qm", "bench"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %v: %s", args[0], err, out)
		}
	}
	return nil
}

// shipPhases reads the last run's record: the build jobs' and the image
// job's times, and the deploy job's split.
func shipPhases(dir string, res *DeployResult) error {
	var rec *runrec.Record
	runrec.Open(dir).Newest("ship", func(r *runrec.Record) bool { rec = r; return false })
	if rec == nil {
		return errors.New("no record of the ship run")
	}
	var build float64
	for _, j := range rec.Jobs {
		switch {
		case j.ID == "generate" || j.ID == "server-static":
			build += float64(j.DurationMS)
		case j.ID == "image":
			res.Phases["image"] = append(res.Phases["image"], float64(j.DurationMS))
		case j.Deploy != nil:
			for phase, ms := range map[string]int64{"check": j.Deploy.CheckMS, "apply": j.Deploy.ApplyMS,
				"rollout": j.Deploy.RolloutMS, "health": j.Deploy.HealthMS} {
				res.Phases[phase] = append(res.Phases[phase], float64(ms))
			}
		case j.ID == "deploy":
			return fmt.Errorf("the deploy applied nothing (%s)", j.Status)
		}
	}
	res.Phases["build"] = append(res.Phases["build"], build)
	return nil
}

func writeDeploy(out string, res *DeployResult) error {
	data, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(filepath.Join(out, "deploy.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Deploy: edit → built → pushed → rolled out → healthy\n\n")
	fmt.Fprintf(&b, "`bench/run --deploy`, %s, %s, %d edits each, alternating.\n\n", res.Date, res.Machine, res.Reps)
	b.WriteString("The bundled example service (`examples/hello-service`, pipeline `ship`) on a real\n" +
		"single-node Kubernetes cluster (kubetest: etcd, kube-apiserver, controller manager,\n" +
		"scheduler, a kubelet on containerd) pulling from a real registry, BuildKit building.\n" +
		"Each edit changes the greeting; the time runs from the write to the first answer of\n" +
		"the new build. `sparkwing run` is `sparkwing run ship --profile local` after each edit,\n" +
		"alternating with the script, the loop a team writes by hand: the generate step, `go build`,\n" +
		"`buildctl build` with push, `kubectl set image`, `kubectl rollout status`. Then `sparkwing dev\n" +
		"ship --profile local` watches the tree and takes its own edits, then `sparkwing dev ship --profile\n" +
		"local --sync`, which copies the new binary into the running pod and restarts it there (live\n" +
		"update: no image, no rollout). All wait for the same answer.\n\n")
	b.WriteString("| | median | p95 | ratio to the script (median) |\n|---|---|---|---|\n")
	base := medianOf(res.Healthy["script"])
	for _, tool := range deployTools {
		ms := res.Healthy[tool]
		if len(ms) > 0 {
			fmt.Fprintf(&b, "| %s | %.0f ms | %.0f ms | %.2f× |\n", tool, medianOf(ms), p95(ms), medianOf(ms)/base)
		}
	}
	b.WriteString("\nsparkwing run's phases (medians; build = the generate and static-build jobs, image =\n" +
		"BuildKit's build and the push, then the deploy job's render and check (kustomize, the\n" +
		"registry's digest, the API server's dry run), apply, rollout and health check):\n\n")
	phaseTable(&b, deployPhases, res.Phases)
	fmt.Fprintf(&b, "\nThe rollout is %.0f%% of sparkwing's median: the kubelet replacing the pod (Recreate, for a\n"+
		"host port), pulling the image from the registry and probing readiness once a second, which\n"+
		"rounds both tools' times to whole seconds. sparkwing's own share (render, the registry's digest,\n"+
		"the dry run, apply, health) is check + apply + health.\n",
		100*medianOf(res.Phases["rollout"])/medianOf(res.Healthy["sparkwing run"]))
	if len(res.SyncPhases) > 0 {
		b.WriteString("\nsparkwing dev --sync's phases (medians, from its timing lines; build = the generate and\n" +
			"static-build jobs, sync = the deploy helper's check that the cluster runs what was applied,\n" +
			"the copy into the pod and the process's restart):\n\n")
		phaseTable(&b, syncPhases, res.SyncPhases)
	}
	return os.WriteFile(filepath.Join(out, "DEPLOY.md"), []byte(b.String()), 0o644)
}

// phaseTable writes each phase's median and p95.
func phaseTable(b *strings.Builder, phases []string, ms map[string][]float64) {
	b.WriteString("| phase | median | p95 |\n|---|---|---|\n")
	for _, p := range phases {
		fmt.Fprintf(b, "| %s | %.0f ms | %.0f ms |\n", p, medianOf(ms[p]), p95(ms[p]))
	}
}
