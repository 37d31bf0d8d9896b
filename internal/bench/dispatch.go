package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkwing-dev/sparkwing/internal/deploy/kubetest"
	"github.com/sparkwing-dev/sparkwing/internal/image/imagetest"
	"github.com/sparkwing-dev/sparkwing/internal/kubedispatch"
	"github.com/sparkwing-dev/sparkwing/internal/kubedispatch/dispatchtest"
	"github.com/sparkwing-dev/sparkwing/internal/store"
)

// The dispatch benchmark measures how soon a triggered run starts on a
// runner in Kubernetes (sparkwing-controller serve --kube) on the real
// test cluster: taken by a warm runner (the pool's long-poll) and by a Job
// started for it, against the floor of any Job-per-run system: a bare
// Job of the same image whose container makes one HTTP request.

// DispatchOptions configure the dispatch benchmark.
type DispatchOptions struct {
	Root     string // the module, to build the runner image from
	Buildctl string
	Reps     int
	Out      string
	Log      io.Writer
}

// DispatchResult is one run of it.
type DispatchResult struct {
	Date    string               `json:"date"`
	Machine string               `json:"machine"`
	Reps    int                  `json:"reps"`
	Claim   map[string][]float64 `json:"trigger_to_claim_ms"`    // warm, job
	Done    map[string][]float64 `json:"trigger_to_finish_ms"`   // warm, job
	Bare    []float64            `json:"bare_job_to_request_ms"` // the floor
}

// RunDispatch runs the benchmark.
func RunDispatch(ctx context.Context, o DispatchOptions) (*DispatchResult, error) {
	fmt.Fprintln(o.Log, "dispatch: starting buildkitd, a registry and a Kubernetes cluster")
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
	fmt.Fprintln(o.Log, "dispatch: building the runner image")
	image, err := dispatchtest.RunnerImage(srv, o.Root, o.Buildctl)
	if err != nil {
		return nil, err
	}
	res := &DispatchResult{Date: time.Now().UTC().Format(time.RFC3339), Machine: machine(), Reps: o.Reps,
		Claim: map[string][]float64{}, Done: map[string][]float64{}}
	for _, mode := range []string{"job", "warm"} {
		if err := dispatchRuns(ctx, o, cluster, image, mode, res); err != nil {
			return nil, fmt.Errorf("%s: %w", mode, err)
		}
	}
	if err := bareJobs(ctx, o, cluster, image, res); err != nil {
		return nil, err
	}
	return res, writeDispatch(o.Out, res)
}

