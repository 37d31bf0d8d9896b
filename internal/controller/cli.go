package controller

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sparkwing-dev/sparkwing/internal/gitcache"
	"github.com/sparkwing-dev/sparkwing/internal/store"
)

// usageErr is a mistake in how the command was called or configured:
// exit 2.
type usageErr struct{ msg string }

func (e *usageErr) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageErr{fmt.Sprintf(format, args...)} }

// Main runs sparkwing-controller with args and returns its exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:   "sparkwing-controller",
		Short: "The sparkwing controller: remote runs, runners, git cache, live logs",
		Long: `sparkwing-controller holds the state of remote runs (SQLite in its data dir,
or PostgreSQL), mirrors the repositories runs come from, queues runs for
runners (sparkwing runner) and streams their logs back to the trigger
(sparkwing pipeline trigger).

Start it with 'sparkwing-controller serve --data DIR', then create tokens
with 'sparkwing-controller token create --data DIR --name NAME --scope SCOPE'.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usagef("%v (see %s --help)", err, c.CommandPath()) })
	root.AddCommand(newServeCmd(stderr), newTokenCmd(stdout))
	err := root.Execute()
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "sparkwing-controller: %v\n", err)
	var ue *usageErr
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") || strings.Contains(err.Error(), "accepts ") {
		return 2
	}
	return 1
}

// stateFlags are how a command finds the state: the data dir, and the
// store in it unless --store names another.
type stateFlags struct {
	data, dsn string
}

func (f *stateFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.data, "data", "", "the controller's data `DIR`: mirrors, and the SQLite state unless --store is set (required)")
	c.Flags().StringVar(&f.dsn, "store", "", "the state: postgres://USER@HOST/DB, or a SQLite file (default DIR/state.db)")
}

func (f *stateFlags) open(ctx context.Context) (*store.SQL, error) {
	if f.data == "" {
		return nil, usagef("--data DIR is required: the directory the controller keeps its mirrors and state in")
	}
	if err := checkWritable(f.data); err != nil {
		return nil, err
	}
	dsn := f.dsn
	if dsn == "" {
		dsn = filepath.Join(f.data, "state.db")
	}
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return nil, usagef("cannot open the state store: %v", err)
	}
	return st, nil
}

// checkWritable makes dir and proves it can be written, so a read-only
// data dir is a clear error at start, not a failed run later.
func checkWritable(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return usagef("data dir %s: %v (choose a directory you can write, or fix its permissions)", dir, err)
	}
	f, err := os.CreateTemp(dir, ".writable-")
	if err != nil {
		return usagef("data dir %s is not writable: %v (choose a directory you can write, or fix its permissions)", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

func newServeCmd(stderr io.Writer) *cobra.Command {
	var sf stateFlags
	var addr, certFile, keyFile, baseURL, secretFile string
	var lease time.Duration
	var kf kubeFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the API until interrupted",
		Long: `Serve the controller's API on --addr. Without --tls-cert and --tls-key it
serves plain HTTP, which it allows on a loopback address only.

With --webhook-secret-file, GitHub push webhooks sent to /webhooks/github
with that secret queue the pipelines whose 'on: push' filter the push
passes; 'on: schedule' entries on each repository's default branch are
queued when due.

