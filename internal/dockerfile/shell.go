package dockerfile

import (
	"path"
	"strings"
)

// commands splits a RUN instruction's shell text into simple commands,
// each a list of words: on &&, ||, ;, |, & and newlines, outside quotes.
// It is a reader's approximation of sh, enough to recognise `go build` or
// `npm ci` wherever they sit in a chain; a rule that needs more says so.
func commands(text string) [][]string {
	out := splitCommands(text)
	// Leading environment assignments, wrappers and the shell's keywords
	// (`if cond; then cmd`, `for x in ...; do cmd`) are not the command.
	for i, w := range out {
		for len(w) > 1 {
			if assignment(w[0]) || prefixWords[w[0]] {
				w = w[1:]
			} else if len(w) > 2 && w[1] == "run" && envRunners[w[0]] { // poetry run pip install …
				w = w[2:]
			} else {
				break
			}
		}
		out[i] = w
	}
	return out
}

// envRunners run a command inside the project's environment (`poetry run
// pip install gunicorn`): the command is what follows `run`.
var envRunners = map[string]bool{"poetry": true, "pipenv": true, "uv": true, "pdm": true, "hatch": true}

// assignment: a word that sets a variable for the command after it.
func assignment(w string) bool { return strings.Contains(w, "=") && !strings.HasPrefix(w, "-") }

