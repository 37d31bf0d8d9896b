package plan

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Service is a long-running job: a process that is started after the jobs
// it needs and reported healthy when its check passes. `sparkwing run`
// keeps it until the run ends; `sparkwing dev` keeps it running and
// restarts it when a job in RestartOn produced a new output. It is never
// cached.
type Service struct {
	Run          string        // the command, run with /bin/sh -e -c
	Health       string        // http://HOST:PORT/PATH, tcp:HOST:PORT or exec: CMD; "" none
	ReadyTimeout time.Duration // how long it may take to become healthy
	StopSignal   string        // TERM, INT, QUIT, HUP, KILL, USR1 or USR2
	StopTimeout  time.Duration // from StopSignal to SIGKILL
	RestartOn    []string      // jobs whose new outputs restart it; default its needs
}

// Service defaults.
const (
	DefaultReadyTimeout = 30 * time.Second
	DefaultStopTimeout  = 5 * time.Second
)

// StopSignals are the signals a service may be stopped with.
var StopSignals = []string{"TERM", "INT", "QUIT", "HUP", "KILL", "USR1", "USR2"}

// Health is a parsed health check.
type Health struct {
	Kind string // http, tcp or exec
	URL  string // http: the URL
	Addr string // http and tcp: HOST:PORT
	Cmd  string // exec: the command
}

// Loopback reports whether the check's address is on this machine.
func (h Health) Loopback() bool {
	host, _, err := net.SplitHostPort(h.Addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ParseHealth reads a health check as written in `health:`: http:// (not
// https), tcp: or exec:.
func ParseHealth(spec string) (Health, error) {
	switch {
	case strings.HasPrefix(spec, "https://"):
		return Health{}, fmt.Errorf("health %q: https checks are not supported; check the plain HTTP port, or write exec: curl -fsS %s", spec, spec)
	case strings.HasPrefix(spec, "http://"):
		u, err := url.Parse(spec)
		if err != nil || u.Host == "" || u.Hostname() == "" {
			return Health{}, fmt.Errorf("health %q is not a URL: write http://127.0.0.1:8080/healthz", spec)
		}
		addr := u.Host
		if u.Port() == "" {
			addr = net.JoinHostPort(u.Hostname(), "80")
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return Health{}, fmt.Errorf("health %q is not a URL: write http://127.0.0.1:8080/healthz", spec)
		}
		return Health{Kind: "http", URL: spec, Addr: addr}, nil
	case strings.HasPrefix(spec, "tcp:"):
		addr := strings.TrimPrefix(spec, "tcp:")
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			return Health{}, fmt.Errorf("health %q: write tcp:HOST:PORT, such as tcp:127.0.0.1:5432", spec)
		}
		return Health{Kind: "tcp", Addr: addr}, nil
	case strings.HasPrefix(spec, "exec:"):
		cmd := strings.TrimSpace(strings.TrimPrefix(spec, "exec:"))
		if cmd == "" {
			return Health{}, fmt.Errorf("health %q names no command: write exec: CMD, such as exec: pg_isready", spec)
		}
		return Health{Kind: "exec", Cmd: cmd}, nil
	}
	return Health{}, fmt.Errorf("health %q: write http://HOST:PORT/PATH, tcp:HOST:PORT or exec: CMD", spec)
}

// Check validates the service's settings.
func (s *Service) Check() error {
	if strings.TrimSpace(s.Run) == "" {
		return fmt.Errorf("a service needs `run`: the command that starts it")
	}
	if s.Health != "" {
		if _, err := ParseHealth(s.Health); err != nil {
			return err
		}
	}
	if s.StopSignal != "" && !slices.Contains(StopSignals, s.StopSignal) {
		return fmt.Errorf("stop_signal %q: use one of %s", s.StopSignal, strings.Join(StopSignals, ", "))
	}
	if s.ReadyTimeout < 0 || s.StopTimeout < 0 {
		return fmt.Errorf("a service's timeouts cannot be negative")
	}
	return nil
}
