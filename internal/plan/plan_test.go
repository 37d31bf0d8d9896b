package plan

import (
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

func jobs(spec map[string][]string, order ...string) []Job {
	var js []Job
	for _, id := range order {
		js = append(js, Job{ID: id, Run: "true", Needs: spec[id]})
	}
	return js
}

func TestCycleIsReportedAsAPath(t *testing.T) {
	_, err := New("p", jobs(map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": nil}, "d", "a", "b", "c"))
	var ce *CycleError
	if !errors.As(err, &ce) || !reflect.DeepEqual(ce.Path, []string{"a", "b", "c", "a"}) {
		t.Fatalf("err = %v", err)
	}
}

func TestNeedErrors(t *testing.T) {
	_, err := New("p", jobs(map[string][]string{"server": {"generat"}}, "generate", "server"))
	var ne *NeedError
	if !errors.As(err, &ne) || ne.Suggest != "generate" || ne.Index != 0 {
		t.Fatalf("err = %v", err)
	}
	_, err = New("p", jobs(map[string][]string{"b": {"a", "a"}}, "a", "b"))
	if !errors.As(err, &ne) || !ne.Dup {
		t.Fatalf("duplicate need not caught: %v", err)
	}
	if s := Closest("zzzzzz", []string{"generate"}); s != "" {
		t.Fatalf("far-off name suggested %q", s)
	}
}

func TestJobErrors(t *testing.T) {
	for _, j := range []Job{
		{ID: "a/b", Run: "x"}, {ID: "", Run: "x"}, {ID: "a"},
		{ID: "a", Run: "x", Step: &GoStep{}}, {ID: "a", Run: "x", Retries: -1},
	} {
		var je *JobError
		if _, err := New("p", []Job{j}); !errors.As(err, &je) {
			t.Errorf("%+v: err = %v", j, err)
		}
	}
}

func TestOnlyKeepsWhatIsNeeded(t *testing.T) {
	p, err := New("p", jobs(map[string][]string{"test": {"gen"}, "build": {"gen"}, "pkg": {"test", "build"}},
		"gen", "test", "build", "pkg", "lint"))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := p.Only([]string{"test"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, j := range sub.Jobs {
		ids = append(ids, j.ID)
	}
	if !reflect.DeepEqual(ids, []string{"gen", "test"}) {
		t.Fatalf("only test = %v", ids)
	}
	if _, err := p.Only([]string{"tset"}); err == nil {
		t.Fatal("unknown job accepted")
	}
}

func TestPathLengths(t *testing.T) {
	// gen(1) -> test(5) -> pkg(1); gen -> build(2) -> pkg; lint(3)
	deps := [][]int{nil, {0}, {0}, {1, 2}, nil}
	dur := []time.Duration{1, 5, 2, 1, 3}
	rem := RemainingPath(deps, dur)
	if want := []time.Duration{7, 6, 3, 1, 3}; !reflect.DeepEqual(rem, want) {
		t.Fatalf("remaining = %v, want %v", rem, want)
	}
	path, length := CriticalPath(deps, dur)
	if !reflect.DeepEqual(path, []int{0, 1, 3}) || length != 7 {
		t.Fatalf("critical path %v (%v)", path, length)
	}
}

// A health check ParseHealth accepts is one a checker can run: a known
// kind, with an address that has a port, or a command.
func FuzzParseHealth(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1:8080/healthz", "http://h/", "tcp:127.0.0.1:5432", "tcp:[::1]:1", "exec: true", "exec:", "localhost:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		h, err := ParseHealth(spec)
		if err != nil {
			return
		}
		switch h.Kind {
		case "http", "tcp":
			if _, port, err := net.SplitHostPort(h.Addr); err != nil || port == "" {
				t.Fatalf("%q: address %q has no port", spec, h.Addr)
			}
		case "exec":
			if strings.TrimSpace(h.Cmd) == "" {
				t.Fatalf("%q: no command", spec)
			}
		default:
			t.Fatalf("%q: kind %q", spec, h.Kind)
		}
	})
}