// splitCommands is commands without taking off what precedes each one.
func splitCommands(text string) [][]string {
	var out [][]string
	var words []string
	var word strings.Builder
	inWord := false
	flushWord := func() {
		if inWord {
			words = append(words, word.String())
			word.Reset()
			inWord = false
		}
	}
	flushCmd := func() {
		flushWord()
		if len(words) > 0 {
			out = append(out, words)
			words = nil
		}
	}
	var quote rune
	runes := []rune(text)
	for i := 0; i < len(runes); i++ {
		c := runes[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				word.WriteRune(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == '\\' && i+1 < len(runes):
			i++
			if runes[i] != '\n' {
				word.WriteRune(runes[i])
				inWord = true
			}
		case c == ' ' || c == '\t':
			flushWord()
		case c == '\n' || c == ';' || c == '&' || c == '|' || c == '(' || c == ')':
			flushCmd()
		default:
			word.WriteRune(c)
			inWord = true
		}
	}
	flushCmd()
	return out
}

var prefixWords = map[string]bool{"sudo": true, "exec": true, "time": true, "env": true, "nice": true,
	"then": true, "else": true, "do": true, "if": true, "elif": true, "while": true, "until": true, "!": true}

// valueFlags take their value as the next word (`yarn --network-timeout
// 600000 install`, `go -C dir build`), which is then not a subcommand.
var valueFlags = map[string]bool{"-C": true, "--cwd": true, "--prefix": true, "--network-timeout": true, "--mutex": true,
	"--registry": true, "--manifest-path": true, "--target-dir": true, "--filter": true, "-F": true, "--dir": true, "--cache-folder": true}

// subcommand is the first word after the command that is neither a flag,
// a flag's value, nor a toolchain selector (`cargo +nightly build`).
func subcommand(words []string) string {
	for i := 1; i < len(words); i++ {
		w := words[i]
		switch {
		case valueFlags[w]:
			i++
		case strings.HasPrefix(w, "-") || strings.HasPrefix(w, "+"):
		default:
			return w
		}
	}
	return ""
}

// A tool is a recognised toolchain command and the caches it uses.
type tool struct {
	name   string   // "go build", "npm ci", ...
	caches []cache  // what a cache mount should cover
	deps   bool     // it downloads dependencies (a dependency step)
	system bool     // an OS package manager (apt, apk)
	words  []string // the command as written
}

// cache is one directory a tool keeps its downloads or build results in.
type cache struct {
	what  string   // "Go build cache"
	paths []string // where it can be (first: the default to suggest)
	env   string   // the variable that moves it
	extra string   // mount options to suggest besides target, e.g. sharing=locked
}

func home(env map[string]string) string {
	if h := env["HOME"]; h != "" {
		return h
	}
	return "/root"
}

// recognise returns the toolchain commands in a RUN's shell text. env is
// the stage's environment (ENV and what it inherits); base the image.
func recognise(words []string, env map[string]string, base string) *tool {
	if len(words) == 0 {
		return nil
	}
	cmd := path.Base(words[0])
	sub := subcommand(words)
	switch {
	case cmd == "xx-cargo": // tonistiigi/xx's cross-compiling wrapper
		cmd = "cargo"
	case cmd == "cargo" && (sub == "auditable" || sub == "zigbuild"): // cargo auditable build, cargo zigbuild
		if sub == "zigbuild" {
			sub = "build"
		} else {
			sub = subcommand(words[1:])
		}
	}
	h := home(env)
	goMod := cache{what: "Go module cache", env: "GOMODCACHE", paths: []string{h + "/go/pkg/mod"}}
	if gp := env["GOPATH"]; gp != "" {
		goMod.paths = []string{gp + "/pkg/mod"}
	} else if isImage(base, "golang") {
		goMod.paths = []string{"/go/pkg/mod"}
	} else {
		goMod.paths = append(goMod.paths, "/go/pkg/mod") // an image may set GOPATH=/go
	}
	goBuild := cache{what: "Go build cache", env: "GOCACHE", paths: []string{h + "/.cache/go-build"}}
	t := &tool{words: words}
	switch {
	case cmd == "go" && sub == "mod" && contains(words, "download"):
		t.name, t.deps, t.caches = "go mod download", true, []cache{goMod}
	case cmd == "go" && (sub == "build" || sub == "install" || sub == "test" || sub == "vet" || sub == "run" || sub == "generate"):
		t.name, t.caches = "go "+sub, []cache{goBuild, goMod}
		if hasArg(words, "-mod=vendor") || env["GOFLAGS"] == "-mod=vendor" {
			t.caches = []cache{goBuild}
		}
	case cmd == "cargo" && (sub == "build" || sub == "install" || sub == "test" || sub == "fetch" || sub == "chef" && contains(words, "cook")):
		reg := cache{what: "Cargo registry", paths: []string{h + "/.cargo/registry"}}
		if ch := env["CARGO_HOME"]; ch != "" {
			reg.paths = []string{ch + "/registry"}
		} else if isImage(base, "rust") {
			reg.paths = []string{"/usr/local/cargo/registry"}
		} else {
			reg.paths = append(reg.paths, "/usr/local/cargo/registry")
		}
		t.name, t.deps, t.caches = "cargo "+sub, sub == "fetch", []cache{reg}
	case cmd == "npm" && (sub == "ci" || sub == "install" || sub == "i"):
		t.name, t.deps = "npm "+sub, true
		t.caches = []cache{{what: "npm cache", env: "npm_config_cache", paths: []string{h + "/.npm"}}}
	case cmd == "yarn" && (sub == "" || sub == "install" || sub == "workspaces" && contains(words, "focus")): // yarn 2+: workspaces focus installs
		t.name, t.deps = "yarn install", true
		t.caches = []cache{{what: "Yarn cache", env: "YARN_CACHE_FOLDER",
			paths: []string{"/usr/local/share/.cache/yarn", h + "/.cache/yarn", h + "/.yarn/berry/cache"}}}
		if sub == "workspaces" { // only Yarn 2+ has it, whose global cache is under ~/.yarn/berry
			t.caches[0].paths = []string{h + "/.yarn/berry/cache", "/usr/local/share/.cache/yarn", h + "/.cache/yarn"}
		}
	case cmd == "bun" && (sub == "install" || sub == "i"):
		t.name, t.deps = "bun install", true
		t.caches = []cache{{what: "Bun cache", env: "BUN_INSTALL_CACHE_DIR", paths: []string{h + "/.bun/install/cache"}}}
	case cmd == "pnpm" && (sub == "install" || sub == "i" || sub == "fetch"):
		t.name, t.deps = "pnpm "+sub, true
		t.caches = []cache{{what: "pnpm store", env: "PNPM_STORE_DIR", paths: []string{"/pnpm/store", h + "/.local/share/pnpm/store"}}}
	case (cmd == "pip" || cmd == "pip3" || (strings.HasPrefix(cmd, "python") && contains(words, "pip"))) && (contains(words, "install") || contains(words, "wheel")):
		t.name, t.deps = "pip install", true
		t.caches = []cache{{what: "pip cache", env: "PIP_CACHE_DIR", paths: []string{h + "/.cache/pip"}}}
	case cmd == "uv" && (sub == "sync" || sub == "pip"):
		t.name, t.deps = "uv "+sub, true
		t.caches = []cache{{what: "uv cache", env: "UV_CACHE_DIR", paths: []string{h + "/.cache/uv"}}}
	case cmd == "poetry" && sub == "install":
		t.name, t.deps = "poetry install", true
		t.caches = []cache{{what: "Poetry cache", env: "POETRY_CACHE_DIR", paths: []string{h + "/.cache/pypoetry"}}}
	case cmd == "mvn" || cmd == "mvnw":
		t.name, t.deps = "mvn", contains(words, "dependency:go-offline") || contains(words, "dependency:resolve")
		t.caches = []cache{{what: "Maven repository", paths: []string{h + "/.m2"}}}
	case cmd == "gradle" || cmd == "gradlew":
		t.name = "gradle"
		t.caches = []cache{{what: "Gradle cache", env: "GRADLE_USER_HOME", paths: []string{h + "/.gradle"}}}
	case (cmd == "apt-get" || cmd == "apt") && (sub == "install" || sub == "upgrade" || sub == "dist-upgrade"):
		t.name, t.system = "apt-get install", true
		t.caches = []cache{
			{what: "apt package cache", paths: []string{"/var/cache/apt"}, extra: "sharing=locked"},
			{what: "apt lists", paths: []string{"/var/lib/apt"}, extra: "sharing=locked"},
		}
	case cmd == "apk" && sub == "add":
		t.name, t.system = "apk add", true
		t.caches = []cache{{what: "apk cache", paths: []string{"/var/cache/apk"}}}
	case (cmd == "dnf" || cmd == "yum" || cmd == "microdnf") && (sub == "install" || sub == "upgrade" || sub == "update" || sub == "groupinstall"):
		dir := "/var/cache/" + map[string]string{"dnf": "dnf", "yum": "yum", "microdnf": "dnf"}[cmd]
		t.name, t.system = cmd+" install", true
		t.caches = []cache{{what: cmd + " cache", paths: []string{dir}, extra: "sharing=locked"}}
	case (cmd == "bundle" || cmd == "bundler") && sub == "install":
		t.name, t.deps = "bundle install", true
		t.caches = []cache{{what: "Bundler cache", env: "BUNDLE_CACHE_PATH", paths: []string{"/usr/local/bundle/cache", h + "/.bundle/cache"}}}
	default:
		return nil
	}
	for i := range t.caches {
		if c := &t.caches[i]; c.env != "" && env[c.env] != "" {
			c.paths = []string{env[c.env]}
		}
	}
	return t
}

// isImage reports whether ref names the official image (golang, rust, ...)
// with any tag or registry prefix docker.io/library/.
func isImage(ref, name string) bool {
	ref = strings.TrimPrefix(strings.TrimPrefix(ref, "docker.io/"), "library/")
	repo, _, _ := strings.Cut(ref, "@")
	repo, _, _ = strings.Cut(repo, ":")
	return repo == name
}

func contains(words []string, w string) bool {
	for _, x := range words {
		if x == w {
			return true
		}
	}
	return false
}

func hasArg(words []string, prefix string) bool {
	for _, x := range words {
		if strings.HasPrefix(x, prefix) {
			return true
		}
	}
	return false
}
