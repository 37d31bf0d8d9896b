// Package kube is sparkwing-deploy: it renders a deploy job's kustomize
// overlay with kustomize's Go API, pins its images to what the run's image
// jobs produced (tag and digest), applies it with server-side apply (field
// manager sparkwing), waits on watches with `kubectl rollout status`'s
// algorithm, runs the health checks, and on failure restores what ran
// before (`rollout undo` semantics) and says what runs now.
//
// An unchanged deploy is not applied again: when a server-side dry run of
// every object leaves it as it is live and every workload has rolled out,
// the deploy is "already applied".
package kube

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sparkwing-dev/sparkwing/internal/deploy"
	"github.com/sparkwing-dev/sparkwing/internal/health"
	"github.com/sparkwing-dev/sparkwing/internal/helperproc"
	"github.com/sparkwing-dev/sparkwing/internal/image"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
	"github.com/sparkwing-dev/sparkwing/internal/registry"
	"github.com/sparkwing-dev/sparkwing/internal/runrec"
)

// FieldManager owns the fields sparkwing applies.
const FieldManager = "sparkwing"

// Main is sparkwing-deploy's entry point.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) != 1 || !slices.Contains(deploy.Ops, args[0]) {
		fmt.Fprintf(stderr, "usage: %s apply|diff|sync|logs < request.json\n"+
			"%s is started by sparkwing to run deploy jobs; it is not meant to be run by hand.\n", deploy.HelperName, deploy.HelperName)
		return 2
	}
	msgs := helperproc.Messages(deploy.HelperName, stderr)
	if msgs == nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	req, err := deploy.DecodeRequest(args[0], stdin)
	if err != nil {
		json.NewEncoder(msgs).Encode(deploy.Message{Error: err.Error()})
		return 2
	}
	var m deploy.Message
	switch args[0] {
	case "diff":
		m = Diff(ctx, req, stdout)
	case "sync":
		m = Sync(ctx, req, stdout)
	case "logs":
		m = Logs(ctx, req, stdout)
	default:
		m = Apply(ctx, req, stdout)
	}
	json.NewEncoder(msgs).Encode(m)
	if m.Error != "" {
		return 1
	}
	return 0
}

// failed is the answer for a deploy that could not start: a configuration
// error (exit 2) or another.
func failed(err error, key string) deploy.Message {
	var ce *configError
	if errors.As(err, &ce) {
		return deploy.Message{Error: ce.msg, Config: true, Hint: ce.hint, Key: key}
	}
	return deploy.Message{Error: err.Error(), Key: key}
}

// configError is a problem found before anything was applied.
type configError struct{ msg, hint string }

func (e *configError) Error() string { return e.msg }

// Apply runs one deploy, its log to log.
func Apply(ctx context.Context, req *deploy.Request, log io.Writer) deploy.Message {
	d := req.Deploy
	if g, ok := d.GitOps[req.Profile]; ok {
		pins, err := resolvePins(ctx, req, true)
		if err != nil {
			return failed(err, "")
		}
		logPins(log, d.ImageNames(), pins)
		return pinGitOps(ctx, req, g, pins, log)
	}
	overlay := d.Overlay(req.Profile)
	start := time.Now()
	objs, c, key, err := prepare(ctx, req, true, log)
	if err != nil {
		return failed(err, "")
	}
	timeout := cmp.Or(d.Timeout, plan.DefaultDeployTimeout)
	live, dry, err := c.dryRun(ctx, objs)
	if err != nil {
		return failed(err, key)
	}
	same := unchanged(live, dry)
	var inventory []string
	if d.Prune {
		if inventory, err = c.readInventory(ctx, inventoryName(req.Pipeline, req.Job)); err != nil {
			return failed(err, key)
		}
		if stale := stale(inventory, objs); len(stale) > 0 {
			same = false // the cluster still runs objects the overlay dropped
		}
	}
	healthTimeout := cmp.Or(d.HealthTimeout, plan.DefaultHealthTimeout)
	if same && !req.Force && c.rolledOut(ctx, objs) {
		fmt.Fprintf(log, "already applied to %s: the %d objects of %s match the live ones, and they have rolled out\n", c.context, len(objs), overlay)
		if err := checkHealth(ctx, d.Health, healthTimeout, req.Root, log); err != nil {
			return deploy.Message{Error: err.Error(), Key: key}
		}
		return deploy.Message{OK: true, Key: key}
	}

	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fmt.Fprintf(log, "applying %d objects of %s to %s\n", len(objs), overlay, c.context)
	t0 := time.Now()
	failure := c.apply(wctx, objs, log)
	t1 := time.Now()
	if failure == nil && d.Rollout {
		failure = c.waitAll(wctx, objs, log)
	}
	t2 := time.Now()
	if failure == nil {
		failure = checkHealth(ctx, d.Health, healthTimeout, req.Root, log)
	}
	t3 := time.Now()
	if failure == nil && d.Prune {
		failure = c.prune(wctx, inventoryName(req.Pipeline, req.Job), inventory, objs, log)
	}
	if failure == nil {
		fmt.Fprintf(log, "deployed in %s (render and check %s · apply %s · rollout %s · health %s)\n",
			seconds(t3.Sub(start)), seconds(t0.Sub(start)), seconds(t1.Sub(t0)), seconds(t2.Sub(t1)), seconds(t3.Sub(t2)))
		return deploy.Message{OK: true, Applied: true, Key: key, Phases: &runrec.DeployPhases{
			CheckMS: t0.Sub(start).Milliseconds(), ApplyMS: t1.Sub(t0).Milliseconds(),
			RolloutMS: t2.Sub(t1).Milliseconds(), HealthMS: t3.Sub(t2).Milliseconds()}}
	}
	if ctx.Err() != nil {
		return deploy.Message{Error: "cancelled: " + failure.Error(), Key: key}
	}
	m := deploy.Message{Error: failure.Error(), Key: key}
	fmt.Fprintf(log, "failed: %v\n", failure)
	if d.OnFailure == plan.OnFailureKeep {
		m.Running = "on_failure is keep: the failed revision is left as it is"
		return m
	}
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer rcancel()
	m.Running = c.rollback(rctx, objs, live, log)
	return m
}

