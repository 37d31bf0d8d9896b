package kube

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/sparkwing-dev/sparkwing/internal/deploy"
)

// Logs follows, for sparkwing dev, the logs of the pods of a deploy's
// workloads until ctx is done: every container that runs, or starts,
// meanwhile (a rollout's new pods, a restarted container), its lines from
// req.Since on, each to out after its pod's name (and its container's, in
// a pod of more than one). The times compared with req.Since are the
// node's, from the container runtime. It renders the manifests again
// every few seconds, so that a workload an edit adds is followed too.
func Logs(ctx context.Context, req *deploy.Request, out io.Writer) deploy.Message {
	if _, ok := req.Deploy.GitOps[req.Profile]; ok {
		return deploy.Message{OK: true} // its pods are the gitops controller's to follow
	}
	objs, c, err := placed(ctx, req)
	if err != nil {
		return failed(err, "")
	}
	pods, err := kubernetes.NewForConfig(c.streamConfig) // no client timeout: these requests last
	if err != nil {
		return failed(err, "")
	}
	f := &follower{pods: pods, since: req.Since, out: out, seen: map[string]bool{}}
	watched := map[[2]string]bool{}
	for {
		for _, o := range objs {
			sel, ok := selector(o)
			key := [2]string{o.GetNamespace(), sel}
			if ok && workload(o.GetKind()) && !watched[key] {
				watched[key] = true
				f.wg.Go(func() { f.watch(ctx, key[0], key[1]) })
			}
		}
		select {
		case <-ctx.Done():
			f.wg.Wait()
			return deploy.Message{OK: true}
		case <-time.After(rerender):
		}
		overlay := req.Deploy.Overlay(req.Profile)
		if again, err := render(filepath.Join(req.Root, overlay)); err == nil && c.place(ctx, again, overlay) == nil {
			objs = again
		}
	}
}

// rerender is how often Logs renders the manifests again.
const rerender = 2 * time.Second

// follower follows the containers of the pods its watches see.
type follower struct {
	pods  kubernetes.Interface
	since time.Time
	wg    sync.WaitGroup // the watches and the streams

	mu   sync.Mutex // guards out and seen
	out  io.Writer
	seen map[string]bool // POD-UID/CONTAINER/RESTARTS followed
}

// watch follows the pods in ns that sel selects, as they come and change,
// until ctx is done.
func (f *follower) watch(ctx context.Context, ns, sel string) {
	api := f.pods.CoreV1().Pods(ns)
	for ctx.Err() == nil {
		list, err := api.List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err == nil {
			for i := range list.Items {
				f.pod(ctx, &list.Items[i])
			}
			var w watch.Interface
			if w, err = api.Watch(ctx, metav1.ListOptions{LabelSelector: sel, ResourceVersion: list.ResourceVersion}); err == nil {
				for ev := range w.ResultChan() {
					if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type != watch.Deleted {
						f.pod(ctx, p)
					}
				}
				w.Stop()
			}
		}
		if err != nil && ctx.Err() == nil {
			f.say("sparkwing", "watching the pods (%s, namespace %s): %v; trying again", sel, ns, err)
		}
		select { // a watch the server ended, or a failure: list again
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// pod starts following each running container of p not followed yet.
func (f *follower) pod(ctx context.Context, p *corev1.Pod) {
	if p.DeletionTimestamp != nil {
		return
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running == nil {
			continue
		}
		key := fmt.Sprintf("%s/%s/%d", p.UID, cs.Name, cs.RestartCount)
		f.mu.Lock()
		seen := f.seen[key]
		f.seen[key] = true
		f.mu.Unlock()
		if seen {
			continue
		}
		name := p.Name
		if len(p.Spec.Containers) > 1 {
			name += "/" + cs.Name
		}
		f.wg.Go(func() { f.stream(ctx, p.Namespace, p.Name, cs.Name, name) })
	}
}

// stream copies one container's log from f.since on until it ends (the
// container stopped) or ctx is done.
func (f *follower) stream(ctx context.Context, ns, pod, container, name string) {
	opts := &corev1.PodLogOptions{Container: container, Follow: true, Timestamps: true}
	if !f.since.IsZero() {
		opts.SinceTime = &metav1.Time{Time: f.since} // whole seconds: the lines are compared below
	}
	var rc io.ReadCloser
	var err error
	for try := 0; try < 5 && ctx.Err() == nil; try++ { // a container that has just started may not have a log yet
		if rc, err = f.pods.CoreV1().Pods(ns).GetLogs(pod, opts).Stream(ctx); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		if ctx.Err() == nil {
			f.say(name, "(cannot follow its log: %v)", err)
		}
		return
	}
	defer rc.Close()
	r := bufio.NewReaderSize(rc, 64<<10)
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			stamp, text, _ := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
			if t, perr := time.Parse(time.RFC3339Nano, stamp); perr != nil || !t.Before(f.since) {
				f.say(name, "%s", text)
			}
		}
		if err != nil {
			return
		}
	}
}

// say writes one line of name's.
func (f *follower) say(name, format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fmt.Fprintf(f.out, "%s │ %s\n", name, fmt.Sprintf(format, args...))
}
