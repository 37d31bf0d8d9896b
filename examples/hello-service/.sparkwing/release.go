package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"github.com/sparkwing-dev/sparks-go/goservice"
	sw "github.com/sparkwing-dev/sparkwing/sparkwing"
)

// Release builds the server with a version stamped in, starts it, checks
// that it answers healthy, and writes a release manifest. Vetting, testing
// and building come from the go-service spark (examples/sparks-go, named
// in sparkwing.yaml's sparks: block).
//
//	sparkwing run release --version 1.4.0
type Release struct {
	Version string `help:"version stamped into the binary (letters, digits, '.', '-')"`
}

var (
	goEnv        = []string{"GOCACHE", "GOMODCACHE", "GOPATH", "GOPROXY"}
	validVersion = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]*$`)
)

func (r *Release) Plan(p *sw.Plan) {
	if !validVersion.MatchString(r.Version) {
		p.Errorf("--version %q: use letters, digits, '.' and '-'", r.Version)
		return
	}
	gen := p.Run("generate", "go run ./tools/gen").
		Inputs("api/greetings.txt").GoInputs("./tools/gen").Outputs("internal/gen/**").Passthrough(goEnv...)
	service := goservice.Add(p, goservice.Options{Main: "./cmd/server", Binary: "bin/server",
		LDFlags: "-X main.version=" + r.Version, Needs: []*sw.Job{gen}})
	smoke := p.Go("smoke", r.smoke).Needs(service.Build).Timeout(time.Minute).
		Describe("start bin/server and wait until /healthz answers")
	p.Go("manifest", r.manifest).Needs(service.Vet, service.Test, smoke).Outputs("dist/release.json")
}

// smoke starts the server on a free port and waits until it is healthy.
func (r *Release) smoke(ctx context.Context, j *sw.JobContext) error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	srv := exec.CommandContext(ctx, "./bin/server", "-addr", addr)
	srv.Stdout, srv.Stderr = j.Stdout, j.Stderr
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	want := "ok " + r.Version
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.HasPrefix(string(body), want) {
			j.Logf("healthy at %s: %s", addr, strings.TrimSpace(string(body)))
			return nil
		}
		return fmt.Errorf("/healthz answered %q, want %q", body, want)
	}
	return fmt.Errorf("server at %s never became healthy", addr)
}

// manifest records the version and the binary's digest.
func (r *Release) manifest(ctx context.Context, j *sw.JobContext) error {
	data, err := os.ReadFile("bin/server")
	if err != nil {
		return err
	}
	m, _ := json.MarshalIndent(map[string]string{
		"version": r.Version,
		"sha256":  fmt.Sprintf("%x", sha256.Sum256(data)),
	}, "", "  ")
	if err := os.MkdirAll("dist", 0o755); err != nil {
		return err
	}
	j.Logf("%s", m)
	return os.WriteFile("dist/release.json", append(m, '\n'), 0o644)
}

func init() { sw.Register(&Release{Version: "0.0.0-dev"}) }
