package remote

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sparkwing-dev/sparkwing/internal/cache"
)

func testEntry(t testing.TB) (*cache.Entry, cache.Key) {
	k := cache.KeyOf("job manifest\n", nil, "job")
	return &cache.Entry{Key: k.String(), Manifest: "job manifest\n", Log: strings.Repeat("a", 64), LogSize: 3,
		Outputs: []cache.Output{{Path: "out/x", Mode: 0o644, Digest: strings.Repeat("b", 64), Size: 5}},
		Created: time.Unix(1, 0).UTC()}, k
}

func TestEnvelope(t *testing.T) {
	e, k := testEntry(t)
	key := []byte("team-key-0123456789")
	data, err := seal(e, "main", key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := open(data, "main", k, key)
	if err != nil || got.Manifest != e.Manifest || len(got.Outputs) != 1 {
		t.Fatalf("open = %+v, %v", got, err)
	}
	if _, err := open(data, "main", k, nil); err != nil {
		t.Errorf("without a key (read-only) a whole envelope opens: %v", err)
	}
	rejected := func(name string, data []byte, ns string, k cache.Key, key []byte, want string) {
		t.Helper()
		_, err := open(data, ns, k, key)
		var rej *RejectedError
		if !errors.As(err, &rej) || !strings.Contains(rej.Why, want) {
			t.Errorf("%s: err = %v, want rejected %q", name, err, want)
		}
	}
	rejected("other key", data, "main", k, []byte("another-key-0123456789"), "another key")
	rejected("other namespace", data, "pr-12", k, key, `written by namespace "main"`)
	unsignedData, _ := seal(e, "main", nil)
	rejected("unsigned", unsignedData, "main", k, key, "unsigned")
	for i := range data {
		flipped := append([]byte(nil), data...)
		flipped[i] ^= 1
		if got, err := open(flipped, "main", k, key); err == nil {
			t.Fatalf("a flipped bit at %d was accepted: %+v", i, got)
		}
	}
	other := cache.KeyOf("other\n", nil, "job")
	if _, err := open(data, "main", other, key); err == nil {
		t.Error("an envelope for another key was accepted")
	}
	if Address("main", k) == Address("pr-12", k) {
		t.Error("namespaces share an address")
	}
}

// FuzzOpenEnvelope: whatever a server answers, open never panics, and
// what it accepts re-seals to the same bytes (nothing in it was ignored).
func FuzzOpenEnvelope(f *testing.F) {
	e, k := testEntry(f)
	key := []byte("team-key-0123456789")
	data, _ := seal(e, "main", key)
	f.Add(data)
	unsignedData, _ := seal(e, "main", nil)
	f.Add(unsignedData)
	f.Add([]byte(envelopeMagic + "unsigned\n{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, key := range [][]byte{key, nil} {
			got, err := open(data, "main", k, key)
			if err != nil {
				continue
			}
			if got.Key != k.String() {
				t.Fatalf("accepted an entry for %s", got.Key)
			}
			if key != nil {
				again, err := seal(got, "main", key)
				if err != nil || string(again) != string(data) {
					t.Fatalf("accepted an envelope that does not re-seal to itself")
				}
			}
		}
	})
}

