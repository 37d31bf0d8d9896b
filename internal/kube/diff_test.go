package kube

import (
	"strings"
	"testing"
)

func TestUnifiedDiff(t *testing.T) {
	a := strings.Split("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl", "\n")
	b := strings.Split("a\nb\nc\nD\ne\nf\ng\nh\ni\nj\nk\nl\nm", "\n")
	want := "@@ -1,7 +1,7 @@\n a\n b\n c\n-d\n+D\n e\n f\n g\n@@ -10,3 +10,4 @@\n j\n k\n l\n+m\n"
	if got := unifiedDiff(a, b, 3); got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
	near := append(append([]string{}, b[:10]...), "m") // the second change 6 lines after the first: one hunk
	if got := unifiedDiff(a[:10], near, 3); got != "@@ -1,10 +1,11 @@\n a\n b\n c\n-d\n+D\n e\n f\n g\n h\n i\n j\n+m\n" {
		t.Errorf("near changes:\n%s", got)
	}
	if got := unifiedDiff(a, a, 3); got != "" {
		t.Errorf("equal inputs differ:\n%s", got)
	}
	if got := unifiedDiff(nil, []string{"x", "y"}, 3); got != "@@ -1,0 +1,2 @@\n+x\n+y\n" {
		t.Errorf("all new:\n%s", got)
	}
}
