package image

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// StageNames lists the names a Dockerfile gives its stages (FROM … AS
// NAME), lower-cased as BuildKit compares them. It reads lines, not the
// full grammar: enough to check a target before a build, which reports
// anything subtler itself.
func StageNames(content []byte) []string {
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(content))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 4 && strings.EqualFold(f[0], "FROM") && strings.EqualFold(f[len(f)-2], "AS") {
			names = append(names, strings.ToLower(f[len(f)-1]))
		}
	}
	return names
}

// TargetError is an image job's target that its Dockerfile has no stage
// of: a setup error, found before anything runs.
type TargetError struct {
	Job, Dockerfile, Target string
	Stages                  []string
}

func (e *TargetError) Error() string {
	return fmt.Sprintf("job %s: target %q is not a stage of %s", e.Job, e.Target, e.Dockerfile)
}

// Hint names the stage meant, or the stages there are.
func (e *TargetError) Hint() string {
	if len(e.Stages) == 0 {
		return fmt.Sprintf("%s names no stage: add `AS %s` to the FROM line of the stage to build", e.Dockerfile, e.Target)
	}
	if s := plan.Closest(e.Target, e.Stages); s != "" {
		return fmt.Sprintf("did you mean %q? (set the target to a stage of the Dockerfile, FROM … AS NAME)", s)
	}
	return "set the target to a stage of the Dockerfile: " + strings.Join(e.Stages, ", ")
}
