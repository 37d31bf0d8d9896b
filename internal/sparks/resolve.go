package sparks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
)

// Spec is a spark as the project file names it.
type Spec struct {
	Name       string
	Module     string // its module path: what pipelines import
	Constraint string // its `version:`
	Where      string // file:line:col of the entry, for messages
}

// Spark is a resolved spark: a version of its module, or a local
// directory (or other module) that replaces it.
type Spark struct {
	Spec
	Version string    // resolved; "" when replaced
	Checked time.Time // when the version was last asked for
	Stale   bool      // asking failed: Version is the last one found
	// Replaced says where a replacement comes from ("go.work at PATH",
	// "replace in .sparkwing/go.mod"); Dir is its directory, if local.
	Replaced, Dir string
}

// DefaultRefresh is how long a resolved latest or range is used before
// the proxy is asked again.
const DefaultRefresh = 10 * time.Minute

// Resolver resolves sparks through the go command, remembering what it
// found in a file shared by every project of the user.
type Resolver struct {
	Go      string           // the go command
	Environ []string         // its environment (GOPROXY, GOFLAGS, GOWORK, …)
	State   string           // the file of past resolutions
	Refresh time.Duration    // DefaultRefresh when 0
	Now     func() time.Time // time.Now when nil
	// Update, if set, says which sparks to ask for now, whenever they
	// were last asked (sparkwing pipeline sparks update).
	Update func(Spec) bool
	// Warn reports a spark used at its last version because asking failed.
	Warn func(msg string)
}

// Error is a spark that cannot be resolved: a configuration error.
type Error struct {
	Where, Msg string
}

func (e *Error) Error() string { return e.Where + ": " + e.Msg }

// record is what the state file keeps per module and constraint.
type record struct {
	Version string    `json:"version"`
	Checked time.Time `json:"checked"`
}

// Resolve returns the sparks of the pipeline module in moduleDir: those a
// go.work or a replace directive points elsewhere as that, the others at
// the version their constraint picks, asked of the proxy only when the
// last answer is older than Refresh.
func (r *Resolver) Resolve(ctx context.Context, moduleDir string, specs []Spec) ([]Spark, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	locals, err := replacements(moduleDir, r.getenv("GOWORK"))
	if err != nil {
		return nil, err
	}
	state, _ := r.load()
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	refresh := r.Refresh
	if refresh <= 0 {
		refresh = DefaultRefresh
	}
	var out []Spark
	found := map[string]record{}
	for _, spec := range specs {
		s := Spark{Spec: spec}
		if l, ok := locals[spec.Module]; ok {
			s.Replaced, s.Dir = l.via, l.dir
			out = append(out, s)
			continue
		}
		c, err := ParseConstraint(spec.Constraint)
		if err != nil {
			return nil, &Error{Where: spec.Where, Msg: err.Error()}
		}
		key := spec.Module + "@" + c.Raw
		last, known := state[key]
		fresh := known && (c.Exact() || now.Sub(last.Checked) < refresh) && (r.Update == nil || !r.Update(spec))
		if fresh {
			s.Version, s.Checked = last.Version, last.Checked
			out = append(out, s)
			continue
		}
		v, err := r.ask(ctx, spec.Module, c)
		switch {
		case err == nil:
			s.Version, s.Checked = v, now
			found[key] = record{Version: v, Checked: now}
		case known && !isNoMatch(err):
			s.Version, s.Checked, s.Stale = last.Version, last.Checked, true
			if r.Warn != nil {
				r.Warn(fmt.Sprintf("spark %s: could not check for a newer %s (%v); using %s, found %s ago",
					spec.Name, spec.Module, firstLine(err), last.Version, now.Sub(last.Checked).Round(time.Second)))
			}
		default:
			return nil, &Error{Where: spec.Where, Msg: fmt.Sprintf("spark %s: cannot resolve %s at %q: %v (GOPROXY=%s)",
				spec.Name, spec.Module, c.Raw, firstLine(err), r.goproxy())}
		}
		out = append(out, s)
	}
	if len(found) > 0 {
		if err := r.save(found); err != nil && r.Warn != nil {
			r.Warn(fmt.Sprintf("could not remember the sparks' versions in %s: %v", r.State, err))
		}
	}
	return out, nil
}

