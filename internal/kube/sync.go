package kube

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/sparkwing-dev/sparkwing/internal/deploy"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/registry"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
	"github.com/sparkwing-dev/sparkwing/internal/supervisor"
)

// How sparkwing dev --sync changes a pod template: an emptyDir volume at
// plan.SyncDir, an init container that installs the supervisor there, and
// the synced containers' command run under it. The annotation holds the
// request's generation: a new one rolls the pods out afresh.
const (
	syncVolume     = "sparkwing-sync"
	syncInit       = "sparkwing-supervisor"
	syncAnnotation = "sparkwing.dev/sync"
)

var supervisorPath = path.Join(plan.SyncDir, supervisor.Name)

// syncPatch runs the containers of the synced images under the
// supervisor. pins are the images' references as pinned.
func syncPatch(ctx context.Context, objs []*unstructured.Unstructured, req *deploy.Request, pins map[string]string) error {
	reg := registry.New()
	synced := map[string]bool{} // pinned references of the synced images
	var first string
	for _, f := range req.Sync.Files {
		if pins[f.Image] == "" {
			return fmt.Errorf("sync: image %s is not pinned", f.Image)
		}
		synced[pins[f.Image]] = true
		first = cmp.Or(first, pins[f.Image])
	}
	supRef, err := pushSupervisor(ctx, reg, req.Sync.Supervisor, first)
	if err != nil {
		return err
	}
	configs := map[string]*registry.Config{}
	configOf := func(ref string) (*registry.Config, error) {
		if c, ok := configs[ref]; ok {
			return c, nil
		}
		r, err := registry.SplitPinned(ref)
		if err != nil {
			return nil, err
		}
		c, err := reg.Config(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("sync: reading what %s runs: %v", ref, err)
		}
		configs[ref] = c
		return c, nil
	}
	return patchPods(objs, synced, supRef, req.Sync.Generation, configOf)
}

// patchPods changes the pod template of every workload with a container
// running one of the synced references.
func patchPods(objs []*unstructured.Unstructured, synced map[string]bool, supRef, generation string, configOf func(ref string) (*registry.Config, error)) error {
	patched := map[string]bool{}
	for _, o := range objs {
		if !workload(o.GetKind()) {
			continue
		}
		spec, found, _ := unstructured.NestedMap(o.Object, "spec", "template", "spec")
		if !found {
			continue
		}
		cs, _, _ := unstructured.NestedSlice(spec, "containers")
		changed := false
		for i, c := range cs {
			cm, ok := c.(map[string]any)
			ref, _ := cm["image"].(string)
			if !ok || !synced[ref] {
				continue
			}
			argv, err := commandOf(cm, ref, configOf)
			if err != nil {
				return fmt.Errorf("sync: %s, container %v: %v", objName(o), cm["name"], err)
			}
			cm["command"] = toAny(append([]string{supervisorPath, "run", "--"}, argv...))
			delete(cm, "args")
			mounts, _, _ := unstructured.NestedSlice(cm, "volumeMounts")
			cm["volumeMounts"] = append(mounts, map[string]any{"name": syncVolume, "mountPath": plan.SyncDir})
			cs[i] = cm
			changed, patched[ref] = true, true
		}
		if !changed {
			continue
		}
		spec["containers"] = cs
		inits, _, _ := unstructured.NestedSlice(spec, "initContainers")
		spec["initContainers"] = append(inits, map[string]any{
			"name": syncInit, "image": supRef,
			"command":      toAny([]string{"/" + supervisor.Name, "install", plan.SyncDir}),
			"volumeMounts": []any{map[string]any{"name": syncVolume, "mountPath": plan.SyncDir}},
		})
		vols, _, _ := unstructured.NestedSlice(spec, "volumes")
		spec["volumes"] = append(vols, map[string]any{"name": syncVolume, "emptyDir": map[string]any{}})
		unstructured.SetNestedMap(o.Object, spec, "spec", "template", "spec")
		unstructured.SetNestedField(o.Object, generation, "spec", "template", "metadata", "annotations", syncAnnotation)
	}
	for ref := range synced {
		if !patched[ref] {
			return fmt.Errorf("sync: no Deployment, StatefulSet or DaemonSet of the overlay runs %s", ref)
		}
	}
	return nil
}

// commandOf is what a container runs, as Kubernetes decides it: its
// command and args; else the image's entrypoint with its args, or with
// the image's command when it has none.
func commandOf(c map[string]any, ref string, configOf func(string) (*registry.Config, error)) ([]string, error) {
	command, hasCommand, _ := unstructured.NestedStringSlice(c, "command")
	args, hasArgs, _ := unstructured.NestedStringSlice(c, "args")
	var argv []string
	if hasCommand {
		argv = append(command, args...)
	} else {
		cfg, err := configOf(ref)
		if err != nil {
			return nil, err
		}
		argv = slices.Clone(cfg.Entrypoint)
		if hasArgs {
			argv = append(argv, args...)
		} else {
			argv = append(argv, cfg.Cmd...)
		}
	}
	switch {
	case len(argv) == 0:
		return nil, errors.New("neither the container nor its image says what to run")
	case !strings.Contains(argv[0], "/"):
		return nil, fmt.Errorf("it runs %q, found on PATH; sync needs the program's path, such as /%s, in `command` or the image's ENTRYPOINT", argv[0], argv[0])
	}
	return argv, nil
}

