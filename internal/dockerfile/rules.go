package dockerfile

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Severity orders findings; warnings and errors make the doctor exit 1.
type Severity int

const (
	Info Severity = iota
	Warning
)

func (s Severity) String() string { return [...]string{"info", "warning"}[s] }

// MarshalText makes a severity a word in JSON.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Finding is one mistake at one line.
type Finding struct {
	Path     string   `json:"path"`
	Line     int      `json:"line"`
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
	Fix      string   `json:"fix"` // the rewritten instruction or the lines to move
	edit     *edit    // a mechanical fix, if one is safe
}

// edit replaces lines [from, to] (1-based) with text; from > to inserts.
type edit struct {
	from, to int
	text     []string
}

// Rule is one check with the explanation `doctor explain` shows.
type Rule struct {
	ID       string
	Severity Severity // the usual severity; a finding may raise or lower it
	Title    string
	Explain  string
	check    func(f *File, ctx *Context) []Finding
}

// Context is what the rules may know beyond the file: the directory of
// the build context (for .dockerignore), "" if unknown.
type Context struct {
	Dir string
}

// Check runs every rule on f, findings sorted by line then rule.
func Check(f *File, ctx *Context) []Finding {
	var out []Finding
	for _, r := range Rules {
		for _, fd := range r.check(f, ctx) {
			fd.Path, fd.Rule = f.Path, r.ID
			out = append(out, fd)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Line != out[j].Line {
			return out[i].Line < out[j].Line
		}
		return out[i].Rule < out[j].Rule
	})
	return out
}

// Lookup returns the rule with the given ID.
func Lookup(id string) *Rule {
	for i := range Rules {
		if Rules[i].ID == id {
			return &Rules[i]
		}
	}
	return nil
}

// Rules are every check, in the order `doctor explain` lists them.
var Rules = []Rule{
	{ID: "cache-mount", Severity: Warning, Title: "toolchain step without a cache mount", check: checkCacheMounts,
		Explain: "A RUN that compiles or downloads dependencies (go build, cargo build, npm ci, pip install, mvn, gradle, apt-get install, apk add) " +
			"starts from an empty cache whenever its layer re-runs, so it downloads and compiles everything again. A BuildKit cache mount " +
			"(RUN --mount=type=cache,target=DIR) keeps the tool's cache between builds without putting it in the image: a Go compile step " +
			"measured 13 s without and 0.7 s with the build and module caches mounted. The mount must be where the tool keeps its cache " +
			"(/root/.cache/go-build and /go/pkg/mod for Go in the golang image, the Cargo registry, ~/.npm, ~/.cache/pip, ~/.m2, ~/.gradle, " +
			"/var/cache/apt and /var/lib/apt); a mount elsewhere counts as missing. It is a warning for the project's own dependency downloads " +
			"and builds, which re-run whenever the manifests or the sources change; an info for what re-runs only when its own line does " +
			"(a tool installed at a version, a build of what the same RUN clones, OS packages). --fix adds the mounts."},
	{ID: "copy-before-deps", Severity: Warning, Title: "whole source copied before the dependency download", check: checkCopyBeforeDeps,
		Explain: "Each layer's cache is valid only while every layer before it is. COPY . . before `go mod download`, `npm ci`, `pip install -r`, " +
			"`cargo fetch` or `mvn dependency:go-offline` makes any source edit re-run the download. Copy the manifests (go.mod and go.sum, " +
			"package.json and the lock file, requirements.txt, Cargo.toml and Cargo.lock, pom.xml) first, download, then copy the rest: the " +
			"download then re-runs only when the manifests change. The doctor suggests the lines; it never moves them itself."},
	{ID: "early-arg", Severity: Info, Title: "ARG declared before layers that do not use it", check: checkEarlyArgs,
		Explain: "Inside a stage, an ARG's value is in the environment of every RUN after it, so a new value re-runs all of them, whether they " +
			"use it or not. An ARG such as VERSION, COMMIT, GIT_SHA, BUILD_DATE or TAG changes on every build, so declared early it defeats " +
			"the cache of every layer below it (a warning; not with a default that names a fixed value such as RUSTUP_VERSION=1.28.1, " +
			"nor when the layers it re-runs only move files); others are info. Declare an ARG just before the first instruction that " +
			"uses it (a LABEL that names it moves down with it). Programs read some ARGs from their environment without naming them " +
			"(CGO_ENABLED, RUSTFLAGS, NODE_ENV, a bundler's VITE_*), so an ARG no instruction names is reported only when it changes " +
			"from build to build and a step that cannot read it (a package install, a download) runs before the first that might (a " +
			"script, make); the fix is always to declare it lower, never to remove it. An ARG after the source copy costs nothing more."},
	{ID: "syntax-directive", Severity: Warning, Title: "BuildKit-only syntax without a # syntax= line", check: checkSyntax,
		Explain: "RUN --mount, heredocs and COPY --link/--chmod need BuildKit's Dockerfile frontend. Without `# syntax=docker/dockerfile:1` on " +
			"the first line, the file depends on whichever frontend the builder has built in: an older one, or the legacy builder, fails or " +
			"ignores the flags. --fix adds the line."},
	{ID: "install-after-copy", Severity: Warning, Title: "constant install after the source copy", check: checkInstallAfterCopy,
		Explain: "A RUN that installs packages or downloads a pinned tool (apt-get install, apk add, curl of a URL, go install x@v1.2.3, " +
			"npm i -g, pip install name==version) depends on nothing in the source. Placed after COPY . ., it re-runs on every source edit " +
			"anyway. Moved above the copy, it stays cached until its own line changes: moving version-only downloads ahead of COPY . . " +
			"kept them cached across source edits."},
	{ID: "install-cleanup", Severity: Warning, Title: "package install that re-runs routinely without cleanup or cache", check: checkInstallCleanup,
		Explain: "apt-get install and apk add in a layer that re-runs often (after the source copy, or after a volatile ARG such as VERSION) " +
			"download every package each time, and without `rm -rf /var/lib/apt/lists/*` or `apk add --no-cache` they leave the package " +
			"lists in the image. Clean up in the same RUN (or use cache mounts for /var/cache/apt and /var/lib/apt), and better, move the " +
			"install above what makes it re-run."},
	{ID: "toolchain-final", Severity: Warning, Title: "final image ships the build toolchain", check: checkToolchainFinal,
		Explain: "A final stage built on golang, rust, maven or gradle images that compiles in place ships the compiler, the caches and the " +
			"sources: hundreds of megabytes to push, pull and scan on every deploy. Build in a stage and COPY --from it only the output " +
			"into a small final stage (distroless, a slim base, or scratch for a static binary)."},
	{ID: "duplicate-deps", Severity: Warning, Title: "stages install the same dependencies separately", check: checkDuplicateDeps,
		Explain: "Two stages from the same base that run the same dependency install each download and keep their own copy, and both " +
			"re-run on every manifest change. Install once in a deps stage and start both stages FROM it; BuildKit then builds it once " +
			"and shares its cache."},
	{ID: "whole-source-part", Severity: Warning, Title: "targets copy the whole source to build one part each", check: checkWholeSourcePart,
		Explain: "When several stages of one Dockerfile each copy the whole source (COPY . .) and build a different part of it (go build " +
			"./cmd/api, cargo build -p api, npm run build -w api), an edit to any part re-runs every one of them, and sparkwing's " +
			"content tag of each target covers the whole context: every image gets a new tag, a build and a push. Copy into each " +
			"stage what its part reads (its directory and the shared code it uses; the manifests come from a shared deps stage), so an " +
			"edit to one part leaves the other targets' layers and tags alone. A single stage that builds one part is not reported: " +
			"there the whole source is often what the part imports."},
	{ID: "go-proxy", Severity: Warning, Title: "Go module downloads bypass the module proxy", check: checkGoProxy,
		Explain: "GOPROXY=direct (or a GOPRIVATE/GONOPROXY pattern that covers public hosts such as github.com) makes the go command " +
			"fetch every module from its origin with git, one repository at a time, instead of a zip from the module proxy: a Go build " +
			"set up this way took over an hour and timed out where the proxy took 84 s. Leave GOPROXY at its default " +
			"(https://proxy.golang.org,direct) or point it at your own proxy (GOPROXY=https://proxy.example.com,direct), and list only " +
			"your private module paths in GOPRIVATE. GOSUMDB=off also drops the checksum database's protection. A proxy URL you set " +
			"yourself is never flagged."},
	{ID: "dockerignore", Severity: Warning, Title: "build context without .dockerignore", check: checkDockerignore,
		Explain: "`COPY . .` sends the whole build context to the builder and into the layer. Without a .dockerignore, that includes .git, " +
			"node_modules and build outputs: more to send and hash, and a layer whose cache breaks on every commit or local build. Add a " +
			".dockerignore that leaves them out (the doctor assumes the context is the Dockerfile's directory)."},
}

// --- cache-mount ---

var volatileArg = regexp.MustCompile(`(?i)^(VERSION|.*_VERSION|COMMIT|.*_COMMIT|SHA|.*_SHA|REVISION|.*_REVISION|RELEASE|.*_RELEASE|BUILD_DATE|BUILD_TIME|DATE|TAG|.*_TAG|BUILD_ID|BUILD_NUMBER|LD_?FLAGS|GITHUB_REF.*|CI_COMMIT_.*)$`)

