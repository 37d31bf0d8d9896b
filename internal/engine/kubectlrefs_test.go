package engine

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/sparkwing-dev/sparkwing/internal/deploy"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

func TestExpectedWorkloads(t *testing.T) {
	p, err := plan.New("ship", []plan.Job{
		{ID: "img", Image: &plan.Image{}},
		{ID: "deploy", Needs: []string{"img"}, Deploy: &plan.Deploy{Kustomize: "k", OnFailure: "rollback",
			Images: map[string]string{"a": "img"}, Expects: []string{"statefulset/db"}}},
		{ID: "restart", Needs: []string{"deploy"}, Run: "kubectl rollout restart deployment/api -n shop\nkubectl --context x rollout status deploy api --timeout 1m"},
		{ID: "later", Needs: []string{"restart"}, Run: "kubectl scale sts/cache --replicas=2 --namespace=ops; kubectl get deployment/ignored"},
		{ID: "before", Run: "kubectl rollout restart deployment/earlier"}, // not after the deploy
	})
	if err != nil {
		t.Fatal(err)
	}
	got := expectedWorkloads(p, p.Jobs[1])
	want := []deploy.Workload{
		{Kind: "StatefulSet", Name: "db", Source: "its `expects`"},
		{Kind: "Deployment", Name: "api", Namespace: "shop", Source: "job restart runs kubectl rollout restart deployment/api -n shop"},
		{Kind: "Deployment", Name: "api", Source: "job restart runs kubectl --context x rollout status deploy api --timeout 1m"},
		{Kind: "StatefulSet", Name: "cache", Namespace: "ops", Source: "job later runs kubectl scale sts/cache --replicas=2 --namespace=ops"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("expected workloads (-want +got):\n%s", diff)
	}
}
