package controller

import (
	"context"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/sparkwing-dev/sparkwing/internal/kubedispatch"
	"github.com/sparkwing-dev/sparkwing/internal/project"
)

// kubeFlags are serve's flags for runners on Kubernetes.
type kubeFlags struct {
	on                         bool
	kubeconfig, context, ns    string
	image, secret, url, labels string
	template                   string
	warm                       int
}

func (f *kubeFlags) add(c *cobra.Command) {
	fl := c.Flags()
	fl.BoolVar(&f.on, "kube", false, "start runners on Kubernetes: a warm pool, and a Job for each run no waiting runner takes")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "the kubeconfig `FILE` (default $KUBECONFIG, ~/.kube/config, or the in-cluster config)")
	fl.StringVar(&f.context, "kube-context", "", "the kubeconfig `CONTEXT` (default its current one)")
	fl.StringVar(&f.ns, "kube-namespace", "default", "the `NAMESPACE` runners run in")
	fl.StringVar(&f.image, "runner-image", "", "the runner `IMAGE`: entrypoint sparkwing, with git and /bin/sh")
	fl.StringVar(&f.secret, "runner-token-secret", "sparkwing-runner", "the Secret `NAME` whose key \"token\" is a runner token")
	fl.StringVar(&f.url, "runner-url", "", "the `URL` runner pods reach the controller at (default --base-url)")
	fl.StringVar(&f.labels, "runner-labels", "", "the runners' `LABELS`, KEY=VALUE,… (matched against runs_on)")
	fl.StringVar(&f.template, "runner-template", "", "a pod template `FILE` (YAML: metadata, spec) runner pods start from")
	fl.IntVar(&f.warm, "warm-runners", 0, "how many runners the warm pool keeps waiting (`N`; 0: a Job for every run)")
}

// dispatcher checks the Kubernetes side and returns what runs it.
func (f *kubeFlags) dispatcher(ctx context.Context, srv *Server, baseURL string, log *slog.Logger) (func(context.Context), error) {
	if f.warm < 0 {
		return nil, usagef("--warm-runners %d: use 0 or more", f.warm)
	}
	cfg := kubedispatch.Config{Namespace: f.ns, Image: f.image, Controller: f.url, TokenSecret: f.secret, Warm: f.warm,
		Log: log.With("component", "kube")}
	if cfg.Controller == "" {
		cfg.Controller = baseURL
	}
	labels, err := project.ParseLabels(f.labels)
	if err != nil {
		return nil, usagef("--runner-labels: %v", err)
	}
	cfg.Labels = labels
	if f.template != "" {
		if cfg.Template, err = kubedispatch.ReadTemplate(f.template); err != nil {
			return nil, usagef("--runner-template %v", err)
		}
	}
	if cfg.Client, err = kubedispatch.Connect(f.kubeconfig, f.context); err != nil {
		return nil, usagef("--kube: %v", err)
	}
	if err := kubedispatch.Check(ctx, cfg); err != nil {
		return nil, usagef("--kube: %v", err)
	}
	return func(ctx context.Context) { kubedispatch.Run(ctx, cfg, srv) }, nil
}
