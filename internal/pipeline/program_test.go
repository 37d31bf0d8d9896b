package pipeline

import (
	"strings"
	"testing"

	sw "github.com/sparkwing-dev/sparkwing/sparkwing"
)

// An image export declared in Go is checked as the project file's is, and
// its directory becomes the job's output.
func TestImageExportFromGo(t *testing.T) {
	jobs, err := (&Program{}).jobs("p", nil, []sw.WireJob{{ID: "sup", Image: &sw.ImageSpec{
		Export: &sw.ImageExport{Target: "out", To: "dist/sup/"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if im := jobs[0].Image; im.Target != "out" || im.Export != "dist/sup/" || len(jobs[0].Outputs) != 1 || jobs[0].Outputs[0] != "dist/sup" {
		t.Errorf("job = %+v, image %+v", jobs[0], im)
	}
	for spec, want := range map[*sw.ImageSpec]string{
		{Export: &sw.ImageExport{To: ""}}:                                           "export needs To",
		{Target: "a", Export: &sw.ImageExport{Target: "b", To: "d"}}:                `export target "b" and image target "a" differ`,
		{Export: &sw.ImageExport{To: "../d"}}:                                       `export.to "../d" is outside the project`,
		{Push: map[string][]string{"l": {"r:1"}}, Export: &sw.ImageExport{To: "d"}}: "export writes files, not an image",
	} {
		_, err := (&Program{}).jobs("p", nil, []sw.WireJob{{ID: "sup", Image: spec}})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: err = %v, want %q", spec, err, want)
		}
	}
}
