package remoterun

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/cli"
	"github.com/sparkwing-dev/sparkwing/internal/controller/api"
	"github.com/sparkwing-dev/sparkwing/internal/gitcache"
)

// Trigger runs `sparkwing pipeline trigger`.
func (Verbs) Trigger(ctx context.Context, s cli.Streams, o cli.TriggerOptions) error {
	t, err := describeCommit(ctx, o)
	if err != nil {
		return err
	}
	c := api.NewClient(o.URL, o.Token)
	run, err := send(ctx, c, &t, o)
	if err != nil {
		return err
	}
	dirty := ""
	if t.Dirty {
		dirty = " with uncommitted changes"
	}
	fmt.Fprintf(s.Stderr, "sparkwing: run %s of %s at %s%s on %s\n", run.ID, run.Pipeline, short(run.SHA), dirty, run.URL)
	return follow(ctx, c, run, s, o.Output, o.WaitTimeout)
}

func short(sha string) string { return sha[:min(len(sha), 12)] }

// describeCommit says what to run: the checked-out commit, its branch, the
// upstream, the commit's new objects (headPack) and the uncommitted
// changes if they may go. It asks git three times, at once: this is on
// the path from the command to the run.
func describeCommit(ctx context.Context, o cli.TriggerOptions) (api.Trigger, error) {
	t := api.Trigger{Pipeline: o.Pipeline, Args: o.Args, RunsOn: o.RunsOn, RepoURL: o.RepoURL, NoAutoRegister: o.NoAutoRegister, Key: newKey()}
	pack := make(chan []byte, 1)
	go func() { pack <- headPack(ctx, o.Dir) }()
	var urlErr error
	urlDone := make(chan struct{})
	go func() {
		defer close(urlDone)
		if t.RepoURL == "" {
			t.RepoURL, urlErr = git(ctx, o.Dir, "remote", "get-url", "origin")
		}
	}()
	status, statusErr := git(ctx, o.Dir, "status", "--porcelain=v2", "--branch")
	<-urlDone
	st := parseStatus(status)
	if statusErr != nil || st.sha == "" {
		why := "no commit yet"
		if statusErr != nil {
			why = statusErr.Error()
		}
		return t, cli.ExitError(2, fmt.Errorf("%s: no commit to run (is it a git repository with a commit?): %s", o.Dir, why))
	}
	t.SHA, t.Branch = st.sha, st.branch
	t.Pack = <-pack
	if urlErr != nil {
		return t, cli.ExitError(2, errors.New("the repository has no origin remote: pass --repo URL, the repository the controller fetches from"))
	}
	t.RepoURL = absoluteIfPath(o.Dir, t.RepoURL)
	if len(st.changes) == 0 {
		return t, nil
	}
	if !o.AllowDirty {
		lines, more := st.changes, ""
		if len(lines) > 5 {
			lines, more = lines[:5], fmt.Sprintf(" and %d more", len(lines)-5)
		}
		return t, cli.ExitError(2, fmt.Errorf("the work tree has uncommitted changes (%s%s): commit them, or pass --allow-dirty to send them as a patch (the run is marked dirty)",
			strings.Join(lines, ", "), more))
	}
	var err error
	if t.Patch, err = workTreePatch(ctx, o.Dir); err != nil {
		return t, err
	}
	t.Dirty = true
	return t, nil
}

// status is what `git status --porcelain=v2 --branch` says: the commit
// (empty before the first), the branch (empty when detached), and each
// change as short status shows it ("M go.mod", "?? notes.txt").
type status struct {
	sha, branch string
	changes     []string
}

// statusFields is how many space-separated fields an entry of each kind
// has before its path (XY first), which may hold spaces (a rename's is
// "new<TAB>old").
var statusFields = map[string]int{"1": 8, "2": 9, "u": 10}

func parseStatus(out string) status {
	var st status
	for line := range strings.SplitSeq(out, "\n") {
		kind, rest, _ := strings.Cut(line, " ")
		fields := strings.Fields(rest)
		switch {
		case kind == "#" && len(fields) == 2 && fields[0] == "branch.oid" && fields[1] != "(initial)":
			st.sha = fields[1]
		case kind == "#" && len(fields) == 2 && fields[0] == "branch.head" && fields[1] != "(detached)":
			st.branch = fields[1]
		case kind == "?":
			st.changes = append(st.changes, kind+kind+" "+rest)
		case kind == "1" || kind == "2" || kind == "u":
			n := statusFields[kind]
			parts := strings.SplitN(rest, " ", n)
			if len(parts) == n {
				path, _, _ := strings.Cut(parts[n-1], "\t")
				st.changes = append(st.changes, strings.Trim(parts[0], ".")+" "+path)
			}
		}
	}
	return st
}

