package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// workload reports whether kind rolls out (kubectl rollout status knows it).
func workload(kind string) bool {
	return kind == "Deployment" || kind == "StatefulSet" || kind == "DaemonSet"
}

// rolloutStatus is `kubectl rollout status`'s verdict on one object: done,
// or a line saying what it waits for; an error when the rollout cannot
// finish (its progress deadline passed).
func rolloutStatus(o *unstructured.Unstructured) (done bool, msg string, err error) {
	name := strings.ToLower(o.GetKind()) + "/" + o.GetName()
	switch o.GetKind() {
	case "Deployment":
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
			return false, "", err
		}
		if d.Generation > d.Status.ObservedGeneration {
			return false, name + ": waiting for the controller to see the new spec", nil
		}
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
				return false, "", fmt.Errorf("%s exceeded its progress deadline", name)
			}
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		s := d.Status
		line := fmt.Sprintf("%s: %d/%d updated, %d available", name, s.UpdatedReplicas, want, s.AvailableReplicas)
		switch {
		case s.UpdatedReplicas < want:
			return false, line, nil
		case s.Replicas > s.UpdatedReplicas:
			return false, fmt.Sprintf("%s, %d old pending termination", line, s.Replicas-s.UpdatedReplicas), nil
		case s.AvailableReplicas < s.UpdatedReplicas:
			return false, line, nil
		}
		return true, line, nil
	case "StatefulSet":
		var st appsv1.StatefulSet
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &st); err != nil {
			return false, "", err
		}
		if st.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
			return true, name + ": updates OnDelete, not rolled out", nil
		}
		if st.Status.ObservedGeneration == 0 || st.Generation > st.Status.ObservedGeneration {
			return false, name + ": waiting for the controller to see the new spec", nil
		}
		want := int32(1)
		if st.Spec.Replicas != nil {
			want = *st.Spec.Replicas
		}
		line := fmt.Sprintf("%s: %d/%d ready, %d updated", name, st.Status.ReadyReplicas, want, st.Status.UpdatedReplicas)
		if st.Status.ReadyReplicas < want {
			return false, line, nil
		}
		if ru := st.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil && *ru.Partition > 0 {
			return st.Status.UpdatedReplicas >= want-*ru.Partition, line, nil
		}
		if st.Status.UpdateRevision != st.Status.CurrentRevision {
			return false, line, nil
		}
		return true, line, nil
	case "DaemonSet":
		var ds appsv1.DaemonSet
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &ds); err != nil {
			return false, "", err
		}
		if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType {
			return true, name + ": updates OnDelete, not rolled out", nil
		}
		if ds.Generation > ds.Status.ObservedGeneration {
			return false, name + ": waiting for the controller to see the new spec", nil
		}
		s := ds.Status
		line := fmt.Sprintf("%s: %d/%d updated, %d available", name, s.UpdatedNumberScheduled, s.DesiredNumberScheduled, s.NumberAvailable)
		return s.UpdatedNumberScheduled >= s.DesiredNumberScheduled && s.NumberAvailable >= s.DesiredNumberScheduled, line, nil
	}
	return true, "", nil
}

// podFailure is a pod of a rollout that will not become ready by waiting:
// its image cannot be pulled, its container crashes on start, its
// configuration is wrong. lines are the container's last lines, if any.
type podFailure struct{ reason, lines string }

func (e *podFailure) Error() string { return e.reason }

