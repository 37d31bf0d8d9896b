// Package gitcache keeps the controller's bare mirrors of registered
// repositories, one per name under its directory, by running git (which
// has what go-git lacks: protocol v2, bundles, --reference). A refresh is
// shared by everyone who asks while it runs, but never serves a request
// made before it started: a trigger for a commit pushed a moment ago
// waits for a fetch that began after the push, unless the mirror already
// has the commit. The mirrors are served read-only to runners over git's
// smart HTTP (http.go).
package gitcache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Cache is the directory of mirrors.
type Cache struct {
	dir string

	mu    sync.Mutex
	repos map[string]*mirror
}

// mirror coordinates the fetches of one repository.
type mirror struct {
	mu       sync.Mutex
	running  *fetch // the fetch under way, if any
	finished int64  // generation of the last finished fetch
	started  int64  // generation of the last started fetch
}

type fetch struct {
	gen  int64
	done chan struct{}
	err  error
}

// New returns the cache of mirrors in dir, creating it.
func New(dir string) (*Cache, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &Cache{dir: dir, repos: map[string]*mirror{}}, nil
}

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// CheckName returns an error unless name is fit to be a repository's name.
func CheckName(name string) error {
	if !validName.MatchString(name) || strings.Contains(name, "..") || strings.HasSuffix(name, ".lock") {
		return fmt.Errorf("repository name %q: use letters, digits, '.', '_' and '-' (at most 100)", name)
	}
	return nil
}

// NameFor derives a repository name from its URL: the last path element
// without ".git" ("https://host/team/app.git" → "app").
func NameFor(url string) string {
	u := strings.TrimRight(strings.TrimSuffix(strings.TrimRight(url, "/"), ".git"), "/")
	if i := strings.LastIndexAny(u, "/:"); i >= 0 {
		u = u[i+1:]
	}
	return u
}

// Path is the mirror's directory.
func (c *Cache) Path(name string) string { return filepath.Join(c.dir, name+".git") }

// Has reports whether a mirror of name exists.
func (c *Cache) Has(name string) bool {
	_, err := os.Stat(filepath.Join(c.Path(name), "HEAD"))
	return err == nil
}

func (c *Cache) mirror(name string) *mirror {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.repos[name]
	if m == nil {
		m = &mirror{}
		c.repos[name] = m
	}
	return m
}

// Clone makes the mirror of url as name, replacing nothing: it clones
// into a temporary directory and renames it into place, so a half-made
// mirror is never seen, and an existing one is kept.
func (c *Cache) Clone(ctx context.Context, name, url string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if c.Has(name) {
		return nil
	}
	tmp, err := os.MkdirTemp(c.dir, ".clone-"+name+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if _, err := git(ctx, "", "clone", "--mirror", "--quiet", "--", url, tmp); err != nil {
		return &UpstreamError{URL: url, Err: err}
	}
	// Runners fetch commits by id, including ones no branch names yet.
	if _, err := git(ctx, tmp, "config", "uploadpack.allowAnySHA1InWant", "true"); err != nil {
		return err
	}
	if err := os.Rename(tmp, c.Path(name)); err != nil && !c.Has(name) {
		return err
	}
	return nil
}

// Remove deletes the mirror of name.
func (c *Cache) Remove(name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	return os.RemoveAll(c.Path(name))
}

// HasCommit reports whether the mirror holds commit sha: from its files
// when they say so, else from git. (The files do not say an object's
// type: an id of a tree or blob that someone sends as a commit passes
// here and fails at the runner's checkout, with git's message.)
func (c *Cache) HasCommit(ctx context.Context, name, sha string) bool {
	if Stored(c.Path(name), sha) {
		return true
	}
	_, err := git(ctx, c.Path(name), "cat-file", "-e", sha+"^{commit}")
	return err == nil
}

// Refresh fetches the mirror from its upstream and returns once a fetch
// that started after this call has finished, or, when sha is given, as
// soon as the mirror holds that commit. Concurrent callers share one
// fetch, so a burst of triggers for a just-pushed commit makes one.
func (c *Cache) Refresh(ctx context.Context, name, sha string) error {
	m := c.mirror(name)
	m.mu.Lock()
	need := m.started + 1 // a fetch that starts from now on
	for {
		// Only the files are read here: a no that git would answer yes
		// costs one fetch, where asking git costs milliseconds every time.
		if m.finished >= need || (sha != "" && Stored(c.Path(name), sha)) {
			m.mu.Unlock()
			return nil
		}
		f := m.running
		if f == nil {
			m.started++
			f = &fetch{gen: m.started, done: make(chan struct{})}
			m.running = f
			go c.runFetch(m, f, name)
		}
		m.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if f.gen >= need {
			return f.err
		}
		m.mu.Lock()
	}
}

func (c *Cache) runFetch(m *mirror, f *fetch, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// The mirror's upkeep (git maintenance) runs after the waiters are
	// answered, not inside the fetch they wait for.
	_, err := git(ctx, c.Path(name), "-c", "maintenance.auto=false", "fetch", "--prune", "--quiet", "origin")
	if err != nil {
		url, _ := git(ctx, c.Path(name), "config", "remote.origin.url")
		err = &UpstreamError{URL: strings.TrimSpace(url), Err: err}
	}
	m.mu.Lock()
	f.err = err
	m.running = nil
	m.finished = f.gen
	m.mu.Unlock()
	close(f.done)
	if err == nil {
		git(ctx, c.Path(name), "maintenance", "run", "--auto", "--quiet")
	}
}

// UpstreamError is a clone or fetch that the upstream refused or could
// not answer.
type UpstreamError struct {
	URL string
	Err error
}

func (e *UpstreamError) Error() string {
	return fmt.Sprintf("cannot fetch %s: %v", e.URL, e.Err)
}

func (e *UpstreamError) Unwrap() error { return e.Err }

// git runs git in dir and returns its output; a failure carries git's
// own message.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	return Git(ctx, dir, nil, args...)
}