// headPack is HEAD's objects that its parents lack, as a pack, or
// nil past gitcache.MaxPack (or on any error): a controller whose mirror
// has the parents adds the commit from it, with no fetch from the
// upstream. It is HEAD when git read it; should that not be the commit
// status reports, the controller finds the pack incomplete and fetches.
func headPack(ctx context.Context, dir string) []byte {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops pack-objects when the pack is too large
	// Whole objects, no deltas: the controller and the runner read such
	// a pack without running git (gitcache.AddObjects).
	cmd := exec.CommandContext(ctx, "git", "pack-objects", "--revs", "--window=0", "--no-reuse-delta", "--stdout", "-q")
	cmd.Dir, cmd.Stdin = dir, strings.NewReader("HEAD\n--not\nHEAD^@\n")
	out, err := cmd.StdoutPipe()
	if err != nil || cmd.Start() != nil {
		return nil
	}
	pack, err := io.ReadAll(io.LimitReader(out, gitcache.MaxPack+1))
	if err != nil || len(pack) > gitcache.MaxPack {
		cancel()
		cmd.Wait()
		return nil
	}
	if cmd.Wait() != nil {
		return nil
	}
	return pack
}

// absoluteIfPath makes a remote that is a relative path absolute: the
// controller clones from somewhere else.
func absoluteIfPath(dir, url string) string {
	if strings.Contains(url, "://") || strings.Contains(url, "@") || filepath.IsAbs(url) {
		return url
	}
	return filepath.Join(dir, url)
}

// workTreePatch is the diff from HEAD to the work tree, new files
// included, made with a temporary index so the user's is not touched.
func workTreePatch(ctx context.Context, dir string) ([]byte, error) {
	idx, err := os.CreateTemp("", "sparkwing-index-*")
	if err != nil {
		return nil, err
	}
	idx.Close()
	defer os.Remove(idx.Name())
	env := []string{"GIT_INDEX_FILE=" + idx.Name()}
	for _, args := range [][]string{{"read-tree", "HEAD"}, {"add", "-A"}} {
		if _, err := gitEnv(ctx, dir, env, args...); err != nil {
			return nil, err
		}
	}
	out, err := gitEnv(ctx, dir, env, "diff", "--cached", "--binary", "HEAD")
	return []byte(out + "\n"), err
}

// send triggers the run, adding a bundle when the controller cannot
// fetch the commit, and retrying while it does not answer.
func send(ctx context.Context, c *api.Client, t *api.Trigger, o cli.TriggerOptions) (api.Run, error) {
	deadline := time.Now().Add(o.WaitTimeout)
	backoff := 200 * time.Millisecond
	full := false // a bundle of everything, for an upstream that lacks what we think it has
	for {
		run, err := c.Trigger(ctx, *t)
		switch code := api.Code(err); {
		case err == nil:
			return run, nil
		case (code == "need_bundle" && t.Bundle == nil) || (code == "bundle_prerequisites" && !full):
			full = code == "bundle_prerequisites"
			if t.Bundle, err = bundle(ctx, o.Dir, t.SHA, full); err != nil {
				return run, err
			}
			continue
		case transient(err):
			if time.Now().After(deadline) {
				return run, cli.ExitError(3, fmt.Errorf("the controller at %s did not answer for %s: %v; the run may or may not be queued: look with sparkwing runs --remote", o.URL, o.WaitTimeout, err))
			}
			time.Sleep(backoff)
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		var se *api.StatusError
		if errors.As(err, &se) && se.Status < 500 || se != nil && se.Status == http.StatusBadGateway {
			return run, cli.ExitError(2, fmt.Errorf("the controller refused the run: %v", err))
		}
		return run, err
	}
}

// transient reports whether err is the controller not answering (try
// again) rather than answering no.
func transient(err error) bool {
	var se *api.StatusError
	if errors.As(err, &se) {
		return se.Status == http.StatusServiceUnavailable || se.Status == http.StatusGatewayTimeout
	}
	return err != nil && !errors.Is(err, context.Canceled)
}

// bundle packs sha for the controller: the commits its upstream lacks
// (those no remote-tracking branch has), or with full everything.
func bundle(ctx context.Context, dir, sha string, full bool) ([]byte, error) {
	f, err := os.CreateTemp("", "sparkwing-bundle-*")
	if err != nil {
		return nil, err
	}
	f.Close()
	defer os.Remove(f.Name())
	// A bundle carries refs, not bare commits: HEAD is sha (describeCommit
	// read it), and no ref of the user's is written.
	args := []string{"bundle", "create", "--quiet", f.Name(), "HEAD"}
	if !full {
		args = append(args, "--not", "--remotes")
	}
	if _, err := git(ctx, dir, args...); err != nil {
		if !full && strings.Contains(err.Error(), "empty bundle") {
			return bundle(ctx, dir, sha, true) // the tracking branches have it all, the upstream does not
		}
		return nil, fmt.Errorf("bundle the unpushed commits: %w", err)
	}
	return os.ReadFile(f.Name())
}

func newKey() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	return gitEnv(ctx, dir, nil, args...)
}

func gitEnv(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	out, err := gitcache.Git(ctx, dir, env, args...)
	if err != nil {
		return "", fmt.Errorf("git %s: %w", args[0], err)
	}
	return strings.TrimRight(out, "\n"), nil
}
