package kube

import (
	"strings"
	"testing"
)

func TestSetImages(t *testing.T) {
	src := `# prod overlay: pins come from sparkwing
resources:
- ../../base # the shared base
images:
# the sidecar is pinned by hand
- name: sidecar
  newTag: "1.2"
- name: api
  newTag: 1.0 # replaced by the pipeline
`
	pins := map[string]string{
		"api":    "ghcr.io/acme/api:commit-abc-files-def@sha256:0123",
		"worker": "ghcr.io/acme/worker:commit-abc-files-999",
	}
	out, err := setImages([]byte(src), pins)
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	for _, want := range []string{
		"# prod overlay: pins come from sparkwing",
		"- ../../base # the shared base",
		"# the sidecar is pinned by hand\n- name: sidecar\n  newTag: \"1.2\"\n",
		"- name: api\n  newTag: commit-abc-files-def # replaced by the pipeline\n  newName: ghcr.io/acme/api\n  digest: sha256:0123\n",
		"- name: worker\n  newName: ghcr.io/acme/worker\n  newTag: commit-abc-files-999\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("edited file lacks %q:\n%s", want, got)
		}
	}
	if strings.Index(got, "name: sidecar") > strings.Index(got, "name: api") || strings.Index(got, "name: api") > strings.Index(got, "name: worker") {
		t.Errorf("entries reordered:\n%s", got)
	}
	again, err := setImages(out, pins)
	if err != nil || again != nil {
		t.Errorf("pinning again changed the file (%v):\n%s", err, again)
	}
	numeric, err := setImages([]byte("images:\n- name: api\n  newTag: 1.0\n"), map[string]string{"api": "r/api:2.5"})
	if err != nil || !strings.Contains(string(numeric), `newTag: "2.5"`) {
		t.Errorf("a tag that reads as a number is not quoted (%v):\n%s", err, numeric)
	}
	if _, err := setImages([]byte("images: {api: x}\n"), pins); err == nil {
		t.Error("an images mapping was edited as a list")
	}
}