// waitRollout waits, on watches, until o (applied as generation gen) has
// rolled out, its progress deadline passes, one of the pods of its new
// revision fails for good, or ctx ends. Progress lines go to log as they
// change; a failed pod's last lines too.
func (c *client) waitRollout(ctx context.Context, o *unstructured.Unstructured, gen int64, log io.Writer) error {
	ri, err := c.resource(o)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var latest atomic.Pointer[unstructured.Unstructured]
	poke := make(chan struct{}, 1)
	nudge := func() {
		select {
		case poke <- struct{}{}:
		default:
		}
	}
	go c.watchPods(ctx, o, nudge)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-poke:
			}
			if w := latest.Load(); w != nil && observed(w) >= gen {
				if f := c.newPodFailure(ctx, w); f != nil {
					cancel(f)
					return
				}
			}
		}
	}()
	sel := fields.OneTermEqualSelector("metadata.name", o.GetName()).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = sel
			return ri.List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector = sel
			return ri.Watch(ctx, opts)
		},
	}
	start, last := time.Now(), ""
	_, err = watchtools.UntilWithSync(ctx, lw, &unstructured.Unstructured{}, nil, func(ev watch.Event) (bool, error) {
		if ev.Type == watch.Deleted {
			return false, fmt.Errorf("%s was deleted while it rolled out", objName(o))
		}
		u, ok := ev.Object.(*unstructured.Unstructured)
		if !ok {
			return false, nil
		}
		latest.Store(u)
		nudge()
		done, msg, err := rolloutStatus(u)
		if err != nil {
			return false, err
		}
		if done && observed(u) >= gen {
			fmt.Fprintf(log, "%s: ready in %.1f s\n", objName(u), time.Since(start).Seconds())
			return true, nil
		}
		if msg != last {
			fmt.Fprintln(log, msg)
			last = msg
		}
		return false, nil
	})
	if f, ok := context.Cause(ctx).(*podFailure); ok {
		writeLines(log, f)
		return fmt.Errorf("%s did not roll out: %s", objName(o), f.reason)
	}
	if err != nil && ctx.Err() != nil || errors.Is(err, watchtools.ErrWatchClosed) {
		err = fmt.Errorf("%s did not roll out in time (%s)", objName(o), last)
	}
	if err != nil {
		if w := latest.Load(); w != nil {
			if f := c.newPodProblem(context.WithoutCancel(ctx), w); f != nil {
				writeLines(log, f)
				return fmt.Errorf("%v: %s", err, f.reason)
			}
		}
	}
	return err
}

func writeLines(log io.Writer, f *podFailure) {
	if f.lines != "" {
		fmt.Fprintf(log, "%s; its last lines:\n%s\n", f.reason, f.lines)
	}
}

// observed is the generation of o its controller has acted on.
func observed(o *unstructured.Unstructured) int64 {
	g, _, _ := unstructured.NestedInt64(o.Object, "status", "observedGeneration")
	return g
}

// permanent are the reasons a container waits that waiting will not fix.
var permanent = map[string]bool{
	"ImagePullBackOff": true, "ErrImageNeverPull": true, "InvalidImageName": true,
	"CrashLoopBackOff": true, "CreateContainerConfigError": true, "CreateContainerError": true,
}

// watchPods calls changed whenever one of o's pods changes.
func (c *client) watchPods(ctx context.Context, o *unstructured.Unstructured, changed func()) {
	sel, ok := selector(o)
	if !ok {
		return
	}
	pods := c.typed.CoreV1().Pods(o.GetNamespace())
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.LabelSelector = sel
			return pods.List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.LabelSelector = sel
			return pods.Watch(ctx, opts)
		},
	}
	watchtools.UntilWithSync(ctx, lw, &corev1.Pod{}, nil, func(watch.Event) (bool, error) {
		changed()
		return false, nil
	})
}

// newPodFailure is the first pod of w's current revision that fails for
// good, or nil.
func (c *client) newPodFailure(ctx context.Context, w *unstructured.Unstructured) *podFailure {
	return c.scanPods(ctx, w, true)
}

// newPodProblem is the first pod of w's current revision that is not
// ready, and why, or nil.
func (c *client) newPodProblem(ctx context.Context, w *unstructured.Unstructured) *podFailure {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.scanPods(ctx, w, false)
}

func (c *client) scanPods(ctx context.Context, w *unstructured.Unstructured, onlyPermanent bool) *podFailure {
	sel, ok := selector(w)
	if !ok {
		return nil
	}
	list, err := c.typed.CoreV1().Pods(w.GetNamespace()).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	for i := range list.Items {
		p := &list.Items[i]
		if p.DeletionTimestamp != nil || !c.ofCurrentRevision(ctx, w, p) {
			continue
		}
		if f := c.failing(ctx, p, onlyPermanent); f != nil {
			return f
		}
	}
	return nil
}

