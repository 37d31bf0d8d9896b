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

// TestCarriedBy: the new record keeps a path of the old one exactly when a
// held job relates to it or no job does, whatever the order paths come in
// (the answer is cached by directory).
func TestCarriedBy(t *testing.T) {
	p := &plan.Plan{Jobs: []plan.Job{
		{ID: "api", Inputs: []string{"svc/api/**"}, Outputs: []string{"out/api"}},
		{ID: "web", Inputs: []string{"svc/web/*.ts"}},
		{ID: "docs", Inputs: []string{"*.md"}},
		{ID: "deep", Inputs: []string{"svc/api/sub/x.txt"}},
	}}
	rel := relate(p)
	paths := []string{".", ".gitignore", "README.md", "svc", "svc/.gitignore", "svc/api", "svc/api/main.go",
		"svc/api/sub", "svc/api/sub/x.txt", "svc/api/sub/y.txt", "svc/api/sub/.gitignore", "svc/web/app.ts",
		"svc/web/sub/a.ts", "out/api", "out/other", "elsewhere/file"}
	for mask := range 1 << len(p.Jobs) {
		held := make([]bool, len(p.Jobs))
		for i := range held {
			held[i] = mask&(1<<i) != 0
		}
		reversed := slices.Clone(paths)
		slices.Reverse(reversed)
		for _, order := range [][]string{paths, reversed} {
			carried := carriedBy(rel, held)
			for _, path := range order {
				forHeld, forOthers := false, false
				rel.jobs(path, func(i int) { forHeld, forOthers = forHeld || held[i], forOthers || !held[i] })
				if want := forHeld || !forOthers; carried(path) != want {
					t.Errorf("held %v: carried(%s) = %v, want %v", held, path, !want, want)
				}
			}
		}
	}
}
