package buildkit

import (
	"context"
	"io"
	"sync"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"
	digest "github.com/opencontainers/go-digest"

	"github.com/sparkwing-dev/sparkwing/internal/image"
)

// progress shows BuildKit's status stream as plain progress lines in the
// job's log (which sparkwing's own view shows live) and keeps each step's
// outcome for the result.
type progress struct {
	log io.Writer

	mu    sync.Mutex
	order []digest.Digest
	byID  map[digest.Digest]*client.Vertex
}

func newProgress(log io.Writer) *progress {
	return &progress{log: log, byID: map[digest.Digest]*client.Vertex{}}
}

// run consumes ch until it is closed.
func (p *progress) run(ch chan *client.SolveStatus) {
	fwd := make(chan *client.SolveStatus)
	done := make(chan struct{})
	go func() {
		defer close(done)
		d, err := progressui.NewDisplay(p.log, progressui.PlainMode)
		if err != nil {
			for range fwd {
			}
			return
		}
		d.UpdateFrom(context.Background(), fwd)
	}()
	for st := range ch {
		p.mu.Lock()
		for _, v := range st.Vertexes {
			if _, seen := p.byID[v.Digest]; !seen {
				p.order = append(p.order, v.Digest)
			}
			p.byID[v.Digest] = v
		}
		p.mu.Unlock()
		fwd <- st
	}
	close(fwd)
	<-done
}

// steps are the finished vertices in the order BuildKit announced them.
func (p *progress) steps() []image.Step {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []image.Step
	for _, id := range p.order {
		v := p.byID[id]
		s := image.Step{Name: v.Name, Cached: v.Cached}
		if v.Started != nil && v.Completed != nil {
			s.Duration = v.Completed.Sub(*v.Started)
		}
		out = append(out, s)
	}
	return out
}

// ignoredErrors are errors of steps in a build that still succeeded: a
// cache export that failed with ignore-error set.
func (p *progress) ignoredErrors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, id := range p.order {
		if v := p.byID[id]; v.Error != "" {
			out = append(out, v.Name+": "+v.Error)
		}
	}
	return out
}
