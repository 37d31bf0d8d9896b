// Package buildkit builds image jobs with BuildKit through its Go client.
// It is linked only into sparkwing-image, the helper sparkwing starts
// when a run builds an image (see Serve): BuildKit's client, gRPC and
// protobuf cost milliseconds of start-up that no other run should pay.
package buildkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/cli/cli/config"
	"github.com/moby/buildkit/client"
	_ "github.com/moby/buildkit/client/connhelper/dockercontainer" // docker-container://NAME addresses
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/solver/errdefs"
	"github.com/tonistiigi/fsutil"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/image"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// Connect dials buildkitd and checks that it answers.
func Connect(ctx context.Context, addr string) (*client.Client, error) {
	c, err := client.New(ctx, addr)
	if err != nil {
		return nil, &image.UnreachableError{Addr: addr, Err: err}
	}
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.ListWorkers(ictx); err != nil {
		c.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &image.UnreachableError{Addr: addr, Err: shortGRPC(err)}
	}
	return c, nil
}

// Build runs one build to the end, its progress going to req.Log as
// BuildKit's plain progress (the lines `buildctl --progress=plain` prints).
func Build(ctx context.Context, c *client.Client, req image.Request) (*image.Result, error) {
	opt, finish, err := solveOpt(req)
	if err != nil {
		return nil, err
	}
	ch := make(chan *client.SolveStatus)
	prog := newProgress(req.Log)
	done := make(chan struct{})
	go func() {
		defer close(done)
		prog.run(ch)
	}()
	resp, err := c.Solve(ctx, nil, opt, ch)
	<-done
	res := &image.Result{Steps: prog.steps()}
	if err != nil {
		finish(false)
		return res, buildError(req, err)
	}
	if err := finish(true); err != nil {
		return res, err
	}
	for _, w := range prog.ignoredErrors() {
		req.Warn(w)
	}
	res.Digest = resp.ExporterResponse["containerimage.digest"]
	return res, nil
}

// solveOpt translates the image job into BuildKit's dockerfile frontend
// options. finish completes or discards the OCI tar.
func solveOpt(req image.Request) (client.SolveOpt, func(ok bool) error, error) {
	im := req.Image
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(req.Root, filepath.FromSlash(p))
	}
	dockerfile := abs(im.ResolvedDockerfile())
	mounts := map[string]string{"context": abs(im.ContextDir()), "dockerfile": filepath.Dir(dockerfile)}
	attrs := map[string]string{"filename": filepath.Base(dockerfile)}
	if im.Target != "" {
		attrs["target"] = im.Target
	}
	if len(im.Platforms) > 0 {
		attrs["platform"] = strings.Join(im.Platforms, ",")
	}
	for k, v := range im.Args {
		attrs["build-arg:"+k] = v
	}
	for _, name := range im.ContextNames() {
		local := "ctx-" + name
		attrs["context:"+name] = "local:" + local
		mounts[local] = abs(im.Contexts[name])
	}
	opt := client.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: attrs,
		LocalMounts:   map[string]fsutil.FS{},
		Session: []session.Attachable{authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
			AuthConfigProvider: authprovider.LoadAuthConfig(config.LoadDefaultConfigFile(io.Discard)),
		})},
	}
	for name, dir := range mounts {
		fs, err := fsutil.NewFS(dir)
		if err != nil {
			return opt, nil, fmt.Errorf("build context %s: %w", dir, err)
		}
		opt.LocalMounts[name] = fs
	}
	var local, remote []string
	for _, r := range req.Refs {
		if image.LoopbackRef(r) {
			local = append(local, r)
		} else {
			remote = append(remote, r)
		}
	}
	for _, refs := range [][]string{local, remote} {
		if len(refs) == 0 {
			continue
		}
		e := client.ExportEntry{Type: client.ExporterImage, Attrs: map[string]string{"name": strings.Join(refs, ","), "push": "true"}}
		if image.LoopbackRef(refs[0]) {
			e.Attrs["registry.insecure"] = "true"
		}
		opt.Exports = append(opt.Exports, e)
	}
	if req.ExportDir != "" {
		opt.Exports = append(opt.Exports, client.ExportEntry{Type: client.ExporterLocal, OutputDir: req.ExportDir})
	}
	finish := func(bool) error { return nil }
	if req.OCITar != "" {
		var err error
		if finish, err = ociExport(req, &opt); err != nil {
			return opt, nil, err
		}
	}
	for _, c := range im.CacheFrom {
		opt.CacheImports = append(opt.CacheImports, cacheEntry(c, abs, false))
	}
	for _, c := range im.CacheTo {
		if err := checkCacheDest(req.Root, c); err != nil {
			return opt, nil, err
		}
		opt.CacheExports = append(opt.CacheExports, cacheEntry(c, abs, true))
	}
	return opt, finish, nil
}