// ofCurrentRevision says whether pod p belongs to w's newest revision
// (not to one a rollout replaces, which may be failing on its way out).
func (c *client) ofCurrentRevision(ctx context.Context, w *unstructured.Unstructured, p *corev1.Pod) bool {
	switch w.GetKind() {
	case "Deployment":
		const revision = "deployment.kubernetes.io/revision"
		owner := metav1.GetControllerOf(p)
		want := w.GetAnnotations()[revision]
		if owner == nil || owner.Kind != "ReplicaSet" || want == "" {
			return false
		}
		rs, err := c.typed.AppsV1().ReplicaSets(p.Namespace).Get(ctx, owner.Name, metav1.GetOptions{})
		return err == nil && rs.Annotations[revision] == want
	case "StatefulSet":
		rev, _, _ := unstructured.NestedString(w.Object, "status", "updateRevision")
		return rev != "" && p.Labels["controller-revision-hash"] == rev
	case "DaemonSet":
		return p.Labels["pod-template-generation"] == strconv.FormatInt(w.GetGeneration(), 10)
	}
	return false
}

// failing says why pod p cannot start, or nil. Only reasons waiting will
// not fix count when onlyPermanent; an image the registry does not have
// counts at once.
func (c *client) failing(ctx context.Context, p *corev1.Pod, onlyPermanent bool) *podFailure {
	specImage := map[string]string{}
	for _, ct := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
		specImage[ct.Name] = ct.Image
	}
	statuses := append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for _, s := range statuses {
		w := s.State.Waiting
		if w == nil || w.Reason == "" {
			if !onlyPermanent && !s.Ready && s.State.Running != nil {
				return &podFailure{reason: fmt.Sprintf("pod %s: container %s runs but is not ready%s", p.Name, s.Name, c.lastWarning(ctx, p))}
			}
			continue
		}
		if w.Reason == "ContainerCreating" || w.Reason == "PodInitializing" {
			if !onlyPermanent {
				return &podFailure{reason: fmt.Sprintf("pod %s: container %s is not created%s", p.Name, s.Name, c.lastWarning(ctx, p))}
			}
			continue
		}
		notFound := w.Reason == "ErrImagePull" && (strings.Contains(w.Message, "not found") || strings.Contains(w.Message, "manifest unknown"))
		if onlyPermanent && !permanent[w.Reason] && !notFound {
			continue
		}
		f := &podFailure{}
		switch t := s.LastTerminationState.Terminated; {
		case w.Reason == "CrashLoopBackOff" && t != nil:
			f.reason = fmt.Sprintf("pod %s: container %s crashes on start (CrashLoopBackOff, exit %d)", p.Name, s.Name, t.ExitCode)
		case w.Reason == "CrashLoopBackOff":
			f.reason = fmt.Sprintf("pod %s: container %s crashes on start (CrashLoopBackOff)", p.Name, s.Name)
		default:
			f.reason = fmt.Sprintf("pod %s: %s %s", p.Name, w.Reason, specImage[s.Name])
			if w.Message != "" {
				f.reason += ": " + lastLine(w.Message)
			}
		}
		if s.LastTerminationState.Terminated != nil {
			f.lines = c.lastLogLines(ctx, p, s.Name)
		}
		return f
	}
	return nil
}

// lastWarning is the last warning event of p (a failing probe, a sandbox
// that cannot be created), as ": message".
func (c *client) lastWarning(ctx context.Context, p *corev1.Pod) string {
	evs, err := c.typed.CoreV1().Events(p.Namespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.Set{"involvedObject.name": p.Name, "type": "Warning"}.String()})
	if err != nil {
		return ""
	}
	var last *corev1.Event
	for i, e := range evs.Items {
		if e.Reason == "MissingClusterDNS" { // the kubelet's note on every pod of a cluster without DNS
			continue
		}
		if last == nil || e.LastTimestamp.After(last.LastTimestamp.Time) {
			last = &evs.Items[i]
		}
	}
	if last == nil {
		return ""
	}
	return ": " + last.Reason + ": " + lastLine(last.Message)
}

// lastLogLines are the last lines the container's previous instance wrote.
func (c *client) lastLogLines(ctx context.Context, p *corev1.Pod, container string) string {
	tail := int64(5)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	data, err := c.typed.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: container, Previous: true, TailLines: &tail}).DoRaw(ctx)
	if err != nil {
		return ""
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		lines = append(lines, "  | "+l)
	}
	return strings.Join(lines, "\n")
}

// selector is o's label selector, as a string.
func selector(o *unstructured.Unstructured) (string, bool) {
	m, found, _ := unstructured.NestedStringMap(o.Object, "spec", "selector", "matchLabels")
	if !found || len(m) == 0 {
		return "", false
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ","), true
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
