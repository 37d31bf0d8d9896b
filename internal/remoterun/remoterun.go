// Package remoterun is the client side of remote runs, linked only into
// sparkwing-remote (it needs net/http): `sparkwing pipeline trigger`,
// which sends the commit to the controller and shows the run as it
// happens there, `sparkwing runner`, and `sparkwing runs --remote`.
package remoterun

import (
	"context"
	"log/slog"

	"github.com/sparkwing-dev/sparkwing/internal/cli"
	"github.com/sparkwing-dev/sparkwing/internal/controller/api"
	"github.com/sparkwing-dev/sparkwing/internal/runner"
)

// Verbs implements cli.Remote.
type Verbs struct{}

var _ cli.Remote = Verbs{}

// Runner runs `sparkwing runner`.
func (Verbs) Runner(ctx context.Context, s cli.Streams, o cli.RunnerOptions) error {
	log := slog.New(slog.NewTextHandler(s.Stderr, nil)).With("runner", o.Name)
	log.Info("runner started", "controller", o.URL, "slots", o.Slots, "labels", o.Labels)
	err := runner.Run(ctx, runner.Config{Client: api.NewClient(o.URL, o.Token), Name: o.Name, Labels: o.Labels,
		Slots: o.Slots, Dir: o.Dir, Only: o.Run, Sparkwing: s.Self, Env: s.Environ, Log: log})
	log.Info("runner stopped")
	return err
}
