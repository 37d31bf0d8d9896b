package controller

// Schedules: `on: schedule: ["cron expr"]` in the project file of each
// registered repository's default branch, as its mirror has it (a
// trigger, a push webhook or POST /api/v1/repos/NAME/refresh brings the
// mirror up to date, and a due schedule refreshes it before it queues).
//
// Each schedule's last firing is in the store. A schedule seen for the
// first time starts counting from then; one that is due fires once for
// the latest time it was due, however many it missed while the
// controller was down. Its run's idempotency key names that time, so a
// controller killed between queuing and recording never queues it twice.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/project"
	"github.com/sparkwing-dev/sparkwing/internal/store"
)

// scheduleEvery is how often schedules are checked: cron's unit is the
// minute, so a run starts at most this late.
const scheduleEvery = 10 * time.Second

// runSchedules queues the runs of every schedule that is due.
func (s *Server) runSchedules(ctx context.Context) {
	repos, err := s.st.Repos(ctx)
	if err != nil {
		s.log.Error("schedules: list repositories", "err", err)
		return
	}
	for _, repo := range repos {
		err := s.scheduleRepo(ctx, repo)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if msg != "" && s.scheduleErr[repo.Name] != msg { // said once, not every few seconds
			s.log.Warn("schedules of a repository skipped", "repo", repo.Name, "err", err)
		}
		s.scheduleErr[repo.Name] = msg
	}
}

func (s *Server) scheduleRepo(ctx context.Context, repo store.Repo) error {
	if !s.git.Has(repo.Name) {
		return nil
	}
	_, sha, err := s.git.Head(ctx, repo.Name)
	if err != nil {
		return err
	}
	f, err := s.projectAt(ctx, repo.Name, sha)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, p := range f.Pipelines {
		if p.On == nil {
			continue
		}
		for _, expr := range p.On.Schedule {
			if err := s.fireIfDue(ctx, repo, p, expr); err != nil {
				return err
			}
		}
	}
	return nil
}

// fireIfDue queues p's run for schedule expr if a time it was due has
// passed since it last fired.
func (s *Server) fireIfDue(ctx context.Context, repo store.Repo, p *project.Pipeline, expr string) error {
	sched, err := project.CronParser.Parse(expr)
	if err != nil {
		return err // the file parsed, so this does not happen
	}
	name := repo.Name + "/" + p.Name + "/" + expr
	now := s.now()
	last, err := s.st.Tick(ctx, name)
	if err != nil {
		return err
	}
	if last.IsZero() {
		return s.st.SetTick(ctx, name, now)
	}
	due := latestDue(sched, last, now)
	if due.IsZero() {
		return nil
	}
	if err := s.git.Refresh(ctx, repo.Name, ""); err != nil {
		return err
	}
	branch, sha, err := s.git.Head(ctx, repo.Name)
	if err != nil {
		return err
	}
	run, created, err := s.st.CreateRun(ctx, store.Run{Repo: repo.Name, Branch: branch, SHA: sha, Pipeline: p.Name,
		RunsOn: p.RunsOn, Key: fmt.Sprintf("schedule:%s@%s", name, due.Format(time.RFC3339)), Created: now})
	if err != nil {
		return err
	}
	if created {
		s.log.Info("run queued by a schedule", "run", run.ID, "repo", repo.Name, "pipeline", p.Name, "schedule", expr, "due", due)
		s.wake.Notify(queueKey)
	}
	return s.st.SetTick(ctx, name, due)
}

// schedule is what latestDue needs of a cron schedule.
type schedule interface{ Next(time.Time) time.Time }

// latestDue is the last time after last and at or before now that sched
// was due, or zero if none.
func latestDue(sched schedule, last, now time.Time) time.Time {
	var due time.Time
	for t := sched.Next(last); !t.IsZero() && !t.After(now); t = sched.Next(t) {
		due = t
	}
	return due
}
