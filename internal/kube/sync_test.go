package kube

import (
	"os"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/sparkwing-dev/sparkwing/internal/registry"
)

func deployment(t *testing.T, containers string) *unstructured.Unstructured {
	t.Helper()
	src := `apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
` + containers
	var m map[string]any
	if err := yaml.Unmarshal([]byte(src), &m); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

const synced = "127.0.0.1:5000/api:c1@sha256:aa"

func imageConfig(ref string) (*registry.Config, error) {
	return &registry.Config{Entrypoint: []string{"/api"}, Cmd: []string{"--port", "80"}}, nil
}

// The synced container's command is what Kubernetes would run, under the
// supervisor: command and args override the image's entrypoint and
// command as a pod spec does.
func TestPatchPodsRunsWhatTheContainerWouldRun(t *testing.T) {
	for _, tc := range []struct {
		name, container string
		want            []string
	}{
		{"the image's entrypoint and command", "{name: api, image: " + synced + "}", []string{"/api", "--port", "80"}},
		{"args replace the image's command", "{name: api, image: " + synced + ", args: [--port, '8080']}", []string{"/api", "--port", "8080"}},
		{"a command drops the image's command", "{name: api, image: " + synced + ", command: [/bin/api2]}", []string{"/bin/api2"}},
		{"a command and args", "{name: api, image: " + synced + ", command: [/bin/api2], args: [-v]}", []string{"/bin/api2", "-v"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := deployment(t, "      - "+tc.container+"\n      - {name: sidecar, image: 127.0.0.1:5000/proxy:1, args: [x]}\n")
			err := patchPods([]*unstructured.Unstructured{o}, map[string]bool{synced: true}, "reg/sup@sha256:bb", "g7", imageConfig)
			if err != nil {
				t.Fatal(err)
			}
			cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			api, sidecar := cs[0].(map[string]any), cs[1].(map[string]any)
			cmd, _, _ := unstructured.NestedStringSlice(api, "command")
			if want := append([]string{"/.sparkwing/sparkwing-supervisor", "run", "--"}, tc.want...); !slices.Equal(cmd, want) {
				t.Errorf("command %q, want %q", cmd, want)
			}
			if _, has := api["args"]; has {
				t.Errorf("args left beside the supervisor's command: %v", api["args"])
			}
			if _, has := sidecar["command"]; has || len(sidecar) != 3 {
				t.Errorf("a container of another image was changed: %v", sidecar)
			}
			inits, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "initContainers")
			vols, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "volumes")
			gen, _, _ := unstructured.NestedString(o.Object, "spec", "template", "metadata", "annotations", syncAnnotation)
			if len(inits) != 1 || inits[0].(map[string]any)["image"] != "reg/sup@sha256:bb" || len(vols) != 1 || gen != "g7" {
				t.Errorf("pod template: init containers %v, volumes %v, generation %q", inits, vols, gen)
			}
		})
	}
}

func TestPatchPodsRefuses(t *testing.T) {
	for _, tc := range []struct{ name, container, want string }{
		{"a program found on PATH", "{name: api, image: " + synced + ", command: [api]}", `runs "api", found on PATH`},
		{"no image runs it", "{name: api, image: 127.0.0.1:5000/other:1}", "no Deployment, StatefulSet or DaemonSet of the overlay runs " + synced},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := deployment(t, "      - "+tc.container+"\n")
			err := patchPods([]*unstructured.Unstructured{o}, map[string]bool{synced: true}, "reg/sup", "g", imageConfig)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestStaticRefusesADynamicProgram(t *testing.T) {
	data, err := os.ReadFile("/bin/sh")
	if err != nil {
		t.Skip("no /bin/sh here")
	}
	if err := static(data); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("/bin/sh: %v", err)
	}
	if err := static([]byte("#!/bin/sh\n")); err == nil || !strings.Contains(err.Error(), "not a Linux executable") {
		t.Errorf("a script: %v", err)
	}
}
