package kube

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// A deploy with `prune: true` keeps an inventory of what it applied: a
// ConfigMap in the context's namespace, one per pipeline and job. After
// the next successful deploy of the same job, the objects of the old
// inventory the new one lacks are deleted: a Deployment removed from the
// overlay goes away from the cluster too. Objects it never applied are
// never touched.

// inventoryName is the ConfigMap of a pipeline's deploy job.
func inventoryName(pipeline, job string) string {
	return "sparkwing-inventory-" + strings.ToLower(pipeline+"-"+job)
}

// inventoryLine names an object: apiVersion kind namespace name.
func inventoryLine(o *unstructured.Unstructured) string {
	ns := o.GetNamespace()
	if ns == "" {
		ns = "-"
	}
	return strings.Join([]string{o.GetAPIVersion(), o.GetKind(), ns, o.GetName()}, " ")
}

// readInventory is the last inventory of the job, or nil.
func (c *client) readInventory(ctx context.Context, name string) ([]string, error) {
	cm, err := c.typed.CoreV1().ConfigMaps(c.namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading the inventory %s/%s: %v", c.namespace, name, err)
	}
	var lines []string
	for _, l := range strings.Split(cm.Data["objects"], "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines, nil
}

// stale are the inventory's objects that objs no longer hold.
func stale(inventory []string, objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	keep := map[string]bool{}
	for _, o := range objs {
		keep[inventoryLine(o)] = true
	}
	var out []*unstructured.Unstructured
	for _, line := range inventory {
		f := strings.Fields(line)
		if keep[line] || len(f) != 4 {
			continue
		}
		o := &unstructured.Unstructured{}
		o.SetAPIVersion(f[0])
		o.SetKind(f[1])
		if f[2] != "-" {
			o.SetNamespace(f[2])
		}
		o.SetName(f[3])
		out = append(out, o)
	}
	return out
}

// prune deletes the stale objects (their dependents in the background)
// and records objs as the new inventory.
func (c *client) prune(ctx context.Context, name string, old []string, objs []*unstructured.Unstructured, log io.Writer) error {
	for _, o := range stale(old, objs) {
		ri, err := c.resource(o)
		if err != nil {
			return fmt.Errorf("pruning %s: %v", objName(o), err)
		}
		policy := metav1.DeletePropagationBackground
		err = ri.Delete(ctx, o.GetName(), metav1.DeleteOptions{PropagationPolicy: &policy})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("pruning %s: %v", objName(o), err)
		}
		fmt.Fprintf(log, "pruned %s: the overlay no longer has it\n", objName(o))
	}
	lines := make([]string, len(objs))
	for i, o := range objs {
		lines[i] = inventoryLine(o)
	}
	slices.Sort(lines)
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: c.namespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "sparkwing"}},
		Data: map[string]string{"objects": strings.Join(lines, "\n") + "\n"},
	}
	cms := c.typed.CoreV1().ConfigMaps(c.namespace)
	_, err := cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: FieldManager})
	if apierrors.IsNotFound(err) {
		_, err = cms.Create(ctx, cm, metav1.CreateOptions{FieldManager: FieldManager})
	}
	return err
}
