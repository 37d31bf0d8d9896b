package main

import (
	"os/exec"
	"strings"
	"testing"
)

// sparkwing starts on every run, hundreds of times a day: the packages
// whose initialisation costs milliseconds (BuildKit's client, gRPC,
// protobuf, net/http, the Docker config and its logger) belong in
// sparkwing-image, never here.
func TestCLILinksNoHeavyPackage(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	heavy := []string{"github.com/moby/buildkit/", "google.golang.org/grpc", "google.golang.org/protobuf/",
		"github.com/tonistiigi/fsutil", "github.com/docker/", "github.com/sirupsen/logrus", "go.opentelemetry.io/"}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "net/http" {
			t.Errorf("sparkwing links net/http")
		}
		for _, h := range heavy {
			if strings.HasPrefix(pkg, h) {
				t.Errorf("sparkwing links %s", pkg)
			}
		}
	}
}
