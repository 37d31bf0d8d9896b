package dockerfile

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
)

// maxDockerfile bounds a Dockerfile the doctor reads.
const maxDockerfile = 16 << 20

// Main is `sparkwing doctor` inside sparkwing-image (BuildKit's parser,
// which the doctor reads Dockerfiles with, stays out of sparkwing's own
// start-up): `doctor [--json] [--fix] PATH...` and `explain [RULE]`. Exit
// status as `sparkwing doctor dockerfile --help` says: 0 no findings of
// severity warning, 1 some, 2 a file could not be read or parsed (or bad
// arguments).
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "explain" {
		return explain(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print findings as JSON")
	fix := fs.Bool("fix", false, "apply the mechanical fixes and print the diff")
	if len(args) == 0 || args[0] != "doctor" || fs.Parse(args[1:]) != nil {
		fmt.Fprintln(stderr, "usage: doctor [--json] [--fix] PATH... | explain [RULE] (sparkwing doctor runs this)")
		return 2
	}
	return doctor(stdout, stderr, fs.Args(), *asJSON, *fix)
}

func doctor(stdout, stderr io.Writer, paths []string, asJSON, fix bool) int {
	var all []Finding
	var unreadable []string
	var files []*File
	var dirs []string
	for _, p := range paths {
		data, err := fileset.ReadUserFile(p, maxDockerfile)
		if err != nil {
			unreadable = append(unreadable, err.Error())
			continue
		}
		f, err := Parse(p, data)
		if err != nil {
			unreadable = append(unreadable, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		findings := Check(f, &Context{Dir: filepath.Dir(p)})
		// One fix can make another possible (a cache mount needs the
		// # syntax= line): fix until nothing more can be, in one command.
		for pass := 0; fix && pass < 3; pass++ {
			text, diff, n := Fix(f, findings)
			if n == 0 {
				break
			}
			if err := writeAtomic(p, []byte(text)); err != nil {
				fmt.Fprintf(stderr, "sparkwing: %v\n", err)
				return 1
			}
			fmt.Fprint(stdout, diff)
			// What is left is what the fixes did not cover.
			if f, err = Parse(p, []byte(text)); err != nil {
				break
			}
			findings = Check(f, &Context{Dir: filepath.Dir(p)})
		}
		all = append(all, findings...)
		files, dirs = append(files, f), append(dirs, filepath.Dir(p))
	}
	all = append(all, CheckProject(files, dirs)...)
	if asJSON {
		if all == nil {
			all = []Finding{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(all); err != nil {
			fmt.Fprintf(stderr, "sparkwing: %v\n", err)
			return 1
		}
	} else {
		Print(stdout, all)
	}
	if len(unreadable) > 0 {
		fmt.Fprintf(stderr, "sparkwing: %s\n", strings.Join(unreadable, "\n"))
		return 2
	}
	for _, fd := range all {
		if fd.Severity >= Warning {
			return 1
		}
	}
	if len(paths) == 0 && !asJSON {
		fmt.Fprintln(stdout, "no Dockerfiles found")
	}
	return 0
}

func explain(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		for _, r := range Rules {
			fmt.Fprintf(stdout, "%-18s %-8s %s\n", r.ID, r.Severity, r.Title)
		}
		return 0
	case len(args) > 1:
		fmt.Fprintln(stderr, "sparkwing: explain takes at most one RULE")
		return 2
	}
	r := Lookup(args[0])
	if r == nil {
		fmt.Fprintf(stderr, "sparkwing: no rule %q: 'sparkwing doctor explain' lists them\n", args[0])
		return 2
	}
	fmt.Fprintf(stdout, "%s (%s): %s\n\n%s\n", r.ID, r.Severity, r.Title, wrap(r.Explain, 76))
	return 0
}

// BeforeBuild is what an image job warns of before it builds: the
// findings of severity warning or more in the Dockerfile at path, named
// display in messages, with build context ctxDir. A Dockerfile it cannot
// read or parse gives none: the build reports that.
func BeforeBuild(path, display, ctxDir string) []Finding {
	data, err := fileset.ReadUserFile(path, maxDockerfile)
	if err != nil {
		return nil
	}
	f, err := Parse(display, data)
	if err != nil {
		return nil
	}
	var out []Finding
	for _, fd := range Check(f, &Context{Dir: ctxDir}) {
		if fd.Severity >= Warning {
			out = append(out, fd)
		}
	}
	return out
}

func writeAtomic(path string, data []byte) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp := path + ".sparkwing-fix"
	if err := os.WriteFile(tmp, data, st.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for _, w := range strings.Fields(s) {
		if n > 0 && n+1+len(w) > width {
			b.WriteString("\n")
			n = 0
		} else if n > 0 {
			b.WriteString(" ")
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}
