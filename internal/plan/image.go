package plan

import (
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Image is what an image job builds: a Dockerfile, through BuildKit.
// Paths are relative to the project root unless absolute (only named
// contexts may be absolute: a toolchain directory, say).
type Image struct {
	Dockerfile string            // default "Dockerfile" in the context
	Context    string            // default "." (the project root)
	Contexts   map[string]string // named build contexts (COPY --from=NAME): name → directory
	Target     string            // the stage to build; default the last
	Args       map[string]string // build args
	Platforms  []string          // e.g. linux/amd64; default buildkitd's own
	Repository string            // name inside each registry; default the job id
	Push       map[string][]string
	Tags       []Tag // extra tags, besides the content tag
	CacheFrom  []CacheSpec
	CacheTo    []CacheSpec
	NoDoctor   bool // `doctor: false`: no Dockerfile doctor warnings before building
	// WholeContext (`fingerprint: context`) keys the image by its whole
	// build context instead of what the target's stages read: for a base
	// image whose ONBUILD triggers copy from the context.
	WholeContext bool
	// Export, when set, is the directory (relative to the root) the
	// target's files are written to with BuildKit's local exporter,
	// instead of an image: the job's output.
	Export string
	// Sync maps files of the build context (relative to the root) to
	// their paths in the image: `sparkwing dev --sync` copies a new build
	// of them into the running containers and restarts the process
	// there, instead of building a new image and rolling it out. It is
	// not part of the image's key.
	Sync map[string]string
}

// SyncPaths are Sync's files, sorted.
func (im *Image) SyncPaths() []string {
	return slices.Sorted(maps.Keys(im.Sync))
}

// SyncDir is where `sparkwing dev --sync` mounts its supervisor and the
// synced files in a container.
const SyncDir = "/.sparkwing"

// Tag is an extra tag and what uses it; {profile} in Name is replaced by
// the run's profile.
type Tag struct {
	Name   string
	UsedBy string // who pulls this tag (a file, a system); "" warns when pushed
}

// CacheSpec is one BuildKit cache import or export, written as buildx
// writes it: type=registry,ref=REF,mode=max or type=local,dest=DIR.
type CacheSpec struct {
	Type  string
	Attrs map[string]string
	Text  string // as written, for messages
}

var (
	repoPattern     = lazyRegexp(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
	tagPattern      = lazyRegexp(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	registryPattern = lazyRegexp(`^[A-Za-z0-9.-]+(?::[0-9]+)?(?:/[a-z0-9._/-]+)?$`)
)

// lazyRegexp compiles expr on first use, not at every start of sparkwing.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// ParseCacheSpec reads "type=registry,ref=...,mode=max".
func ParseCacheSpec(text string) (CacheSpec, error) {
	c := CacheSpec{Attrs: map[string]string{}, Text: text}
	for _, field := range strings.Split(text, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok || k == "" {
			return c, fmt.Errorf("cache spec %q: %q is not key=value (write type=registry,ref=REGISTRY/REPO:cache,mode=max or type=local,dest=DIR)", text, field)
		}
		if k == "type" {
			c.Type = v
		} else {
			c.Attrs[k] = v
		}
	}
	return c, nil
}

// ResolvedDockerfile is the Dockerfile's path relative to the root.
func (im *Image) ResolvedDockerfile() string {
	if im.Dockerfile == "" {
		return path.Join(im.ContextDir(), "Dockerfile")
	}
	return path.Clean(im.Dockerfile)
}

// ContextDir is the main context's path relative to the root.
func (im *Image) ContextDir() string {
	if im.Context == "" {
		return "."
	}
	return path.Clean(im.Context)
}

// TagNames are the extra tags for profile.
func (im *Image) TagNames(profile string) []string {
	var names []string
	for _, t := range im.Tags {
		names = append(names, strings.ReplaceAll(t.Name, "{profile}", profile))
	}
	return names
}

// ContextNames are the named contexts, sorted.
func (im *Image) ContextNames() []string {
	names := make([]string, 0, len(im.Contexts))
	for n := range im.Contexts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Check validates the image settings.
func (im *Image) Check() error {
	if err := insideRoot("context", im.ContextDir()); err != nil {
		return err
	}
	if err := insideRoot("dockerfile", im.ResolvedDockerfile()); err != nil {
		return err
	}
	for name, dir := range im.Contexts {
		if !Identifier(strings.ReplaceAll(name, "-", "_")) {
			return fmt.Errorf("named context %q: use letters, digits, '_' and '-'", name)
		}
		if dir == "" {
			return fmt.Errorf("named context %q has no directory", name)
		}
	}
	for name := range im.Args {
		if !Identifier(name) {
			return fmt.Errorf("build arg %q is not a valid name", name)
		}
	}
	if im.Repository != "" && !repoPattern().MatchString(im.Repository) {
		return fmt.Errorf("repository %q is not a valid image name: lowercase letters, digits and separators, such as acme/api", im.Repository)
	}
	for profile, regs := range im.Push {
		for _, r := range regs {
			if !registryPattern().MatchString(r) {
				return fmt.Errorf("push.%s: %q is not a registry: write HOST[:PORT][/PREFIX], such as 127.0.0.1:5000 or ghcr.io/acme, without a scheme or tag", profile, r)
			}
		}
	}
	for _, t := range im.Tags {
		if !tagPattern().MatchString(strings.ReplaceAll(t.Name, "{profile}", "p")) {
			return fmt.Errorf("tag %q is not a valid tag: letters, digits, '_', '.' and '-', up to 128", t.Name)
		}
	}
	if im.Export != "" {
		if err := insideRoot("export.to", im.Export); err != nil {
			return err
		}
		if path.Clean(im.Export) == "." {
			return fmt.Errorf("export.to %q is the project root; name a directory inside it, such as dist/%s", im.Export, "out")
		}
		if len(im.Push) > 0 || len(im.Tags) > 0 {
			return fmt.Errorf("export writes files, not an image, so nothing is pushed or tagged: drop `push` and `tags`, or build the image in a job of its own")
		}
	}
	if len(im.Sync) > 0 && im.Export != "" {
		return fmt.Errorf("sync: export writes files, not an image, so there is no container to sync into; drop `sync`")
	}
	for _, from := range im.SyncPaths() {
		to := im.Sync[from]
		if err := insideRoot("sync", from); err != nil {
			return err
		}
		if rel := path.Clean(from); im.ContextDir() != "." && !strings.HasPrefix(rel, im.ContextDir()+"/") {
			return fmt.Errorf("sync: %s is not in the build context %s; sync copies files the image is built from", from, im.ContextDir())
		}
		switch {
		case !path.IsAbs(to):
			return fmt.Errorf("sync: %s → %q: write the file's absolute path in the image, such as /server", from, to)
		case path.Clean(to) == SyncDir || strings.HasPrefix(path.Clean(to), SyncDir+"/"):
			return fmt.Errorf("sync: %s → %s: %s is sparkwing's own directory in the container; pick another path", from, to, SyncDir)
		}
	}
	for _, specs := range [][]CacheSpec{im.CacheFrom, im.CacheTo} {
		for _, c := range specs {
			if err := c.check(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c CacheSpec) check() error {
	switch c.Type {
	case "registry":
		if c.Attrs["ref"] == "" {
			return fmt.Errorf("cache %q: a registry cache needs ref=REGISTRY/REPO:TAG", c.Text)
		}
	case "local":
		dir := c.Attrs["src"] + c.Attrs["dest"]
		if c.Attrs["src"] != "" && c.Attrs["dest"] != "" || dir == "" {
			return fmt.Errorf("cache %q: a local cache needs src=DIR (to import) or dest=DIR (to export)", c.Text)
		}
		return insideRoot("cache "+c.Text, dir)
	default:
		return fmt.Errorf("cache %q: type must be registry or local", c.Text)
	}
	return nil
}

// insideRoot rejects absolute paths and paths that climb out of the root
// (also after their `..` are resolved, as in a/../../x).
func insideRoot(what, p string) error {
	if c := filepath.ToSlash(filepath.Clean(p)); filepath.IsAbs(p) || c == ".." || strings.HasPrefix(c, "../") {
		return fmt.Errorf("%s %q is outside the project; use a path relative to the project root", what, p)
	}
	return nil
}
