package controller

import (
	"strings"
	"testing"
)

// FuzzParsePush: any body decodes to an error, a reason to ignore it, or
// a push of a branch to a full commit id; never a panic.
func FuzzParsePush(f *testing.F) {
	f.Add([]byte(`{"ref":"refs/heads/main","before":"` + strings.Repeat("0", 40) + `","after":"` + strings.Repeat("a", 40) + `","repository":{"name":"app"}}`))
	f.Add([]byte(`{"ref":"refs/tags/v1","after":"x"}`))
	f.Add([]byte(`{"ref":"refs/heads/x","deleted":true}`))
	f.Add([]byte(`{"commits":[{"added":["a"],"removed":null}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, ignore, err := parsePush(body)
		if err != nil || ignore != "" {
			return
		}
		if ev.branch() == "" || !strings.HasPrefix(ev.Ref, "refs/heads/") || !fullSHA.MatchString(ev.After) {
			t.Fatalf("accepted a push that is not one: %+v", ev)
		}
		if validSignature(secret, body, "sha256=00") {
			t.Fatal("a wrong signature passed")
		}
		if !validSignature(secret, body, sign(body)) {
			t.Fatal("the right signature failed")
		}
	})
}
