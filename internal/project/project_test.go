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

const minimal = "pipelines:\n  - name: b\n    jobs: {a: {run: x}}\n"

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
		{"spark unknown key", "sparks:\n  - name: go\n    source: example.com/s\n    versoin: v1.0.0\n" + minimal,
			`f.yaml:4:5: unknown key "versoin" in a spark (did you mean "version"?)`},
		{"spark without source", "sparks:\n  - name: go\n    version: latest\n" + minimal,
			"f.yaml:2:5: spark \"go\" has no `source`: the Go module it comes from"},
		{"spark bad source", "sparks:\n  - {name: go, source: \"https://github.com/acme/s\"}\n" + minimal,
			"f.yaml:2:24: spark \"go\": `source` \"https://github.com/acme/s\" is not a Go module path"},
		{"spark bad version", "sparks:\n  - {name: go, source: example.com/s, version: \"1.4\"}\n" + minimal,
			"f.yaml:2:48: spark \"go\": version \"1.4\" names no single version: write v1.4.0 for one, ^1.4 for compatible releases"},
		{"spark range typo", "sparks:\n  - {name: go, source: example.com/s, version: \"=>1.2\"}\n" + minimal,
			"start each part of a range with >=, >, <=, <"},
		{"two sparks one source", "sparks:\n  - {name: a, source: example.com/s}\n  - {name: b, source: example.com/s}\n" + minimal,
			"f.yaml:3:23: spark \"b\": example.com/s is already a spark (line 2): one entry per module"},
		{"spark bad refresh", "sparks_refresh: often\n" + minimal, "`sparks_refresh` must be a positive duration"},
		{"no pipelines", "pipelines: []\n", "no pipelines"},
		{"escape", "pipelines:\n  - name: b\n    jobs:\n      a: {run: x, outputs: [../x]}\n",
			`f.yaml:4:29: outputs entry "../x" must be a path inside the project`},
		{"bad duration", "pipelines:\n  - name: b\n    jobs:\n      a: {run: x, timeout: 5}\n",
			"`timeout` must be a positive duration"},
		{"both", "pipelines:\n  - name: b\n    entrypoint: B\n    jobs:\n      a: {run: x}\n",
			"has both `jobs` and `entrypoint`"},
		{"syntax", "pipelines: [\n", "f.yaml:1:"},
		{"image with run", "pipelines:\n  - name: b\n    jobs:\n      a:\n        run: x\n        image: {}\n",
			"f.yaml:5:9: `run` does not apply to image job a"},
		{"image unknown key", "pipelines:\n  - name: b\n    jobs:\n      a:\n        image: {dockerfil: D}\n",
			`f.yaml:5:17: unknown key "dockerfil" in ` + "`image`" + ` (did you mean "dockerfile"?)`},
		{"host:port in a flow list", "pipelines:\n  - name: b\n    jobs:\n      a:\n        image: {push: {local: [127.0.0.1:5000]}}\n",
			"`image.push.local` must be a list of strings: 127.0.0.1:5000 reads as a mapping here; quote it (\"127.0.0.1:5000\") or write the list on its own lines"},
		{"deploy with inputs", "pipelines:\n  - name: b\n    jobs:\n      a:\n        inputs: [x]\n        deploy: {kustomize: k}\n",
			"f.yaml:5:9: `inputs` does not apply to deploy job a"},
		{"deploy unknown key", "pipelines:\n  - name: b\n    jobs:\n      a:\n        deploy: {kustomise: k}\n",
			`f.yaml:5:18: unknown key "kustomise" in ` + "`deploy`" + ` (did you mean "kustomize"?)`},
		{"deploy no overlay", "pipelines:\n  - name: b\n    jobs:\n      a:\n        deploy: {images: {api: x}}\n",
			"f.yaml:5:18: deploy: a deploy needs `kustomize`: the overlay directory, such as deploy/overlays/{profile}"},
		{"deploy on_failure", "pipelines:\n  - name: b\n    jobs:\n      a:\n        deploy: {kustomize: k, on_failure: retry}\n",
			"f.yaml:5:44: `deploy.on_failure` \"retry\": use rollback (restore the previous revision) or keep (leave the failed one)"},
		{"deploy bad health", "pipelines:\n  - name: b\n    jobs:\n      a:\n        deploy: {kustomize: k, health: [ftp://x]}\n",
			"f.yaml:5:41: `deploy.health`: health \"ftp://x\""},
		{"deploy wait key", "pipelines:\n  - name: b\n    jobs:\n      a:\n        deploy: {kustomize: k, wait: {rollout: true, timout: 1m}}\n",
			`unknown key "timout" in ` + "`deploy.wait`" + ` (did you mean "timeout"?)`},
		{"deploy outside", "pipelines:\n  - name: b\n    jobs:\n      a:\n        deploy: {kustomize: ../k}\n",
			`deploy: kustomize "../k" is outside the project`},
		{"gitops without repo", "pipelines:\n  - name: b\n    jobs:\n      a:\n        deploy: {kustomize: k, gitops: {prod: {path: overlays/prod}}}\n",
			"deploy: gitops prod: name the repository with `repo`"},
		{"gitops key typo", "pipelines:\n  - name: b\n    jobs:\n      a:\n        deploy: {kustomize: k, gitops: {prod: {repo: r, pth: p}}}\n",
			`unknown key "pth" in ` + "`deploy.gitops.prod`" + ` (did you mean "path"?)`},
		{"deploy pins unneeded", "pipelines:\n  - name: b\n    jobs:\n      i: {image: {}}\n      a:\n        deploy: {kustomize: k, images: {api: i}}\n",
			`pins image api to job "i", which it does not need: add it to ` + "`needs`"},
		{"image context outside", "pipelines:\n  - name: b\n    jobs:\n      a:\n        image: {context: ../up}\n",
			`f.yaml:5:17: image: context "../up" is outside the project`},
		{"image bad registry", "pipelines:\n  - name: b\n    jobs:\n      a:\n        image: {push: {prod: [\"https://ghcr.io/x\"]}}\n",
			`push.prod: "https://ghcr.io/x" is not a registry: write HOST[:PORT][/PREFIX]`},
		{"image bad cache", "pipelines:\n  - name: b\n    jobs:\n      a:\n        image: {cache_to: [\"type=s3\"]}\n",
			`cache "type=s3": type must be registry or local`},
		{"image cache not key=value", "pipelines:\n  - name: b\n    jobs:\n      a:\n        image: {cache_from: [registry]}\n",
			`f.yaml:5:30: cache spec "registry": "registry" is not key=value`},
		{"image local cache escapes", "pipelines:\n  - name: b\n    jobs:\n      a:\n        image: {cache_to: [\"type=local,dest=/var/c\"]}\n",
			`is outside the project`},
		{"image bad repository", "pipelines:\n  - name: b\n    jobs:\n      a:\n        image: {repository: Acme/API}\n",
			`repository "Acme/API" is not a valid image name`},
		{"image bad tag", "pipelines:\n  - name: b\n    jobs:\n      a:\n        image: {tags: [\"a:b\"]}\n",
			`tag "a:b" is not a valid tag`},
		{"sync outside the context", "pipelines:\n  - name: b\n    jobs:\n      a:\n        image: {context: dist/image, sync: {bin/server: /server}}\n",
			"sync: bin/server is not in the build context dist/image"},
		{"sync to a relative path", "pipelines:\n  - name: b\n    jobs:\n      a:\n        image: {context: dist, sync: {dist/server: server}}\n",
			`sync: dist/server → "server": write the file's absolute path in the image, such as /server`},
		{"sync on an export", "pipelines:\n  - name: b\n    jobs:\n      a:\n        image: {export: {to: out}, sync: {server: /server}}\n",
			"sync: export writes files, not an image, so there is no container to sync into"},
		{"sync into sparkwing's directory", "pipelines:\n  - name: b\n    jobs:\n      a:\n        image: {sync: {server: /.sparkwing/server}}\n",
			"/.sparkwing is sparkwing's own directory in the container"},
		{"sync not a mapping", "pipelines:\n  - name: b\n    jobs:\n      a:\n        image: {sync: [server]}\n",
			"f.yaml:5:23: `image.sync` ({FILE: /PATH/IN/IMAGE})"},
		{"outputs overlap inputs", "pipelines:\n  - name: b\n    jobs:\n      fmt:\n        run: x\n        inputs: [\"*.txt\"]\n        outputs: [\"*.txt\"]\n",
			`f.yaml:7:19: job "fmt" has output "*.txt" overlapping its input "*.txt": a hit would restore old copies over your edits`},
		{"generated code inside the inputs", "pipelines:\n  - name: b\n    jobs:\n      mock:\n        run: x\n        inputs: [\"internal/**/*.go\"]\n        outputs: [\"internal/mocks/*.go\"]\n",
			`(add "!internal/mocks/**" to inputs)`},
		{"output everything", "pipelines:\n  - name: b\n    jobs:\n      a:\n        run: x\n        inputs: [a.txt]\n        outputs: [\"**\"]\n",
			`output "**" overlapping its input "a.txt"`},
		{"output in .sparkwing", "pipelines:\n  - name: b\n    jobs:\n      a:\n        run: x\n        outputs: [.sparkwing/state]\n",
			`f.yaml:6:19: job "a" declares output ".sparkwing/state" under .sparkwing/, which sparkwing owns`},
		{"output in .git", "pipelines:\n  - name: b\n    jobs:\n      a: {run: x, outputs: [\".git/**\"]}\n",
			`under .git/`},
		{"two jobs one output", "pipelines:\n  - name: b\n    jobs:\n      a: {run: x, outputs: [bin/x]}\n      b:\n        run: y\n        outputs: [\"bin/*\"]\n",
			`f.yaml:7:19: job "b" declares output "bin/*", which job "a" also declares (as "bin/x")`},
		{"output dir holds another job's output", "pipelines:\n  - name: b\n    jobs:\n      a: {run: x, outputs: [dist]}\n      b: {run: y, outputs: [dist/extra.txt]}\n",
			`job "b" declares output "dist/extra.txt", which job "a" also declares (as "dist")`},
		{"bad glob", "pipelines:\n  - name: b\n    jobs:\n      a: {run: x, inputs: [\"src/[a-\"]}\n",
			`inputs entry "src/[a-" is not a valid glob`},
		{"exclusion escapes", "pipelines:\n  - name: b\n    jobs:\n      a: {run: x, inputs: [\"!../x\"]}\n",
			`inputs entry "!../x" must be a path inside the project`},
		{"bad buildkit key", "buildkt: x\npipelines:\n  - name: b\n    jobs:\n      a: {run: x}\n",
			`f.yaml:1:1: unknown key "buildkt" at the top level (did you mean "buildkit"?)`},
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

