// Package supervisor is sparkwing-supervisor, the program `sparkwing dev
// --sync` puts in a pod so that a new build of a file can replace the old
// one in a running container, and the container's process restart on it,
// without a new image and a rollout (live update).
//
// An init container runs `install DIR`, which copies the program into DIR,
// an emptyDir volume the pod's containers mount. The container's command
// becomes `DIR/sparkwing-supervisor run -- PROGRAM ARGS...`: it runs the
// program, forwards the signals a container is stopped with, reaps orphans
// (it is process 1), and exits as the program exits, so a crash is a
// container restart as before. `replace PATH:SIZE...`, run by an exec into
// the container, reads those files from its standard input, keeps them in
// DIR/sync and asks `run` to restart the program, which first installs
// them at their paths. The kept files outlive a container restart: a
// container that restarts, after a crash or a kill, runs what was synced
// last, never silently the image's older file.
//
// It uses only the standard library and no package net, so that it links
// statically even when cgo is on: it runs in images FROM scratch.
package supervisor

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Name is the program's name, in the pod and beside sparkwing.
const Name = "sparkwing-supervisor"

// Main is the program's entry point.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", Name, err)
		return 1
	}
	dir := filepath.Dir(exe)
	switch {
	case len(args) == 2 && args[0] == "install":
		err = install(exe, args[1])
	case len(args) >= 3 && args[0] == "run" && args[1] == "--":
		return run(dir, args[2:], stderr)
	case len(args) >= 2 && args[0] == "replace":
		err = replace(dir, args[1:], stdin, stdout)
	default:
		fmt.Fprintf(stderr, "usage: %s install DIR | run -- PROGRAM [ARGS...] | replace PATH:SIZE... < files\n"+
			"sparkwing dev --sync puts %s in a pod; it is not meant to be run by hand.\n", Name, Name)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", Name, err)
		return 1
	}
	return 0
}

// install copies this program into dir.
func install(exe, dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "sync"), 0o755); err != nil {
		return err
	}
	f, err := os.Open(exe)
	if err != nil {
		return err
	}
	defer f.Close()
	return writeFile(filepath.Join(dir, Name), f, 0o755)
}

// newSuffix names the file writeFile writes beside its destination.
const newSuffix = ".sparkwing-new"

// writeFile writes r to a new file beside dst and renames it over dst, so
// a reader never sees half of it and a running program keeps its own.
func writeFile(dst string, r io.Reader, mode os.FileMode) error {
	tmp := dst + newSuffix
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, mode) // the umask may have narrowed it
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// The files run and replace share, in the supervisor's directory.
const (
	pidFile   = "supervisor.pid" // run's process ID
	stateFile = "generation"     // "N started" or "N failed: why", after each start
)

// keptName is where a synced file is kept: its path, hex-encoded.
func keptName(dir, target string) string {
	return filepath.Join(dir, "sync", hex.EncodeToString([]byte(target)))
}

// installKept puts every kept file at its path.
func installKept(dir string) error {
	entries, err := os.ReadDir(filepath.Join(dir, "sync"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		target, err := hex.DecodeString(e.Name())
		if err != nil || !filepath.IsAbs(string(target)) {
			continue // a temporary file, or not ours
		}
		if err := installOne(filepath.Join(dir, "sync", e.Name()), string(target)); err != nil {
			return err
		}
	}
	return nil
}

func installOne(kept, target string) error {
	f, err := os.Open(kept)
	if err != nil {
		return err
	}
	defer f.Close()
	mode := os.FileMode(0o755)
	if st, err := os.Stat(target); err == nil {
		mode = st.Mode().Perm()
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	if err := writeFile(target, f, mode); err != nil {
		return fmt.Errorf("installing %s: %v (a read-only root file system cannot take synced files)", target, err)
	}
	return nil
}

// run runs argv until it exits on its own, restarting it on SIGHUP after
// installing the kept files; it exits as the program did.
func run(dir string, argv []string, stderr io.Writer) int {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	exits := make(chan exit, 1)
	go reap(exits)

	gen := 0
	if err := installKept(dir); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", Name, err)
		return 1
	}
	if err := writeFile(filepath.Join(dir, pidFile), strings.NewReader(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", Name, err)
		return 1
	}
	setState(dir, gen, nil) // before the start: a replace may come as soon as the program runs
	child, err := start(argv)
	if err != nil {
		setState(dir, gen, err)
		fmt.Fprintf(stderr, "%s: %v\n", Name, err)
		return 127
	}
	stopping := false
	for {
		select {
		case s := <-sigs:
			if s != syscall.SIGHUP || stopping {
				stopping = stopping || s != syscall.SIGUSR1 && s != syscall.SIGUSR2
				child.Signal(s)
				continue
			}
			gen++
			if st, crashed := stop(child, exits); crashed {
				setState(dir, gen, fmt.Errorf("%s had exited by itself (status %d) before the restart", argv[0], st))
				return st
			}
			err := installKept(dir)
			if err == nil {
				child, err = start(argv)
			}
			setState(dir, gen, err)
			if err != nil {
				fmt.Fprintf(stderr, "%s: %v\n", Name, err)
				return 127
			}
			fmt.Fprintf(stderr, "%s: restarted %s on the synced files\n", Name, argv[0])
		case e := <-exits:
			if e.pid == child.Pid {
				return e.status
			}
		}
	}
}

// exit is a reaped process and the exit status to pass on.
type exit struct{ pid, status int }

// reap waits for every child, the program's orphans included (as process
// 1 the supervisor inherits them), and reports each.
func reap(exits chan<- exit) {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil { // no children yet: wait for one
			time.Sleep(10 * time.Millisecond)
			continue
		}
		status := ws.ExitStatus()
		if ws.Signaled() {
			status = 128 + int(ws.Signal())
		}
		exits <- exit{pid, status}
	}
}

func start(argv []string) (*os.Process, error) {
	path := argv[0]
	if !strings.Contains(path, "/") {
		return nil, fmt.Errorf("%s: the program must be given by its path", path)
	}
	return os.StartProcess(path, argv, &os.ProcAttr{Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}, Env: os.Environ()})
}

