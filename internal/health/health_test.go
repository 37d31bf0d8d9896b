package health

import (
	"context"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

func parse(t *testing.T, spec string) plan.Health {
	t.Helper()
	h, err := plan.ParseHealth(spec)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Each kind of check passes on a healthy target and says why it fails on
// an unhealthy one; PortHolder names this process as the listener.
func TestChecks(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("/sick", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	go http.Serve(ln, mux)
	addr := ln.Addr().String()
	ctx := context.Background()

	for spec, want := range map[string]string{
		"http://" + addr + "/healthz": "",
		"http://" + addr + "/sick":    "503 Service Unavailable",
		"tcp:" + addr:                 "",
		"exec: true":                  "",
		"exec: echo not yet; exit 1":  "exit status 1: not yet",
	} {
		err := Check(ctx, parse(t, spec), t.TempDir(), nil)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: err = %v, want %q", spec, err, want)
		}
	}
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln2.Addr().String()
	ln2.Close()
	if err := Check(ctx, parse(t, "tcp:"+closed), "", nil); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("closed port: err = %v", err)
	}
	if !Listening(addr) || Listening(closed) {
		t.Errorf("Listening(%s) = %v, Listening(%s) = %v", addr, Listening(addr), closed, Listening(closed))
	}
	if got, want := PortHolder(addr), strconv.Itoa(os.Getpid())+" "; !strings.HasPrefix(got, want) {
		t.Errorf("PortHolder(%s) = %q, want this process (%s…)", addr, got, want)
	}
	if got := PortHolder(closed); got != "" {
		t.Errorf("PortHolder of a closed port = %q", got)
	}
}

func TestParseHealth(t *testing.T) {
	for spec, want := range map[string]string{
		"http://127.0.0.1:8080/healthz": "", "https://example.com/": "https checks are not supported", "tcp:127.0.0.1:5432": "", "exec: pg_isready": "",
		"localhost:8080": "write http://", "tcp:5432": "tcp:HOST:PORT", "exec:": "names no command", "http://": "not a URL",
	} {
		_, err := plan.ParseHealth(spec)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("%q: err = %v, want %q", spec, err, want)
		}
	}
	if h := parse(t, "http://example.com/x"); h.Addr != "example.com:80" || h.Loopback() {
		t.Errorf("remote check = %+v", h)
	}
	if h := parse(t, "http://localhost/x"); h.Addr != "localhost:80" || !h.Loopback() {
		t.Errorf("localhost check = %+v", h)
	}
}