// placeholderDefault matches an ARG default that stands in for the value
// each build passes (VERSION=dev, GIT_COMMIT=HEAD, TAG=latest): any other
// default names one fixed thing (1.0.39, version_125, a digest), and the
// ARG changes only when the file does.
var placeholderDefault = regexp.MustCompile(`(?i)^(|latest|main|master|head|dev|devel|develop|development|nightly|snapshot|` +
	`unknown|unspecified|undefined|none|null|local|edge|stable|canary|current|dirty|unreleased|v?0\.0\.0.*|\$.*)$`)

// volatile reports whether an ARG declared as name with default def
// (hasDef when it has one) changes from build to build.
func volatile(name, def string, hasDef bool) bool {
	return volatileArg.MatchString(name) && !(hasDef && !placeholderDefault.MatchString(strings.Trim(def, `"'`)))
}

// toolchainVersion reports an ARG that the stage uses only to download a
// toolchain (curl …/golang/go${VERSION}.linux-amd64.tar.gz): a volatile
// name, but it is the compiler's version, which changes when the build
// is upgraded, not on every build.
func toolchainVersion(s *Stage, name string) bool {
	used := false
	for _, in := range s.Instrs {
		if in.Cmd != "RUN" || !refersTo(in.Text(), name) {
			continue
		}
		for _, words := range in.Commands() {
			for _, w := range words {
				if !refersTo(w, name) {
					continue
				}
				if !strings.Contains(w, "://") || !toolchainURL.MatchString(w) {
					return false
				}
				used = true
			}
		}
	}
	return used
}