With --kube, runs are also started on Kubernetes: a warm pool of
--warm-runners runners (a Deployment holding claim long-polls) takes runs
at once, and a run no waiting runner takes gets a batch/v1 Job of its own
running 'sparkwing runner --run ID'. The runner image's entrypoint is
sparkwing, with git and /bin/sh beside it; the runners' token is the key
"token" of the Secret --runner-token-secret. A runner pod deleted, or lost
with its node, has its run queued again at once.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if (certFile == "") != (keyFile == "") {
				return usagef("--tls-cert and --tls-key go together")
			}
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return usagef("--addr %q: %v (use HOST:PORT, such as 127.0.0.1:8420)", addr, err)
			}
			if ip := net.ParseIP(host); certFile == "" && (ip == nil || !ip.IsLoopback()) && host != "localhost" {
				return usagef("--addr %s is not a loopback address: serving tokens and logs there needs TLS (--tls-cert, --tls-key)", addr)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			st, err := sf.open(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			git, err := gitcache.New(filepath.Join(sf.data, "git"))
			if err != nil {
				return err
			}
			secret := ""
			if secretFile != "" {
				b, err := os.ReadFile(secretFile)
				if err != nil {
					return usagef("--webhook-secret-file: %v", err)
				}
				secret = strings.TrimSpace(string(b))
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return usagef("listen on %s: %v", addr, err)
			}
			scheme := "http"
			if certFile != "" {
				scheme = "https"
			}
			if baseURL == "" {
				baseURL = scheme + "://" + ln.Addr().String()
			}
			logger := slog.New(slog.NewTextHandler(stderr, nil))
			srv := New(Config{Store: st, Git: git, Lease: lease, BaseURL: baseURL, WebhookSecret: secret, Log: logger})
			var extra []func(context.Context)
			if kf.on {
				dispatch, err := kf.dispatcher(ctx, srv, baseURL, logger)
				if err != nil {
					ln.Close()
					return err
				}
				extra = append(extra, dispatch)
			}
			return serve(ctx, srv, ln, certFile, keyFile, logger, extra...)
		},
	}
	sf.add(cmd)
	fl := cmd.Flags()
	fl.StringVar(&addr, "addr", "127.0.0.1:8420", "listen on `HOST:PORT`")
	fl.StringVar(&certFile, "tls-cert", "", "serve HTTPS with this certificate `FILE` (PEM)")
	fl.StringVar(&keyFile, "tls-key", "", "the certificate's private key `FILE` (PEM)")
	fl.StringVar(&baseURL, "base-url", "", "the `URL` clients reach the controller at, for the run links it returns (default from --addr)")
	fl.StringVar(&secretFile, "webhook-secret-file", "", "`FILE` holding the secret GitHub signs push webhooks with")
	fl.DurationVar(&lease, "lease", 30*time.Second, "how long a runner keeps a run without a heartbeat before it is queued again")
	kf.add(cmd)
	return cmd
}

// serve runs srv on ln until ctx ends, then stops taking requests and
// ends the open streams (clients resume them elsewhere or later).
func serve(ctx context.Context, srv *Server, ln net.Listener, certFile, keyFile string, logger *slog.Logger, extra ...func(context.Context)) error {
	base, cancel := context.WithCancel(context.Background())
	defer cancel()
	hs := &http.Server{Handler: srv.Handler(), BaseContext: func(net.Listener) context.Context { return base },
		ReadHeaderTimeout: 10 * time.Second}
	go srv.Background(base)
	for _, fn := range extra {
		go fn(base)
	}
	errc := make(chan error, 1)
	go func() {
		if certFile != "" {
			errc <- hs.ServeTLS(ln, certFile, keyFile)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	logger.Info("sparkwing-controller listening", "url", srv.cfg.BaseURL)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	cancel() // ends long-polls and log streams
	shut, done := context.WithTimeout(context.Background(), 10*time.Second)
	defer done()
	hs.Shutdown(shut)
	logger.Info("sparkwing-controller stopped")
	return nil
}

func newTokenCmd(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Create, list and revoke API tokens"}
	var sf stateFlags
	var name string
	var scopes []string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a token and print it (it is shown once; only its hash is kept)",
		Long: `Create a token with the scopes given: trigger (start runs, read runs and
logs), runner (claim and report runs), admin (everything). The secret is
printed once on stdout; the controller keeps only its SHA-256.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			st, err := sf.open(c.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			secret, err := CreateToken(c.Context(), st, name, scopes, time.Now().UTC())
			if errors.Is(err, store.ErrExists) {
				return usagef("a token named %q exists: revoke it first or choose another name", name)
			}
			if err != nil {
				return usagef("%v", err)
			}
			fmt.Fprintln(stdout, secret)
			return nil
		},
	}
	sf.add(create)
	create.Flags().StringVar(&name, "name", "", "the token's `NAME`, to list and revoke it by")
	create.Flags().StringSliceVar(&scopes, "scope", nil, "the token's `SCOPES`: trigger, runner, admin (comma-separated)")

	var lf stateFlags
	list := &cobra.Command{
		Use: "list", Short: "List tokens (names and scopes, never secrets)", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			st, err := lf.open(c.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			toks, err := st.Tokens(c.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSCOPES\tCREATED\tSTATE")
			for _, t := range toks {
				state := "valid"
				if !t.Revoked.IsZero() {
					state = "revoked " + t.Revoked.Format(time.DateTime)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, strings.Join(t.Scopes, ","), t.Created.Format(time.DateTime), state)
			}
			return tw.Flush()
		},
	}
	lf.add(list)

	var rf stateFlags
	revoke := &cobra.Command{
		Use: "revoke NAME", Short: "Revoke a token: requests with it are refused from now on", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			st, err := rf.open(c.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.RevokeToken(c.Context(), args[0], time.Now().UTC()); err != nil {
				return usagef("%v", err)
			}
			return nil
		},
	}
	rf.add(revoke)
	cmd.AddCommand(create, list, revoke)
	return cmd
}