// Git runs git in dir, with env added to this process's environment and
// never asking for credentials, and returns its output; a failure's
// error is git's own message.
func Git(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=true"), env...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", errors.New(msg)
	}
	return out.String(), nil
}

// ReadFile returns the content of path at commit sha in the mirror of
// name; os.ErrNotExist when the commit has no such file.
func (c *Cache) ReadFile(ctx context.Context, name, sha, path string) ([]byte, error) {
	if _, err := git(ctx, c.Path(name), "cat-file", "-e", sha+":"+path); err != nil {
		return nil, fmt.Errorf("%s at %s: %w", path, sha, os.ErrNotExist)
	}
	out, err := git(ctx, c.Path(name), "cat-file", "blob", sha+":"+path)
	return []byte(out), err
}

// Changed lists the files that differ between commits from and to.
func (c *Cache) Changed(ctx context.Context, name, from, to string) ([]string, error) {
	out, err := git(ctx, c.Path(name), "diff", "--no-renames", "--name-only", "-z", from, to, "--")
	if err != nil {
		return nil, err
	}
	files := []string{} // not nil: a diff of nothing is known to change nothing (nil means unknown)
	for f := range strings.SplitSeq(strings.TrimSuffix(out, "\x00"), "\x00") {
		if f != "" {
			files = append(files, f)
		}
	}
	return files, nil
}

// Head returns the mirror's default branch (the upstream's HEAD when it
// was cloned) and the commit it points at.
func (c *Cache) Head(ctx context.Context, name string) (branch, sha string, err error) {
	branch, err = git(ctx, c.Path(name), "symbolic-ref", "--short", "HEAD")
	if err != nil {
		return "", "", err
	}
	sha, err = git(ctx, c.Path(name), "rev-parse", "--verify", "HEAD^{commit}")
	return strings.TrimSpace(branch), strings.TrimSpace(sha), err
}

// ErrTooBig is a pack that would be larger than asked.
var ErrTooBig = errors.New("the pack would be too large")

// Pack returns the objects of commit want that commit have lacks, as a
// thin pack (its deltas may refer to objects reachable from have), or
// ErrTooBig past max bytes.
func (c *Cache) Pack(ctx context.Context, name, want, have string, max int) ([]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops pack-objects when it is cut short
	cmd := exec.CommandContext(ctx, "git", "pack-objects", "--revs", "--thin", "--stdout", "--delta-base-offset", "-q")
	cmd.Dir = c.Path(name)
	cmd.Stdin = strings.NewReader(want + "\n^" + have + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pack, err := io.ReadAll(io.LimitReader(out, int64(max)+1))
	if err == nil && len(pack) > max {
		err = ErrTooBig
	}
	if err != nil {
		cancel()
		cmd.Wait()
		return nil, err
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("git pack-objects: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return pack, nil
}

// MaxPack bounds the pack a trigger may carry.
const MaxPack = 1 << 20

// AddPack adds to the mirror of name the objects of commit sha that pack
// holds, as a pack made with `--thin` against commits the mirror already
// has (the trigger's, for the commit it names), in the time of one
// index-pack where a fetch from the upstream takes four processes and its
// round trips. As git's receive-pack does, it indexes the pack into a
// quarantine beside the mirror's objects and moves it in only when every
// object reachable from sha is then there (rev-list stops at what the
// mirror's refs reach): a pack that lacks something leaves the mirror as
// it was. The objects are named by their content, so a pack can add
// objects but never change one. (AddObjects does the same in-process
// for a pack of whole objects.)
func (c *Cache) AddPack(ctx context.Context, name, sha string, pack []byte) error {
	mirror := c.Path(name)
	objects := filepath.Join(mirror, "objects")
	q, err := os.MkdirTemp(objects, "incoming-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(q)
	env := []string{"GIT_OBJECT_DIRECTORY=" + q, "GIT_ALTERNATE_OBJECT_DIRECTORIES=" + objects}
	cmd := exec.CommandContext(ctx, "git", "index-pack", "--stdin", "--fix-thin")
	cmd.Dir, cmd.Env, cmd.Stdin = mirror, append(os.Environ(), env...), bytes.NewReader(pack)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git index-pack: %s", strings.TrimSpace(string(out)))
	}
	cmd = exec.CommandContext(ctx, "git", "rev-list", "--objects", "--quiet", "--stdin", "--not", "--all")
	cmd.Dir, cmd.Env, cmd.Stdin = mirror, append(os.Environ(), env...), strings.NewReader(sha+"\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("the pack does not complete commit %s: %s", sha, strings.TrimSpace(string(out)))
	}
	// The index last: git reads a pack through its index, so a pack is
	// never seen without its data.
	files, _ := filepath.Glob(filepath.Join(q, "pack", "pack-*"))
	for _, idx := range []bool{false, true} {
		for _, f := range files {
			if strings.HasSuffix(f, ".idx") != idx {
				continue
			}
			if err := os.Rename(f, filepath.Join(objects, "pack", filepath.Base(f))); err != nil {
				return err
			}
		}
	}
	return nil
}
