package plan

import (
	"strings"
	"testing"
)

func TestGoTestJob(t *testing.T) {
	gt := &GoTest{Packages: []string{"./...", "./odd$dir"}, Flags: []string{"-race", "-run=Test(A|B)"}, Dir: "svc"}
	p, err := New("p", []Job{{ID: "test", GoTest: gt}})
	if err != nil {
		t.Fatal(err)
	}
	j := p.Jobs[0]
	if want := `cd svc && go test -race '-run=Test(A|B)' ./... './odd$dir'`; j.Run != want {
		t.Errorf("command %q, want %q", j.Run, want)
	}
	if got := gt.Command(true, "example.com/m/a"); !strings.Contains(got, "go test -json -race") || !strings.HasSuffix(got, " example.com/m/a") {
		t.Errorf("json command %q", got)
	}
	if !strings.Contains(strings.Join(j.Env, " "), "GOFLAGS") {
		t.Errorf("a Go test job is not keyed by GOFLAGS: env %q", j.Env)
	}
	for _, tc := range []struct {
		job  Job
		want string
	}{
		{Job{ID: "t", GoTest: &GoTest{Packages: []string{"./..."}, Flags: []string{"-json"}}}, "changes what go test prints"},
		{Job{ID: "t", GoTest: &GoTest{Packages: []string{"./..."}, Flags: []string{"race"}}}, "is not a go test flag"},
		{Job{ID: "t", GoTest: &GoTest{}}, "names no package"},
		{Job{ID: "t", Run: "go test -v ./...", GoTest: &GoTest{Packages: []string{"./..."}}}, "keep one"},
		{Job{ID: "t", GoTest: &GoTest{Packages: []string{"./..."}}, Outputs: []string{"cover.out"}}, "outputs"},
		{Job{ID: "t", Run: "x", GoInputs: []GoInput{{Packages: []string{"-toolexec=x"}}}}, "not a package pattern"},
		{Job{ID: "t", Run: "x", GoInputs: []GoInput{{Packages: []string{"."}, Dir: "../up"}}}, "inside the project"},
	} {
		if _, err := New("p", []Job{tc.job}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error about %q", tc.job, err, tc.want)
		}
	}
}
