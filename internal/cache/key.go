// Package cache stores job results by the content of everything that
// can change them, and restores them instead of running the job again.
//
// The invariant, as in esbuild's cache: an entry is immutable and depends
// only on what is in its key. A job's key is the SHA-256 of its manifest, a
// canonical, line-per-input text built by exactly one function, Manifest.
// Any new influence on a job's result must go through it. The manifest is
// stored with the entry so `sparkwing why` can name the input that changed.
//
// Writes follow the Go build cache and bazel-remote: blobs are written to a
// unique temporary file, hashed while written, synced and renamed into
// place before the entry that names them is published the same way. A kill
// at any instant leaves either no entry or a whole one; an entry or blob
// that fails verification is a miss with a warning, and is removed.
package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/sparkwing-dev/sparkwing/internal/fileset"
	"github.com/sparkwing-dev/sparkwing/internal/plan"
)

// Key identifies a job's result: the SHA-256 of its manifest.
type Key [32]byte

func (k Key) String() string { return "sha256:" + hex.EncodeToString(k[:]) }

// Hex is the key without its prefix, for file names.
func (k Key) Hex() string { return hex.EncodeToString(k[:]) }

// ParseKey reads a key written by String.
func ParseKey(s string) (Key, error) {
	var k Key
	b, err := hex.DecodeString(strings.TrimPrefix(s, "sha256:"))
	if err != nil || len(b) != len(k) {
		return k, fmt.Errorf("bad cache key %q", s)
	}
	copy(k[:], b)
	return k, nil
}

// Inputs is what the engine resolved for one job, besides the job itself.
type Inputs struct {
	Platform string                      // GOOS/GOARCH of this machine
	Files    []fileset.File              // the declared input files, hashed
	Env      func(string) (string, bool) // the caller's environment
	Tools    map[string]fileset.Digest   // tool command → digest of its output
	Needs    map[string]fileset.Digest   // needed job → digest of its outputs
	Go       []string                    // lines of its `go:` inputs: toolchain, go env, modules (goinput)
}

const manifestHeader = "sparkwing manifest v1"

// Manifest returns the canonical text whose SHA-256 is j's key: one line
// per influence, each section sorted. Values of env variables appear only
// as digests. Passthrough variables, timeouts, retries and descriptions do
// not change what a job produces, so they are not here. The job's id is
// not either: two jobs doing the same work share a result.
func Manifest(j plan.Job, in Inputs) string {
	var lines []string
	add := func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	add("%s", manifestHeader)
	add("platform %s", in.Platform)
	if j.Step != nil {
		add("step %s %s", q(j.Step.Pipeline), q(j.ID))
		add("args %s", q(strings.Join(j.Step.Args, "\x00")))
		add("pipeline-source %s", j.Step.Digest)
	} else {
		add("run %s", q(j.Run))
	}
	for _, o := range sorted(j.Outputs) {
		add("output %s", q(o))
	}
	for _, name := range hashedEnv(j) {
		add("env %s %s", q(name), envDigest(in.Env, name))
	}
	for _, t := range sorted(j.Tools) {
		add("tool %s %s", q(t), in.Tools[t])
	}
	for _, n := range sorted(j.Needs) {
		add("need %s %s", q(n), in.Needs[n])
	}
	lines = append(lines, slices.Compact(sorted(in.Go))...)
	// The files are most of a manifest: their lines are appended directly.
	files := in.Files
	byPath := func(a, b fileset.File) int { return strings.Compare(a.Path, b.Path) }
	if !slices.IsSortedFunc(files, byPath) {
		files = slices.SortedFunc(slices.Values(files), byPath)
	}
	var b strings.Builder
	size := len(lines)
	for _, l := range lines {
		size += len(l)
	}
	for _, f := range files {
		size += len(f.Path) + 2*len(f.Digest) + 24
	}
	b.Grow(size)
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	var scratch []byte
	var digest [2 * len(fileset.Digest{})]byte
	for _, f := range files {
		scratch = append(strconv.AppendQuote(append(scratch[:0], "file "...), f.Path), ' ')
		scratch = append(strconv.AppendUint(scratch, uint64(uint32(f.Mode)), 8), ' ')
		hex.Encode(digest[:], f.Digest[:])
		b.Write(scratch)
		b.Write(digest[:])
		b.WriteByte('\n')
	}
	return b.String()
}

// KeyOf hashes a manifest, printing each line to debug (if not nil) as it
// goes, like GODEBUG=gocachehash=1 does for the go command.
func KeyOf(manifest string, debug io.Writer, job string) Key {
	if debug != nil {
		for _, line := range strings.SplitAfter(strings.TrimSuffix(manifest, "\n"), "\n") {
			fmt.Fprintf(debug, "sparkwing key %s: %s\n", job, strings.TrimSuffix(line, "\n"))
		}
	}
	return sha256.Sum256([]byte(manifest))
}

// hashedBase are the variables every job sees (job.BaseEnv) whose value
// changes what a job makes: the locale changes sorting, character counts
// and messages. PATH, HOME and TMPDIR say where programs and files are;
// they differ between machines that should share results, so they are
// visible but not hashed (declare `tools:` for a program's version, and
// `env:` for anything else a job reads).
var hashedBase = []string{"LANG"}

// hashedEnv is every variable of j whose value is in its key, sorted.
func hashedEnv(j plan.Job) []string {
	names := sorted(append(append([]string{}, j.Env...), hashedBase...))
	return slices.Compact(names)
}

func envDigest(lookup func(string) (string, bool), name string) string {
	v, ok := lookup(name)
	if !ok {
		return "unset"
	}
	d := sha256.Sum256([]byte(v))
	return hex.EncodeToString(d[:])
}

func q(s string) string { return strconv.Quote(s) }

func sorted(xs []string) []string {
	out := append([]string(nil), xs...)
	sort.Strings(out)
	return out
}