func syncedNames(s *deploy.Sync) string {
	var names []string
	for _, f := range s.Files {
		names = append(names, f.Image)
	}
	slices.Sort(names)
	return strings.Join(slices.Compact(names), ", ")
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// pushSupervisor pushes the supervisor, as a one-file image, to the
// registry (and path prefix) of the synced image near, and returns its
// pinned reference. It must be statically linked: it runs in the synced
// image, which may have no C library.
func pushSupervisor(ctx context.Context, reg *registry.Client, program, near string) (string, error) {
	data, err := os.ReadFile(program)
	if err != nil {
		return "", fmt.Errorf("sync: %v", err)
	}
	if err := static(data); err != nil {
		return "", &configError{msg: fmt.Sprintf("sync: %s %v", program, err),
			hint: "build it with CGO_ENABLED=0 go install ./cmd/sparkwing-supervisor"}
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	tw.WriteHeader(&tar.Header{Name: supervisor.Name, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg, Format: tar.FormatPAX})
	tw.Write(data)
	if err := tw.Close(); err != nil {
		return "", err
	}
	at, err := registry.SplitPinned(near)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	ref := at
	ref.Repo = path.Join(path.Dir(at.Repo), supervisor.Name)
	ref.Tag = "b-" + hex.EncodeToString(sum[:8])
	digest, err := reg.PushImage(ctx, ref, layer.Bytes(), registry.Config{Entrypoint: []string{"/" + supervisor.Name}})
	if err != nil {
		return "", fmt.Errorf("sync: pushing the supervisor: %v", err)
	}
	return ref.Host + "/" + ref.Repo + ":" + ref.Tag + "@" + digest, nil
}

// static reports why an executable would not run without a C library.
func static(data []byte) error {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("is not a Linux executable: %v", err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("is dynamically linked; the images it runs in may have no C library")
		}
	}
	return nil
}

// Sync copies a request's files into the running containers of its
// synced images and restarts their process there, then runs the health
// checks. When it cannot (the cluster does not run what the last deploy
// of these manifests applied, the pods do not run the supervisor, a copy
// fails, the process is not healthy), it says why in Stale and changes
// nothing the next deploy does not replace: the caller deploys instead.
// With Sync.CheckOnly it stops after the check, having copied nothing.
func Sync(ctx context.Context, req *deploy.Request, log io.Writer) deploy.Message {
	d := req.Deploy
	if _, ok := d.GitOps[req.Profile]; ok {
		return deploy.Message{OK: true, Stale: "profile " + req.Profile + " deploys through git"}
	}
	start := time.Now()
	overlay := d.Overlay(req.Profile)
	objs, c, err := placed(ctx, req)
	if err != nil {
		return failed(err, "")
	}
	stale := func(format string, args ...any) deploy.Message {
		why := fmt.Sprintf(format, args...)
		fmt.Fprintf(log, "cannot sync: %s\n", why)
		return deploy.Message{OK: true, Stale: why}
	}
	pins, why, err := c.livePins(ctx, objs, d.ImageNames())
	switch {
	case err != nil:
		return failed(err, "")
	case why != "":
		return stale("%s", why)
	}
	if err := pin(objs, pins, overlay); err != nil {
		return failed(err, "")
	}
	if err := syncPatch(ctx, objs, req, pins); err != nil {
		return stale("%v", err)
	}
	live, dry, err := c.dryRun(ctx, objs)
	if err != nil {
		return failed(err, "")
	}
	if i := changedObject(live, dry); i >= 0 {
		return stale("%s differs from what the last deploy applied", objName(objs[i]))
	}
	if !c.rolledOut(ctx, objs) {
		return stale("a rollout is in progress")
	}
	targets, err := c.syncTargets(ctx, objs, req, pins)
	if err != nil {
		return stale("%v", err)
	}
	if req.Sync.CheckOnly {
		return deploy.Message{OK: true, Pods: podNames(targets)}
	}
	t0 := time.Now()
	pods, err := c.syncPods(ctx, targets, log)
	if err != nil {
		return stale("%v", err)
	}
	t1 := time.Now()
	if err := checkHealth(ctx, d.Health, cmp.Or(d.HealthTimeout, plan.DefaultHealthTimeout), req.Root, log); err != nil {
		return stale("after the sync, %v", err)
	}
	t2 := time.Now()
	fmt.Fprintf(log, "synced in %s (check %s · copy and restart %s · health %s)\n",
		seconds(t2.Sub(start)), seconds(t0.Sub(start)), seconds(t1.Sub(t0)), seconds(t2.Sub(t1)))
	return deploy.Message{OK: true, Applied: true, Synced: pods, Phases: &runrec.DeployPhases{
		CheckMS: t0.Sub(start).Milliseconds(), SyncMS: t1.Sub(t0).Milliseconds(), HealthMS: t2.Sub(t1).Milliseconds()}}
}

// livePins are the references the cluster's workloads run for each image
// name, found by matching each rendered container to its live one. why
// says what is missing when the cluster does not run the overlay.
func (c *client) livePins(ctx context.Context, objs []*unstructured.Unstructured, names []string) (pins map[string]string, why string, err error) {
	pins = map[string]string{}
	for _, o := range objs {
		if !workload(o.GetKind()) {
			continue
		}
		ri, err := c.resource(o)
		if err != nil {
			return nil, "", err
		}
		cur, err := ri.Get(ctx, o.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, objName(o) + " is not in the cluster", nil
		} else if err != nil {
			return nil, "", fmt.Errorf("reading %s: %v", objName(o), err)
		}
		liveImages := map[string]string{}
		lcs, _, _ := unstructured.NestedSlice(cur.Object, "spec", "template", "spec", "containers")
		for _, lc := range lcs {
			if m, ok := lc.(map[string]any); ok {
				name, _ := m["name"].(string)
				liveImages[name], _ = m["image"].(string)
			}
		}
		rcs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		for _, rc := range rcs {
			m, _ := rc.(map[string]any)
			name, _ := m["name"].(string)
			ref, _ := m["image"].(string)
			if !slices.Contains(names, imageName(ref)) {
				continue
			}
			got := liveImages[name]
			switch {
			case got == "":
				return nil, fmt.Sprintf("%s has no container %s", objName(o), name), nil
			case pins[imageName(ref)] != "" && pins[imageName(ref)] != got:
				return nil, fmt.Sprintf("image %s runs as both %s and %s", imageName(ref), pins[imageName(ref)], got), nil
			}
			pins[imageName(ref)] = got
		}
	}
	for _, n := range names {
		if pins[n] == "" {
			return nil, "no workload in the cluster runs image " + n, nil
		}
	}
	return pins, "", nil
}

// syncTarget is a container to copy files into.
type syncTarget struct {
	ns, pod, container string
	files              []deploy.SyncFile
}

// syncTargets are the containers of the running pods of the workloads
// that run a synced image.
func (c *client) syncTargets(ctx context.Context, objs []*unstructured.Unstructured, req *deploy.Request, pins map[string]string) ([]syncTarget, error) {
	var targets []syncTarget
	byRef := map[string][]deploy.SyncFile{}
	for _, f := range req.Sync.Files {
		byRef[pins[f.Image]] = append(byRef[pins[f.Image]], f)
	}
	for _, o := range objs {
		sel, ok := selector(o)
		if !workload(o.GetKind()) || !ok {
			continue
		}
		pods, err := c.typed.CoreV1().Pods(o.GetNamespace()).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return nil, fmt.Errorf("listing the pods of %s: %v", objName(o), err)
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
				continue
			}
			for _, ct := range p.Spec.Containers {
				if fs := byRef[ct.Image]; len(fs) > 0 {
					if len(ct.Command) == 0 || ct.Command[0] != supervisorPath {
						return nil, fmt.Errorf("pod %s does not run sparkwing's supervisor", p.Name)
					}
					targets = append(targets, syncTarget{p.Namespace, p.Name, ct.Name, fs})
				}
			}
		}
	}
	if len(targets) == 0 {
		return nil, errors.New("no running pod runs a synced image")
	}
	return targets, nil
}

