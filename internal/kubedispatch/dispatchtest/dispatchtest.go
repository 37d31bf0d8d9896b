// Package dispatchtest sets up what kubedispatch's tests and the dispatch
// benchmark share: a controller in process on loopback, a namespace with
// a runner token Secret on the test cluster (internal/deploy/kubetest),
// an upstream repository, and a runner image pushed to the test registry
// (internal/image/imagetest).
//
// No base image can be pulled on these machines, so the runner image is
// FROM scratch with sparkwing and sparkwing-remote in it, and the pod
// template mounts the host's /usr read-only for git, /bin/sh and libc
// (the image's /bin, /lib and /lib64 are links into /usr); runner pods
// use the host network (the test cluster has no pod network) to reach the
// controller on 127.0.0.1. A real runner image starts from a
// distribution image with git instead.
package dispatchtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/sparkwing-dev/sparkwing/internal/controller"
	"github.com/sparkwing-dev/sparkwing/internal/controller/api"
	"github.com/sparkwing-dev/sparkwing/internal/deploy/kubetest"
	"github.com/sparkwing-dev/sparkwing/internal/gitcache"
	"github.com/sparkwing-dev/sparkwing/internal/image/imagetest"
	"github.com/sparkwing-dev/sparkwing/internal/kubedispatch"
	"github.com/sparkwing-dev/sparkwing/internal/store"
)

// Pipelines are the upstream repository's.
const Pipelines = `pipelines:
  - name: hello
    jobs: {say: {run: "echo hello from the cluster"}}
  - name: slow
    jobs: {wait: {run: "echo started; sleep 6; echo done"}}
`

// Env is a controller with a namespace of its own on the cluster.
type Env struct {
	Kube     kubernetes.Interface
	NS       string
	Srv      *controller.Server
	Store    *store.SQL
	Client   *api.Client // an admin's
	URL      string      // the controller's
	Image    string      // the runner image
	Upstream string      // the repository's path, its URL

	cleanup []func()
}

// RunnerImage builds sparkwing and sparkwing-remote from the module at
// root into a runner image and pushes it to s's registry.
func RunnerImage(s *imagetest.Servers, root, buildctl string) (string, error) {
	ctxDir, err := os.MkdirTemp("", "sw-runner-image-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(ctxDir)
	build := exec.Command("go", "build", "-o", filepath.Join(ctxDir, "sparkwing")+"/", "./cmd/sparkwing", "./cmd/sparkwing-remote")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building sparkwing: %v\n%s", err, out)
	}
	for link, to := range map[string]string{"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64"} {
		if err := os.Symlink(to, filepath.Join(ctxDir, link)); err != nil {
			return "", err
		}
	}
	tmp := filepath.Join(ctxDir, "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return "", err
	}
	if err := os.Chmod(tmp, 0o1777); err != nil {
		return "", err
	}
	dockerfile := "FROM scratch\nCOPY . /\nENTRYPOINT [\"/sparkwing/sparkwing\"]\n"
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return "", err
	}
	ref := s.Registry + "/sparkwing-runner:test"
	cmd := exec.Command(buildctl, "--addr", s.Buildkit, "build", "--frontend", "dockerfile.v0",
		"--local", "context="+ctxDir, "--local", "dockerfile="+ctxDir,
		"--output", "type=image,name="+ref+",push=true,registry.insecure=true")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the runner image: %v\n%s", err, out)
	}
	return ref, nil
}

// Template is the runner pod template: host network, the host's /usr.
func Template() corev1.PodTemplateSpec {
	hostUsr := corev1.Volume{Name: "host-usr", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/usr"}}}
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		HostNetwork:                   true,
		DNSPolicy:                     corev1.DNSDefault,
		TerminationGracePeriodSeconds: new(int64(2)),
		Volumes:                       []corev1.Volume{hostUsr},
		Containers: []corev1.Container{{
			Name:         "runner",
			VolumeMounts: []corev1.VolumeMount{{Name: "host-usr", MountPath: "/usr", ReadOnly: true}},
		}},
	}}
}

// New starts a controller with lease (long, in tests: a run queued again
// then came from the pod watch) and makes a namespace named name-NNNNN
// with the runner token Secret, and the repository "app" holding
// Pipelines. Close undoes it.
func New(ctx context.Context, name string, cluster *kubetest.Cluster, image string, lease time.Duration) (e *Env, err error) {
	e = &Env{NS: fmt.Sprintf("%s-%05d", name, time.Now().UnixNano()%100000), Image: image}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	if e.Kube, err = kubedispatch.Connect(cluster.Kubeconfig, cluster.Context); err != nil {
		return e, err
	}
	dir, err := os.MkdirTemp("", "sw-dispatch-")
	if err != nil {
		return e, err
	}
	e.onClose(func() { os.RemoveAll(dir) })
	if e.Store, err = store.Open(ctx, filepath.Join(dir, "state.db")); err != nil {
		return e, err
	}
	e.onClose(func() { e.Store.Close() })
	git, err := gitcache.New(filepath.Join(dir, "mirrors"))
	if err != nil {
		return e, err
	}
	now := time.Now().UTC()
	admin, err := controller.CreateToken(ctx, e.Store, "admin", []string{store.ScopeAdmin}, now)
	if err != nil {
		return e, err
	}
	runnerToken, err := controller.CreateToken(ctx, e.Store, "runner", []string{store.ScopeRunner}, now)
	if err != nil {
		return e, err
	}
	if err := e.serve(git, lease); err != nil {
		return e, err
	}
	e.Client = api.NewClient(e.URL, admin)

	if _, err := e.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.NS}}, metav1.CreateOptions{}); err != nil {
		return e, err
	}
	e.onClose(func() { e.Kube.CoreV1().Namespaces().Delete(context.Background(), e.NS, metav1.DeleteOptions{}) })
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sparkwing-runner"}, Data: map[string][]byte{"token": []byte(runnerToken)}}
	if _, err := e.Kube.CoreV1().Secrets(e.NS).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		return e, err
	}
	return e, e.makeRepo(dir)
}

