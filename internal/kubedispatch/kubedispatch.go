// Package kubedispatch runs the controller's runners on Kubernetes: a
// warm pool (a Deployment of `sparkwing runner`s holding claim
// long-polls) is the fast path, and a run that no waiting runner can take
// gets a batch/v1 Job of its own running `sparkwing runner --run ID`.
//
// A Job's name is the run and the attempt it will make, so dispatching
// twice collides instead of running twice. Pods are watched, not polled:
// a runner pod deleted or failed (its node lost, evicted, removed by
// hand) has its run queued again at once instead of when its lease ends,
// and a Job pod that can never start (its image does not pull, its token
// Secret is missing) ends its run in error with the reason. Runners send
// their logs and results to the controller like any other runner.
//
// This package is linked only into sparkwing-controller: it brings
// client-go.
package kubedispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/sparkwing-dev/sparkwing/internal/store"
)

// Queue is what the dispatcher needs from the controller
// (*controller.Server).
type Queue interface {
	Queued(ctx context.Context) ([]store.Run, error)
	QueueChanged() <-chan struct{}
	RunnerWaiting(runsOn map[string]string) bool
	LoseRunner(ctx context.Context, name, why string)
	FailQueued(ctx context.Context, id string, attempt int, why string)
}

// Config configures the dispatcher.
type Config struct {
	Client    kubernetes.Interface
	Namespace string
	// Image is the runner image: its entrypoint is sparkwing, and it has
	// git and /bin/sh for the pipelines. A container named "runner" in
	// Template that names an image overrides it.
	Image string
	// Controller is the URL runner pods reach the controller at.
	Controller string
	// TokenSecret names the Secret whose key "token" is a runner token.
	TokenSecret string
	// Labels are the runners' labels: runs whose runs_on they do not
	// satisfy are left to other runners.
	Labels map[string]string
	// Template is the pod template runners start from (volumes, node
	// selectors, resources, a container named "runner" to add to).
	Template corev1.PodTemplateSpec
	// Warm is how many runners the warm pool keeps (0: Jobs only).
	Warm int
	// WarmGrace is how long a run a warm runner could take waits for one
	// before it gets a Job anyway (default 2 s).
	WarmGrace time.Duration
	Log       *slog.Logger
}

// Labels on everything the dispatcher creates.
const (
	managedBy    = "app.kubernetes.io/managed-by"
	manager      = "sparkwing-controller"
	roleLabel    = "sparkwing.dev/role" // "job" or "warm"
	runLabel     = "sparkwing.dev/run"
	attemptLabel = "sparkwing.dev/attempt"
	// WarmName is the warm pool's Deployment.
	WarmName = "sparkwing-runner"
)

// Paths in the runner container.
const (
	tokenDir = "/var/run/sparkwing"
	workDir  = "/var/lib/sparkwing-runner"
)

// JobName is the Job that makes attempt of run id.
func JobName(id string, attempt int) string {
	return "sparkwing-run-" + id + "-" + strconv.Itoa(attempt)
}

// Check verifies what the dispatcher needs before the controller serves:
// the cluster answers, the namespace and the token Secret exist.
func Check(ctx context.Context, cfg Config) error {
	if _, err := cfg.Client.CoreV1().Namespaces().Get(ctx, cfg.Namespace, metav1.GetOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("namespace %q does not exist (create it: kubectl create namespace %s)", cfg.Namespace, cfg.Namespace)
		}
		return fmt.Errorf("the Kubernetes API server: %v (check --kubeconfig and --kube-context)", err)
	}
	sec, err := cfg.Client.CoreV1().Secrets(cfg.Namespace).Get(ctx, cfg.TokenSecret, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("secret %q does not exist in namespace %s: create it with a runner token (sparkwing-controller token create --scope runner … > runner.token; kubectl -n %s create secret generic %s --from-file=token=runner.token)",
			cfg.TokenSecret, cfg.Namespace, cfg.Namespace, cfg.TokenSecret)
	}
	if err != nil {
		return fmt.Errorf("reading secret %s/%s: %v", cfg.Namespace, cfg.TokenSecret, err)
	}
	if len(sec.Data["token"]) == 0 {
		return fmt.Errorf("secret %s/%s has no key \"token\" (kubectl -n %s create secret generic %s --from-file=token=runner.token)",
			cfg.Namespace, cfg.TokenSecret, cfg.Namespace, cfg.TokenSecret)
	}
	if c := findRunner(&cfg.Template.Spec); (c == nil || c.Image == "") && cfg.Image == "" {
		return errors.New("no runner image: set --runner-image, or an image on the template's container named \"runner\"")
	}
	return nil
}

