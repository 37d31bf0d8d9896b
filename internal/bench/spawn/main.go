// Command spawn runs one command for the benchmark harness and reports its
// wall time and peak memory on file descriptor 3, as "NANOSECONDS KIB\n".
//
// The harness cannot take the peak from its own children: on Linux a
// child's ru_maxrss survives execve, and Go starts children by vfork, so
// every child of the harness (tens of MiB) would report at least the
// harness's own peak. A child of this small program inherits this
// program's peak instead, about 2 MiB, the floor of what it reports. The
// peak is that of the largest process of the command's tree (the rusage of
// a waited child covers the children it waited for).
//
// The command's standard streams, directory and environment are this
// program's; it exits with the command's status (128+N after signal N).
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: spawn COMMAND [ARG...]  (reports on fd 3: nanoseconds and peak KiB)")
		os.Exit(2)
	}
	// The command must not inherit the report's descriptor: a daemon it
	// leaves running (Bazel's server, say) would hold it open, and the
	// harness reads it to its end.
	syscall.CloseOnExec(3)
	report := os.NewFile(3, "report")
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		fmt.Fprintf(os.Stderr, "spawn: %v\n", err)
		os.Exit(127)
	}
	var peak int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		peak = ru.Maxrss
	}
	if _, err := fmt.Fprintf(report, "%d %d\n", elapsed.Nanoseconds(), peak); err != nil {
		fmt.Fprintf(os.Stderr, "spawn: reporting on fd 3: %v\n", err)
		os.Exit(127)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		os.Exit(128 + int(ws.Signal()))
	}
	os.Exit(cmd.ProcessState.ExitCode())
}