// seconds formats d as the timing lines do: 0.84 s.
func seconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// prepare renders and pins the overlay and connects to the cluster. For a
// diff (pushed false) an image not pushed yet is pinned by its tag alone.
func prepare(ctx context.Context, req *deploy.Request, pushed bool, log io.Writer) ([]*unstructured.Unstructured, *client, string, error) {
	d := req.Deploy
	overlay := d.Overlay(req.Profile)
	objs, err := render(filepath.Join(req.Root, overlay))
	if err != nil {
		return nil, nil, "", err
	}
	pins, err := resolvePins(ctx, req, pushed)
	if err != nil {
		return nil, nil, "", err
	}
	if err := pin(objs, pins, overlay); err != nil {
		return nil, nil, "", err
	}
	logPins(log, d.ImageNames(), pins)
	if req.Sync != nil && pushed {
		if err := syncPatch(ctx, objs, req, pins); err != nil {
			return nil, nil, "", err
		}
		fmt.Fprintf(log, "sparkwing dev --sync: the containers of %s run under %s\n", syncedNames(req.Sync), supervisorPath)
	}
	c, err := connect(ctx, d.KubeContext(req.Profile))
	if err != nil {
		return nil, nil, "", err
	}
	if err := c.place(ctx, objs, overlay); err != nil {
		return nil, nil, "", err
	}
	if err := c.checkLayout(ctx, req.Root, overlay, objs, req.Expects); err != nil {
		return nil, nil, "", err
	}
	return objs, c, c.key(objs), nil
}

// placed renders the deploy's overlay for req's profile and connects to
// its cluster, which gives the objects their namespaces: what the ops
// that act on what runs (sync, logs) start from.
func placed(ctx context.Context, req *deploy.Request) ([]*unstructured.Unstructured, *client, error) {
	overlay := req.Deploy.Overlay(req.Profile)
	objs, err := render(filepath.Join(req.Root, overlay))
	if err != nil {
		return nil, nil, err
	}
	c, err := connect(ctx, req.Deploy.KubeContext(req.Profile))
	if err != nil {
		return nil, nil, err
	}
	return objs, c, c.place(ctx, objs, overlay)
}

func logPins(log io.Writer, names []string, pins map[string]string) {
	for _, name := range names {
		fmt.Fprintf(log, "image %s: %s\n", name, pins[name])
	}
}

// resolvePins adds the registry's digest to each image job's reference:
// the pod runs exactly what was built, even if the tag moves. An image
// not in its registry is an error when it must have been pushed.
func resolvePins(ctx context.Context, req *deploy.Request, pushed bool) (map[string]string, error) {
	reg := registry.New()
	pins := map[string]string{}
	for _, name := range req.Deploy.ImageNames() {
		ref := req.Images[name]
		r, err := parseRef(ref)
		if err != nil {
			return nil, &configError{msg: fmt.Sprintf("image %s: %v", name, err)}
		}
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		digest, err := reg.Digest(dctx, r)
		cancel()
		switch {
		case err != nil:
			return nil, fmt.Errorf("image %s: asking %s for %s: %v", name, r.Host, ref, err)
		case digest == "" && pushed:
			return nil, fmt.Errorf("image %s: %s is not in its registry", name, ref)
		case strings.HasPrefix(digest, "sha256:"):
			ref += "@" + digest
		}
		pins[name] = ref
	}
	return pins, nil
}