// dispatchRuns triggers o.Reps runs one after the other (and one first,
// unmeasured, so the image is on the node) with a warm pool or without.
func dispatchRuns(ctx context.Context, o DispatchOptions, cluster *kubetest.Cluster, image, mode string, res *DispatchResult) error {
	e, err := dispatchtest.New(ctx, "bench-"+mode, cluster, image, time.Minute)
	if err != nil {
		return err
	}
	defer e.Close()
	warm := 0
	if mode == "warm" {
		warm = 1
	}
	if err := e.Dispatch(e.Config(warm)); err != nil {
		return err
	}
	for rep := 0; rep <= o.Reps; rep++ {
		if warm > 0 {
			if err := dispatchtest.WaitWarm(ctx, e, 3*time.Minute); err != nil {
				return err
			}
		}
		run, err := e.Trigger(ctx, "hello")
		if err != nil {
			return err
		}
		r, err := e.WaitFor(ctx, run.ID, 3*time.Minute, func(r store.Run) bool { return store.Final(r.Status) })
		if err != nil {
			return err
		}
		if r.Status != store.Succeeded {
			return fmt.Errorf("run %s: %s (%s)\n%s", r.ID, r.Status, r.Message, e.Log(r.ID))
		}
		if byWarm := strings.HasPrefix(r.Runner, kubedispatch.WarmName+"-"); byWarm != (mode == "warm") {
			return fmt.Errorf("run %s was taken by %s", r.ID, r.Runner)
		}
		if rep == 0 {
			continue
		}
		claim, done := ms(r.Started.Sub(r.Created)), ms(r.Finished.Sub(r.Created))
		res.Claim[mode] = append(res.Claim[mode], claim)
		res.Done[mode] = append(res.Done[mode], done)
		fmt.Fprintf(o.Log, "dispatch: %s %d: claimed after %.0f ms, finished after %.0f ms\n", mode, rep, claim, done)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// bareJobs times a Job of the runner image whose container only makes an
// HTTP request (curl, from the host's /usr), from the Job's creation to
// the request's arrival: the floor of any system that starts a pod per
// run.
func bareJobs(ctx context.Context, o DispatchOptions, cluster *kubetest.Cluster, image string, res *DispatchResult) error {
	e, err := dispatchtest.New(ctx, "bench-bare", cluster, image, time.Minute)
	if err != nil {
		return err
	}
	defer e.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hits := make(chan string, 16)
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits <- r.URL.Path })}
	go hs.Serve(ln)
	defer hs.Close()
	jobs := e.Kube.BatchV1().Jobs(e.NS)
	for rep := 0; rep <= o.Reps; rep++ {
		name := fmt.Sprintf("bare-%d", rep)
		tmpl := dispatchtest.Template()
		tmpl.Spec.RestartPolicy = corev1.RestartPolicyNever
		c := &tmpl.Spec.Containers[0]
		c.Image, c.Command = image, []string{"/usr/bin/curl", "-s", "http://" + ln.Addr().String() + "/" + name}
		t0 := time.Now()
		if _, err := jobs.Create(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: batchv1.JobSpec{Template: tmpl}}, metav1.CreateOptions{}); err != nil {
			return err
		}
		if err := awaitHit(hits, "/"+name, 3*time.Minute); err != nil {
			return fmt.Errorf("bare Job %s: %w\n%s", name, err, e.Describe())
		}
		took := time.Since(t0)
		if rep > 0 {
			res.Bare = append(res.Bare, ms(took))
			fmt.Fprintf(o.Log, "dispatch: bare Job %d: its container's request after %.0f ms\n", rep, ms(took))
		}
	}
	return nil
}

func awaitHit(hits <-chan string, path string, limit time.Duration) error {
	timeout := time.After(limit)
	for {
		select {
		case p := <-hits:
			if p == path {
				return nil
			}
		case <-timeout:
			return fmt.Errorf("no request in %v", limit)
		}
	}
}

func writeDispatch(out string, res *DispatchResult) error {
	data, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(filepath.Join(out, "dispatch.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Dispatch: a triggered run starting on a runner in Kubernetes\n\n")
	fmt.Fprintf(&b, "`bench/run --dispatch`, %s, %s, %d runs each, one after the other.\n\n", res.Date, res.Machine, res.Reps)
	b.WriteString("`sparkwing-controller serve --kube` on the real single-node test cluster (kubetest), the\n" +
		"runner image pulled from a real registry (after one unmeasured run puts it on the node).\n" +
		"Trigger → claim is from the controller's record of the trigger to a runner's claim of the\n" +
		"run; trigger → finish adds the checkout and a one-line pipeline. \"warm\" is a pool of one\n" +
		"runner (a Deployment) in a claim long-poll; \"job\" is a batch/v1 Job started for the run\n" +
		"(no runner waiting). The floor of any system that starts a pod per run is a bare Job of the\n" +
		"same image whose container only makes an HTTP request (curl), from its creation to the\n" +
		"request's arrival.\n\n")
	b.WriteString("| | trigger → claim, median | p95 | trigger → finish, median | p95 |\n|---|---|---|---|---|\n")
	for _, mode := range []string{"warm", "job"} {
		fmt.Fprintf(&b, "| %s | %.0f ms | %.0f ms | %.0f ms | %.0f ms |\n", mode,
			medianOf(res.Claim[mode]), p95(res.Claim[mode]), medianOf(res.Done[mode]), p95(res.Done[mode]))
	}
	fmt.Fprintf(&b, "| bare Job, create → its request | %.0f ms | %.0f ms | | |\n\n", medianOf(res.Bare), p95(res.Bare))
	fmt.Fprintf(&b, "A Job's claim is %.2f× a bare Job's start (the dispatcher, the runner's start-up and its\n"+
		"claim, over the pod's own start); a warm runner's claim is %.3f× a Job's.\n",
		medianOf(res.Claim["job"])/medianOf(res.Bare), medianOf(res.Claim["warm"])/medianOf(res.Claim["job"]))
	return os.WriteFile(filepath.Join(out, "DISPATCH.md"), []byte(b.String()), 0o644)
}