// ociExport adds the export of the image as an OCI tar at req.OCITar,
// which is inside the project: it is written through an os.Root of the
// project, so a symlinked .sparkwing/images cannot lead it outside.
func ociExport(req image.Request, opt *client.SolveOpt) (finish func(bool) error, err error) {
	root, err := os.OpenRoot(req.Root)
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(req.Root, req.OCITar)
	if err == nil {
		err = root.MkdirAll(filepath.Dir(rel), 0o755)
	}
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("--load: %w", err)
	}
	tmp := rel + ".tmp"
	name := req.Image.Repository
	if len(req.Refs) > 0 {
		name = req.Refs[0]
	}
	var f *os.File
	opt.Exports = append(opt.Exports, client.ExportEntry{Type: client.ExporterOCI, Attrs: map[string]string{"name": name},
		Output: func(map[string]string) (io.WriteCloser, error) {
			var err error
			f, err = root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
			return f, err
		}})
	return func(ok bool) error {
		defer root.Close()
		if !ok || f == nil {
			root.Remove(tmp)
			return nil
		}
		return root.Rename(tmp, rel)
	}, nil
}

// checkCacheDest refuses a local cache export whose directory a symlink
// leads outside the project: BuildKit's client would write there.
func checkCacheDest(projectRoot string, c plan.CacheSpec) error {
	dest := c.Attrs["dest"]
	if c.Type != "local" || dest == "" {
		return nil
	}
	root, err := os.OpenRoot(projectRoot)
	if err != nil {
		return err
	}
	defer root.Close()
	if _, _, err := fileset.Resolve(root, filepath.ToSlash(filepath.Clean(dest))); err != nil {
		return fmt.Errorf("cache %q: %w; a local cache export must stay inside the project", c.Text, err)
	}
	return nil
}

// cacheEntry is a cache import or export for BuildKit. Registry exports
// default to mode=max (every stage's layers, not only the final ones), and
// every export ignores errors: a cache that cannot be written is a warning,
// never a failed build.
func cacheEntry(c plan.CacheSpec, abs func(string) string, export bool) client.CacheOptionsEntry {
	attrs := map[string]string{}
	for k, v := range c.Attrs {
		attrs[k] = v
	}
	switch c.Type {
	case "local":
		for _, k := range []string{"src", "dest"} {
			if attrs[k] != "" {
				attrs[k] = abs(attrs[k])
			}
		}
	case "registry":
		if image.LoopbackRef(attrs["ref"]) {
			attrs["registry.insecure"] = "true"
		}
		if export && attrs["mode"] == "" {
			attrs["mode"] = "max"
		}
	}
	if export {
		attrs["ignore-error"] = "true"
	}
	return client.CacheOptionsEntry{Type: c.Type, Attrs: attrs}
}

// buildError turns a failed solve into an error that names the Dockerfile
// line, and prints BuildKit's excerpt of the file to the log.
func buildError(req image.Request, err error) error {
	msg := shortGRPC(err).Error()
	for _, src := range errdefs.Sources(err) {
		src.Print(req.Log)
		if src.Info != nil && len(src.Ranges) > 0 {
			return fmt.Errorf("%s:%d: %s", req.Image.ResolvedDockerfile(), src.Ranges[0].Start.Line, msg)
		}
	}
	return errors.New(msg)
}

// shortGRPC drops gRPC's "rpc error: code = X desc =" and dialling
// wrappers, keeping the cause.
func shortGRPC(err error) error {
	s := err.Error()
	if i := strings.LastIndex(s, " desc = "); i >= 0 {
		s = s[i+len(" desc = "):]
	}
	s = strings.Trim(s, `"`)
	s = strings.TrimPrefix(s, "connection error: ")
	s = strings.Trim(s, `"`)
	s = strings.TrimPrefix(s, "transport: Error while dialing: ")
	return errors.New(s)
}
