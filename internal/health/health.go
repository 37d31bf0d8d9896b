// Package health checks whether a service is serving: an HTTP GET that
// answers 2xx or 3xx, a TCP connection that opens, or a command that exits
// 0. It also says which process holds a port, for the message when a
// service cannot start because something else listens there.
package health

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// probeTimeout bounds one check.
const probeTimeout = 2 * time.Second

// Check runs one check; nil means healthy. An exec check runs in dir with
// env.
func Check(ctx context.Context, h plan.Health, dir string, env []string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	switch h.Kind {
	case "http":
		return get(ctx, h)
	case "tcp":
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", h.Addr)
		if err != nil {
			return short(err)
		}
		return c.Close()
	case "exec":
		cmd := exec.CommandContext(ctx, "/bin/sh", "-c", h.Cmd)
		cmd.Dir, cmd.Env = dir, env
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		out, err := cmd.CombinedOutput()
		if err != nil {
			msg := strings.TrimSpace(string(out))
			if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
				msg = msg[i+1:]
			}
			if msg != "" {
				return fmt.Errorf("%s: %v: %s", h.Cmd, err, msg)
			}
			return fmt.Errorf("%s: %v", h.Cmd, err)
		}
		return nil
	}
	return fmt.Errorf("unknown health check %q", h.Kind)
}

// get sends one HTTP/1.1 GET and reads the status line: 2xx and 3xx are
// healthy (a redirect is not followed). It speaks the little HTTP a
// health check needs, so that net/http and its TLS stack stay out of
// sparkwing's start-up; https checks are not supported (ParseHealth says
// so).
func get(ctx context.Context, h plan.Health) error {
	u, err := url.Parse(h.URL)
	if err != nil {
		return err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", h.Addr)
	if err != nil {
		return short(err)
	}
	defer c.Close()
	if deadline, ok := ctx.Deadline(); ok {
		c.SetDeadline(deadline)
	}
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sparkwing\r\nConnection: close\r\n\r\n", u.RequestURI(), u.Host); err != nil {
		return short(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("GET %s: no answer: %v", h.URL, short(err))
	}
	proto, status, _ := strings.Cut(strings.TrimSpace(line), " ")
	code, err := strconv.Atoi(strings.SplitN(status, " ", 2)[0])
	if !strings.HasPrefix(proto, "HTTP/") || err != nil {
		return fmt.Errorf("GET %s: not an HTTP answer: %q", h.URL, strings.TrimSpace(line))
	}
	if code >= 400 {
		return fmt.Errorf("GET %s: %s", h.URL, status)
	}
	return nil
}

// short drops the address Go repeats in dial errors, keeping the cause
// (connection refused, i/o timeout).
func short(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// Listening reports whether something accepts connections at addr now.
func Listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// PortHolder names the process listening on addr's port (as "PID NAME"),
// or "" when it cannot tell (not Linux, or another user's process).
func PortHolder(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return ""
	}
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		for inode := range listeners(table, port) {
			inodes[inode] = true
		}
	}
	if len(inodes) == 0 {
		return ""
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		target, err := os.Readlink(fd)
		if err != nil || !strings.HasPrefix(target, "socket:[") {
			continue
		}
		if inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] {
			pid := strings.Split(fd, "/")[2]
			comm, _ := os.ReadFile("/proc/" + pid + "/comm")
			return strings.TrimSpace(pid + " " + string(comm))
		}
	}
	return ""
}

// listeners yields the socket inodes of a /proc/net/tcp table listening
// on port.
func listeners(table string, port int) map[string]bool {
	out := map[string]bool{}
	f, err := os.Open(table)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != "0A" { // 0A: LISTEN
			continue
		}
		_, hexPort, ok := strings.Cut(fields[1], ":")
		if n, err := strconv.ParseUint(hexPort, 16, 32); ok && err == nil && int(n) == port {
			out[fields[9]] = true
		}
	}
	return out
}
