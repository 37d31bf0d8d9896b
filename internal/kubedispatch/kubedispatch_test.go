package kubedispatch_test

// These tests run the controller in process against the real test
// cluster, registry and buildkitd (see dispatchtest): runner pods pull a
// runner image built here, claim their runs from the controller over
// loopback and run the pipelines with sparkwing.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sparkwing-dev/sparkwing/internal/controller/api"
	"github.com/sparkwing-dev/sparkwing/internal/deploy/kubetest"
	"github.com/sparkwing-dev/sparkwing/internal/image/imagetest"
	"github.com/sparkwing-dev/sparkwing/internal/kubedispatch"
	"github.com/sparkwing-dev/sparkwing/internal/kubedispatch/dispatchtest"
	"github.com/sparkwing-dev/sparkwing/internal/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	kubetest.StopShared()
	imagetest.StopShared()
	os.Exit(code)
}

var (
	imageOnce sync.Once
	imageRef  string
	imageErr  error
)

// env is a dispatchtest.Env for t, with a lease far longer than any
// test: a run queued again came from the pod watch, not the lease.
type env struct {
	*dispatchtest.Env
	t *testing.T
}

func newEnv(t *testing.T, name string) *env {
	t.Helper()
	servers := imagetest.Require(t)
	cluster := kubetest.Require(t, servers.Registry)
	imageOnce.Do(func() {
		buildctl := os.Getenv("SPARKWING_TEST_BUILDCTL")
		if buildctl == "" {
			buildctl = "../../.tools/buildkit-v0.33.0/buildctl"
		}
		root, _ := filepath.Abs("../..")
		imageRef, imageErr = dispatchtest.RunnerImage(servers, root, buildctl)
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	e, err := dispatchtest.New(context.Background(), name, cluster, imageRef, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return &env{Env: e, t: t}
}

func (e *env) dispatch(cfg kubedispatch.Config) {
	e.t.Helper()
	if err := e.Dispatch(cfg); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) trigger(pipeline string) api.Run {
	e.t.Helper()
	r, err := e.Trigger(context.Background(), pipeline)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) waitFor(id string, ok func(store.Run) bool) store.Run {
	e.t.Helper()
	r, err := e.WaitFor(context.Background(), id, 4*time.Minute, ok)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) final(id string) store.Run {
	return e.waitFor(id, func(r store.Run) bool { return store.Final(r.Status) })
}

func (e *env) jobsFor(id string) []batchv1.Job {
	jobs, err := e.Kube.BatchV1().Jobs(e.NS).List(context.Background(), metav1.ListOptions{LabelSelector: "sparkwing.dev/run=" + id})
	if err != nil {
		e.t.Fatal(err)
	}
	return jobs.Items
}

// A triggered run with no runner waiting gets a Job named for its
// attempt; the runner in it runs the pipeline, its log reaches the
// controller, and a second dispatch of the same attempt collides.
func TestRunAsAJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "kd-job")
	e.dispatch(e.Config(0))
	run := e.trigger("hello")
	got := e.final(run.ID)
	job := kubedispatch.JobName(run.ID, 1)
	if got.Status != store.Succeeded || !strings.HasPrefix(got.Runner, job+"-") {
		t.Fatalf("run = %s by %q (%s), want succeeded by a pod of Job %s\nlog:\n%s", got.Status, got.Runner, got.Message, job, e.Log(run.ID))
	}
	if log := e.Log(run.ID); !strings.Contains(log, "hello from the cluster") {
		t.Errorf("the run's log lacks the job's output:\n%s", log)
	}
	if jobs := e.jobsFor(run.ID); len(jobs) != 1 || jobs[0].Name != job {
		t.Errorf("Jobs for the run: %d, want exactly %s", len(jobs), job)
	}
	again := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: job}, Spec: batchv1.JobSpec{Template: dispatchtest.Template()}}
	if _, err := e.Kube.BatchV1().Jobs(e.NS).Create(context.Background(), again, metav1.CreateOptions{}); err == nil {
		t.Errorf("a second Job for the same attempt was created")
	}
}

// A runner pod deleted mid-run has its run queued again at once (the
// lease is ten minutes: the pod watch did it), and the next attempt's
// Job runs it to the end.
func TestDeletedRunnerPodRequeues(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "kd-lost")
	e.dispatch(e.Config(0))
	run := e.trigger("slow")
	first := e.waitFor(run.ID, func(r store.Run) bool {
		return r.Status == store.Running && strings.Contains(e.Log(r.ID), "started")
	})
	grace := int64(0)
	if err := e.Kube.CoreV1().Pods(e.NS).Delete(context.Background(), first.Runner, metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
		t.Fatal(err)
	}
	got := e.final(run.ID)
	second := kubedispatch.JobName(run.ID, 2)
	if got.Status != store.Succeeded || got.Attempt != 2 || !strings.HasPrefix(got.Runner, second+"-") {
		t.Fatalf("run = %s attempt %d by %q (%s); want succeeded on attempt 2 by a pod of %s\nlog:\n%s",
			got.Status, got.Attempt, got.Runner, got.Message, second, e.Log(run.ID))
	}
	if log := e.Log(run.ID); !strings.Contains(log, `"event":"attempt","attempt":2`) || !strings.Contains(log, "done") {
		t.Errorf("the log does not show the second attempt finishing:\n%s", log)
	}
}

// A warm runner takes a run at once, and no Job is made for it.
func TestWarmPoolTakesRunsFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "kd-warm")
	e.dispatch(e.Config(1))
	for range 3 {
		waitWarm(t, e.Env)
		run := e.trigger("hello")
		got := e.final(run.ID)
		if got.Status != store.Succeeded || !strings.HasPrefix(got.Runner, kubedispatch.WarmName+"-") {
			t.Fatalf("run = %s by %q (%s), want succeeded by a warm runner", got.Status, got.Runner, got.Message)
		}
		if jobs := e.jobsFor(run.ID); len(jobs) != 0 {
			t.Errorf("a Job was made for a run a warm runner took: %s", jobs[0].Name)
		}
	}
}

func waitWarm(t *testing.T, e *dispatchtest.Env) {
	t.Helper()
	if err := dispatchtest.WaitWarm(context.Background(), e, 4*time.Minute); err != nil {
		t.Fatal(err)
	}
}

// A runner image that does not pull ends the run in error naming why,
// instead of leaving it queued.
func TestRunnerThatCannotStartFailsTheRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "kd-bad")
	cfg := e.Config(0)
	cfg.Image = imagetest.Require(t).Registry + "/sparkwing-runner:no-such-tag"
	e.dispatch(cfg)
	run := e.trigger("hello")
	got := e.final(run.ID)
	if got.Status != store.Error || !strings.Contains(got.Message, "cannot start") || !strings.Contains(got.Message, "ImagePullBackOff") {
		t.Fatalf("run = %s: %q; want error naming the pull failure", got.Status, got.Message)
	}
}

// Check names what is missing before the controller serves.
func TestCheckNamesWhatIsMissing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "kd-check")
	cfg := e.Config(0)
	cfg.Namespace = "no-such-namespace"
	if err := kubedispatch.Check(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), `namespace "no-such-namespace" does not exist`) {
		t.Errorf("missing namespace: %v", err)
	}
	cfg = e.Config(0)
	cfg.TokenSecret = "nope"
	if err := kubedispatch.Check(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), `secret "nope" does not exist in namespace `+e.NS) {
		t.Errorf("missing secret: %v", err)
	}
}