// Run dispatches until ctx ends. A warm pool the cluster refuses is
// tried again while runs get Jobs.
func Run(ctx context.Context, cfg Config, q Queue) {
	if cfg.WarmGrace <= 0 {
		cfg.WarmGrace = 2 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	d := &dispatcher{cfg: cfg, q: q, log: cfg.Log, created: map[string]bool{}, lost: map[string]bool{}, poke: make(chan struct{}, 1)}
	f := informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0, informers.WithNamespace(cfg.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = managedBy + "=" + manager }))
	f.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { d.pod(ctx, obj, false) },
		UpdateFunc: func(_, obj any) { d.pod(ctx, obj, false) },
		DeleteFunc: func(obj any) { d.pod(ctx, obj, true) },
	})
	f.Batch().V1().Jobs().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { d.job(ctx, obj, false) },
		UpdateFunc: func(_, obj any) { d.job(ctx, obj, false) },
		DeleteFunc: func(obj any) { d.job(ctx, obj, true) },
	})
	f.Start(ctx.Done())
	defer f.Shutdown()
	f.WaitForCacheSync(ctx.Done())
	d.log.Info("dispatching runners to Kubernetes", "namespace", cfg.Namespace, "warm", cfg.Warm)

	warm := false // the pool's Deployment is as configured
	for {
		changed := q.QueueChanged() // before looking, so no change falls between
		after := d.dispatch(ctx)
		if !warm {
			if err := d.ensureWarm(ctx); err != nil {
				d.warn("the warm pool (runs get Jobs meanwhile)", err)
				after = soonest(after, 5*time.Second)
			} else {
				warm = true
			}
		}
		var recheck <-chan time.Time
		if after > 0 {
			recheck = time.After(after)
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-d.poke:
		case <-recheck:
		}
	}
}

type dispatcher struct {
	cfg  Config
	q    Queue
	log  *slog.Logger
	poke chan struct{}

	mu      sync.Mutex
	created map[string]bool // Jobs made or seen, by name
	lost    map[string]bool // runner pods already reported gone
	lastErr string
}

// dispatch gives every queued run that no waiting runner takes a Job.
// It returns when to look again if nothing changes before: when a run
// left to a warm runner has waited its grace, or to retry after an error
// (0: no need).
func (d *dispatcher) dispatch(ctx context.Context) (after time.Duration) {
	runs, err := d.q.Queued(ctx)
	if err != nil {
		d.warn("listing the queue", err)
		return time.Second
	}
	for _, r := range runs {
		if !store.Matches(r.RunsOn, d.cfg.Labels) {
			continue // for runners with other labels
		}
		if wait := d.cfg.WarmGrace - time.Since(r.Created); wait > 0 && d.q.RunnerWaiting(r.RunsOn) {
			after = soonest(after, wait) // a warm runner claims it now, or it gets a Job then
			continue
		}
		name := JobName(r.ID, r.Attempt+1)
		d.mu.Lock()
		done := d.created[name]
		d.mu.Unlock()
		if done {
			continue
		}
		_, err := d.cfg.Client.BatchV1().Jobs(d.cfg.Namespace).Create(ctx, d.jobFor(r, name), metav1.CreateOptions{})
		switch {
		case err == nil:
			d.log.Info("runner Job created", "run", r.ID, "job", name)
		case apierrors.IsAlreadyExists(err): // dispatched already (by us before a restart, or another controller)
		default:
			d.warn("creating runner Job "+name, err)
			after = soonest(after, time.Second)
			continue
		}
		d.mu.Lock()
		d.created[name] = true
		d.mu.Unlock()
	}
	return after
}

func soonest(a, b time.Duration) time.Duration {
	if a == 0 || b < a {
		return b
	}
	return a
}

// warn logs err unless it is the one logged last: a cluster that refuses
// every Job says so once, not every pass.
func (d *dispatcher) warn(what string, err error) {
	msg := what + ": " + err.Error()
	d.mu.Lock()
	repeat := msg == d.lastErr
	d.lastErr = msg
	d.mu.Unlock()
	if !repeat {
		d.log.Error(msg)
	}
}

func (d *dispatcher) wake() {
	select {
	case d.poke <- struct{}{}:
	default:
	}
}

