package devloop

import "context"

// podLogs is one deploy's pods' logs being followed (Options.Logs).
type podLogs struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    string // why it ended, if it failed
}

// followLogs follows, after a build that ended well, the logs of the pods
// of each deploy not followed yet (or whose follower ended, and said
// why), from the session's start on. One follower sees the whole session:
// a rollout's new pods, restarted containers, workloads an edit adds.
func (d *dev) followLogs(ctx context.Context) {
	if d.o.Logs == nil {
		return
	}
	for _, j := range d.build.Jobs {
		last := d.logs[j.ID]
		if j.Deploy == nil || last != nil && !last.ended() {
			continue
		}
		ctx, cancel := context.WithCancel(ctx)
		f := &podLogs{cancel: cancel, done: make(chan struct{})}
		d.logs[j.ID] = f
		go func() {
			defer close(f.done)
			err := d.o.Logs(ctx, j, d.started, prefixed(d, j.ID, &tail{}))
			if err == nil || ctx.Err() != nil {
				return
			}
			if f.err = err.Error(); last == nil || last.err != f.err { // said once, not after every save
				d.say("%s: following its pods' logs: %v (tried again after each build)", j.ID, err)
			}
		}()
	}
}

func (f *podLogs) ended() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// stop ends the follower.
func (f *podLogs) stop() {
	f.cancel()
	<-f.done
}
