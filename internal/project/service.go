package project

import (
	"fmt"
	"slices"

	"github.com/goccy/go-yaml/ast"

	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

var (
	serviceKeys = []string{"run", "health", "ready_timeout", "stop_signal", "stop_timeout", "restart_on"}
	// serviceJobKeys are the job keys a service job may have besides `service`.
	serviceJobKeys = []string{"service", "needs", "description", "env", "passthrough"}
)

// service decodes a job's `service:` mapping.
func (d *decoder) service(n ast.Node) *plan.Service {
	s := &plan.Service{}
	before := len(d.errs)
	for _, kv := range d.mapping(n, "`service`") {
		what := "`service." + kv.key + "`"
		switch kv.key {
		case "run":
			s.Run = d.str(kv.value, what)
		case "health":
			s.Health = d.str(kv.value, what)
			if _, err := plan.ParseHealth(s.Health); err != nil {
				d.errorf(kv.value, "%s: %v", what, err)
			}
		case "ready_timeout":
			s.ReadyTimeout = d.duration(kv.value, what)
		case "stop_timeout":
			s.StopTimeout = d.duration(kv.value, what)
		case "stop_signal":
			s.StopSignal = d.str(kv.value, what)
			if !slices.Contains(plan.StopSignals, s.StopSignal) {
				d.errorf(kv.value, "%s %q: use one of %v", what, s.StopSignal, plan.StopSignals)
			}
		case "restart_on":
			s.RestartOn, _ = d.strings(kv.value, what)
		default:
			d.unknownKey(kv, "in `service`", serviceKeys)
		}
	}
	if len(d.errs) == before {
		if err := s.Check(); err != nil {
			d.errorf(n, "service: %v", err)
		}
	}
	return s
}

// serviceKeyError says a key does not apply to a service job.
func serviceKeyError(key, id string) string {
	return fmt.Sprintf("`%s` does not apply to service %s: a service is never cached, and the jobs it needs build what it runs (keys: %v)",
		key, id, serviceJobKeys)
}
