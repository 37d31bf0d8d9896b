package dockerfile

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// want reads the expectations a corpus file carries in comments:
// `# want: RULE` expects RULE at the next instruction's first line, and
// `# want: RULE@N` at line N.
func want(t *testing.T, data []byte) []string {
	t.Helper()
	re := regexp.MustCompile(`^#\s*want:\s*([a-z-]+)(?:@(\d+))?\s*$`)
	lines := strings.Split(string(data), "\n")
	var out []string
	var pending []string
	for i, l := range lines {
		if m := re.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			if m[2] != "" {
				out = append(out, m[1]+"@"+m[2])
			} else {
				pending = append(pending, m[1])
			}
			continue
		}
		if strings.TrimSpace(l) == "" || strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		for _, r := range pending {
			out = append(out, fmt.Sprintf("%s@%d", r, i+1))
		}
		pending = nil
	}
	sort.Strings(out)
	return out
}

// TestCorpus runs every rule on every corpus file: files that must trigger
// a rule say where, near misses say nothing. It reports precision and
// recall over the corpus; both must be 100%, and a finding nobody wanted
// (a precision miss) is the worse failure.
func TestCorpus(t *testing.T) {
	files, _ := filepath.Glob("testdata/corpus/*.Dockerfile")
	if len(files) < 10 {
		t.Fatalf("only %d corpus files", len(files))
	}
	var tp, fp, fn int
	perRule := map[string][2]int{} // rule -> {triggers, near-miss files}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := Parse(filepath.Base(path), data)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		findings := Check(f, nil)
		var got []string
		for _, fd := range findings {
			got = append(got, fmt.Sprintf("%s@%d", fd.Rule, fd.Line))
		}
		sort.Strings(got)
		wanted := want(t, data)
		for _, g := range got {
			if i := sort.SearchStrings(wanted, g); i < len(wanted) && wanted[i] == g {
				tp++
			} else {
				fp++
				t.Errorf("%s: unexpected finding %s", path, g)
			}
		}
		for _, w := range wanted {
			if i := sort.SearchStrings(got, w); i < len(got) && got[i] == w {
				continue
			}
			fn++
			t.Errorf("%s: missed %s", path, w)
		}
		for _, w := range wanted {
			c := perRule[strings.Split(w, "@")[0]]
			c[0]++
			perRule[strings.Split(w, "@")[0]] = c
		}
		checkGolden(t, path, findings)
	}
	precision := float64(tp) / float64(max(tp+fp, 1))
	recall := float64(tp) / float64(max(tp+fn, 1))
	t.Logf("corpus: %d files, %d expected findings; precision %.0f%%, recall %.0f%%", len(files), tp+fn, 100*precision, 100*recall)
	for _, r := range Rules {
		if r.ID != "dockerignore" && perRule[r.ID][0] == 0 {
			t.Errorf("rule %s has no triggering file in the corpus", r.ID)
		}
	}
}

func checkGolden(t *testing.T, path string, findings []Finding) {
	t.Helper()
	var b bytes.Buffer
	Print(&b, findings)
	golden := filepath.Join("testdata", "golden", strings.TrimSuffix(filepath.Base(path), ".Dockerfile")+".txt")
	if *update {
		os.MkdirAll(filepath.Dir(golden), 0o755)
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	wantOut, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(wantOut, b.Bytes()) {
		t.Errorf("%s: output differs from %s (go test -update rewrites it):\n%s", path, golden, b.String())
	}
}

func TestDockerignore(t *testing.T) {
	dir := t.TempDir()
	df := []byte("FROM alpine\nWORKDIR /app\nCOPY . .\n")
	f, _ := Parse(filepath.Join(dir, "Dockerfile"), df)
	if got := Check(f, &Context{Dir: dir}); len(got) != 0 {
		t.Fatalf("an empty context gave %v", got)
	}
	os.MkdirAll(filepath.Join(dir, ".git"), 0o755)
	os.MkdirAll(filepath.Join(dir, "node_modules"), 0o755)
	got := Check(f, &Context{Dir: dir})
	if len(got) != 1 || got[0].Rule != "dockerignore" || got[0].Line != 3 || !strings.Contains(got[0].Fix, ".git\nnode_modules") {
		t.Fatalf("findings %+v, want one dockerignore finding at line 3 listing .git and node_modules", got)
	}
	onlyNamed, _ := Parse(filepath.Join(dir, "Dockerfile"), []byte("FROM alpine\nCOPY app /app\n"))
	if got := Check(onlyNamed, &Context{Dir: dir}); len(got) != 0 {
		t.Errorf("a Dockerfile that copies named paths only gave %v (BuildKit sends only those)", got)
	}
	os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte(".git\n"), 0o644)
	if got := Check(f, &Context{Dir: dir}); len(got) != 0 {
		t.Errorf("with a .dockerignore: %v", got)
	}
}