// syncPods copies the files into every target at once, and returns the
// pods.
func (c *client) syncPods(ctx context.Context, targets []syncTarget, log io.Writer) ([]string, error) {
	errs := make([]error, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() { errs[i] = c.replace(ctx, t.ns, t.pod, t.container, t.files) })
	}
	wg.Wait()
	for i, t := range targets {
		if errs[i] != nil {
			return nil, fmt.Errorf("pod %s: %v", t.pod, errs[i])
		}
		fmt.Fprintf(log, "synced %d files into pod %s, container %s, and restarted it\n", len(t.files), t.pod, t.container)
	}
	return podNames(targets), nil
}

func podNames(targets []syncTarget) []string {
	var pods []string
	for _, t := range targets {
		pods = append(pods, t.ns+"/"+t.pod)
	}
	slices.Sort(pods)
	return slices.Compact(pods)
}

// replace runs the supervisor's replace in one container, the files on
// its standard input.
func (c *client) replace(ctx context.Context, ns, pod, container string, files []deploy.SyncFile) error {
	cmd := []string{supervisorPath, "replace"}
	var readers []io.Reader
	for _, f := range files {
		fh, err := os.Open(f.From)
		if err != nil {
			return err
		}
		defer fh.Close()
		st, err := fh.Stat()
		if err != nil {
			return err
		}
		cmd = append(cmd, f.To+":"+strconv.FormatInt(st.Size(), 10))
		readers = append(readers, fh)
	}
	req := c.typed.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: cmd, Stdin: true, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(c.streamConfig, "POST", req.URL())
	if err != nil {
		return err
	}
	var stdout, stderr bytes.Buffer // written at once, each by its own goroutine
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: io.MultiReader(readers...), Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()+stdout.String()))
	}
	return nil
}
