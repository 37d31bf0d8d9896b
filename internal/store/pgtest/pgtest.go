// Package pgtest starts a real, throwaway PostgreSQL for tests: initdb
// of a cluster in a temp dir, postgres on a free 127.0.0.1 port, one
// fresh database per test. The cluster is started once per test binary
// and stopped by Stop (call it from TestMain). Tests skip when PostgreSQL
// is not installed, unless SPARKWING_REQUIRE_CONTROLLER_TESTS=1 (set by
// scripts/test.sh): CI must never pass by skipping.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/sparkwing-dev/sparkwing/internal/piddir"
)

var (
	once     sync.Once
	cluster  *server
	startErr error
	dbs      atomic.Int64
)

type server struct {
	dir  string
	port int
	cmd  *exec.Cmd
}

// DSN returns the URL of a new, empty database on the shared cluster.
func DSN(t testing.TB) string {
	t.Helper()
	dsn, err := NewDatabase()
	if errors.Is(err, os.ErrNotExist) && os.Getenv("SPARKWING_REQUIRE_CONTROLLER_TESTS") != "1" {
		t.Skipf("postgres: %v", err)
	}
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	return dsn
}

// NewDatabase starts the shared cluster if it is not running and returns
// the URL of a new, empty database on it. An error wrapping
// os.ErrNotExist means PostgreSQL is not installed.
func NewDatabase() (string, error) {
	once.Do(func() { cluster, startErr = start() })
	if startErr != nil {
		return "", startErr
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbs.Add(1))
	admin, err := sql.Open("pgx", cluster.url("postgres"))
	if err != nil {
		return "", err
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	return cluster.url(name), nil
}

// Stop stops the cluster, if one was started, and removes its files.
func Stop() {
	if cluster == nil {
		return
	}
	cluster.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
	done := make(chan struct{})
	go func() { cluster.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cluster.cmd.Process.Kill()
	}
	os.RemoveAll(cluster.dir)
}

func (s *server) url(db string) string {
	return fmt.Sprintf("postgres://sparkwing@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// bin finds a PostgreSQL program on PATH or in Debian's versioned dirs.
func bin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) > 0 {
		return matches[len(matches)-1], nil
	}
	return "", &os.PathError{Op: "find", Path: name, Err: os.ErrNotExist}
}

func start() (*server, error) {
	initdb, err := bin("initdb")
	if err != nil {
		return nil, err
	}
	postgres, err := bin("postgres")
	if err != nil {
		return nil, err
	}
	root := filepath.Join(os.TempDir(), "sparkwing-pg")
	sweep(root)
	dir, err := piddir.New(root)
	if err != nil {
		return nil, err
	}
	cred, err := unprivileged(dir)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(initdb, "-D", data, "-U", "sparkwing", "--auth=trust", "-E", "UTF8", "--no-sync")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir, port: port}
	s.cmd = exec.Command(postgres, "-D", data, "-p", strconv.Itoa(port), "-h", "127.0.0.1", "-k", dir,
		"-c", "fsync=off", "-c", "max_connections=200")
	// A test binary killed outright (a go test timeout) takes the server
	// with it: immediate shutdown. Its directory is swept by the next start.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGQUIT}
	logf, _ := os.Create(filepath.Join(dir, "postgres.log"))
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	if err := s.waitReady(); err != nil {
		s.cmd.Process.Kill()
		log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
		return nil, fmt.Errorf("%v\n%s", err, log)
	}
	return s, nil
}

// sweep removes the directories in root of test binaries that are gone:
// what one killed before Stop left.
func sweep(root string) {
	for _, dir := range piddir.Orphans(root) {
		os.RemoveAll(dir)
	}
}

func (s *server) waitReady() error {
	db, err := sql.Open("pgx", s.url("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// unprivileged returns the credential PostgreSQL runs with (it refuses
// root) and gives that user dir: the postgres user if there is one, else
// nobody. Not root: the current user.
func unprivileged(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		if u, err = user.Lookup("nobody"); err != nil {
			return nil, err
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
