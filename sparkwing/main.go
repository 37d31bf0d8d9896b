package sparkwing

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"reflect"
	"sort"
	"strings"
	"syscall"
)

// Pipeline is a Go pipeline: a type whose Plan method adds jobs.
type Pipeline interface {
	Plan(p *Plan)
}

var registry = map[string]Pipeline{}

// Register makes a pipeline available under its type name, which is what
// `entrypoint:` names in sparkwing.yaml. Call it from an init function.
func Register(p Pipeline) {
	t := reflect.TypeOf(p)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if _, dup := registry[t.Name()]; dup {
		panic("sparkwing: pipeline " + t.Name() + " registered twice")
	}
	registry[t.Name()] = p
}

// Main is the entry point of a pipeline program; sparkwing generates the
// main function that calls it. It speaks the engine's protocol:
//
//	PROGRAM list                      registered pipeline names, as JSON
//	PROGRAM args NAME                 its arguments and defaults, as JSON (WireArg)
//	PROGRAM plan NAME [ARGS...]       the plan, as JSON (WirePlan)
//	PROGRAM step NAME JOB [ARGS...]   run one Go step
//
// Exit codes: 0 ok, 1 a step failed, 2 usage or plan error (its message,
// which names no pipeline: the engine does, on stderr).
func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && args[0] == "list" {
		names := make([]string, 0, len(registry))
		for n := range registry {
			names = append(names, n)
		}
		sort.Strings(names)
		return writeJSON(stdout, stderr, names)
	}
	if len(args) == 2 && args[0] == "args" {
		_, wargs, err := parseArgs(args[1], nil)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		return writeJSON(stdout, stderr, wargs)
	}
	if len(args) < 2 || (args[0] != "plan" && args[0] != "step") || (args[0] == "step" && len(args) < 3) {
		fmt.Fprintln(stderr, "usage: PROGRAM list | args NAME | plan NAME [ARGS...] | step NAME JOB [ARGS...]")
		return 2
	}
	verb, name := args[0], args[1]
	rest := args[2:]
	jobID := ""
	if verb == "step" {
		jobID, rest = rest[0], rest[1:]
	}
	p, wire, err := buildPlan(name, rest)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if verb == "plan" {
		return writeJSON(stdout, stderr, wire)
	}
	return runStep(ctx, p, jobID, stdout, stderr)
}

// parseArgs makes a fresh copy of the registered pipeline name and sets its
// fields from args.
func parseArgs(name string, args []string) (Pipeline, []WireArg, error) {
	registered, ok := registry[name]
	if !ok {
		return nil, nil, fmt.Errorf("no Go pipeline type %q is registered (call sparkwing.Register(&%s{}) in an init function)", name, name)
	}
	pipeline := fresh(registered)
	fs, wargs, err := argFlags(name, pipeline)
	if err != nil {
		return nil, nil, err
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, argError(err)
	}
	if fs.NArg() > 0 {
		if len(wargs) == 0 {
			return nil, nil, fmt.Errorf("unexpected argument %q: this pipeline takes no arguments", fs.Arg(0))
		}
		return nil, nil, fmt.Errorf("unexpected argument %q: arguments are flags, such as --%s %s", fs.Arg(0), wargs[0].Name, fs.Arg(0))
	}
	for i := range wargs {
		wargs[i].Value = fs.Lookup(wargs[i].Name).Value.String()
	}
	return pipeline, wargs, nil
}

// argError words the flag package's errors as the engine's flags are
// worded: --name, and "unknown argument" for one never defined.
func argError(err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return fmt.Errorf("unknown argument --%s", strings.TrimPrefix(name, "-"))
	}
	if err == flag.ErrHelp {
		return errors.New("arguments: ask the engine (sparkwing run PIPELINE --help)")
	}
	return errors.New(strings.Replace(msg, " for flag -", " for --", 1))
}

// buildPlan parses the pipeline's arguments into its fields, then calls its
// Plan method.
func buildPlan(name string, args []string) (*Plan, *WirePlan, error) {
	pipeline, wargs, err := parseArgs(name, args)
	if err != nil {
		return nil, nil, err
	}
	p := &Plan{}
	pipeline.Plan(p)
	if len(p.errs) > 0 {
		return nil, nil, errors.Join(p.errs...)
	}
	wire := &WirePlan{Protocol: ProtocolVersion, Pipeline: name, Args: wargs, Jobs: []WireJob{}}
	for _, j := range p.jobs {
		wire.Jobs = append(wire.Jobs, j.spec)
	}
	return p, wire, nil
}

func runStep(ctx context.Context, p *Plan, id string, stdout, stderr io.Writer) int {
	j := p.byID[id]
	if j == nil || j.step == nil {
		fmt.Fprintf(stderr, "pipeline has no Go step %q\n", id)
		return 2
	}
	root, _ := os.Getwd()
	jc := &JobContext{ID: id, Root: root, Stdout: stdout, Stderr: stderr}
	if err := j.step(ctx, jc); err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 1
	}
	return 0
}

func writeJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	if err := enc.Encode(v); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	return 0
}