// refersTo reports whether text expands variable name ($name or ${name}).
func refersTo(text, name string) bool {
	for i := strings.IndexByte(text, '$'); i >= 0; {
		rest := strings.TrimPrefix(text[i+1:], "{")
		if strings.HasPrefix(rest, name) && (len(rest) == len(name) || !isNameByte(rest[len(name)])) {
			return true
		}
		j := strings.IndexByte(text[i+1:], '$')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// toolchainURL matches where compilers and runtimes are downloaded from.
var toolchainURL = regexp.MustCompile(`(?i)(golang|go\.dev/dl|/go\$|nodejs\.org|/node-v|python\.org|rustup|static\.rust-lang|openjdk|adoptium|/jdk|maven\.apache|gradle\.org|cmake|protobuf/releases|ziglang)`)

// readFromEnv matches ARGs that programs read from their environment by
// themselves (compilers, make, package managers, bundlers): a RUN may use
// one without naming it, so nothing says which steps do not need it.
var readFromEnv = regexp.MustCompile(`^(CGO_ENABLED|GO[A-Z0-9]+|CC|CXX|CFLAGS|CXXFLAGS|CPPFLAGS|MAKEFLAGS|RUSTFLAGS|RUSTC_[A-Z_]+|CARGO_[A-Z_]+|` +
	`DEBIAN_FRONTEND|TZ|LANG|LC_[A-Z]+|NODE_ENV|NODE_OPTIONS|NPM_CONFIG_[A-Z_]+|YARN_[A-Z_]+|VITE_[A-Z0-9_]+|NEXT_PUBLIC_[A-Z0-9_]+|` +
	`REACT_APP_[A-Z0-9_]+|PUBLIC_[A-Z0-9_]+|PIP_[A-Z_]+|PYTHON[A-Z_]*|UV_[A-Z_]+|POETRY_[A-Z_]+|JAVA_OPTS|MAVEN_OPTS|GRADLE_OPTS|[A-Z_]*_URL)$`)

// stageEnv is the environment a stage's RUNs see, as far as ENV and FROM
// another stage tell; user is the last USER ("" for root). A user made
// with useradd or adduser in the stage chain, with no ENV HOME, has the
// home those commands give it: BuildKit sets HOME from /etc/passwd.
func stageEnv(f *File, s *Stage, upto *Instr) (env map[string]string, user string) {
	env, user, homes := chainEnv(f, s, upto)
	if user != "" && env["HOME"] == "" && homes[user] != "" {
		env["HOME"] = homes[user]
	}
	return env, user
}

func chainEnv(f *File, s *Stage, upto *Instr) (env map[string]string, user string, homes map[string]string) {
	env, homes = map[string]string{}, map[string]string{}
	if parent := f.stage(s.Base); parent != nil && parent.Index < s.Index {
		env, user, homes = chainEnv(f, parent, nil)
	}
	for _, in := range s.Instrs {
		if in == upto {
			break
		}
		switch in.Cmd {
		case "ENV":
			for i := 0; i+1 < len(in.Args); i += 3 {
				env[in.Args[i]] = envValue(f, in.Args[i+1], env)
			}
		case "ARG": // a default is the value unless the build passes one; an ENV of the name wins
			for _, a := range in.Args {
				if strings.HasPrefix(a, "#") {
					break
				}
				if name, def, ok := strings.Cut(a, "="); ok && validArgName.MatchString(name) {
					if _, set := env[name]; !set {
						env[name] = envValue(f, strings.Trim(def, `"'`), env)
					}
				}
			}
		case "USER":
			if len(in.Args) > 0 {
				user = strings.SplitN(in.Args[0], ":", 2)[0]
				if user == "root" || user == "0" {
					user = ""
				}
			}
		case "RUN":
			if text := in.Text(); !strings.Contains(text, "adduser") && !strings.Contains(text, "useradd") {
				continue
			}
			for _, words := range in.Commands() {
				if name, home := userAdded(words); name != "" {
					homes[name] = home
				}
			}
		}
	}
	return env, user, homes
}

// userAdded reads `useradd [-m] [-d DIR] NAME` and `adduser [-h DIR |
// --home DIR] NAME`: the user's name and home (/home/NAME by default).
func userAdded(words []string) (name, home string) {
	if cmd := path.Base(words[0]); cmd != "useradd" && cmd != "adduser" {
		return "", ""
	}
	for i := 1; i < len(words); i++ {
		switch w := words[i]; {
		case (w == "-d" || w == "--home-dir" || w == "--home" || w == "-h") && i+1 < len(words):
			home = words[i+1]
			i++
		case userValueFlags[w]:
			i++
		case !strings.HasPrefix(w, "-"):
			name = w
		}
	}
	if home == "" && name != "" {
		home = "/home/" + name
	}
	return name, home
}

// userID is the numeric id of the non-root user a RUN runs as: the
// USER itself when it is a number, else what useradd or adduser gave it
// (-u, --uid) in the stage chain; "" when the file does not say.
func userID(f *File, s *Stage, upto *Instr, user string) string {
	if user == "" {
		return ""
	}
	if _, err := strconv.Atoi(user); err == nil {
		return user
	}
	uid := ""
	for _, in := range f.chain(s, upto) {
		if in.Cmd != "RUN" {
			continue
		}
		for _, words := range in.Commands() {
			if name, _ := userAdded(words); name == user {
				for i := 1; i+1 < len(words); i++ {
					if words[i] == "-u" || words[i] == "--uid" {
						uid = words[i+1]
					}
				}
			}
		}
	}
	return uid
}

var userValueFlags = map[string]bool{"-u": true, "--uid": true, "-g": true, "--gid": true, "-G": true, "--groups": true,
	"-s": true, "--shell": true, "-c": true, "--comment": true, "--gecos": true, "--ingroup": true, "-k": true, "-K": true, "-e": true, "-f": true, "-p": true}

// envValue is an ENV value as BuildKit reads it: quotes and escapes
// removed, the variables known so far expanded (unknown ones are kept as
// written, for expand to leave alone).
func envValue(f *File, value string, env map[string]string) string {
	escape := f.Escape
	if escape == 0 {
		escape = '\\'
	}
	v, _, err := shell.NewLex(escape).ProcessWord(value, knownEnv(env))
	if err != nil {
		return expand(value, env)
	}
	return v
}

// knownEnv gives the lexer the stage's variables, and an unknown one as
// its own reference.
type knownEnv map[string]string

func (e knownEnv) Get(name string) (string, bool) {
	if v, ok := e[name]; ok {
		return v, true
	}
	return "${" + name + "}", true
}

func (e knownEnv) Keys() []string { return slices.Collect(maps.Keys(e)) }

var varRef = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?`)

func expand(s string, env map[string]string) string {
	return varRef.ReplaceAllStringFunc(s, func(m string) string {
		name := varRef.FindStringSubmatch(m)[1]
		if v, ok := env[name]; ok {
			return v
		}
		return m
	})
}

// mountTargets are the targets of a RUN's cache mounts.
func mountTargets(in *Instr, env map[string]string) []string {
	var out []string
	for _, m := range in.Flag("mount") {
		opts := map[string]string{}
		for _, kv := range strings.Split(m, ",") {
			k, v, _ := strings.Cut(kv, "=")
			opts[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
		if opts["type"] != "cache" {
			continue
		}
		for _, k := range []string{"target", "dst", "destination"} {
			if t := opts[k]; t != "" {
				out = append(out, path.Clean(expand(t, env)))
			}
		}
	}
	return out
}

// covered reports whether a cache mount target is the cache dir, holds
// it, or lies inside it (/go/pkg/mod/cache keeps the module downloads,
// /var/lib/apt/lists the package lists: the part worth keeping).
func covered(targets []string, c cache) bool {
	for _, t := range targets {
		for _, p := range c.paths {
			p = path.Clean(p)
			if t == p || strings.HasPrefix(p, t+"/") && t != "/" || strings.HasPrefix(t, p+"/") {
				return true
			}
		}
	}
	return false
}

func checkCacheMounts(f *File, ctx *Context) []Finding {
	var out []Finding
	needMods := goModulesNeeded(ctx)
	for _, s := range f.Stages {
		for _, in := range s.Instrs {
			if in.Cmd != "RUN" {
				continue
			}
			env, user := stageEnv(f, s, in)
			targets := mountTargets(in, env)
			var missing, needed, inLayer []cache
			var tools []string
			severity := Info
			for _, words := range in.Commands() {
				t := recognise(words, env, f.image(s))
				if t == nil || skipCacheCheck(f, t, env, user, in) {
					continue
				}
				needed = append(needed, t.caches...) // a module cache mount is never stray, needed or not
				isMods := func(c cache) bool { return c.what == "Go module cache" }
				if !needMods {
					t.caches = slices.DeleteFunc(t.caches, isMods)
				} else if i := slices.IndexFunc(t.caches, isMods); i >= 0 && t.name != "go mod download" && modulesInLayer(f, s, in) {
					// Not missing by itself; but the fix that mounts the
					// download's cache takes the modules out of the layer,
					// so a fix of this RUN mounts it too.
					inLayer = append(inLayer, t.caches[i])
					t.caches = slices.Delete(t.caches, i, i+1)
				}
				for _, c := range t.caches {
					if !covered(targets, c) && !hasCache(missing, c) {
						missing = append(missing, c)
						tools = appendUnique(tools, "`"+t.name+"`")
						if !t.system && !constantInstall(t) && !clonesItsSource(in) {
							severity = Warning
						}
					}
				}
			}
			layerOnly := false // only the modules the layer holds are missing
			for _, c := range inLayer {
				if !covered(targets, c) && !hasCache(missing, c) {
					layerOnly = len(missing) == 0
					missing = append(missing, c)
				}
			}
			if len(missing) == 0 {
				continue
			}
			var what, mounts []string
			cargo := false
			uid := userID(f, s, in, user) // a cache mount is root's unless it says whose
			for _, c := range missing {
				what = append(what, fmt.Sprintf("the %s (%s)", c.what, c.paths[0]))
				m := "--mount=type=cache,target=" + c.paths[0]
				if c.extra != "" {
					m += "," + c.extra
				}
				if user != "" {
					m += ",uid=" + cmp.Or(uid, "UID")
				}
				mounts = append(mounts, m)
				if c.what == "Cargo registry" {
					// Git dependencies live beside the registry; mounting
					// one without the other leaves them to be cloned again.
					cargo = true
					if git := path.Join(path.Dir(c.paths[0]), "git"); !covered(targets, cache{paths: []string{git}}) {
						mounts = append(mounts, "--mount=type=cache,target="+git)
					}
				}
			}
			msg := fmt.Sprintf("%s runs without a cache mount for %s", strings.Join(tools, " and "), strings.Join(what, " and "))
			if layerOnly {
				// The modules are in the layer now; mounting the download's
				// cache (its own finding) takes them out, and this RUN then
				// needs the mount too: --fix adds both in one pass.
				severity = Info
				msg = fmt.Sprintf("the Go build here uses the modules an uncached `go mod download` above left in the layer: once that download mounts %s, so must this RUN", what[0])
			}
			stray := strayMounts(targets, needed)
			if len(stray) > 0 {
				msg += fmt.Sprintf(" (the cache mount at %s is not a directory it uses: the fix replaces it)", strings.Join(stray, ", "))
			}
			fd := Finding{Line: in.Line, Severity: severity, Message: msg}
			e := addFlags(f, in, mounts, strayFlags(in, env, stray))
			if e != nil {
				fd.Fix = strings.TrimSpace(e.text[0])
			} else {
				fd.Fix = "RUN " + strings.Join(mounts, " ") + " " + strings.TrimSpace(strings.TrimPrefix(firstLine(in.Original), "RUN"))
			}
			if user != "" && uid == "" {
				fd.Fix += fmt.Sprintf("\n(UID: the id of user %s, which `id -u %s` prints in the image)", user, user)
				e = nil
			}
			if cargo && (slices.Contains(tools, "`cargo build`") || slices.Contains(tools, "`cargo test`")) {
				fd.Fix += "\n(for incremental builds, also mount the target directory with sharing=locked and copy the binary out of it in the same RUN)"
			}
			if em := emptiers(in.Text(), env, missing); len(em) > 0 {
				// Mounting a cache the same RUN empties buys nothing; the
				// shell is the user's to edit, so --fix leaves this one.
				fd.Message += fmt.Sprintf("; `%s` in the same RUN would empty the mounted cache", strings.Join(em, "` and `"))
				var left []string
				for _, c := range em {
					if cut := withoutCommand(fd.Fix, c); cut != fd.Fix {
						fd.Fix = cut
					} else {
						left = append(left, "`"+c+"`")
					}
				}
				if len(left) > 0 {
					fd.Fix += "\n(and remove " + strings.Join(left, " and ") + ")"
				}
				e = nil
			}
			fd.edit = e
			out = append(out, fd)
		}
	}
	return out
}

// constantInstall reports a command that installs what it names (a tool
// at a version, a package by name) rather than the project's
// dependencies or the project itself: its layer re-runs only when its
// line, or a line above it, changes. Without a cache mount it leaves its
// downloads in the layer, which is worth an info, not a warning (a copy
// of the source above it is install-after-copy's finding).
func constantInstall(t *tool) bool {
	args := slices.DeleteFunc(slices.Clone(t.words[1:]), func(w string) bool { return strings.HasPrefix(w, "-") })
	switch t.name {
	case "go install":
		return slices.ContainsFunc(args, func(w string) bool { return strings.Contains(w, "@") })
	case "cargo install":
		return !hasArg(t.words, "--path") && !hasArg(t.words, "--git")
	case "pip install":
		return !depsFromManifest(t) && !slices.ContainsFunc(args, func(w string) bool {
			return w == "." || strings.HasPrefix(w, "./") || strings.HasPrefix(w, "/") || strings.HasSuffix(w, ".whl")
		}) && !hasArg(t.words, "-e") && !hasArg(t.words, "--editable")
	case "npm install", "npm i":
		return contains(t.words, "-g") || contains(t.words, "--global")
	}
	return false
}

// clonesItsSource: the RUN builds what it clones itself (git clone …
// && make): like a constant install, it re-runs only when its line does.
func clonesItsSource(in *Instr) bool {
	for _, words := range in.Commands() {
		if path.Base(words[0]) == "git" && subcommand(words) == "clone" {
			return true
		}
	}
	return false
}

// skipCacheCheck leaves out what a careful reader would dispute: a cache
// in a home directory we cannot know, installs that opt out of caching.
func skipCacheCheck(f *File, t *tool, env map[string]string, user string, in *Instr) bool {
	if user != "" && env["HOME"] == "" {
		for _, c := range t.caches {
			if c.env == "" || env[c.env] == "" {
				return true
			}
		}
	}
	switch t.name {
	case "apk add":
		return contains(t.words, "--no-cache")
	case "pip install":
		return contains(t.words, "--no-cache-dir") || env["PIP_NO_CACHE_DIR"] != ""
	case "uv sync", "uv pip":
		return contains(t.words, "--no-cache") || env["UV_NO_CACHE"] != ""
	}
	if t.system {
		// An OS install that cleans up is what Docker's own guide shows;
		// one in a layer that re-runs routinely is install-cleanup's case.
		line, _ := rerunsRoutinely(f, in.Stage, in)
		return line > 0 || cleansUp(t, in.Text())
	}
	return false
}

// cleansApt: the RUN removes the package lists (rm -rf /var/lib/apt/lists/*,
// or all of /var/lib/apt).
func cleansApt(text string) bool {
	return strings.Contains(text, "/var/lib/apt")
}

// cleansUp reports an OS package install that leaves nothing behind: the
// apt lists removed, apk --no-cache, dnf/yum clean all or their cache
// directory removed.
func cleansUp(t *tool, text string) bool {
	switch t.name {
	case "apt-get install":
		return cleansApt(text)
	case "apk add":
		return contains(t.words, "--no-cache")
	case "dnf install", "yum install", "microdnf install":
		return strings.Contains(text, " clean all") || strings.Contains(text, t.caches[0].paths[0])
	}
	return false
}

// emptiers are the commands of a RUN that empty one of caches: the
// tool's own cleaning (npm cache clean, pip cache purge, go clean
// -modcache) or an rm of the cache's directory.
func emptiers(text string, env map[string]string, caches []cache) []string {
	var out []string
	for _, words := range commands(text) {
		cmd, sub := path.Base(words[0]), subcommand(words)
		empties := func(c cache) bool {
			switch {
			case cmd == "rm":
				for _, w := range words[1:] {
					if !strings.HasPrefix(w, "-") && covered([]string{path.Clean(strings.TrimSuffix(expand(w, env), "/*"))}, c) {
						return true
					}
				}
			case (cmd == "npm" || cmd == "yarn" || cmd == "pnpm") && sub == "cache" && (contains(words, "clean") || contains(words, "prune")):
				return strings.Contains(strings.ToLower(c.what), cmd)
			case (cmd == "pip" || cmd == "pip3") && sub == "cache" && (contains(words, "purge") || contains(words, "remove")):
				return c.what == "pip cache"
			case cmd == "go" && sub == "clean":
				return contains(words, "-modcache") && c.what == "Go module cache" || contains(words, "-cache") && c.what == "Go build cache"
			}
			return false
		}
		if slices.ContainsFunc(caches, empties) {
			out = append(out, strings.Join(words, " "))
		}
	}
	return out
}

// withoutCommand removes cmd from a && chain in line, or returns line.
func withoutCommand(line, cmd string) string {
	for _, pat := range []string{" && " + cmd, cmd + " && "} {
		if i := strings.Index(line, pat); i >= 0 {
			return line[:i] + line[i+len(pat):]
		}
	}
	return line
}

// strayMounts are the cache mount targets that cover none of the caches
// the RUN's tools use: most likely meant for one of them, at the wrong path.
func strayMounts(targets []string, needed []cache) []string {
	var out []string
	for _, t := range targets {
		used := false
		for _, c := range needed {
			used = used || covered([]string{t}, c)
		}
		if !used {
			out = append(out, t)
		}
	}
	return out
}

func hasCache(cs []cache, c cache) bool {
	for _, x := range cs {
		if x.paths[0] == c.paths[0] {
			return true
		}
	}
	return false
}

func appendUnique(xs []string, x string) []string {
	for _, y := range xs {
		if y == x {
			return xs
		}
	}
	return append(xs, x)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// strayFlags are the RUN's --mount flags whose targets are in stray.
func strayFlags(in *Instr, env map[string]string, stray []string) []string {
	var out []string
	for _, fl := range in.Flags {
		m, ok := strings.CutPrefix(fl, "--mount=")
		if !ok {
			continue
		}
		if t := mountTargets(&Instr{Flags: []string{fl}}, env); len(t) == 1 && slices.Contains(stray, t[0]) {
			out = append(out, "--mount="+m)
		}
	}
	return out
}

// addFlags is the mechanical fix that puts flags right after RUN on the
// instruction's first line, when that line starts with RUN, and takes
// out the flags drop (each must be on that line, as written).
func addFlags(f *File, in *Instr, flags, drop []string) *edit {
	if in.Line < 1 || in.Line > len(f.Lines) {
		return nil
	}
	line := f.Lines[in.Line-1]
	for _, d := range drop {
		i := strings.Index(line, d)
		if i < 0 {
			return nil
		}
		line = line[:i] + strings.TrimLeft(line[i+len(d):], " \t")
	}
	trimmed := strings.TrimLeft(line, " \t")
	if len(trimmed) < 4 || !strings.EqualFold(trimmed[:3], "RUN") || (trimmed[3] != ' ' && trimmed[3] != '\t') {
		return nil
	}
	indent := line[:len(line)-len(trimmed)]
	return &edit{from: in.Line, to: in.Line, text: []string{indent + trimmed[:3] + " " + strings.Join(flags, " ") + trimmed[3:]}}
}

// --- copy-before-deps ---

// wholeSource reports whether a COPY or ADD copies the whole context.
func wholeSource(in *Instr) bool {
	if (in.Cmd != "COPY" && in.Cmd != "ADD") || len(in.Flag("from")) > 0 || len(in.Args) < 2 {
		return false
	}
	for _, src := range in.Args[:len(in.Args)-1] {
		switch path.Clean(src) {
		case ".", "*", "/":
			return true
		}
	}
	return false
}

// afterSourceCopy returns the stage's first copy of the whole source and
// the instructions after it (nil, nil if the stage has none).
func afterSourceCopy(s *Stage) (*Instr, []*Instr) {
	for i, in := range s.Instrs {
		if wholeSource(in) {
			return in, s.Instrs[i+1:]
		}
	}
	return nil, nil
}

var manifests = map[string]string{
	"go mod download": "COPY go.mod go.sum ./",
	"npm ci":          "COPY package.json package-lock.json ./",
	"npm install":     "COPY package.json package-lock.json ./",
	"npm i":           "COPY package.json package-lock.json ./",
	"yarn install":    "COPY package.json yarn.lock ./",
	"pnpm install":    "COPY package.json pnpm-lock.yaml ./",
	"pnpm i":          "COPY package.json pnpm-lock.yaml ./",
	"pnpm fetch":      "COPY pnpm-lock.yaml ./",
	"bun install":     "COPY package.json bun.lock ./",
	"pip install":     "COPY requirements.txt ./",
	"uv sync":         "COPY pyproject.toml uv.lock ./",
	"uv pip":          "COPY requirements.txt ./",
	"poetry install":  "COPY pyproject.toml poetry.lock ./",
	"cargo fetch":     "COPY Cargo.toml Cargo.lock ./",
	"mvn":             "COPY pom.xml ./",
	"bundle install":  "COPY Gemfile Gemfile.lock ./",
}

// selfFetching are builds that download what the manifests name when
// nothing did before: the step to run first, after copying the manifests.
var selfFetching = map[string][2]string{
	"go build":    {"COPY go.mod go.sum ./", "RUN go mod download"},
	"go install":  {"COPY go.mod go.sum ./", "RUN go mod download"},
	"go test":     {"COPY go.mod go.sum ./", "RUN go mod download"},
	"cargo build": {"COPY Cargo.toml Cargo.lock ./", "RUN cargo fetch"},
	"cargo test":  {"COPY Cargo.toml Cargo.lock ./", "RUN cargo fetch"},
	"mvn":         {"COPY pom.xml ./", "RUN mvn dependency:go-offline"},
}

func checkCopyBeforeDeps(f *File, ctx *Context) []Finding {
	var out []Finding
	needMods := goModulesNeeded(ctx)
	for _, s := range f.Stages {
		copied, rest := afterSourceCopy(s)
		dir := "" // the directory copied into the working directory, when that is the copy
		if copied == nil {
			copied, rest, dir = afterTreeCopy(s)
		}
		if copied == nil {
			copied, rest = afterSrcCopy(s) // for the builds whose sources live in src/
		}
		if copied == nil {
			out = append(out, depsInCopiedDirs(f, s, needMods)...)
			continue
		}
		fetched := fetchedBefore(f, s, copied)
		for _, in := range rest {
			if in.Cmd != "RUN" {
				continue
			}
			env, _ := stageEnv(f, s, in)
			for _, words := range in.Commands() {
				t := recognise(words, env, f.image(s))
				if dir == "" && t != nil && !t.deps && !fetched && (needMods || !strings.HasPrefix(t.name, "go ")) {
					if fd, ok := selfFetch(t, in, copied, env); ok {
						out = append(out, fd)
						break
					}
				}
				if t == nil || !t.deps || !depsFromManifest(t) {
					continue
				}
				manifest, what := manifests[t.name], "the whole source"
				if dir != "" {
					manifest, what = inDir(manifest, dir), dir+"/ with the manifests in it"
				}
				out = append(out, Finding{Line: in.Line, Severity: Warning,
					Message: fmt.Sprintf("`%s` runs after line %d copies %s, so every source edit downloads the dependencies again",
						t.name, copied.Line, what),
					Fix: fmt.Sprintf("move the download above line %d, after copying only the manifests:\n%s\n%s\n%s",
						copied.Line, manifest, firstLine(in.Original), firstLine(copied.Original))})
				break
			}
		}
	}
	return out
}

// depsInCopiedDirs finds dependency steps that run in a directory a COPY
// filled whole, from the context or from another stage (COPY ./server/
// /src/server/, then RUN cd /src/server && go build; COPY --from=web
// /web /web, then RUN npm --prefix /web ci), with no download before.
func depsInCopiedDirs(f *File, s *Stage, needMods bool) []Finding {
	var out []Finding
	copies := map[string]*Instr{} // destination directory → the COPY that filled it
	workdir := "/"
	for _, in := range s.Instrs {
		switch in.Cmd {
		case "WORKDIR":
			if len(in.Args) > 0 {
				workdir = path.Join(workdir, in.Args[0]) // an absolute one replaces it
				if path.IsAbs(in.Args[0]) {
					workdir = path.Clean(in.Args[0])
				}
			}
		case "COPY", "ADD":
			if dest, ok := dirCopy(in, workdir); ok {
				copies[dest] = in
			}
		case "RUN":
			env, _ := stageEnv(f, s, in)
			cwd := workdir
			for _, words := range in.Commands() {
				if path.Base(words[0]) == "cd" && len(words) > 1 {
					cwd = path.Join(cwd, words[1])
					if path.IsAbs(words[1]) {
						cwd = path.Clean(words[1])
					}
					continue
				}
				t := recognise(words, env, f.image(s))
				if t == nil {
					continue
				}
				dir := cwd
				for i, w := range words[:len(words)-1] {
					if w == "--prefix" || w == "-C" || w == "--cwd" || w == "--dir" {
						dir = path.Join(cwd, words[i+1])
						if path.IsAbs(words[i+1]) {
							dir = path.Clean(words[i+1])
						}
					}
				}
				copied := copies[dir]
				if copied == nil {
					continue
				}
				delete(copies, dir) // one finding per copy; a download there settles it too
				src := copied.Args[0]
				from := ""
				if f := copied.Flag("from"); len(f) > 0 {
					from = " --from=" + f[0]
				}
				switch {
				case t.deps && depsFromManifest(t):
					out = append(out, Finding{Line: in.Line, Severity: Warning,
						Message: fmt.Sprintf("`%s` runs in %s after line %d copies all of %s there, so every edit there downloads the dependencies again",
							t.name, dir, copied.Line, src),
						Fix: fmt.Sprintf("copy only the manifests first, download, then the rest:\nCOPY%s %s %s/\n%s\n%s",
							from, manifestsIn(manifests[t.name], src), dir, firstLine(in.Original), firstLine(copied.Original))})
				case !t.deps && (needMods || !strings.HasPrefix(t.name, "go ")) && !fetchedBefore(f, s, copied):
					if fd, ok := selfFetch(t, in, copied, env); ok {
						first := selfFetching[t.name]
						files := manifestsIn(first[0], src)
						fd.Message = fmt.Sprintf("`%s` downloads the dependencies itself in %s after line %d copies all of %s there, so every edit there downloads them again",
							t.name, dir, copied.Line, src)
						fd.Fix = fmt.Sprintf("download them first, after copying only the manifests:\nCOPY%s %s %s/\nRUN cd %s && %s\n%s",
							from, files, dir, dir, strings.TrimPrefix(first[1], "RUN "), firstLine(copied.Original))
						out = append(out, fd)
					}
				}
			}
		}
	}
	return out
}

// manifestsIn lists the files of a manifest COPY line ("COPY a b ./") as
// paths in dir: "dir/a dir/b".
func manifestsIn(line, dir string) string {
	words := strings.Fields(line)
	files := make([]string, 0, len(words))
	for _, m := range words[1 : len(words)-1] {
		files = append(files, path.Join(dir, m))
	}
	return strings.Join(files, " ")
}

// dirCopy reports a COPY of one whole directory (from the context or
// another stage) and the directory it fills.
func dirCopy(in *Instr, workdir string) (dest string, ok bool) {
	if len(in.Args) != 2 {
		return "", false
	}
	src := path.Clean(in.Args[0])
	if src == "." || strings.HasPrefix(src, "..") || strings.ContainsAny(src, "*?[{$") || path.Ext(src) != "" || plainFiles[path.Base(src)] {
		return "", false
	}
	if len(in.Flag("from")) == 0 && (path.IsAbs(src) || !strings.HasPrefix(in.Args[0], "./") && !strings.HasSuffix(in.Args[0], "/")) {
		return "", false // from the context, a name without ./ or / may be a file
	}
	dest = in.Args[1]
	if !path.IsAbs(dest) {
		dest = path.Join(workdir, dest)
	}
	return path.Clean(dest), true
}

// afterTreeCopy finds a stage's first copy of one directory of the context
// into the working directory (COPY ./frontend .), which brings that
// directory's manifests in with all its sources, and the instructions
// after it; dir is the directory.
func afterTreeCopy(s *Stage) (copied *Instr, rest []*Instr, dir string) {
	for i, in := range s.Instrs {
		if (in.Cmd != "COPY" && in.Cmd != "ADD") || len(in.Flag("from")) > 0 {
			continue
		}
		if _, ok := dirCopy(in, "/"); ok && path.Clean(in.Args[1]) == "." {
			return in, s.Instrs[i+1:], path.Clean(in.Args[0])
		}
	}
	return nil, nil, ""
}

// afterSrcCopy finds a stage's first copy of the context's src directory
// (COPY ./src ./src), where Cargo and Maven keep every source file: for
// their builds it is the copy of the whole source.
func afterSrcCopy(s *Stage) (copied *Instr, rest []*Instr) {
	for i, in := range s.Instrs {
		if (in.Cmd == "COPY" || in.Cmd == "ADD") && len(in.Flag("from")) == 0 && len(in.Args) == 2 && path.Clean(in.Args[0]) == "src" {
			return in, s.Instrs[i+1:]
		}
	}
	return nil, nil
}

// plainFiles are names without an extension that are files, not trees.
var plainFiles = map[string]bool{"Makefile": true, "Dockerfile": true, "Gemfile": true, "Procfile": true, "Justfile": true,
	"LICENSE": true, "README": true, "VERSION": true, "Taskfile": true}

// inDir rewrites a manifest COPY line ("COPY a b ./") to take the files
// from dir.
func inDir(line, dir string) string {
	words := strings.Fields(line)
	for i := 1; i < len(words)-1; i++ {
		words[i] = dir + "/" + words[i]
	}
	return strings.Join(words, " ")
}

// depsFromManifest: only a download driven by the project's manifests can
// move above the source copy (`pip install requests` does not read one).
func depsFromManifest(t *tool) bool {
	switch t.name {
	case "pip install", "uv pip":
		return hasArg(t.words, "-r") || hasArg(t.words, "--requirement")
	case "yarn install":
		return true
	case "npm install", "npm i", "pnpm install", "pnpm i":
		for _, w := range t.words[2:] {
			if !strings.HasPrefix(w, "-") {
				return false // installs named packages
			}
		}
	}
	return true
}

// goModulesNeeded reports whether a Go build may download modules: false
// only when the build context's go.mod requires none (a module that uses
// the standard library alone has no module cache to keep).
func goModulesNeeded(ctx *Context) bool {
	if ctx == nil || ctx.Dir == "" {
		return true
	}
	data, err := os.ReadFile(filepath.Join(ctx.Dir, "go.mod"))
	if err != nil {
		return true
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "require") {
			return true
		}
	}
	return false
}

// selfFetch reports a build that downloads its dependencies itself after
// the whole source was copied, with no cache mount to keep them.
func selfFetch(t *tool, in, copied *Instr, env map[string]string) (Finding, bool) {
	first, ok := selfFetching[t.name]
	i := slices.IndexFunc(t.caches, func(c cache) bool {
		return c.what == "Go module cache" || c.what == "Cargo registry" || c.what == "Maven repository"
	})
	if !ok || i < 0 || covered(mountTargets(in, env), t.caches[i]) {
		return Finding{}, false // vendored (no module cache), or the downloads are kept in a mount
	}
	return Finding{Line: in.Line, Severity: Warning,
		Message: fmt.Sprintf("`%s` downloads the dependencies itself after line %d copies the whole source, so every source edit downloads them again",
			t.name, copied.Line),
		Fix: fmt.Sprintf("download them first, after copying only the manifests (or mount the %s):\n%s\n%s\n%s",
			t.caches[i].what, first[0], first[1], firstLine(copied.Original))}, true
}

// fetchedBefore reports whether a dependency step ran in s's stage chain
// before instruction upto.
func fetchedBefore(f *File, s *Stage, upto *Instr) bool {
	if parent := f.stage(s.Base); parent != nil && parent.Index < s.Index && fetchedBefore(f, parent, nil) {
		return true
	}
	for _, in := range s.Instrs {
		if in == upto {
			return false
		}
		if in.Cmd != "RUN" {
			continue
		}
		env, _ := stageEnv(f, s, in)
		for _, words := range in.Commands() {
			if t := recognise(words, env, f.image(s)); t != nil && t.deps {
				return true
			}
		}
	}
	return false
}

// modulesInLayer reports whether a `go mod download` without a mount for
// the module cache ran before in, in its stage chain: the modules are then
// in the image, and a build after it downloads nothing.
func modulesInLayer(f *File, s *Stage, upto *Instr) bool {
	for _, in := range f.chain(s, upto) {
		if in.Cmd != "RUN" {
			continue
		}
		env, _ := stageEnv(f, in.Stage, in)
		for _, words := range in.Commands() {
			if t := recognise(words, env, f.image(in.Stage)); t != nil && t.name == "go mod download" && !covered(mountTargets(in, env), t.caches[0]) {
				return true
			}
		}
	}
	return false
}

// --- early-arg ---

func checkEarlyArgs(f *File, _ *Context) []Finding {
	var out []Finding
	for _, s := range f.Stages {
		copied, _ := afterSourceCopy(s)
		for i, in := range s.Instrs {
			if in.Cmd != "ARG" || copied != nil && copied.Line < in.Line { // after the source copy it re-runs nothing more
				continue
			}
			for _, decl := range in.Args {
				if strings.HasPrefix(decl, "#") {
					break // an inline comment, which BuildKit reads as more names
				}
				name, def, hasDef := strings.Cut(decl, "=")
				vol := volatile(name, def, hasDef) && !toolchainVersion(s, name)
				if automaticArg(name) || !validArgName.MatchString(name) || readFromEnv.MatchString(name) && !vol {
					continue
				}
				if fd, ok := earlyArg(s.Instrs[i+1:], in, name, vol); ok {
					out = append(out, fd)
				}
			}
		}
	}
	return out
}

var validArgName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// automaticArg: BuildKit sets these itself (or they are proxies, which it
// leaves out of the cache key).
func automaticArg(name string) bool {
	switch strings.ToUpper(name) {
	case "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY",
		"TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT", "TARGETSTAGE",
		"BUILDPLATFORM", "BUILDOS", "BUILDARCH", "BUILDVARIANT":
		return true
	}
	return strings.HasPrefix(strings.ToUpper(name), "BUILDKIT_")
}

// earlyArg finds the RUNs between an ARG and its first use that do not
// name it. Any of them may read it from the environment, so an ARG no
// instruction names is reported only when it is volatile, and never as
// unused: the fix is to declare it lower, not to remove it. Such an ARG
// is misplaced only if a step that cannot be reading it (a package
// install, a dependency download) runs before the first one that might
// (a script, make, a compiler): the ARG belongs just above that one.
//
// A volatile ARG that an ENV hands on (ENV APP_VERSION=$VERSION) is in
// every later RUN's environment through it, so the search goes on past
// that ENV, for the ARG or the variable it set. A LABEL that names the
// ARG is not a use the RUNs wait for: it moves down with the ARG.
//
// When every step the ARG re-runs for nothing only moves files (mkdir,
// chmod, ln), a new value costs nothing worth a warning.
func earlyArg(rest []*Instr, decl *Instr, name string, vol bool) (Finding, bool) {
	names := []string{name}
	refs := func() *regexp.Regexp {
		quoted := make([]string, len(names))
		for i, n := range names {
			quoted[i] = regexp.QuoteMeta(n)
		}
		return regexp.MustCompile(`\$\{?(` + strings.Join(quoted, "|") + `)\b`)
	}
	ref := refs()
	var runs []*Instr // the RUNs before the first use
	var labels []int
	var firstUse, via *Instr
	for _, in := range rest {
		if in.Cmd == "ARG" && argDeclares(in, name) {
			break
		}
		if vol && via == nil && passedOn(in, ref) {
			via = in
			for i := 0; i < len(in.Args); i += 3 {
				if n := in.Args[i]; n != "" && !strings.ContainsFunc(n, func(r rune) bool { return r > 127 || !isNameByte(byte(r)) }) {
					names = append(names, n) // only a name can be referred to as $NAME
				}
			}
			ref = refs()
			continue
		}
		named := ref.MatchString(in.Original) || ref.MatchString(in.Text())
		switch {
		case named && in.Cmd == "LABEL":
			labels = append(labels, in.Line)
		case named:
			firstUse = in
		case in.Cmd == "RUN":
			runs = append(runs, in)
		}
		if firstUse != nil {
			break
		}
	}
	if firstUse == nil { // unnamed: up to the first step that might read it
		if i := slices.IndexFunc(runs, mightRead); i >= 0 {
			runs = runs[:i]
		}
	}
	var skipped []int
	cheap := true // every skipped RUN only moves files
	for _, in := range runs {
		skipped = append(skipped, in.Line)
		cheap = cheap && movesFilesOnly(in)
	}
	shown, moved := name, "`ARG "+name+"`"
	if via != nil {
		shown = fmt.Sprintf("%s (handed on by the ENV at line %d)", name, via.Line)
		moved = fmt.Sprintf("`ARG %s` and the ENV at line %d", name, via.Line)
	}
	with := ""
	if len(labels) > 0 {
		with = ", with the LABEL at line " + joinLines(labels) + " that names it"
	}
	if len(skipped) == 0 || firstUse == nil && !vol {
		return Finding{}, false
	}
	sev := Info
	if vol && !cheap {
		sev = Warning
	}
	lines := fmt.Sprint(skipped[0])
	if len(skipped) > 1 {
		lines = fmt.Sprintf("%d and %d more", skipped[0], len(skipped)-1)
	}
	if firstUse == nil {
		return Finding{Line: decl.Line, Severity: sev,
			Message: fmt.Sprintf("ARG %s changes from build to build, and a new value re-runs the RUN at line %s, which cannot be reading it", shown, lines),
			Fix:     fmt.Sprintf("move %s from line %d down below line %d%s", moved, decl.Line, skipped[len(skipped)-1], with)}, true
	}
	return Finding{Line: decl.Line, Severity: sev,
		Message: fmt.Sprintf("ARG %s is first used at line %d, but a new value also re-runs the RUN at line %s", shown, firstUse.Line, lines),
		Fix:     fmt.Sprintf("move %s from line %d to just before line %d%s", moved, decl.Line, firstUse.Line, with)}, true
}

// joinLines lists line numbers: "30", "30 and 33", "30, 33 and 36".
func joinLines(lines []int) string {
	s := make([]string, len(lines))
	for i, l := range lines {
		s[i] = fmt.Sprint(l)
	}
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// fileCommands only create, move or label files and users: they read no
// build setting from the environment and cost next to nothing.
var fileCommands = map[string]bool{"mkdir": true, "chmod": true, "chown": true, "chgrp": true, "ln": true, "rm": true,
	"cp": true, "mv": true, "touch": true, "echo": true, "true": true, "install": true, "addgroup": true, "adduser": true,
	"groupadd": true, "useradd": true, "usermod": true, "update-ca-certificates": true, "ldconfig": true, "set": true, "cd": true}

// packageManagers install OS packages; whatever else they run (update,
// clean) reads no build setting either.
var packageManagers = map[string]bool{"apt-get": true, "apt": true, "apk": true, "dnf": true, "yum": true, "microdnf": true,
	"dpkg": true, "rpm": true, "zypper": true}

// movesFilesOnly: every command of the RUN is one of fileCommands.
func movesFilesOnly(in *Instr) bool {
	for _, words := range in.Commands() {
		if !fileCommands[path.Base(words[0])] {
			return false
		}
	}
	return true
}

// mightRead reports whether a RUN might read an arbitrary variable from
// its environment: it runs something other than a package manager, a
// dependency download or a file command (a script, make, a compiler's
// wrapper). Those read only their own settings, which readFromEnv names.
func mightRead(in *Instr) bool {
	for _, words := range in.Commands() {
		if cmd := path.Base(words[0]); fileCommands[cmd] || packageManagers[cmd] {
			continue
		}
		t := recognise(words, nil, "")
		if t == nil || !(t.deps || t.system) {
			return true
		}
	}
	return false
}

func argDeclares(in *Instr, name string) bool {
	for _, a := range in.Args {
		if n, _, _ := strings.Cut(a, "="); n == name {
			return true
		}
	}
	return false
}

// --- go-proxy ---

// publicHost matches a GOPRIVATE/GONOPROXY pattern that covers modules
// anyone can fetch through the public proxy.
var publicHost = regexp.MustCompile(`^(\*|\*\.?[a-z.]*|(github\.com|gitlab\.com|bitbucket\.org|golang\.org|google\.golang\.org|gopkg\.in|go\.uber\.org|k8s\.io)(/\*)?)$`)

func checkGoProxy(f *File, _ *Context) []Finding {
	var out []Finding
	for _, s := range f.Stages {
		for _, in := range s.Instrs {
			settings := goSettings(f, in)
			for _, kv := range settings {
				if msg := proxyBypass(kv[0], kv[1]); msg != "" {
					fix := "drop it: the default GOPROXY is https://proxy.golang.org,direct; for private modules set " +
						"GOPROXY=https://your-proxy.example.com,direct or list only their paths: GOPRIVATE=git.example.com/yourteam"
					if kv[0] == "GOSUMDB" {
						fix = "drop it; to leave private modules out of the checksum database, list only their paths: GONOSUMDB=git.example.com/yourteam"
					}
					out = append(out, Finding{Line: in.Line, Severity: Warning, Message: msg, Fix: fix})
				}
			}
		}
	}
	return out
}

// goSettings are the Go environment settings an instruction makes:
// ENV and ARG defaults, and in a RUN `go env -w` and the assignments
// before a go command.
func goSettings(f *File, in *Instr) [][2]string {
	var out [][2]string
	switch in.Cmd {
	case "ENV":
		for i := 0; i+1 < len(in.Args); i += 3 {
			out = append(out, [2]string{in.Args[i], envValue(f, in.Args[i+1], nil)})
		}
	case "ARG":
		for _, a := range in.Args {
			if k, v, ok := strings.Cut(a, "="); ok {
				out = append(out, [2]string{k, strings.Trim(v, `"'`)})
			}
		}
	case "RUN":
		for _, words := range splitCommands(in.Text()) {
			// GOPROXY=direct go install ...: the setting holds for that command.
			i := 0
			for i < len(words)-1 && (assignment(words[i]) || prefixWords[words[i]]) {
				i++
			}
			if path.Base(words[i]) == "go" {
				for _, a := range words[:i] {
					if k, v, ok := strings.Cut(a, "="); ok && !prefixWords[a] {
						out = append(out, [2]string{k, v})
					}
				}
			}
			words = words[i:]
			if len(words) > 3 && path.Base(words[0]) == "go" && words[1] == "env" && words[2] == "-w" {
				for _, a := range words[3:] {
					if k, v, ok := strings.Cut(a, "="); ok {
						out = append(out, [2]string{k, v})
					}
				}
			}
		}
	}
	return out
}