func TestFix(t *testing.T) {
	src := "FROM golang:1.22\nWORKDIR /src\nCOPY . .\nRUN go build \\\n    -o /app .\nFROM scratch\nCOPY --from=0 /app /app\n"
	f, err := Parse("Dockerfile", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	// One pass adds the mounts and the syntax line they need; a second
	// finds nothing more to do.
	text, diff, n := Fix(f, Check(f, nil))
	f2, _ := Parse("Dockerfile", []byte(text))
	if _, _, n2 := Fix(f2, Check(f2, nil)); n != 2 || n2 != 0 {
		t.Errorf("applied %d then %d fixes, want 2 and 0", n, n2)
	}
	want := "# syntax=docker/dockerfile:1\nFROM golang:1.22\nWORKDIR /src\nCOPY . .\n" +
		"RUN --mount=type=cache,target=/root/.cache/go-build --mount=type=cache,target=/go/pkg/mod go build \\\n    -o /app .\n" +
		"FROM scratch\nCOPY --from=0 /app /app\n"
	if text != want {
		t.Fatalf("fixed text:\n%s\nwant:\n%s\ndiff:\n%s", text, want, diff)
	}
	f3, _ := Parse("Dockerfile", []byte(text))
	if left := Check(f3, nil); len(left) != 0 {
		t.Errorf("after --fix, still: %+v", left)
	}
	if !strings.Contains(diff, "@@ -1,0 +1,1 @@\n+# syntax=docker/dockerfile:1\n") || !strings.Contains(diff, "@@ -4,1 +5,1 @@\n-RUN go build \\\n+RUN --mount=type=cache") {
		t.Errorf("diff:\n%s", diff)
	}
}

func FuzzDoctor(f *testing.F) {
	files, _ := filepath.Glob("testdata/corpus/*.Dockerfile")
	for _, p := range files {
		data, _ := os.ReadFile(p)
		f.Add(data)
	}
	f.Add([]byte("FROM a\nRUN <<EOF\nx\n"))
	f.Add([]byte("# escape=`\nFROM a\nRUN a `\n b"))
	f.Fuzz(func(t *testing.T, data []byte) {
		df, err := Parse("Dockerfile", data)
		if err != nil {
			return
		}
		findings := Check(df, nil)
		text, _, _ := Fix(df, findings)
		if _, err := Parse("Dockerfile", []byte(text)); err != nil {
			t.Fatalf("--fix turned a valid file into an invalid one: %v\n%q\n%q", err, data, text)
		}
	})
}

// BenchmarkLarge: a 500-line Dockerfile of many stages.
func BenchmarkLarge(b *testing.B) {
	var src strings.Builder
	for i := 0; len(strings.Split(src.String(), "\n")) < 500; i++ {
		fmt.Fprintf(&src, "FROM golang:1.22 AS s%d\nARG VERSION\nWORKDIR /src\nCOPY go.mod go.sum ./\nRUN go mod download\nCOPY . .\n"+
			"RUN apt-get update && apt-get install -y git \\\n  && rm -rf /var/lib/apt/lists/*\nRUN go build -ldflags \"-X main.v=$VERSION\" -o /out/s%d ./cmd/s%d\n\n", i, i, i)
	}
	data := []byte(src.String())
	b.ReportAllocs()
	for b.Loop() {
		f, err := Parse("Dockerfile", data)
		if err != nil {
			b.Fatal(err)
		}
		Check(f, nil)
	}
}

// TestFixCorpus: one --fix pass over every corpus file leaves a file that
// parses, has nothing more the fixer could fix, and means the same build:
// the same instructions with the same arguments, only RUN flags added.
func TestFixCorpus(t *testing.T) {
	files, _ := filepath.Glob("testdata/corpus/*.Dockerfile")
	for _, path := range files {
		data, _ := os.ReadFile(path)
		f, err := Parse(path, data)
		if err != nil {
			t.Fatal(err)
		}
		checkFix(t, path, f)
	}
}

// checkFix applies every fix to f in one pass and checks the result:
// it parses with BuildKit's parser, the doctor finds nothing more it
// could fix, and the build is the same (the instructions with their
// arguments and flags, cache mounts aside). It returns how many fixes
// were applied.
func checkFix(t *testing.T, name string, f *File) int {
	t.Helper()
	text, _, applied := Fix(f, Check(f, nil))
	fixed, err := Parse(name, []byte(text))
	if err != nil {
		t.Errorf("%s: the fixed file does not parse: %v", name, err)
		return applied
	}
	for _, fd := range Check(fixed, nil) {
		if fd.edit != nil {
			t.Errorf("%s: after one pass, still fixable: %s at line %d", name, fd.Rule, fd.Line)
		}
	}
	if before, after := instructions(f), instructions(fixed); before != after {
		t.Errorf("%s: the fix changed the build:\n%s\nbecame\n%s", name, before, after)
	}
	return applied
}

// instructions lists a file's instructions with their arguments and the
// flags other than RUN's --mount.
func instructions(f *File) string {
	var b strings.Builder
	for _, s := range f.Stages {
		fmt.Fprintf(&b, "FROM %s\n", s.Base)
		for _, in := range s.Instrs {
			var flags []string
			for _, fl := range in.Flags {
				if !strings.HasPrefix(fl, "--mount=type=cache") {
					flags = append(flags, fl)
				}
			}
			fmt.Fprintf(&b, "%s %q %q\n", in.Cmd, flags, in.Args)
		}
	}
	return b.String()
}

// A Go module that requires nothing has no module cache to mount or to
// download first; with requirements, both findings come back.
func TestGoModuleWithoutRequirements(t *testing.T) {
	dir := t.TempDir()
	df := []byte("# syntax=docker/dockerfile:1\nFROM golang:1.23\nWORKDIR /src\nCOPY . .\n" +
		"RUN --mount=type=cache,target=/root/.cache/go-build go build -o /out/app .\n")
	f, _ := Parse(filepath.Join(dir, "Dockerfile"), df)
	os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte(".git\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/app\n\ngo 1.23\n"), 0o644)
	if got := Check(f, &Context{Dir: dir}); slices.ContainsFunc(got, func(fd Finding) bool { return fd.Rule != "toolchain-final" }) {
		t.Errorf("a module with no requirements: %+v", got)
	}
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/app\n\ngo 1.23\n\nrequire golang.org/x/sync v0.10.0\n"), 0o644)
	var rules []string
	for _, fd := range Check(f, &Context{Dir: dir}) {
		rules = append(rules, fd.Rule)
	}
	if got := strings.Join(rules, ","); got != "toolchain-final,cache-mount,copy-before-deps" {
		t.Errorf("a module with requirements: %s", got)
	}
}