// object is what an informer handed over: obj, or the last state it knew
// of an object deleted while its watch was down.
func object[T any](obj any) (T, bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	o, ok := obj.(T)
	return o, ok
}

// pod follows a runner pod: gone or failed, its runs are queued again;
// unable to start, a Job's run ends in error.
func (d *dispatcher) pod(ctx context.Context, obj any, deleted bool) {
	p, ok := object[*corev1.Pod](obj)
	if !ok {
		return
	}
	switch {
	case deleted || p.DeletionTimestamp != nil:
		d.lose(ctx, p, "its pod "+p.Name+" was deleted")
		if deleted {
			d.mu.Lock()
			delete(d.lost, p.Name) // the name is not used again
			d.mu.Unlock()
		}
	case p.Status.Phase == corev1.PodFailed:
		d.lose(ctx, p, "its pod "+p.Name+" failed: "+podReason(p))
	case p.Labels[roleLabel] == "job":
		if why := cannotStart(p); why != "" {
			attempt, _ := strconv.Atoi(p.Labels[attemptLabel])
			d.q.FailQueued(ctx, p.Labels[runLabel], attempt-1, "the runner pod "+p.Name+" cannot start: "+why)
			d.deleteJob(ctx, p.Labels["job-name"])
		}
	}
}

// lose reports a runner pod gone, once. A Job's pod takes its Job with
// it: the run's next attempt gets a Job of its own.
func (d *dispatcher) lose(ctx context.Context, p *corev1.Pod, why string) {
	d.mu.Lock()
	seen := d.lost[p.Name]
	d.lost[p.Name] = true
	d.mu.Unlock()
	if seen {
		return
	}
	d.log.Info("runner pod gone", "pod", p.Name, "why", why)
	d.q.LoseRunner(ctx, p.Name, why)
	if p.Labels[roleLabel] == "job" {
		d.deleteJob(ctx, p.Labels["job-name"])
	}
}

func (d *dispatcher) deleteJob(ctx context.Context, name string) {
	if name == "" {
		return
	}
	bg := metav1.DeletePropagationBackground
	err := d.cfg.Client.BatchV1().Jobs(d.cfg.Namespace).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &bg})
	if err != nil && !apierrors.IsNotFound(err) {
		d.warn("deleting runner Job "+name, err)
	}
}

// job follows a runner Job: one that failed before its run was claimed
// ends the run in error; one deleted may be made again.
func (d *dispatcher) job(ctx context.Context, obj any, deleted bool) {
	j, ok := object[*batchv1.Job](obj)
	if !ok {
		return
	}
	if deleted {
		d.mu.Lock()
		delete(d.created, j.Name)
		d.mu.Unlock()
		d.wake()
		return
	}
	d.mu.Lock()
	d.created[j.Name] = true
	d.mu.Unlock()
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			attempt, _ := strconv.Atoi(j.Labels[attemptLabel])
			d.q.FailQueued(ctx, j.Labels[runLabel], attempt-1,
				fmt.Sprintf("the runner Job %s failed: %s: %s (kubectl -n %s logs job/%s)", j.Name, c.Reason, c.Message, j.Namespace, j.Name))
		}
	}
}

// cannotStart says why a pod's runner container will not start without
// someone fixing something, or "".
func cannotStart(p *corev1.Pod) string {
	for _, cs := range p.Status.ContainerStatuses {
		w := cs.State.Waiting
		if w == nil {
			continue
		}
		switch w.Reason {
		case "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError", "CreateContainerError":
			return w.Reason + ": " + w.Message
		}
	}
	return ""
}

func podReason(p *corev1.Pod) string {
	for _, cs := range p.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil {
			return fmt.Sprintf("%s (exit %d) %s", t.Reason, t.ExitCode, t.Message)
		}
	}
	if p.Status.Reason != "" {
		return p.Status.Reason + ": " + p.Status.Message
	}
	return "phase Failed"
}

// jobFor is the Job that runs attempt name of run r.
func (d *dispatcher) jobFor(r store.Run, name string) *batchv1.Job {
	attempt := strconv.Itoa(r.Attempt + 1)
	labels := map[string]string{managedBy: manager, roleLabel: "job", runLabel: r.ID, attemptLabel: attempt}
	tmpl := d.podTemplate(labels, corev1.RestartPolicyNever, "--run", r.ID)
	backoff, ttl := int32(1), int32(300)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: d.cfg.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{
			BackoffLimit:            &backoff, // a runner that fails twice before claiming fails the run
			TTLSecondsAfterFinished: &ttl,
			Template:                tmpl,
		},
	}
}