// proxyBypass says what is wrong with setting name=value, or "".
func proxyBypass(name, value string) string {
	switch name {
	case "GOPROXY":
		if first, _, _ := strings.Cut(strings.ReplaceAll(value, "|", ","), ","); first == "direct" {
			return "GOPROXY=" + value + " makes the go command clone every module from its origin instead of fetching it from the module proxy"
		}
	case "GOPRIVATE", "GONOPROXY":
		for p := range strings.SplitSeq(value, ",") {
			if publicHost.MatchString(strings.TrimSpace(p)) {
				return fmt.Sprintf("%s=%s covers public modules (%s), which are then cloned from their origins instead of fetched from the module proxy", name, value, p)
			}
		}
	case "GOSUMDB":
		if value == "off" {
			return "GOSUMDB=off turns off the checksum database: module downloads are no longer checked against it"
		}
	}
	return ""
}

// --- syntax-directive ---

// syntaxLine is the edit that adds the syntax directive at the top.
func syntaxLine() *edit {
	return &edit{from: 1, to: 0, text: []string{"# syntax=docker/dockerfile:1"}}
}

func checkSyntax(f *File, _ *Context) []Finding {
	if f.Syntax != "" {
		return nil
	}
	for _, s := range f.Stages {
		for _, in := range s.Instrs {
			what := ""
			switch {
			case in.Cmd == "RUN" && (len(in.Flag("mount")) > 0 || len(in.Flag("network")) > 0 || len(in.Flag("security")) > 0):
				what = "RUN --" + strings.SplitN(strings.TrimPrefix(in.Flags[0], "--"), "=", 2)[0]
			case len(in.Heredocs) > 0:
				what = "a heredoc"
			case (in.Cmd == "COPY" || in.Cmd == "ADD") && (hasFlag(in, "link") || len(in.Flag("chmod")) > 0 ||
				hasFlag(in, "parents") || len(in.Flag("exclude")) > 0):
				what = in.Cmd + " " + strings.SplitN(in.Flags[0], "=", 2)[0]
			}
			if what != "" {
				fd := Finding{Line: 1, Severity: Warning,
					Message: fmt.Sprintf("line %d uses %s, which needs BuildKit's Dockerfile frontend, but the file has no # syntax= line", in.Line, what),
					Fix:     "# syntax=docker/dockerfile:1 (as the first line)"}
				if f.HasSyntax { // an empty directive: a second line would make the file invalid
					fd.Fix = "give the # syntax= line a value: # syntax=docker/dockerfile:1"
				} else {
					fd.edit = syntaxLine()
				}
				return []Finding{fd}
			}
		}
	}
	return nil
}