// Two Dockerfiles built from one directory that install the same
// dependencies from the same manifests are reported once, on the second;
// from different directories (other manifests) or with other manifests
// copied, they are not.
func TestCheckProjectDuplicateDeps(t *testing.T) {
	parse := func(name, text string) *File {
		f, err := Parse(name, []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	gateway := "FROM rust:1.80 AS build\nWORKDIR /src\nCOPY Cargo.toml Cargo.lock ./\nRUN cargo fetch\nCOPY crates/gateway crates/gateway\nRUN cargo build -p gateway\n"
	sandbox := "FROM rust:1.80\nWORKDIR /src\nCOPY Cargo.toml Cargo.lock ./\nRUN cargo fetch\nCOPY crates/sandbox crates/sandbox\nRUN cargo build -p sandbox\n"
	other := strings.Replace(sandbox, "COPY Cargo.toml Cargo.lock ./", "COPY sandbox/Cargo.toml sandbox/Cargo.lock ./", 1)
	files := []*File{parse("gateway.Dockerfile", gateway), parse("sandbox.Dockerfile", sandbox)}

	got := CheckProject(files, []string{".", "."})
	if len(got) != 1 || got[0].Path != "sandbox.Dockerfile" || got[0].Line != 4 || got[0].Rule != "duplicate-deps" ||
		!strings.Contains(got[0].Message, "as stage build of gateway.Dockerfile (line 4)") {
		t.Fatalf("findings = %+v", got)
	}
	if got := CheckProject(files, []string{"a", "b"}); len(got) != 0 {
		t.Errorf("other build contexts: %+v", got)
	}
	if got := CheckProject([]*File{files[0], parse("other.Dockerfile", other)}, []string{".", "."}); len(got) != 0 {
		t.Errorf("other manifests: %+v", got)
	}
}
