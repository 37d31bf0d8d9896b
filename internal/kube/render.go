package kube

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// render builds the overlay at dir with kustomize's Go API.
func render(dir string) ([]*unstructured.Unstructured, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, &configError{msg: fmt.Sprintf("overlay %s does not exist", dir),
			hint: "create it with a kustomization.yaml, or fix `kustomize` in the deploy job"}
	}
	if !hasKustomization(dir) {
		return nil, &configError{msg: fmt.Sprintf("overlay %s has no kustomization.yaml", dir),
			hint: "a kustomize overlay is a directory with a kustomization.yaml that names its resources"}
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, &configError{msg: fmt.Sprintf("overlay %s does not render: %v", dir, err),
			hint: "kustomize build " + dir + " shows the same error"}
	}
	var objs []*unstructured.Unstructured
	for _, r := range m.Resources() {
		data, err := r.MarshalJSON()
		o := &unstructured.Unstructured{}
		if err == nil {
			err = o.UnmarshalJSON(data) // JSON's numbers, as client-go's objects hold them
		}
		if err != nil {
			return nil, &configError{msg: fmt.Sprintf("overlay %s: %s: %v", dir, r.CurId(), err)}
		}
		objs = append(objs, o)
	}
	if len(objs) == 0 {
		return nil, &configError{msg: fmt.Sprintf("overlay %s renders no objects", dir),
			hint: "list the manifests under `resources:` in its kustomization.yaml"}
	}
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int { return applyRank(a) - applyRank(b) })
	return objs, nil
}

// applyFirst are the kinds applied before the rest, in this order: what
// others live in or read must exist before them (a pod that mounts a
// ConfigMap applied after it would fail to start).
var applyFirst = []string{"Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
	"Role", "RoleBinding", "ConfigMap", "Secret", "PersistentVolume", "PersistentVolumeClaim", "Service"}

func applyRank(o *unstructured.Unstructured) int {
	if i := slices.Index(applyFirst, o.GetKind()); i >= 0 {
		return i
	}
	return len(applyFirst)
}

func hasKustomization(dir string) bool {
	for _, name := range []string{"kustomization.yaml", "kustomization.yml", "Kustomization"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return true
		}
	}
	return false
}

// podSpecPaths are where a pod spec sits in the kinds that hold one.
var podSpecPaths = map[string][]string{
	"Pod":         {"spec"},
	"Deployment":  {"spec", "template", "spec"},
	"StatefulSet": {"spec", "template", "spec"},
	"DaemonSet":   {"spec", "template", "spec"},
	"ReplicaSet":  {"spec", "template", "spec"},
	"Job":         {"spec", "template", "spec"},
	"CronJob":     {"spec", "jobTemplate", "spec", "template", "spec"},
}

// imageName is a container image reference without its tag and digest,
// as kustomize's `images:` matches it.
func imageName(ref string) string {
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		ref = ref[:i]
	}
	return ref
}

// pin sets every container image whose name is in pins to its pinned
// reference; it returns an error naming an image no container uses.
func pin(objs []*unstructured.Unstructured, pins map[string]string, overlay string) error {
	used := map[string]bool{}
	var seen []string
	for _, o := range objs {
		path, ok := podSpecPaths[o.GetKind()]
		if !ok {
			continue
		}
		spec, found, _ := unstructured.NestedMap(o.Object, path...)
		if !found {
			continue
		}
		for _, list := range []string{"initContainers", "containers"} {
			cs, _, _ := unstructured.NestedSlice(spec, list)
			for _, c := range cs {
				cm, ok := c.(map[string]any)
				if !ok {
					continue
				}
				ref, _ := cm["image"].(string)
				name := imageName(ref)
				if !slices.Contains(seen, name) {
					seen = append(seen, name)
				}
				if to, ok := pins[name]; ok {
					cm["image"] = to
					used[name] = true
				}
			}
			if len(cs) > 0 {
				unstructured.SetNestedSlice(spec, cs, list)
			}
		}
		unstructured.SetNestedMap(o.Object, spec, path...)
	}
	for name := range pins {
		if !used[name] {
			slices.Sort(seen)
			return &configError{msg: fmt.Sprintf("image %s is in no container of overlay %s (its containers run %s)", name, overlay, orNone(seen)),
				hint: "name the image in `deploy.images` as the manifests write it, without tag or digest"}
		}
	}
	return nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "no image"
	}
	return strings.Join(s, ", ")
}