func hasFlag(in *Instr, name string) bool {
	for _, f := range in.Flags {
		if f == "--"+name || strings.HasPrefix(f, "--"+name+"=") {
			return true
		}
	}
	return false
}

// --- dockerignore ---

var heavyDirs = []string{".git", "node_modules", "target", "dist", "build", ".venv", "__pycache__"}

func checkDockerignore(f *File, ctx *Context) []Finding {
	if ctx == nil || ctx.Dir == "" {
		return nil
	}
	var copyAll *Instr
	for _, s := range f.Stages {
		if copyAll, _ = afterSourceCopy(s); copyAll != nil {
			break
		}
	}
	if copyAll == nil {
		return nil // BuildKit sends only the paths the COPYs name
	}
	for _, name := range []string{".dockerignore", filepath.Base(f.Path) + ".dockerignore"} {
		if _, err := os.Stat(filepath.Join(ctx.Dir, name)); err == nil {
			return nil
		}
	}
	var found []string
	for _, d := range heavyDirs {
		if st, err := os.Stat(filepath.Join(ctx.Dir, d)); err == nil && st.IsDir() {
			found = append(found, d)
		}
	}
	if len(found) == 0 {
		return nil
	}
	return []Finding{{Line: copyAll.Line, Severity: Warning,
		Message: fmt.Sprintf("`%s` sends the whole context, and there is no .dockerignore: %s would go too",
			firstLine(copyAll.Original), strings.Join(found, ", ")),
		Fix: "create .dockerignore next to the Dockerfile with:\n" + strings.Join(found, "\n")}}
}

