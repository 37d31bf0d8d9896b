package job

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
)

// A start gate lets a process start sparkwing before the directory it is
// to run in is ready, so that the start (several milliseconds of exec,
// runtime and package init) happens while the directory is made: a
// runner checks a commit out while its `sparkwing run` starts. sparkwing
// waits at the gate before it reads its command line's files.

// startGateEnv names the gate's file descriptor in sparkwing's
// environment.
const startGateEnv = "SPARKWING_START_GATE"

// Gate is the opener's side of a start gate.
type Gate struct{ r, w *os.File }

// NewGate gives cmd (not yet started) a start gate, which the caller
// must Open or Close once cmd has started.
func NewGate(cmd *exec.Cmd) (*Gate, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, r)
	fd := 2 + len(cmd.ExtraFiles)
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, startGateEnv+"="+strconv.Itoa(fd))
	return &Gate{r, w}, nil
}

// Open lets the process go on, in dir.
func (g *Gate) Open(dir string) error {
	_, err := g.w.WriteString(dir)
	return errors.Join(err, g.Close())
}

// Close, unopened, makes the process exit at once, having done nothing.
func (g *Gate) Close() error {
	g.r.Close() // the process's end, which this one holds from cmd.Start on
	return g.w.Close()
}

// PassGate waits at the start gate, if this process has one, and
// reports whether to go on: when the opener sent a directory, this
// process is in it; when it closed the gate with nothing, the work is
// called off. It drops the gate from the environment, for no child
// to find it.
func PassGate() bool {
	v, ok := os.LookupEnv(startGateEnv)
	if !ok {
		return true
	}
	os.Unsetenv(startGateEnv)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return true // not a gate this package made
	}
	f := os.NewFile(uintptr(fd), "start gate")
	dir, err := io.ReadAll(io.LimitReader(f, 1<<16))
	f.Close()
	return err == nil && len(dir) > 0 && os.Chdir(string(dir)) == nil
}
