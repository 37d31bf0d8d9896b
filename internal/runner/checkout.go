package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/controller/api"
	"github.com/sparkwing-dev/sparkwing/internal/gitcache"
	"github.com/sparkwing-dev/sparkwing/internal/job"
)

// Checkouts: one bare mirror per repository under Dir/mirrors, fetched
// from the controller (only what is new), and for each slot a worktree
// of it at a fixed path, Dir/work/REPO/N, kept from run to run: each run
// ends with `git clean -ffdx` (every file git does not track goes,
// ignored ones and nested repositories too), and the next starts with
// another unless that one finished, and with `git reset --hard` to its
// commit, so it finds exactly the commit's files, as a fresh worktree
// would, but only the files that changed are written. Those that did not
// keep their stat, which the run's stat cache then trusts instead of
// hashing them again (the same path every time keeps that cache its own).

func (r *runner) mirrorLock(repo string) *sync.Mutex {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.mirrors[repo]
	if m == nil {
		m = &sync.Mutex{}
		r.mirrors[repo] = m
	}
	return m
}

// tipRef names the last commit fetched into a mirror.
const tipRef = "refs/sparkwing/tip"

func (r *runner) mirrorPath(repo string) string {
	return filepath.Join(r.cfg.Dir, "mirrors", repo+".git")
}

// checkout makes dir a worktree of the run's commit and says where the
// commit came from: "mirror" (already there), "pack" or "indexed" (sent
// with the claim; see addPack), "fetch" or "bundle".
func (r *runner) checkout(ctx context.Context, a *api.Assignment, dir string) (from string, err error) {
	run := a.Run
	mirror := r.mirrorPath(run.Repo)
	lock := r.mirrorLock(run.Repo)
	lock.Lock()
	defer lock.Unlock()
	if _, err := os.Stat(filepath.Join(mirror, "HEAD")); err != nil {
		if _, err := r.git(ctx, "", "init", "--bare", "--quiet", mirror); err != nil {
			return "", err
		}
	}
	url := r.cfg.Client.Base() + api.PathGit + run.Repo
	// The worktree is cleaned while the objects come: neither touches
	// what the other does.
	var kept sync.WaitGroup
	reuse := false
	kept.Go(func() { reuse = r.cleanWorktree(ctx, mirror, dir) })
	defer kept.Wait()
	switch from = "mirror"; {
	case len(a.Bundle) > 0:
		from = "bundle"
		if err := r.unbundle(ctx, mirror, url, a.Bundle); err != nil {
			return from, err
		}
	case gitcache.Stored(mirror, run.SHA): // a re-run needs no fetch
	default:
		if from = r.addPack(ctx, mirror, a.Pack, run.SHA); from != "" {
			if err := setTip(mirror, run.SHA); err != nil {
				r.cfg.Log.Warn("the mirror's tip was not moved: the next run fetches", "err", err)
			}
			break
		}
		// Into a ref: the next fetch offers it, so only what is new
		// comes (a commit fetched into no ref brings its whole history
		// every time).
		from = "fetch"
		if _, err := r.git(ctx, mirror, "fetch", "--quiet", "--no-tags", url, "+"+run.SHA+":"+tipRef); err != nil {
			return from, err
		}
	}
	kept.Wait()
	if reuse {
		if _, err := r.git(ctx, dir, "reset", "--hard", "--quiet", run.SHA); err != nil {
			return from, err
		}
	} else if err := r.addWorktree(ctx, mirror, dir, run.SHA); err != nil {
		return from, err
	}
	if len(a.Patch) > 0 {
		cmd := exec.CommandContext(ctx, "git", "-C", dir, "apply", "--whitespace=nowarn", "-")
		cmd.Stdin = bytes.NewReader(a.Patch)
		if out, err := cmd.CombinedOutput(); err != nil {
			return from, fmt.Errorf("apply the uncommitted changes: %s", strings.TrimSpace(string(out)))
		}
	}
	return from, nil
}