// --- install-after-copy ---

// constantCommand reports whether a command's result depends only on its
// own words (package names, pinned versions, absolute URLs and paths):
// such a step can run before the source is copied.
func constantCommand(words []string) bool {
	if len(words) == 0 {
		return true
	}
	cmd, args := path.Base(words[0]), words[1:]
	switch cmd {
	case "apt-get", "apt":
		return (contains(args, "update") || contains(args, "install")) && noRelative(args)
	case "apk":
		return contains(args, "add") && noRelative(args)
	case "dnf", "yum", "microdnf":
		return (contains(args, "install") || contains(args, "clean")) && noRelative(args)
	case "rm", "mkdir", "chmod", "ln":
		return noRelative(args)
	case "curl", "wget":
		return noRelative(args) && hasArg(args, "http")
	case "go":
		return len(args) >= 2 && args[0] == "install" && strings.Contains(args[len(args)-1], "@") && noRelative(args)
	case "npm":
		return len(args) >= 2 && (args[0] == "install" || args[0] == "i") && (contains(args, "-g") || contains(args, "--global")) && noRelative(args)
	case "pip", "pip3":
		return contains(args, "install") && !hasArg(args, "-r") && !hasArg(args, "-e") && noRelative(args)
	case "cargo":
		return len(args) >= 2 && args[0] == "install" && (hasArg(args, "--version") || hasArg(args, "--vers")) && !contains(args, "--path") && noRelative(args)
	}
	return false
}