func (e *Env) onClose(fn func()) { e.cleanup = append(e.cleanup, fn) }

// Close stops what New started, last first.
func (e *Env) Close() {
	for i := len(e.cleanup) - 1; i >= 0; i-- {
		e.cleanup[i]()
	}
	e.cleanup = nil
}

// serve runs the controller on loopback.
func (e *Env) serve(git *gitcache.Cache, lease time.Duration) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	e.URL = "http://" + ln.Addr().String()
	e.Srv = controller.New(controller.Config{Store: e.Store, Git: git, Lease: lease, BaseURL: e.URL})
	ctx, cancel := context.WithCancel(context.Background())
	hs := &http.Server{Handler: e.Srv.Handler(), BaseContext: func(net.Listener) context.Context { return ctx }}
	go hs.Serve(ln)
	go e.Srv.Background(ctx)
	e.onClose(func() { cancel(); hs.Close() })
	return nil
}

func (e *Env) makeRepo(dir string) error {
	e.Upstream = filepath.Join(dir, "app.git")
	work := filepath.Join(dir, "work")
	if err := os.MkdirAll(filepath.Join(work, ".sparkwing"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, ".sparkwing/sparkwing.yaml"), []byte(Pipelines), 0o644); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"init", "-q", "--bare", "-b", "main", e.Upstream},
		{"-C", work, "init", "-q", "-b", "main"},
		{"-C", work, "add", "-A"},
		{"-C", work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init"},
		{"-C", work, "push", "-q", e.Upstream, "main"},
	} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// Config is a dispatcher's configuration for e, with warm runners.
func (e *Env) Config(warm int) kubedispatch.Config {
	return kubedispatch.Config{Client: e.Kube, Namespace: e.NS, Image: e.Image, Controller: e.URL,
		TokenSecret: "sparkwing-runner", Template: Template(), Warm: warm}
}

// Dispatch checks cfg and runs a dispatcher with it until Close.
func (e *Env) Dispatch(cfg kubedispatch.Config) error {
	if err := kubedispatch.Check(context.Background(), cfg); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); kubedispatch.Run(ctx, cfg, e.Srv) }()
	e.onClose(func() { cancel(); <-done })
	return nil
}

// Trigger starts pipeline at the upstream's main.
func (e *Env) Trigger(ctx context.Context, pipeline string) (api.Run, error) {
	out, err := exec.Command("git", "-C", e.Upstream, "rev-parse", "main").Output()
	if err != nil {
		return api.Run{}, err
	}
	return e.Client.Trigger(ctx, api.Trigger{RepoURL: e.Upstream, Repo: "app", Branch: "main", SHA: strings.TrimSpace(string(out)),
		Pipeline: pipeline, Key: fmt.Sprint(pipeline, time.Now().UnixNano())})
}

// ErrGaveUp is WaitFor's when the run did not get there in time.
var ErrGaveUp = errors.New("gave up waiting")

// WaitFor polls the run until ok says so, for up to limit (which only
// stops a hung wait: nothing is timed by it).
func (e *Env) WaitFor(ctx context.Context, id string, limit time.Duration, ok func(store.Run) bool) (store.Run, error) {
	deadline := time.Now().Add(limit)
	for {
		r, err := e.Store.Run(ctx, id)
		if err != nil || ok(r) {
			return r, err
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("run %s: %w (%s)\n%s", id, ErrGaveUp, r.Status, e.Describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Log is the run's log as the controller holds it.
func (e *Env) Log(id string) string {
	b, _ := e.Store.ReadLog(context.Background(), id, 0, 1<<20)
	return string(b)
}

// Describe is what the namespace holds, for an error message.
func (e *Env) Describe() string {
	var b strings.Builder
	pods, _ := e.Kube.CoreV1().Pods(e.NS).List(context.Background(), metav1.ListOptions{})
	for _, p := range pods.Items {
		fmt.Fprintf(&b, "pod %s: %s", p.Name, p.Status.Phase)
		for _, cs := range p.Status.ContainerStatuses {
			fmt.Fprintf(&b, " %+v", cs.State)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// WaitWarm waits until a warm runner is in a claim long-poll.
func WaitWarm(ctx context.Context, e *Env, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for !e.Srv.RunnerWaiting(nil) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("no warm runner came to wait for work: %w\n%s", ErrGaveUp, e.Describe())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}
