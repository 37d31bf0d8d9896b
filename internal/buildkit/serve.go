package buildkit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/sparkwing-dev/sparkwing/internal/dockerfile"
	"github.com/sparkwing-dev/sparkwing/internal/helperproc"
	"github.com/sparkwing-dev/sparkwing/internal/image"
	"github.com/sparkwing-dev/sparkwing/internal/registry"
)

// Main is sparkwing-image. `sparkwing-image doctor` and `explain` are
// `sparkwing doctor` (dockerfile.Main). `sparkwing-image build` and
// `sparkwing-image list` and `exists` read an image.WireRequest on stdin and write image.Message lines
// to file descriptor 3 (warnings, then the answer or the error); a build
// writes its log to stdout. It exits 0 when the request succeeded, 1 when
// it failed, 2 when it was started wrongly. SIGTERM or SIGINT cancel it.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "doctor" || args[0] == "explain") {
		return dockerfile.Main(args, stdout, stderr)
	}
	if len(args) != 1 || (args[0] != "build" && args[0] != "list" && args[0] != "exists") {
		fmt.Fprintf(stderr, "usage: %s build|list|exists < request.json\n"+
			"%s is started by sparkwing to build image jobs; it is not meant to be run by hand.\n", image.HelperName, image.HelperName)
		return 2
	}
	msgs := helperproc.Messages(image.HelperName, stderr)
	if msgs == nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return Serve(ctx, args[0], stdin, stdout, msgs)
}

// Serve answers one request for op: a build's log to log, messages to
// msgs.
func Serve(ctx context.Context, op string, stdin io.Reader, log, msgs io.Writer) int {
	var mu sync.Mutex
	enc := json.NewEncoder(msgs)
	send := func(m image.Message) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(m)
	}
	req, err := image.DecodeRequest(op, stdin)
	if err != nil {
		send(image.Message{Error: fmt.Sprintf("%s: %v", image.HelperName, err)})
		return 2
	}
	switch op {
	case "list":
		entries, narrowing, err := ListContext(ctx, req.Dir, req.Excludes, req.Scope)
		if err != nil {
			send(image.Message{Error: err.Error()})
			return 1
		}
		send(image.Message{OK: true, Entries: entries, Narrowing: narrowing})
		return 0
	case "exists":
		found, err := registry.New().Ensure(ctx, req.Check, req.PerRegistry, func(t string) bool { return image.SameFiles(t, req.Files) })
		if err != nil {
			send(image.Message{Error: err.Error()})
			return 1
		}
		send(image.Message{OK: true, Found: found})
		return 0
	}
	if !req.Image.NoDoctor {
		doctor(req, log, send)
	}
	c, err := Connect(ctx, req.Addr)
	var ue *image.UnreachableError
	if errors.As(err, &ue) {
		send(image.Message{Error: ue.Err.Error(), Unreachable: true})
		return 1
	} else if err != nil {
		send(image.Message{Error: err.Error()})
		return 1
	}
	defer c.Close()
	res, err := Build(ctx, c, image.Request{Root: req.Root, Image: req.Image, Refs: req.Refs, OCITar: req.OCITar, ExportDir: req.ExportDir,
		Log: log, Warn: func(msg string) { send(image.Message{Warn: "BuildKit: " + msg}) }})
	if err != nil {
		send(image.Message{Result: res, Error: err.Error()})
		return 1
	}
	send(image.Message{OK: true, Result: res})
	return 0
}

// doctor shows the Dockerfile doctor's findings before a build, in the log
// and as warnings.
func doctor(req *image.WireRequest, log io.Writer, send func(image.Message)) {
	path := req.Image.ResolvedDockerfile()
	ctxDir := filepath.Join(req.Root, req.Image.ContextDir())
	for _, fd := range dockerfile.BeforeBuild(filepath.Join(req.Root, path), path, ctxDir) {
		msg := fmt.Sprintf("doctor: %s:%d: [%s] %s", fd.Path, fd.Line, fd.Rule, fd.Message)
		fmt.Fprintln(log, "sparkwing: "+msg)
		send(image.Message{Warn: msg + " (sparkwing doctor explain " + fd.Rule + "; `doctor: false` turns this off)"})
	}
}
