package project

import (
	"strings"
	"testing"
	"time"
)

const good = `
pipelines:
  - name: build
    description: Build the server
    jobs:
      generate:
        run: go generate ./...
        inputs: [api/**/*.yaml]
        outputs: [internal/gen/**]
      server:
        needs: [generate]
        run: |
          go build -o bin/server ./cmd/server
          echo done
        inputs: ["**/*.go", go.mod]
        env: [GOOS]
        passthrough: [HOME]
        tools: [go version]
        outputs: [bin/server]
        timeout: 10m
        retries: 2
      deploy:
        needs: server
        run: ./deploy.sh
        cache: false
  - name: release
    entrypoint: Release
`

func TestParseGood(t *testing.T) {
	f, err := Parse("sparkwing.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.Names(), ","); got != "build,release" {
		t.Fatalf("pipelines = %s", got)
	}
	b := f.Pipeline("build")
	if len(b.Jobs) != 3 || b.Jobs[0].ID != "generate" || b.Jobs[2].ID != "deploy" {
		t.Fatalf("jobs out of order: %+v", b.Jobs)
	}
	s := b.Jobs[1]
	if s.Run != "go build -o bin/server ./cmd/server\necho done\n" || s.Timeout != 10*time.Minute ||
		s.Retries != 2 || s.Env[0] != "GOOS" || s.Tools[0] != "go version" || s.Needs[0] != "generate" {
		t.Fatalf("server job decoded wrong: %+v", s)
	}
	if d := b.Jobs[2]; d.Cache == nil || *d.Cache || d.Needs[0] != "server" {
		t.Fatalf("deploy: %+v", d)
	}
	if f.Pipeline("release").Entrypoint != "Release" {
		t.Fatal("entrypoint lost")
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"unknown key", "pipelines:\n  - name: b\n    jobs:\n      a:\n        runn: x\n",
			`f.yaml:5:9: unknown key "runn" in job a (did you mean "run"?)`},
		{"cycle", "pipelines:\n  - name: b\n    jobs:\n      a: {run: x, needs: [c]}\n      b: {run: x, needs: [a]}\n      c: {run: x, needs: [b]}\n",
			`f.yaml:4:7: dependency cycle: a -> c -> b -> a`},
		{"self cycle", "pipelines:\n  - name: b\n    jobs:\n      a: {run: x, needs: [a]}\n",
			`f.yaml:4:7: dependency cycle: a -> a`},
		{"unknown need", "pipelines:\n  - name: b\n    jobs:\n      generate: {run: x}\n      s:\n        run: x\n        needs: [generat]\n",
			`f.yaml:7:17: job "s" needs "generat", which is not a job (did you mean "generate"?)`},
		{"duplicate job", "pipelines:\n  - name: b\n    jobs:\n      a: {run: x}\n      a: {run: y}\n",
			`f.yaml:5:7: mapping key "a" already defined at [4:7]`},
		{"wrong type", "pipelines:\n  - name: b\n    jobs:\n      a: {run: x, retries: many}\n",
			"f.yaml:4:28: `retries` must be a whole number from 0 to 100"},
		{"no run", "pipelines:\n  - name: b\n    jobs:\n      a: {inputs: [x]}\n",
			`f.yaml:4:7: job "a" has nothing to do: add ` + "`run: <command>`"},
		{"bad id", "pipelines:\n  - name: b\n    jobs:\n      a/b: {run: x}\n",
			`f.yaml:4:7: job id "a/b" is not valid`},
		{"empty", "", "f.yaml: the file is empty"},
		{"no pipelines", "pipelines: []\n", "no pipelines"},
		{"escape", "pipelines:\n  - name: b\n    jobs:\n      a: {run: x, outputs: [../x]}\n",
			`f.yaml:4:29: outputs entry "../x" must be a path inside the project`},
		{"bad duration", "pipelines:\n  - name: b\n    jobs:\n      a: {run: x, timeout: 5}\n",
			"`timeout` must be a positive duration"},
		{"both", "pipelines:\n  - name: b\n    entrypoint: B\n    jobs:\n      a: {run: x}\n",
			"has both `jobs` and `entrypoint`"},
		{"syntax", "pipelines: [\n", "f.yaml:1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v\nwant it to contain %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("expected one error line, got:\n%v", err)
			}
		})
	}
}

func TestAnchorsAndMerge(t *testing.T) {
	src := `pipelines:
  - name: b
    jobs:
      base: &go {run: go build, inputs: ["**/*.go"], env: [GOOS]}
      other:
        <<: *go
        run: go vet
`
	f, err := Parse("f.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	o := f.Pipeline("b").Jobs[1]
	if o.Run != "go vet" || len(o.Inputs) != 1 || o.Env[0] != "GOOS" {
		t.Fatalf("merge: %+v", o)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(good)
	f.Add("pipelines:\n  - name: b\n    jobs:\n      a: &x {run: x, needs: [a]}\n      b: *x\n")
	f.Add("a: &a [*a]\n")
	f.Fuzz(func(t *testing.T, src string) {
		file, err := Parse("f.yaml", []byte(src))
		if err == nil {
			for _, p := range file.Pipelines {
				if p.Entrypoint == "" {
					if _, err := p.Plan(); err != nil {
						t.Fatalf("Parse accepted a pipeline whose plan is invalid: %v", err)
					}
				}
			}
		} else if file != nil {
			t.Fatal("file and error both returned")
		}
	})
}