const imageSrc = `buildkit: tcp://127.0.0.1:1234
pipelines:
  - name: b
    jobs:
      api:
        needs: [gen]
        image:
          dockerfile: services/api/Dockerfile
          context: services/api
          contexts: {gotool: /usr/local/go}
          target: runtime
          args: {VERSION: "1.2", DEBUG: false}
          platforms: [linux/amd64, linux/arm64]
          repository: acme/api
          push:
            local: [127.0.0.1:5000]
            prod: [ghcr.io/acme, registry.example.com:8443/team]
          tags: [latest, {name: "{profile}", used_by: deploy/values.yaml}]
          cache_from: ["type=registry,ref=ghcr.io/acme/cache:api"]
          cache_to: ["type=registry,ref=ghcr.io/acme/cache:api,mode=max", "type=local,dest=.cache/bk"]
          doctor: false
          sync: {services/api/bin/api: /usr/bin/api}
      gen: {run: x}
`

func TestParseImageJob(t *testing.T) {
	f, err := Parse("f.yaml", []byte(imageSrc))
	if err != nil {
		t.Fatal(err)
	}
	if f.Buildkit != "tcp://127.0.0.1:1234" {
		t.Errorf("buildkit = %q", f.Buildkit)
	}
	im := f.Pipeline("b").Jobs[0].Image
	switch {
	case im == nil:
		t.Fatal("no image")
	case im.ResolvedDockerfile() != "services/api/Dockerfile", im.ContextDir() != "services/api",
		im.Contexts["gotool"] != "/usr/local/go", im.Target != "runtime",
		im.Args["VERSION"] != "1.2", im.Args["DEBUG"] != "false", len(im.Platforms) != 2,
		im.Repository != "acme/api", len(im.Push["prod"]) != 2, !im.NoDoctor,
		im.Sync["services/api/bin/api"] != "/usr/bin/api":
		t.Errorf("image decoded wrong: %+v", im)
	case len(im.Tags) != 2 || im.Tags[1].UsedBy != "deploy/values.yaml" || im.TagNames("prod")[1] != "prod":
		t.Errorf("tags: %+v", im.Tags)
	case len(im.CacheTo) != 2 || im.CacheTo[0].Attrs["mode"] != "max" || im.CacheTo[1].Type != "local" || im.CacheFrom[0].Type != "registry":
		t.Errorf("cache: %+v %+v", im.CacheFrom, im.CacheTo)
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
	f.Add(imageSrc)
	f.Add("pipelines:\n  - name: b\n    jobs:\n      a: &x {run: x, needs: [a]}\n      b: *x\n")
	f.Add("a: &a [*a]\n")
	f.Add("pipelines:\n  - name: d\n    jobs:\n      i: {image: {push: {local: [r]}}}\n      d:\n        needs: [i]\n        deploy: {kustomize: k/{profile}, images: {api: i}, context: c, wait: {rollout: false, timeout: 1m, health: 5s}, health: [tcp:127.0.0.1:1], on_failure: keep}\n")
	f.Add("pipelines:\n  - name: d\n    jobs:\n      b: {run: x}\n      s:\n        needs: [b]\n        service: {run: srv, health: 'http://127.0.0.1:8080/h', ready_timeout: 2s, stop_signal: INT, restart_on: [b]}\n")
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