// noRelative: no word names a path in the build context (./x, x/y, .).
func noRelative(args []string) bool {
	for _, a := range args {
		if strings.HasPrefix(a, "-") || strings.HasPrefix(a, "/") || strings.Contains(a, "://") || strings.HasPrefix(a, "$") {
			continue
		}
		if a == "." || strings.HasPrefix(a, "./") || strings.HasPrefix(a, "../") || strings.Contains(a, "/") ||
			strings.HasSuffix(a, ".txt") || strings.HasSuffix(a, ".toml") || strings.HasSuffix(a, ".json") {
			return false
		}
	}
	return true
}

// chainSourceCopy is the first copy of the whole source in the stages s
// starts from (not s itself), or nil: all of s comes after it.
func chainSourceCopy(f *File, s *Stage) *Instr {
	parent := f.stage(s.Base)
	if parent == nil || parent.Index >= s.Index {
		return nil
	}
	if c := chainSourceCopy(f, parent); c != nil {
		return c
	}
	c, _ := afterSourceCopy(parent)
	return c
}

func checkInstallAfterCopy(f *File, _ *Context) []Finding {
	var out []Finding
	for _, s := range f.Stages {
		copied, rest := afterSourceCopy(s)
		if c := chainSourceCopy(f, s); c != nil {
			copied, rest = c, s.Instrs
		}
		for _, in := range rest {
			if in.Cmd != "RUN" || hasBindMount(in) {
				continue
			}
			cmds := in.Commands()
			installs := false
			constant := len(cmds) > 0
			for _, words := range cmds {
				constant = constant && constantCommand(words)
				name := path.Base(words[0])
				installs = installs || name == "apt-get" || name == "apt" || name == "apk" || packageManagers[name] || name == "curl" ||
					name == "wget" || name == "go" || name == "npm" || name == "pip" || name == "pip3" || name == "cargo"
			}
			if !constant || !installs {
				continue
			}
			out = append(out, Finding{Line: in.Line, Severity: Warning,
				Message: fmt.Sprintf("this install depends on nothing in the source, but it runs after line %d copies the source, so every source edit runs it again",
					copied.Line),
				Fix: fmt.Sprintf("move it above line %d:\n%s\n%s", copied.Line, firstLine(in.Original), firstLine(copied.Original))})
		}
	}
	return out
}

func hasBindMount(in *Instr) bool {
	for _, m := range in.Flag("mount") {
		if !strings.Contains(m, "type=cache") && !strings.Contains(m, "type=secret") && !strings.Contains(m, "type=tmpfs") {
			return true // a bind mount (the default type) reads the context
		}
	}
	return false
}

// --- install-cleanup ---

// rerunsRoutinely finds what, before in, makes in's layer re-run often:
// a copy of the whole source (in the stage or one it starts from) or a
// volatile ARG. line is 0 if nothing does.
func rerunsRoutinely(f *File, s *Stage, in *Instr) (line int, reason string) {
	if c := chainSourceCopy(f, s); c != nil {
		return c.Line, "the source copy at line"
	}
	for _, prev := range s.Instrs {
		if prev == in {
			break
		}
		if wholeSource(prev) {
			return prev.Line, "the source copy at line"
		}
		if prev.Cmd == "ARG" {
			for _, a := range prev.Args {
				if strings.HasPrefix(a, "#") {
					break
				}
				if n, def, has := strings.Cut(a, "="); volatile(n, def, has) && !toolchainVersion(s, n) {
					return prev.Line, "ARG " + n + " at line"
				}
			}
		}
	}
	return 0, ""
}

// passedOn reports an ENV that hands a variable on to every later RUN
// (ENV APP_VERSION=$VERSION); ref matches a reference to it.
func passedOn(in *Instr, ref *regexp.Regexp) bool {
	if in.Cmd != "ENV" {
		return false
	}
	for i := 1; i < len(in.Args); i += 3 {
		if ref.MatchString(in.Args[i]) {
			return true
		}
	}
	return false
}

func checkInstallCleanup(f *File, _ *Context) []Finding {
	var out []Finding
	for _, s := range f.Stages {
		for _, in := range s.Instrs {
			if in.Cmd != "RUN" {
				continue
			}
			since, reason := rerunsRoutinely(f, s, in)
			if since == 0 {
				continue
			}
			env, _ := stageEnv(f, s, in)
			targets := mountTargets(in, env)
			for _, words := range in.Commands() {
				t := recognise(words, env, f.image(s))
				if t == nil || !t.system {
					continue
				}
				if cleansUp(t, in.Text()) || slices.ContainsFunc(t.caches, func(c cache) bool { return covered(targets, c) }) {
					continue
				}
				fix := "RUN apt-get update && apt-get install -y --no-install-recommends PACKAGES && rm -rf /var/lib/apt/lists/*"
				switch t.name {
				case "apk add":
					fix = "RUN apk add --no-cache PACKAGES"
				case "dnf install", "yum install", "microdnf install":
					cmd := strings.TrimSuffix(t.name, " install")
					fix = fmt.Sprintf("RUN %s install -y PACKAGES && %s clean all", cmd, cmd)
				}
				out = append(out, Finding{Line: in.Line, Severity: Warning,
					Message: fmt.Sprintf("`%s` re-runs whenever %s %d changes, and neither cleans up nor uses a cache mount: every run downloads the packages and leaves the lists in the layer",
						t.name, reason, since),
					Fix: fix + "\n(or move the install above line " + fmt.Sprint(since) + ")"})
				break
			}
		}
	}
	return out
}

// --- toolchain-final ---

