package remote

import (
	"bufio"
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config is the project file's `cache:` settings.
type Config struct {
	Remote      string
	Trusted     []string
	RemoteWrite *bool
	Where       string // "FILE:LINE" of `remote:`, for messages
}

// DefaultTrusted are the namespaces read after the run's own when the
// project file names none.
var DefaultTrusted = []string{"main"}

// DefaultTimeout bounds a request, and a transfer that stops moving.
const DefaultTimeout = 10 * time.Second

// SetupError is a remote cache setting that cannot work: the run stops
// before any job (exit 2).
type SetupError struct {
	Setting string // where the value came from: a flag, a variable, FILE:LINE
	Msg     string
	Fix     string
}

func (e *SetupError) Error() string { return e.Setting + ": " + e.Msg }

// Hint says what to set.
func (e *SetupError) Hint() string { return e.Fix }

// Resolve works out a run's remote cache from the project file's settings,
// the environment and --remote-cache (flag; "" when not given). It returns
// nil when there is none (or it is "off").
//
//	SPARKWING_REMOTE_CACHE          the URL, over the project file's
//	SPARKWING_CACHE_NAMESPACE       where the run writes (default: the git branch)
//	SPARKWING_CACHE_KEY[_FILE]      the signing key (without one: read-only)
//	SPARKWING_REMOTE_CACHE_TOKEN    bearer auth; or _USER and _PASSWORD (basic),
//	                                or the host's line in $NETRC (~/.netrc)
//	SPARKWING_REMOTE_CACHE_TIMEOUT  per request (default 10s)
//	SPARKWING_REMOTE_UPLOAD_WAIT    how long a run waits for its uploads at its end
//	                                (default 1m; read by the run command)
func Resolve(cfg Config, flag string, getenv func(string) string, root string) (*Settings, error) {
	raw, setting := cfg.Remote, cmp.Or(cfg.Where, "the project file's cache.remote")
	if v := getenv("SPARKWING_REMOTE_CACHE"); v != "" {
		raw, setting = v, "SPARKWING_REMOTE_CACHE"
	}
	if flag != "" {
		raw, setting = flag, "--remote-cache"
	}
	if raw == "" || raw == "off" {
		return nil, nil
	}
	u, err := parseURL(raw, setting, setting == cfg.Where || setting == "the project file's cache.remote")
	if err != nil {
		return nil, err
	}
	s := &Settings{Trusted: cfg.Trusted, Timeout: DefaultTimeout}
	if s.Trusted == nil {
		s.Trusted = DefaultTrusted
	}
	if v := getenv("SPARKWING_REMOTE_CACHE_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, &SetupError{"SPARKWING_REMOTE_CACHE_TIMEOUT", fmt.Sprintf("%q is not a duration", v), "write it as Go does, e.g. 10s or 1m"}
		}
		s.Timeout = d
	}
	if s.Key, err = signingKey(getenv); err != nil {
		return nil, err
	}
	s.Write = s.Key != nil
	if cfg.RemoteWrite != nil {
		if *cfg.RemoteWrite && s.Key == nil {
			return nil, &SetupError{cmp.Or(cfg.Where, "cache.remote_write"), "remote_write is true but there is no signing key",
				"set SPARKWING_CACHE_KEY (or SPARKWING_CACHE_KEY_FILE) to the team's key; without it a run only reads"}
		}
		s.Write = *cfg.RemoteWrite
	}
	s.Namespace = cmp.Or(getenv("SPARKWING_CACHE_NAMESPACE"), gitBranch(root), "detached")
	if strings.ContainsAny(s.Namespace, "\x00\n") {
		return nil, &SetupError{"SPARKWING_CACHE_NAMESPACE", "a namespace is one line", "set it to a branch-like name"}
	}
	if u.Scheme != "s3" {
		s.Auth = httpAuth(u, getenv)
	}
	u.User = nil
	s.URL = u.String()
	return s, nil
}