func TestResolve(t *testing.T) {
	home := t.TempDir()
	os.WriteFile(filepath.Join(home, ".netrc"), []byte("machine cache.example.com login ci password s3cret\ndefault login anon password x\n"), 0o600)
	yes := true
	for _, tc := range []struct {
		name string
		cfg  Config
		flag string
		env  map[string]string
		want string // "URL ns write auth" or "error: substring"
	}{
		{"none", Config{}, "", nil, "nil"},
		{"off wins", Config{Remote: "http://a/x"}, "off", nil, "nil"},
		{"file", Config{Remote: "http://a/x/"}, "", map[string]string{"SPARKWING_CACHE_NAMESPACE": "main"}, "http://a/x main false "},
		{"env over file", Config{Remote: "http://a/x"}, "", map[string]string{"SPARKWING_REMOTE_CACHE": "https://b/y", "SPARKWING_CACHE_NAMESPACE": "n"}, "https://b/y n false "},
		{"flag over env", Config{}, "s3://bucket/p", map[string]string{"SPARKWING_REMOTE_CACHE": "https://b/y", "SPARKWING_CACHE_NAMESPACE": "n"}, "s3://bucket/p n false "},
		{"key writes", Config{Remote: "http://a"}, "", map[string]string{"SPARKWING_CACHE_KEY": "0123456789abcdef", "SPARKWING_CACHE_NAMESPACE": "n"}, "http://a n true "},
		{"bearer", Config{Remote: "http://a"}, "", map[string]string{"SPARKWING_REMOTE_CACHE_TOKEN": "tok", "SPARKWING_CACHE_NAMESPACE": "n"}, "http://a n false Bearer tok"},
		{"userinfo from env", Config{}, "", map[string]string{"SPARKWING_REMOTE_CACHE": "http://u:p@a/x", "SPARKWING_CACHE_NAMESPACE": "n"}, "http://a/x n false Basic dTpw"},
		{"netrc", Config{Remote: "https://cache.example.com/x"}, "", map[string]string{"HOME": home, "SPARKWING_CACHE_NAMESPACE": "n"}, "https://cache.example.com/x n false Basic Y2k6czNjcmV0"},
		{"netrc default", Config{Remote: "https://other.example.com/x"}, "", map[string]string{"HOME": home, "SPARKWING_CACHE_NAMESPACE": "n"}, "https://other.example.com/x n false Basic YW5vbjp4"},
		{"userinfo in file", Config{Remote: "http://u:p@a/x", Where: "f.yaml:3"}, "", nil, "error: f.yaml:3: credentials"},
		{"scheme", Config{}, "gs://b", nil, `error: --remote-cache: unknown scheme "gs"`},
		{"no host", Config{}, "http:///x", nil, "error: has no host"},
		{"query", Config{}, "http://a/x?y=1", nil, "error: query"},
		{"write without key", Config{Remote: "http://a", RemoteWrite: &yes}, "", nil, "error: no signing key"},
		{"short key", Config{Remote: "http://a"}, "", map[string]string{"SPARKWING_CACHE_KEY": "short"}, "error: shorter than 16"},
		{"bad timeout", Config{Remote: "http://a"}, "", map[string]string{"SPARKWING_REMOTE_CACHE_TIMEOUT": "soon"}, "error: SPARKWING_REMOTE_CACHE_TIMEOUT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Resolve(tc.cfg, tc.flag, func(k string) string { return tc.env[k] }, t.TempDir())
			var got string
			switch {
			case err != nil:
				got = "error: " + err.Error()
			case s == nil:
				got = "nil"
			default:
				got = strings.Join([]string{s.URL, s.Namespace, map[bool]string{true: "true", false: "false"}[s.Write], s.Auth}, " ")
			}
			if strings.HasPrefix(tc.want, "error: ") && strings.Contains(got, strings.TrimPrefix(tc.want, "error: ")) {
				return
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNamespaceIsTheBranch(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, ".git"), 0o755)
	os.WriteFile(filepath.Join(root, ".git", "HEAD"), []byte("ref: refs/heads/feature/x\n"), 0o644)
	sub := filepath.Join(root, "svc")
	os.MkdirAll(sub, 0o755)
	s, err := Resolve(Config{Remote: "http://a"}, "", func(string) string { return "" }, sub)
	if err != nil || s.Namespace != "feature/x" {
		t.Fatalf("namespace = %v, %v; want the branch feature/x", s, err)
	}
	os.WriteFile(filepath.Join(root, ".git", "HEAD"), []byte("0123456789abcdef0123456789abcdef01234567\n"), 0o644)
	if s, _ := Resolve(Config{Remote: "http://a"}, "", func(string) string { return "" }, sub); s.Namespace != "detached" {
		t.Errorf("a detached HEAD's namespace = %q", s.Namespace)
	}
}

func TestDisplayHidesCredentials(t *testing.T) {
	if got := Display("https://ci:hunter2@cache.example.com/x"); strings.Contains(got, "hunter2") || strings.Contains(got, "ci@") {
		t.Errorf("Display = %q", got)
	}
}