// toolchainOf names the toolchain an image carries, from its repository's
// last path element, whoever publishes it (maven:3.9, bitnami/maven,
// ubi9/openjdk-21, a-team/jdk-maven): golang, rust, maven, gradle, jdk, or "".
func toolchainOf(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	repo := strings.ToLower(path.Base(ref))
	repo, _, _ = strings.Cut(repo, ":")
	switch {
	case repo == "golang":
		return "golang"
	case repo == "rust" || strings.HasPrefix(repo, "rust-"):
		return "rust"
	case strings.Contains(repo, "maven"):
		return "maven"
	case strings.Contains(repo, "gradle"):
		return "gradle"
	case strings.Contains(repo, "jdk"):
		return "jdk"
	}
	return ""
}

// runtimeStage is the final stage to suggest for each toolchain: a JVM
// program needs a JRE, a Rust one libc, a Go one usually nothing.
var runtimeStage = map[string]string{
	"golang": "FROM gcr.io/distroless/static (or scratch for a static binary, debian:12-slim if it needs libc)\nCOPY --from=build /path/to/binary /app",
	"rust":   "FROM gcr.io/distroless/cc (or debian:12-slim)\nCOPY --from=build /path/to/target/release/app /app",
	"maven":  "FROM eclipse-temurin:21-jre (or gcr.io/distroless/java21)\nCOPY --from=build /path/to/target/app.jar /app.jar",
	"gradle": "FROM eclipse-temurin:21-jre (or gcr.io/distroless/java21)\nCOPY --from=build /path/to/build/libs/app.jar /app.jar",
	"jdk":    "FROM eclipse-temurin:21-jre (or gcr.io/distroless/java21)\nCOPY --from=build /path/to/app.jar /app.jar",
}

func checkToolchainFinal(f *File, _ *Context) []Finding {
	if len(f.Stages) == 0 {
		return nil
	}
	last := f.Stages[len(f.Stages)-1]
	base := f.root(last)
	image := toolchainOf(base.Base)
	if image == "" {
		return nil
	}
	for _, in := range last.Instrs {
		if in.Cmd != "RUN" {
			continue
		}
		for _, words := range in.Commands() {
			w := strings.Join(words, " ")
			if strings.HasPrefix(w, "go build") || strings.HasPrefix(w, "cargo build") ||
				strings.HasPrefix(w, "mvn") && (contains(words, "package") || contains(words, "install")) ||
				(strings.HasPrefix(w, "gradle") || strings.HasPrefix(w, "./gradlew")) && contains(words, "build") {
				return []Finding{{Line: last.From.Line, Severity: Warning,
					Message: fmt.Sprintf("the final image is %s, so it ships the whole %s toolchain and the build's caches; only the build's output is needed at run time",
						base.Base, image),
					Fix: fmt.Sprintf("build in a stage and copy the result into a small final stage:\nFROM %s AS build\n...\n%s",
						base.Base, runtimeStage[image])}}
			}
		}
	}
	return nil
}

// --- duplicate-deps ---

func checkDuplicateDeps(f *File, _ *Context) []Finding {
	type install struct {
		stage *Stage
		in    *Instr
	}
	seen := map[string]install{}
	var out []Finding
	for _, s := range f.Stages {
		for _, in := range s.Instrs {
			if in.Cmd != "RUN" {
				continue
			}
			if !installsDeps(f, s, in) {
				continue
			}
			// The same command over other files is another install: the key
			// holds what the stage chain copied in, and where, before it.
			key := s.Base + "\x00" + strings.Join(strings.Fields(in.Text()), " ") + "\x00" + copiedBefore(f, s, in)
			prev, ok := seen[key]
			if ok && !derives(f, s, prev.stage) {
				out = append(out, Finding{Line: in.Line, Severity: Warning,
					Message: fmt.Sprintf("stage %s installs the same dependencies as stage %s (line %d), so every dependency change downloads them twice",
						stageName(s), stageName(prev.stage), prev.in.Line),
					Fix: fmt.Sprintf("install them once in a deps stage and start both from it:\nFROM %s AS deps\n...\n%s\nFROM deps AS %s",
						s.Base, firstLine(in.Original), stageName(s))})
				continue
			}
			if !ok {
				seen[key] = install{s, in}
			}
		}
	}
	return out
}

// copiedBefore describes what the stage chain of s copied in, and the
// working directories, up to instruction upto.
func copiedBefore(f *File, s *Stage, upto *Instr) string {
	var b strings.Builder
	if parent := f.stage(s.Base); parent != nil && parent.Index < s.Index {
		b.WriteString(copiedBefore(f, parent, nil))
	}
	for _, in := range s.Instrs {
		if in == upto {
			break
		}
		if in.Cmd == "COPY" || in.Cmd == "ADD" || in.Cmd == "WORKDIR" {
			fmt.Fprintf(&b, "%s %q %q\n", in.Cmd, in.Flag("from"), in.Args)
		}
	}
	return b.String()
}

// derives reports whether stage s starts (directly or not) from stage p.
func derives(f *File, s, p *Stage) bool {
	for cur := f.stage(s.Base); cur != nil; cur = f.stage(cur.Base) {
		if cur == p {
			return true
		}
		if cur.Index >= s.Index {
			return false
		}
	}
	return false
}

func stageName(s *Stage) string {
	if s.Name != "" {
		return s.Name
	}
	return fmt.Sprint(s.Index)
}

// --- whole-source-part ---

func checkWholeSourcePart(f *File, _ *Context) []Finding {
	type build struct {
		in   *Instr
		part string
	}
	var builds []build
	for _, s := range f.Stages {
		copied, rest := afterSourceCopy(s)
		if copied == nil {
			continue
		}
		for _, in := range rest {
			if in.Cmd == "RUN" {
				if part := builtPart(in); part != "" {
					builds = append(builds, build{in, part})
					break
				}
			}
		}
	}
	var out []Finding
	for _, b := range builds {
		for _, other := range builds {
			if other.part != b.part {
				out = append(out, Finding{Line: b.in.Line, Severity: Warning,
					Message: fmt.Sprintf("stage %s copies the whole source but builds only %s, and stage %s does the same for %s: an edit to either part re-runs both builds (and, as separate targets, gives both images new tags)",
						stageName(b.in.Stage), b.part, stageName(other.in.Stage), other.part),
					Fix: fmt.Sprintf("copy what %s reads instead of COPY . . (its directory and the shared code it uses)", b.part)})
				break
			}
		}
	}
	return out
}

// builtPart is the one part a RUN builds, as written (./cmd/api for go
// build, the package for cargo -p, the workspace for npm -w), or "".
func builtPart(in *Instr) string {
	for _, words := range in.Commands() {
		if len(words) < 3 {
			continue
		}
		switch {
		case words[0] == "go" && (words[1] == "build" || words[1] == "install"):
			var parts []string
			for _, w := range words[2:] {
				if strings.HasPrefix(w, "./") && w != "./" && !strings.HasSuffix(w, "...") {
					parts = append(parts, w)
				}
			}
			if len(parts) == 1 {
				return parts[0]
			}
		case words[0] == "cargo" || words[0] == "npm" || words[0] == "pnpm" || words[0] == "yarn":
			if p := flagValue(words, "-p", "--package", "--bin", "-w", "--workspace", "--filter", "workspace"); p != "" {
				return p + " (" + words[0] + ")"
			}
		}
	}
	return ""
}

// flagValue is the value of the first of names in words (NAME VALUE or
// NAME=VALUE), or "".
func flagValue(words []string, names ...string) string {
	for i, w := range words {
		for _, n := range names {
			if w == n && i+1 < len(words) && !strings.HasPrefix(words[i+1], "-") {
				return words[i+1]
			}
			if v, ok := strings.CutPrefix(w, n+"="); ok && strings.HasPrefix(n, "--") {
				return v
			}
		}
	}
	return ""
}

// CheckProject finds what only several Dockerfiles together show: two
// files (built from the same directory) whose stages install the same
// dependencies separately instead of sharing a stage. dirs are the files'
// build contexts, as for Check.
func CheckProject(files []*File, dirs []string) []Finding {
	type install struct {
		f  *File
		s  *Stage
		in *Instr
	}
	seen := map[string]install{}
	var out []Finding
	for i, f := range files {
		for _, s := range f.Stages {
			for _, in := range s.Instrs {
				if in.Cmd != "RUN" || !installsDeps(f, s, in) {
					continue
				}
				key := dirs[i] + "\x00" + f.image(s) + "\x00" + strings.Join(strings.Fields(in.Text()), " ") + "\x00" + copiedBefore(f, s, in)
				prev, ok := seen[key]
				if !ok {
					seen[key] = install{f, s, in}
					continue
				}
				if prev.f == f {
					continue // one file's own duplicates are duplicate-deps's
				}
				out = append(out, Finding{Path: f.Path, Line: in.Line, Rule: "duplicate-deps", Severity: Warning,
					Message: fmt.Sprintf("stage %s installs the same dependencies from the same manifests as stage %s of %s (line %d), so every dependency change downloads and builds them twice",
						stageName(s), stageName(prev.s), prev.f.Path, prev.in.Line),
					Fix: fmt.Sprintf("build both images from one Dockerfile: a deps stage that runs\n%s\nand a target per image that starts FROM deps (image jobs with target: share its cache)",
						firstLine(in.Original))})
			}
		}
	}
	return out
}

// installsDeps reports whether a RUN downloads or builds the project's
// dependencies.
func installsDeps(f *File, s *Stage, in *Instr) bool {
	env, _ := stageEnv(f, s, in)
	for _, words := range in.Commands() {
		if t := recognise(words, env, f.image(s)); t != nil && t.deps {
			return true
		}
	}
	return false
}
