package devloop

import (
	"slices"
	"testing"

	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// The jobs a sync runs are those before the images its deploys pin
// (synced or not): never an image build, a deploy, or what follows them.
func TestSyncRunsOnlyWhatComesBeforeTheSyncedImages(t *testing.T) {
	p, err := plan.New("ship", []plan.Job{
		{ID: "gen", Run: "x"},
		{ID: "server", Run: "x", Needs: []string{"gen"}},
		{ID: "web", Needs: []string{"server"}, Image: &plan.Image{Sync: map[string]string{"bin/server": "/server"}}},
		{ID: "worker-image", Needs: []string{"gen"}, Image: &plan.Image{}},
		{ID: "deploy", Needs: []string{"web", "worker-image"}, Deploy: &plan.Deploy{Kustomize: "k", OnFailure: plan.OnFailureKeep, Images: map[string]string{"web": "web", "worker": "worker-image"}}},
		{ID: "docs", Run: "x", Needs: []string{"gen"}},
		{ID: "smoke", Run: "x", Needs: []string{"deploy"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	images, deploys := SyncTargets(p)
	var imageIDs []string
	for _, im := range images {
		imageIDs = append(imageIDs, im.ID)
	}
	if !slices.Equal(imageIDs, []string{"web", "worker-image"}) || len(deploys) != 1 || deploys[0].ID != "deploy" {
		t.Fatalf("targets: images %v, deploys %v; want web and worker-image, and deploy", imageIDs, deploys)
	}
	var generation string
	s := newSyncState(&Sync{SetGeneration: func(g string) { generation = g }}, p, "s1")
	var ids []string
	for _, j := range s.pre.Jobs {
		ids = append(ids, j.ID)
	}
	slices.Sort(ids)
	if want := []string{"docs", "gen", "server"}; !slices.Equal(ids, want) {
		t.Errorf("a sync runs %v, want %v", ids, want)
	}
	if generation != "s1" {
		t.Errorf("the session's first deploy carries generation %q, want the session's", generation)
	}
	s.beforeDeploy("s1")
	if generation != "s1" {
		t.Errorf("a deploy with no sync before it moved the generation to %q", generation)
	}
	s.dirty = true
	s.beforeDeploy("s1")
	if generation == "s1" {
		t.Error("a deploy after a sync kept the generation: the synced pods would not be rolled out")
	}
}
