package plan

import (
	"fmt"
	"path"
	"strings"
)

// Rules for the paths a job declares, checked before anything runs:
//
//   - An output never lies under .sparkwing/ or .git/ (a restore or its
//     sweep would rewrite the project file or the run records).
//   - An output never overlaps the job's own inputs: the key would leave
//     out the very files a hit restores, so an edit to them would be
//     undone by the next run. A job that rewrites its inputs in place (a
//     formatter) declares no outputs; an input glob that covers generated
//     files excludes them with a `!glob` entry.
//   - No two jobs declare outputs that can match one path: the one stored
//     last would hold the other's bytes.
//
// An output without wildcards names a file, or a directory and everything
// below it; for the overlap with inputs it is taken as the file it usually
// is, and files below an output directory are simply never inputs.

// SplitInputs separates a job's input globs from its `!` exclusions.
func SplitInputs(inputs []string) (include, exclude []string) {
	for _, g := range inputs {
		if strings.HasPrefix(g, "!") {
			exclude = append(exclude, g[1:])
		} else {
			include = append(include, g)
		}
	}
	return include, exclude
}

// reserved are the top-level directories no output may reach.
var reserved = []string{".sparkwing", ".git"}

func checkPaths(j Job) error {
	include, exclude := SplitInputs(j.Inputs)
	for _, o := range written(j) {
		base := LiteralBase(o)
		for _, r := range reserved {
			if base == r || strings.HasPrefix(base, r+"/") {
				return &JobError{Job: j.ID, Output: o, Msg: fmt.Sprintf("declares output %q under %s/, which sparkwing owns: outputs never go there", o, r)}
			}
		}
		for _, in := range include {
			if Overlap(in, o, true, false) && !covered(exclude, o) {
				return &JobError{Job: j.ID, Output: o, Msg: fmt.Sprintf(
					"has output %q overlapping its input %q: a hit would restore old copies over your edits. "+
						"Exclude the outputs from the inputs (add %q to inputs), or, for a job that rewrites its inputs in place, drop its outputs",
					o, in, "!"+exclusionFor(o))}
			}
		}
	}
	return nil
}

func covered(excludes []string, glob string) bool {
	for _, e := range excludes {
		if Covers(e, glob) {
			return true
		}
	}
	return false
}

// exclusionFor suggests an exclusion that Covers recognises for glob.
func exclusionFor(glob string) string {
	if base := LiteralBase(glob); base != "" && base != path.Clean(glob) {
		return base + "/**"
	}
	return glob
}

// written is what j writes into the project: its outputs, and for an
// image job the directories of its local cache exports, which BuildKit
// fills.
func written(j Job) []string {
	out := j.Outputs
	if j.Image != nil {
		for _, c := range j.Image.CacheTo {
			if d := c.Attrs["dest"]; c.Type == "local" && d != "" {
				out = append(out[:len(out):len(out)], path.Clean(d))
			}
		}
	}
	return out
}

// output is one output glob of one job, for the overlap check between jobs.
type output struct {
	job        int // index in the plan
	glob, base string
}

// checkSharedOutputs finds two jobs whose outputs can match one path, and
// reports it on the one declared later. Two globs can only meet if the
// fixed part of one is a prefix of the other's, so each glob is compared
// with those whose fixed part is one of its own prefixes, not with every
// other glob.
func checkSharedOutputs(jobs []Job) error {
	byBase := map[string][]output{}
	var all []output
	for i, j := range jobs {
		for _, g := range written(j) {
			o := output{job: i, glob: g, base: LiteralBase(g)}
			byBase[o.base] = append(byBase[o.base], o)
			all = append(all, o)
		}
	}
	for _, o := range all {
		for _, prefix := range prefixes(o.base) {
			for _, other := range byBase[prefix] {
				if other.job == o.job || !Overlap(other.glob, o.glob, true, true) {
					continue
				}
				first, later := other, o
				if first.job > later.job {
					first, later = later, first
				}
				return &JobError{Job: jobs[later.job].ID, Output: later.glob, Msg: fmt.Sprintf(
					"declares output %q, which job %q also declares (as %q): each job's entry would hold the other's files. Give each file one job",
					later.glob, jobs[first.job].ID, first.glob)}
			}
		}
	}
	return nil
}

// prefixes returns "", then each leading part of a slash path, ending with p.
func prefixes(p string) []string {
	out := []string{""}
	if p == "" {
		return out
	}
	parts := strings.Split(p, "/")
	for i := range parts {
		out = append(out, strings.Join(parts[:i+1], "/"))
	}
	return out
}
