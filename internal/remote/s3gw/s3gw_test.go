package s3gw

import (
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	d := strings.Repeat("ab", 32)
	for path, ok := range map[string]bool{
		"/ac/" + d: true, "/cas/" + d: true, "/cas/" + strings.ToUpper(d): false, "/ac/" + d[:63]: false,
		"/other/" + d: false, "/cas/" + d + "/x": false, "/cas/../" + d: false, "/": false, "": false,
	} {
		if _, _, got := parsePath(path); got != ok {
			t.Errorf("parsePath(%q) ok = %v, want %v", path, got, ok)
		}
	}
}

// FuzzParsePath: the gateway's request decoder accepts only /ac/ or /cas/
// and 64 lower-case hex digits, so an object name can never leave the
// prefix.
func FuzzParsePath(f *testing.F) {
	f.Add("/ac/" + strings.Repeat("0", 64))
	f.Add("/cas/../../etc")
	f.Fuzz(func(t *testing.T, path string) {
		kind, digest, ok := parsePath(path)
		if !ok {
			return
		}
		if (kind != "ac" && kind != "cas") || len(digest) != 64 || strings.Trim(digest, "0123456789abcdef") != "" {
			t.Fatalf("accepted %q as %q %q", path, kind, digest)
		}
	})
}