// noMatch is a range that no published version satisfies.
type noMatch struct{ msg string }

func (e *noMatch) Error() string { return e.msg }

func isNoMatch(err error) bool {
	var nm *noMatch
	return errors.As(err, &nm)
}

// ask resolves module at c through `go list -m`.
func (r *Resolver) ask(ctx context.Context, module string, c Constraint) (string, error) {
	if q := c.Query(); q != "" {
		var m struct{ Version string }
		if err := r.goList(ctx, &m, module+"@"+q); err != nil {
			return "", err
		}
		return m.Version, nil
	}
	var m struct{ Versions []string }
	if err := r.goList(ctx, &m, "-versions", module); err != nil {
		return "", err
	}
	v := c.Pick(m.Versions)
	if v == "" {
		shown := "none"
		if len(m.Versions) > 0 {
			shown = strings.Join(m.Versions, ", ")
		}
		return "", &noMatch{fmt.Sprintf("no published version is in the range (published: %s)", shown)}
	}
	return v, nil
}

// goList runs `go list -m -json ARGS` outside any module (a temporary
// directory, no workspace), so only the query decides the answer.
func (r *Resolver) goList(ctx context.Context, into any, args ...string) error {
	dir, err := os.MkdirTemp("", "sparkwing-sparks-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cmd := exec.CommandContext(ctx, r.Go, append([]string{"list", "-m", "-json"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(append([]string{}, r.Environ...), "GOWORK=off", "GOFLAGS="+withoutModFlag(r.getenv("GOFLAGS")))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(stderr.String()), "go: "))
		if msg == "" {
			msg = err.Error()
		}
		return errors.New(msg)
	}
	return json.Unmarshal(stdout.Bytes(), into)
}

// withoutModFlag drops -mod=… from GOFLAGS: it is about the main
// module's go.mod, and the query runs outside any module.
func withoutModFlag(flags string) string {
	var keep []string
	for _, f := range strings.Fields(flags) {
		if !strings.HasPrefix(f, "-mod=") && !strings.HasPrefix(f, "--mod=") {
			keep = append(keep, f)
		}
	}
	return strings.Join(keep, " ")
}

func (r *Resolver) getenv(name string) string {
	for i := len(r.Environ) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(r.Environ[i], name+"="); ok {
			return v
		}
	}
	return ""
}

func (r *Resolver) goproxy() string {
	if v := r.getenv("GOPROXY"); v != "" {
		return v
	}
	return "the default, https://proxy.golang.org,direct"
}

func firstLine(err error) string {
	line, _, _ := strings.Cut(err.Error(), "\n")
	return line
}

// load reads the state file; a missing or damaged one is empty (the
// sparks are asked for again).
func (r *Resolver) load() (map[string]record, error) {
	state := map[string]record{}
	data, err := fileset.ReadRegular(r.State, 16<<20)
	if err != nil {
		return state, err
	}
	if err := json.Unmarshal(data, &state); err != nil {
		return map[string]record{}, err
	}
	return state, nil
}

// save merges found into the state file under an exclusive lock, so
// concurrent runs of several projects lose none of each other's
// answers, and writes it whole or not at all.
func (r *Resolver) save(found map[string]record) error {
	if err := os.MkdirAll(filepath.Dir(r.State), 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(r.State+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	state, _ := r.load()
	for k, v := range found {
		state[k] = v
	}
	data, err := json.MarshalIndent(state, "", "  ")
	if err != nil {
		return err
	}
	return fileset.WriteAtomic(r.State, append(data, '\n'), 0o644)
}