// parseURL checks a remote cache URL. Credentials are refused in the
// project file (it is committed); elsewhere they become basic auth.
func parseURL(raw, setting string, inFile bool) (*url.URL, error) {
	form := "write http(s)://HOST[:PORT]/PREFIX (bazel-remote's HTTP protocol) or s3://BUCKET/PREFIX, or off"
	u, err := url.Parse(raw)
	if err != nil {
		why := err
		var ue *url.Error
		if errors.As(err, &ue) {
			why = ue.Err // without the value, which may hold a password
		}
		return nil, &SetupError{setting, fmt.Sprintf("the value is not a URL (%v)", why), form}
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "s3":
		return nil, &SetupError{setting, fmt.Sprintf("unknown scheme %q in %q", u.Scheme, Display(raw)), form}
	case u.Host == "":
		return nil, &SetupError{setting, fmt.Sprintf("%q has no host (or bucket)", Display(raw)), form}
	case u.RawQuery != "" || u.Fragment != "":
		return nil, &SetupError{setting, fmt.Sprintf("%q has a query or fragment", Display(raw)), form}
	case u.User != nil && inFile:
		return nil, &SetupError{setting, "credentials in the project file would be committed", "remove them from the URL and set SPARKWING_REMOTE_CACHE_TOKEN, or _USER and _PASSWORD, or a line in ~/.netrc"}
	case u.User != nil && u.Scheme == "s3":
		return nil, &SetupError{setting, "an s3:// URL takes no credentials", "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile in ~/.aws/credentials)"}
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// signingKey is the team's key: SPARKWING_CACHE_KEY, or the content of the
// file SPARKWING_CACHE_KEY_FILE names.
func signingKey(getenv func(string) string) ([]byte, error) {
	key, setting := getenv("SPARKWING_CACHE_KEY"), "SPARKWING_CACHE_KEY"
	if path := getenv("SPARKWING_CACHE_KEY_FILE"); key == "" && path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, &SetupError{"SPARKWING_CACHE_KEY_FILE", fmt.Sprintf("cannot read %s: %v", path, err), "point it at a readable file holding the key"}
		}
		key, setting = strings.TrimSpace(string(data)), "SPARKWING_CACHE_KEY_FILE"
	}
	if key == "" {
		return nil, nil
	}
	if len(key) < 16 {
		return nil, &SetupError{setting, "the signing key is shorter than 16 bytes", "use a long random secret, e.g. `openssl rand -hex 32`"}
	}
	return []byte(key), nil
}

// httpAuth is the Authorization header for u: a bearer token, a user and
// password from the environment or the URL, or the host's netrc line.
func httpAuth(u *url.URL, getenv func(string) string) string {
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	if t := getenv("SPARKWING_REMOTE_CACHE_TOKEN"); t != "" {
		return "Bearer " + t
	}
	if user := getenv("SPARKWING_REMOTE_CACHE_USER"); user != "" {
		return basic(user, getenv("SPARKWING_REMOTE_CACHE_PASSWORD"))
	}
	if u.User != nil {
		pass, _ := u.User.Password()
		return basic(u.User.Username(), pass)
	}
	netrc := getenv("NETRC")
	if netrc == "" {
		if home := getenv("HOME"); home != "" {
			netrc = filepath.Join(home, ".netrc")
		}
	}
	if user, pass, ok := netrcLogin(netrc, u.Hostname()); ok {
		return basic(user, pass)
	}
	return ""
}

// netrcLogin finds host's login and password in a netrc file (or its
// default entry).
func netrcLogin(path, host string) (user, pass string, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Split(bufio.ScanWords)
	var words []string
	for sc.Scan() {
		words = append(words, sc.Text())
	}
	var cur string // the machine the words belong to; "*" for default
	found := map[string][2]string{}
	for i := 0; i < len(words); i++ {
		switch w := words[i]; {
		case w == "machine" && i+1 < len(words):
			i++
			cur = words[i]
		case w == "default":
			cur = "*"
		case (w == "login" || w == "password") && i+1 < len(words) && cur != "":
			i++
			v := found[cur]
			if w == "login" {
				v[0] = words[i]
			} else {
				v[1] = words[i]
			}
			found[cur] = v
		}
	}
	for _, m := range []string{host, "*"} {
		if v, ok := found[m]; ok {
			return v[0], v[1], true
		}
	}
	return "", "", false
}

// gitBranch is the branch checked out in the git checkout holding root
// ("" when detached or not in one), read from .git/HEAD without running
// git.
func gitBranch(root string) string {
	dir := root
	for {
		if _, err := os.Lstat(filepath.Join(dir, ".git")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
	gitDir := filepath.Join(dir, ".git")
	if data, err := os.ReadFile(gitDir); err == nil { // a worktree: "gitdir: PATH"
		if p, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "gitdir: "); ok {
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			gitDir = p
		}
	}
	head, err := os.ReadFile(filepath.Join(gitDir, "HEAD"))
	if err != nil {
		return ""
	}
	ref, ok := strings.CutPrefix(strings.TrimSpace(string(head)), "ref: refs/heads/")
	if !ok {
		return ""
	}
	return ref
}