// stopTimeout is how long a program has to exit after SIGTERM before it
// is killed, on a restart.
const stopTimeout = 10 * time.Second

// stop ends the program for a restart: SIGTERM, then SIGKILL. crashed
// says it had already exited by itself, with status st.
func stop(p *os.Process, exits <-chan exit) (st int, crashed bool) {
	select {
	case e := <-exits:
		if e.pid == p.Pid {
			return e.status, true
		}
	default:
	}
	p.Signal(syscall.SIGTERM)
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	for {
		select {
		case e := <-exits:
			if e.pid == p.Pid {
				return 0, false
			}
		case <-timer.C:
			p.Kill()
		}
	}
}

func setState(dir string, gen int, err error) {
	state := fmt.Sprintf("%d started", gen)
	if err != nil {
		state = fmt.Sprintf("%d failed: %v", gen, err)
	}
	writeFile(filepath.Join(dir, stateFile), strings.NewReader(state), 0o644)
}

func readState(dir string) (gen int, state string, err error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return 0, "", err
	}
	n, rest, _ := strings.Cut(string(data), " ")
	gen, err = strconv.Atoi(n)
	return gen, rest, err
}

// writable checks that a file can be put at target, as installOne does.
func writable(target string) error {
	probe := target + newSuffix
	err := os.MkdirAll(filepath.Dir(target), 0o755)
	if err == nil {
		var f *os.File
		if f, err = os.OpenFile(probe, os.O_CREATE|os.O_WRONLY, 0o600); err == nil { // a killed write's leftover is no obstacle
			f.Close()
			os.Remove(probe)
		}
	}
	if err != nil {
		return fmt.Errorf("cannot put %s in place: %v (a read-only root file system cannot take synced files)", target, err)
	}
	return nil
}

// restartTimeout bounds how long replace waits for the restart.
const restartTimeout = time.Minute

// replace keeps each PATH:SIZE file read from r, then asks run to restart
// the program on them and waits until it has. A file it cannot put in
// place (a read-only root file system) is refused before the program is
// stopped, and not kept: a restart would fail on it every time.
func replace(dir string, specs []string, r io.Reader, out io.Writer) (err error) {
	var kept []string
	defer func() {
		if err != nil {
			for _, k := range kept {
				os.Remove(k)
			}
		}
	}()
	for _, spec := range specs {
		target, size, ok := strings.Cut(spec, ":")
		n, err := strconv.ParseInt(size, 10, 64)
		if !ok || err != nil || n < 0 || !filepath.IsAbs(target) {
			return fmt.Errorf("%q: want /ABSOLUTE/PATH:SIZE", spec)
		}
		target = filepath.Clean(target)
		if err := writable(target); err != nil {
			return err
		}
		lr := &io.LimitedReader{R: r, N: n}
		k := keptName(dir, target)
		if err := writeFile(k, lr, 0o755); err != nil {
			return err
		}
		kept = append(kept, k)
		if lr.N > 0 {
			return fmt.Errorf("%s: the input ended %d bytes early", target, lr.N)
		}
	}
	before, _, err := readState(dir)
	if err != nil {
		return fmt.Errorf("the supervisor has not started (%v)", err)
	}
	pidText, err := os.ReadFile(filepath.Join(dir, pidFile))
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if err != nil {
		return fmt.Errorf("%s: %v", pidFile, err)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("asking the supervisor (pid %d) to restart: %v", pid, err)
	}
	deadline := time.Now().Add(restartTimeout)
	for time.Now().Before(deadline) {
		gen, state, err := readState(dir)
		if err == nil && gen > before {
			if state != "started" {
				return errors.New(state)
			}
			fmt.Fprintf(out, "restarted (generation %d)\n", gen)
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("the program did not restart in %v", restartTimeout)
}
