package kube

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/sparkwing-dev/sparkwing/internal/deploy"
)

// checkLayout makes sure each workload the pipeline acts on after the
// deploy will exist: in what the overlay renders, or already in the
// cluster. A missing one is a configuration error that names the overlays
// that do have it: local and prod must share the layout, or the pushed
// image meets "deployment not found" at the first restart.
func (c *client) checkLayout(ctx context.Context, root, overlay string, objs []*unstructured.Unstructured, expects []deploy.Workload) error {
	for _, w := range expects {
		ns := w.Namespace
		if ns == "" {
			ns = c.namespace
		}
		if rendered(objs, w.Kind, w.Name, ns) {
			continue
		}
		probe := &unstructured.Unstructured{}
		probe.SetAPIVersion("apps/v1")
		probe.SetKind(w.Kind)
		probe.SetName(w.Name)
		probe.SetNamespace(ns)
		ri, err := c.resource(probe)
		if err != nil {
			return err
		}
		if _, err := ri.Get(ctx, w.Name, metav1.GetOptions{}); err == nil {
			continue
		} else if !apierrors.IsNotFound(err) {
			return fmt.Errorf("looking for %s/%s: %v", strings.ToLower(w.Kind), w.Name, err)
		}
		what := fmt.Sprintf("%s %q (namespace %s)", strings.ToLower(w.Kind), w.Name, ns)
		others := overlaysWith(root, overlay, w)
		if len(others) > 0 {
			return &configError{
				msg:  fmt.Sprintf("%s is in %s but not in %s, nor in context %s; %s", what, strings.Join(others, " and "), overlay, c.context, w.Source),
				hint: fmt.Sprintf("add it to the base the overlays share, or to %s, so that every profile has the same layout", overlay)}
		}
		return &configError{
			msg:  fmt.Sprintf("%s is in no overlay beside %s and not in context %s; %s", what, overlay, c.context, w.Source),
			hint: "add it to the overlay's base, or fix the name the job uses"}
	}
	return nil
}

// rendered says whether objs hold the workload.
func rendered(objs []*unstructured.Unstructured, kind, name, ns string) bool {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name && o.GetNamespace() == ns {
			return true
		}
	}
	return false
}

// overlaysWith are the overlays beside overlay (its sibling directories
// with a kustomization) that render workload w, by name and kind.
func overlaysWith(root, overlay string, w deploy.Workload) []string {
	parent := filepath.Dir(overlay)
	entries, err := os.ReadDir(filepath.Join(root, parent))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		rel := filepath.Join(parent, e.Name())
		if !e.IsDir() || rel == filepath.Clean(overlay) || !hasKustomization(filepath.Join(root, rel)) {
			continue
		}
		objs, err := render(filepath.Join(root, rel))
		if err != nil {
			continue
		}
		for _, o := range objs {
			if o.GetKind() == w.Kind && o.GetName() == w.Name {
				out = append(out, rel)
				break
			}
		}
	}
	return out
}