func parseRef(ref string) (image.Ref, error) {
	slash := strings.IndexByte(ref, '/')
	colon := strings.LastIndexByte(ref, ':')
	if slash <= 0 || colon < slash {
		return image.Ref{}, fmt.Errorf("%q is not REGISTRY/REPOSITORY:TAG", ref)
	}
	return image.Ref{Host: ref[:slash], Repo: ref[slash+1 : colon], Tag: ref[colon+1:]}, nil
}

// client talks to one cluster.
type client struct {
	context   string // the kubeconfig context, for messages
	server    string
	namespace string // the context's namespace
	identity  string // the cluster's kube-system namespace UID
	dyn       dynamic.Interface
	typed     kubernetes.Interface
	// streamConfig has no client timeout, for watches and exec streams.
	streamConfig *rest.Config
	mapper       meta.RESTMapper
}

// connect loads the kubeconfig ($KUBECONFIG or ~/.kube/config), picks
// the context, and checks that the API server answers.
func connect(ctx context.Context, context_ string) (*client, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context_})
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, &configError{msg: fmt.Sprintf("reading the kubeconfig: %v", err), hint: "set KUBECONFIG to a valid kubeconfig file"}
	}
	name := context_
	if name == "" {
		name = raw.CurrentContext
	}
	if _, ok := raw.Contexts[name]; !ok || name == "" {
		var names []string
		for n := range raw.Contexts {
			names = append(names, n)
		}
		sort.Strings(names)
		files := strings.Join(rules.GetLoadingPrecedence(), ":")
		if name == "" {
			return nil, &configError{msg: fmt.Sprintf("the kubeconfig (%s) has no current context", files),
				hint: "name one with `context:` in the deploy job (contexts: " + orNone(names) + ")"}
		}
		return nil, &configError{msg: fmt.Sprintf("context %q is not in the kubeconfig (%s)", name, files),
			hint: "its contexts are: " + orNone(names) + "; fix `context:` in the deploy job, or set KUBECONFIG"}
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, &configError{msg: fmt.Sprintf("context %q: %v", name, err)}
	}
	ns, _, _ := cc.Namespace()
	cfg.QPS, cfg.Burst = 50, 100
	cfg.Timeout = 30 * time.Second
	c := &client{context: name, server: cfg.Host, namespace: ns}
	if c.typed, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	c.streamConfig = watchConfig(cfg)
	if c.dyn, err = dynamic.NewForConfig(c.streamConfig); err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	kubeSystem, err := c.typed.CoreV1().Namespaces().Get(sctx, "kube-system", metav1.GetOptions{})
	switch {
	case err == nil:
		c.identity = string(kubeSystem.UID)
	case apierrors.IsForbidden(err) || apierrors.IsNotFound(err):
		c.identity = cfg.Host
	default:
		return nil, &configError{msg: fmt.Sprintf("cannot reach the API server %s (context %s): %v", cfg.Host, name, shortErr(err)),
			hint: "is the cluster running? `kubectl --context " + name + " get nodes` says the same"}
	}
	c.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.typed.Discovery()))
	return c, nil
}

// watchConfig has no client timeout: watches last as long as the rollout.
func watchConfig(cfg *rest.Config) *rest.Config {
	w := rest.CopyConfig(cfg)
	w.Timeout = 0
	return w
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && strings.Contains(s, "dial tcp") {
		return "dial: " + s[i+2:]
	}
	return s
}