// setTip points tipRef at sha, writing the ref's file as git does (a
// lock file renamed into place), which takes no git process. The caller
// holds the mirror's lock.
func setTip(mirror, sha string) error {
	ref := filepath.Join(mirror, filepath.FromSlash(tipRef))
	if err := os.MkdirAll(filepath.Dir(ref), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(ref+".lock", []byte(sha+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(ref+".lock", ref)
}

// cleanMark, in a worktree's directory in the mirror, says that the run
// before left the worktree clean (tidyCheckout): the next run, which
// removes it first, has no clean to wait for.
const cleanMark = "sparkwing-clean"

// cleanWorktree readies the slot's worktree dir from an earlier run for
// the next: it removes every file git does not track, unless the last
// run's tidy-up did and said so, and reports true. A directory that is
// not a worktree of the mirror (a runner killed while making it, a
// mirror made again) is removed, with what git knew of it, and it
// reports false: the caller makes the worktree afresh.
func (r *runner) cleanWorktree(ctx context.Context, mirror, dir string) bool {
	admin := filepath.Join(mirror, "worktrees", filepath.Base(dir))
	link, err := os.ReadFile(filepath.Join(dir, ".git"))
	if err == nil && string(link) == "gitdir: "+admin+"\n" {
		if _, err := os.Stat(filepath.Join(admin, "HEAD")); err == nil {
			if os.Remove(filepath.Join(admin, cleanMark)) == nil {
				return true
			}
			if _, err := r.git(ctx, dir, "clean", "-ffdxq"); err == nil {
				return true
			}
		}
	}
	if _, err := os.Lstat(dir); err == nil {
		os.RemoveAll(dir)
		r.git(ctx, mirror, "worktree", "prune")
	}
	return false
}

// addWorktree makes dir a worktree of the mirror with sha checked out
// (detached), as `git worktree add --detach` does, in one git process
// where that takes three: it writes the files git-worktree(1) describes
// (the mirror's worktrees/ID with HEAD, commondir and gitdir, and
// dir/.git naming it), then git reset --hard fills the index and the
// files. ID is dir's base name, the slot: one per slot and mirror.
func (r *runner) addWorktree(ctx context.Context, mirror, dir, sha string) error {
	admin := filepath.Join(mirror, "worktrees", filepath.Base(dir))
	if err := os.RemoveAll(admin); err != nil {
		return err
	}
	for _, d := range []string{admin, dir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	for name, content := range map[string]string{
		filepath.Join(admin, "HEAD"):      sha,
		filepath.Join(admin, "commondir"): "../..",
		filepath.Join(admin, "gitdir"):    filepath.Join(dir, ".git"),
		filepath.Join(dir, ".git"):        "gitdir: " + admin,
	} {
		if err := os.WriteFile(name, []byte(content+"\n"), 0o644); err != nil {
			return err
		}
	}
	_, err := r.git(ctx, dir, "reset", "--hard", "--quiet")
	return err
}

// addPack stores the pack the controller sent with the run and says how:
// "pack" (read in-process: whole objects) or "indexed" (by git); "" when
// the mirror still lacks commit sha, and the caller fetches.
func (r *runner) addPack(ctx context.Context, mirror string, pack []byte, sha string) string {
	if len(pack) == 0 {
		return ""
	}
	if gitcache.AddObjects(mirror, sha, pack) == nil {
		return "pack"
	}
	cmd := exec.CommandContext(ctx, "git", "index-pack", "--stdin", "--fix-thin")
	cmd.Dir, cmd.Stdin = mirror, bytes.NewReader(pack)
	if out, err := cmd.CombinedOutput(); err != nil {
		r.cfg.Log.Warn("the pack sent with the run did not go in; fetching instead", "err", strings.TrimSpace(string(out)))
		return ""
	}
	if !gitcache.Stored(mirror, sha) {
		return ""
	}
	return "indexed"
}

// haves names, for each mirror, the last commit fetched into it (see
// Claim.Have). A tip that gc moved into packed-refs is not read: that
// repository's next run fetches, which writes it again.
func (r *runner) haves() map[string]string {
	refs, _ := filepath.Glob(filepath.Join(r.cfg.Dir, "mirrors", "*.git", tipRef))
	have := map[string]string{}
	for _, ref := range refs {
		if len(have) == maxHaves {
			break
		}
		sha, err := os.ReadFile(ref)
		repo := strings.TrimSuffix(filepath.Base(strings.TrimSuffix(ref, "/"+tipRef)), ".git")
		if err == nil {
			have[repo] = strings.TrimSpace(string(sha))
		}
	}
	return have
}

// maxHaves keeps a claim small (the controller reads at most 64 KiB).
const maxHaves = 200

// unbundle adds a bundle's commits to the mirror, after fetching the
// branches it builds on from the controller.
func (r *runner) unbundle(ctx context.Context, mirror, url string, bundle []byte) error {
	r.git(ctx, mirror, "fetch", "--quiet", "--no-tags", url, "+refs/heads/*:refs/remotes/origin/*") // an empty upstream has none
	f := filepath.Join(mirror, "incoming.bundle")
	if err := os.WriteFile(f, bundle, 0o600); err != nil {
		return err
	}
	defer os.Remove(f)
	_, err := r.git(ctx, mirror, "bundle", "unbundle", f)
	return err
}

// tidyCheckout follows a run: what it made in the worktree goes now (the
// worktree stays, for the slot's next run to reset), and the mirror's
// packs are packed into one when there are many.
func (r *runner) tidyCheckout(repo, dir string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := r.git(ctx, dir, "clean", "-ffdxq"); err == nil {
		os.WriteFile(filepath.Join(r.mirrorPath(repo), "worktrees", filepath.Base(dir), cleanMark), nil, 0o644)
	}
	// Each run may add a pack: gc packs them into one when there are
	// many, after the run rather than in the way of the next one's start.
	lock := r.mirrorLock(repo)
	lock.Lock()
	defer lock.Unlock()
	r.git(ctx, r.mirrorPath(repo), "gc", "--auto", "--quiet")
}

// git runs git with the controller's token (in the environment, not the
// arguments, where ps would show it).
func (r *runner) git(ctx context.Context, dir string, args ...string) (string, error) {
	// No automatic maintenance after a fetch: it holds up the run, and
	// the mirror's history is small.
	out, err := gitcache.Git(ctx, dir, []string{"GIT_PROTOCOL=version=2",
		"GIT_CONFIG_COUNT=2", "GIT_CONFIG_KEY_0=http.extraHeader", "GIT_CONFIG_VALUE_0=Authorization: Bearer " + r.cfg.Client.Token(),
		"GIT_CONFIG_KEY_1=maintenance.auto", "GIT_CONFIG_VALUE_1=false"}, args...)
	if err != nil {
		return "", fmt.Errorf("git %s: %w", args[0], err)
	}
	return out, nil
}

// pipeline is `sparkwing -C dir run PIPELINE --output json ARGS…`,
// started before dir is ready and waiting for it at its start gate, with
// its output (both streams) going to out.
type pipeline struct {
	cmd  *exec.Cmd
	gate *job.Gate
}

func (r *runner) startPipeline(a *api.Assignment, dir string, out io.Writer) (*pipeline, error) {
	args := append(append([]string{}, r.cfg.Sparkwing[1:]...), "-C", dir, "run", a.Run.Pipeline, "--output", "json")
	args = append(args, a.Run.Args...) // as after `sparkwing run PIPELINE`: run's flags and the pipeline's arguments
	cmd := exec.Command(r.cfg.Sparkwing[0], args...)
	cmd.Dir = r.cfg.Dir // dir may not be there yet: the gate moves it in
	cmd.Env = append(append([]string{}, r.cfg.Env...), "SPARKWING_REMOTE_RUN="+a.Run.ID)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	gate, err := job.NewGate(cmd)
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		gate.Close()
		return nil, fmt.Errorf("start sparkwing: %w", err)
	}
	return &pipeline{cmd, gate}, nil
}

// callOff ends the pipeline before it began: it exits at its gate.
func (p *pipeline) callOff() {
	p.gate.Close()
	p.cmd.Wait()
}

// wait lets the pipeline go on in dir and returns its exit code. A
// cancel interrupts it as Ctrl-C would, so its jobs are stopped and it
// records the run, and kills it if it has not ended 10 s later.
func (p *pipeline) wait(ctx context.Context, dir string) (int, error) {
	cmd := p.cmd
	if err := p.gate.Open(dir); err != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		return 0, fmt.Errorf("start sparkwing: %w", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var err error
	select {
	case err = <-waited:
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		select {
		case err = <-waited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			err = <-waited
		}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 0, err
	}
	return 0, nil
}
