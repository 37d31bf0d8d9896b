package engine

import (
	"slices"
	"testing"

	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

func TestLiteralStart(t *testing.T) {
	for g, want := range map[string]string{
		"pkgs/j0001/src/**": "pkgs/j0001/src",
		"*.md":              ".",
		"**":                ".",
		"a/{b,c}/x.txt":     "a",
		"a/b[0-9]/x":        "a",
		`a/\*/x`:            "a",
		"go.mod":            "go.mod",
		"./src/*.go":        "src",
	} {
		if got := literalStart(g); got != want {
			t.Errorf("literalStart(%q) = %q, want %q", g, got, want)
		}
	}
}

// Which jobs a path relates to: generously, never too few.
func TestRelation(t *testing.T) {
	p := &plan.Plan{Jobs: []plan.Job{
		{ID: "api", Inputs: []string{"svc/api/**", "!svc/api/testdata/**"}, Outputs: []string{"out/api"}},
		{ID: "web", Inputs: []string{"svc/web/*.ts"}},
		{ID: "docs", Inputs: []string{"*.md"}},
		{ID: "gen", GoInputs: []plan.GoInput{{}}},
	}}
	rel := relate(p)
	jobs := func(path string) []string {
		var ids []string
		rel.jobs(path, func(i int) {
			if !slices.Contains(ids, p.Jobs[i].ID) {
				ids = append(ids, p.Jobs[i].ID)
			}
		})
		slices.Sort(ids)
		return ids
	}
	for path, want := range map[string][]string{
		"svc/api/main.go":         {"api", "docs", "gen"},
		"svc/api/testdata/x":      {"api", "docs", "gen"}, // an exclude only narrows
		"svc/web/app.ts":          {"docs", "gen", "web"},
		"svc":                     {"api", "docs", "gen", "web"},
		"svc/.gitignore":          {"api", "docs", "gen", "web"},
		"svc/api/sub/.gitignore":  {"api", "docs", "gen"},
		".gitignore":              {"api", "docs", "gen", "web"},
		".":                       {"api", "docs", "gen", "web"},
		"out/api":                 {"api", "docs", "gen"},
		"README.md":               {"docs", "gen"},
		"svc/web/sub/deeper/a.ts": {"docs", "gen", "web"}, // below the start: related, matched or not
	} {
		if got := jobs(path); !slices.Equal(got, want) {
			t.Errorf("%s relates to %v, want %v", path, got, want)
		}
	}
}