// place gives each namespaced object without a namespace the context's,
// and checks that each namespace exists (or is in the overlay).
func (c *client) place(ctx context.Context, objs []*unstructured.Unstructured, overlay string) error {
	creates := map[string]bool{}
	for _, o := range objs {
		if o.GetKind() == "Namespace" {
			creates[o.GetName()] = true
		}
	}
	checked := map[string]bool{}
	for _, o := range objs {
		m, err := c.mapping(o)
		if err != nil {
			return &configError{msg: fmt.Sprintf("overlay %s: %s %s: the cluster has no such kind (%v)", overlay, o.GetAPIVersion(), o.GetKind(), err),
				hint: "install its CRD first, or check apiVersion and kind"}
		}
		if m.Scope.Name() != meta.RESTScopeNameNamespace {
			o.SetNamespace("")
			continue
		}
		if o.GetNamespace() == "" {
			o.SetNamespace(c.namespace)
		}
		ns := o.GetNamespace()
		if creates[ns] || checked[ns] {
			continue
		}
		if _, err := c.typed.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return &configError{msg: fmt.Sprintf("namespace %q does not exist in context %s (%s/%s of overlay %s is in it)", ns, c.context, strings.ToLower(o.GetKind()), o.GetName(), overlay),
				hint: "add a Namespace to the overlay, or create it: kubectl --context " + c.context + " create namespace " + ns}
		} else if err != nil {
			return fmt.Errorf("namespace %s: %v", ns, err)
		}
		checked[ns] = true
	}
	return nil
}

func (c *client) mapping(o *unstructured.Unstructured) (*meta.RESTMapping, error) {
	gvk := o.GroupVersionKind()
	return c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
}

func (c *client) resource(o *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	m, err := c.mapping(o)
	if err != nil {
		return nil, err
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return c.dyn.Resource(m.Resource).Namespace(o.GetNamespace()), nil
	}
	return c.dyn.Resource(m.Resource), nil
}