// ensureWarm makes the warm pool's Deployment hold cfg.Warm runners.
func (d *dispatcher) ensureWarm(ctx context.Context) error {
	deps := d.cfg.Client.AppsV1().Deployments(d.cfg.Namespace)
	cur, err := deps.Get(ctx, WarmName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && d.cfg.Warm == 0 {
		return nil
	}
	labels := map[string]string{managedBy: manager, roleLabel: "warm"}
	replicas := int32(d.cfg.Warm)
	want := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: WarmName, Namespace: d.cfg.Namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: d.podTemplate(labels, corev1.RestartPolicyAlways),
		},
	}
	switch {
	case apierrors.IsNotFound(err):
		_, err = deps.Create(ctx, want, metav1.CreateOptions{})
	case err == nil:
		cur.Spec.Replicas, cur.Spec.Template = want.Spec.Replicas, want.Spec.Template
		_, err = deps.Update(ctx, cur, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("deployment %s/%s: %w", d.cfg.Namespace, WarmName, err)
	}
	return nil
}

// podTemplate is the configured template with the runner container set
// up to run `sparkwing runner` against the controller, plus extra args.
func (d *dispatcher) podTemplate(labels map[string]string, restart corev1.RestartPolicy, extra ...string) corev1.PodTemplateSpec {
	t := *d.cfg.Template.DeepCopy()
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	for k, v := range labels {
		t.Labels[k] = v
	}
	t.Spec.RestartPolicy = restart
	c := runnerContainer(&t.Spec)
	if c.Image == "" {
		c.Image = d.cfg.Image
	}
	c.Args = []string{"runner", "--controller", d.cfg.Controller, "--token-file", tokenDir + "/token",
		"--name", "$(SPARKWING_RUNNER_NAME)", "--dir", workDir}
	if len(d.cfg.Labels) > 0 {
		c.Args = append(c.Args, "--labels", formatLabels(d.cfg.Labels))
	}
	c.Args = append(c.Args, extra...)
	c.Env = append(c.Env,
		corev1.EnvVar{Name: "SPARKWING_RUNNER_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		corev1.EnvVar{Name: "HOME", Value: workDir})
	c.VolumeMounts = append(c.VolumeMounts,
		corev1.VolumeMount{Name: "sparkwing-token", MountPath: tokenDir, ReadOnly: true},
		corev1.VolumeMount{Name: "sparkwing-work", MountPath: workDir})
	t.Spec.Volumes = append(t.Spec.Volumes,
		corev1.Volume{Name: "sparkwing-token", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: d.cfg.TokenSecret}}},
		corev1.Volume{Name: "sparkwing-work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	return t
}

// findRunner is spec's container named "runner", or nil.
func findRunner(spec *corev1.PodSpec) *corev1.Container {
	for i := range spec.Containers {
		if spec.Containers[i].Name == "runner" {
			return &spec.Containers[i]
		}
	}
	return nil
}

// runnerContainer is spec's container named "runner", added if missing.
func runnerContainer(spec *corev1.PodSpec) *corev1.Container {
	if c := findRunner(spec); c != nil {
		return c
	}
	spec.Containers = append(spec.Containers, corev1.Container{Name: "runner"})
	return &spec.Containers[len(spec.Containers)-1]
}

func formatLabels(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := ""
	for i, k := range keys {
		if i > 0 {
			out += ","
		}
		out += k + "=" + m[k]
	}
	return out
}

// Connect makes a client from kubeconfig (default $KUBECONFIG, then
// ~/.kube/config, then the in-cluster config) and context (default the
// kubeconfig's current one).
func Connect(kubeconfig, context string) (kubernetes.Interface, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("the kubeconfig: %v (set --kubeconfig, or KUBECONFIG, to a valid file; --kube-context to one of its contexts)", err)
	}
	return kubernetes.NewForConfig(rc)
}

// ReadTemplate reads a pod template (a PodTemplateSpec: metadata and
// spec) from a YAML file; fields Kubernetes does not know are errors.
func ReadTemplate(path string) (corev1.PodTemplateSpec, error) {
	var t corev1.PodTemplateSpec
	b, err := os.ReadFile(path)
	if err != nil {
		return t, err
	}
	if err := yaml.UnmarshalStrict(b, &t); err != nil {
		return t, fmt.Errorf("%s: %v (it holds a pod template: metadata: and spec: as in a Deployment's spec.template)", path, err)
	}
	return t, nil
}