// key hashes the rendered, pinned objects and the cluster's identity.
func (c *client) key(objs []*unstructured.Unstructured) string {
	h := sha256.New()
	fmt.Fprintf(h, "sparkwing deploy v1\ncluster %s %s\n", c.server, c.identity)
	for _, o := range objs {
		data, _ := json.Marshal(o.Object) // maps marshal with sorted keys
		fmt.Fprintf(h, "%d %s\n", len(data), data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func objName(o *unstructured.Unstructured) string {
	name := strings.ToLower(o.GetKind()) + "/" + o.GetName()
	if o.GetNamespace() != "" && o.GetNamespace() != "default" {
		name = o.GetNamespace() + "/" + name
	}
	return name
}

// dryRun applies every object with a server-side dry run: the API server
// validates them all before anything is applied (a rejected object is a
// configuration error) and returns each as applying would leave it. It
// also returns the live objects (nil where there is none), for a rollback
// and to compare.
func (c *client) dryRun(ctx context.Context, objs []*unstructured.Unstructured) (live, dry []*unstructured.Unstructured, err error) {
	live = make([]*unstructured.Unstructured, len(objs))
	dry = make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		ri, err := c.resource(o)
		if err != nil {
			return nil, nil, err
		}
		cur, err := ri.Get(ctx, o.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, nil, fmt.Errorf("reading %s: %v", objName(o), err)
		default:
			live[i] = cur
		}
		if cur == nil && c.namespaceCreatedBy(objs[:i], o) {
			dry[i] = o // its namespace does not exist yet: the dry run would fail
			continue
		}
		dry[i], err = ri.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: FieldManager, Force: true, DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return nil, nil, &configError{msg: fmt.Sprintf("the API server rejects %s: %v", objName(o), err),
				hint: "fix the manifest in the overlay; nothing was applied"}
		}
	}
	return live, dry, nil
}

// unchanged says whether applying would leave every live object as it is.
func unchanged(live, dry []*unstructured.Unstructured) bool { return changedObject(live, dry) < 0 }

// changedObject is the index of the first object applying would change
// (or create), or -1.
func changedObject(live, dry []*unstructured.Unstructured) int {
	for i := range live {
		if live[i] == nil || !reflect.DeepEqual(comparable(live[i]), comparable(dry[i])) {
			return i
		}
	}
	return -1
}

// namespaceCreatedBy says whether an earlier object creates o's namespace.
func (c *client) namespaceCreatedBy(earlier []*unstructured.Unstructured, o *unstructured.Unstructured) bool {
	return slices.ContainsFunc(earlier, func(e *unstructured.Unstructured) bool {
		return e.GetKind() == "Namespace" && e.GetName() == o.GetNamespace()
	})
}

// comparable is o without what changes on every write.
func comparable(o *unstructured.Unstructured) map[string]any {
	c := o.DeepCopy()
	c.SetManagedFields(nil)
	c.SetResourceVersion("")
	c.SetGeneration(0)
	unstructured.RemoveNestedField(c.Object, "status")
	return c.Object
}

// rolledOut says whether every workload has rolled out.
func (c *client) rolledOut(ctx context.Context, objs []*unstructured.Unstructured) bool {
	for _, o := range objs {
		if !workload(o.GetKind()) {
			continue
		}
		ri, err := c.resource(o)
		if err != nil {
			return false
		}
		cur, err := ri.Get(ctx, o.GetName(), metav1.GetOptions{})
		if err != nil {
			return false
		}
		if done, _, err := rolloutStatus(cur); !done || err != nil {
			return false
		}
	}
	return true
}

// apply applies each object in the overlay's order (kustomize puts
// namespaces first).
func (c *client) apply(ctx context.Context, objs []*unstructured.Unstructured, log io.Writer) error {
	for _, o := range objs {
		ri, err := c.resource(o)
		if err != nil {
			return err
		}
		got, err := ri.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
		if err != nil {
			return fmt.Errorf("applying %s: %v", objName(o), err)
		}
		o.SetGeneration(got.GetGeneration()) // what the rollout waits for
		fmt.Fprintf(log, "applied %s\n", objName(o))
	}
	return nil
}

// waitAll waits for every workload to roll out.
func (c *client) waitAll(ctx context.Context, objs []*unstructured.Unstructured, log io.Writer) error {
	for _, o := range objs {
		if workload(o.GetKind()) {
			if err := c.waitRollout(ctx, o, o.GetGeneration(), log); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkHealth runs each check until it passes; they may take timeout
// together.
func checkHealth(ctx context.Context, checks []string, timeout time.Duration, root string, log io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, spec := range checks {
		h, err := plan.ParseHealth(spec)
		if err != nil {
			return err
		}
		start := time.Now()
		for {
			err := health.Check(ctx, h, root, os.Environ())
			if err == nil {
				fmt.Fprintf(log, "healthy: %s (%.1f s)\n", spec, time.Since(start).Seconds())
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("health check %s failed for %v: %v", spec, timeout, err)
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	return nil
}

// rollback restores each object that existed before the deploy to what
// it was (for a workload, its previous pod template: `rollout undo`), waits
// for the workloads, and says what runs now.
func (c *client) rollback(ctx context.Context, objs, live []*unstructured.Unstructured, log io.Writer) string {
	var restored, fresh, problems []string
	for i, o := range objs {
		prev := live[i]
		if prev == nil {
			fresh = append(fresh, objName(o))
			continue
		}
		ri, err := c.resource(o)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		got, err := ri.Apply(ctx, o.GetName(), restorable(prev), metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
		if err != nil {
			problems = append(problems, fmt.Sprintf("restoring %s: %v", objName(o), err))
			continue
		}
		fmt.Fprintf(log, "rolled back %s\n", objName(o))
		if workload(o.GetKind()) {
			if err := c.waitRollout(ctx, prev, got.GetGeneration(), log); err != nil {
				problems = append(problems, "after the rollback, "+err.Error())
				continue
			}
			restored = append(restored, fmt.Sprintf("%s runs %s", objName(o), strings.Join(images(prev), ", ")))
		}
	}
	var b strings.Builder
	switch {
	case len(restored) > 0:
		fmt.Fprintf(&b, "rolled back: %s", strings.Join(restored, "; "))
	case len(fresh) == len(objs):
		b.WriteString("nothing to roll back to: this was the overlay's first deploy to " + c.context + "; the failed objects are left as they are")
	default:
		b.WriteString("rolled back the objects that existed before")
	}
	if len(fresh) > 0 && len(fresh) < len(objs) {
		fmt.Fprintf(&b, "; new in this deploy, left as they are: %s", strings.Join(fresh, ", "))
	}
	if len(problems) > 0 {
		fmt.Fprintf(&b, "; the rollback did not finish: %s", strings.Join(problems, "; "))
	}
	return b.String()
}

// restorable is a live object as an apply configuration: without what
// the server and other controllers write.
func restorable(live *unstructured.Unstructured) *unstructured.Unstructured {
	o := live.DeepCopy()
	for _, f := range []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink"} {
		unstructured.RemoveNestedField(o.Object, "metadata", f)
	}
	unstructured.RemoveNestedField(o.Object, "status")
	ann := o.GetAnnotations()
	delete(ann, "deployment.kubernetes.io/revision")
	delete(ann, "kubectl.kubernetes.io/last-applied-configuration")
	if len(ann) == 0 {
		ann = nil
	}
	o.SetAnnotations(ann)
	return o
}

// images are the container images of a workload's pod template.
func images(o *unstructured.Unstructured) []string {
	var out []string
	cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	for _, c := range cs {
		if m, ok := c.(map[string]any); ok {
			if ref, ok := m["image"].(string); ok {
				out = append(out, ref)
			}
		}
	}
	return out
}
