package mounts

import (
	"os"
	"testing"
)

// The mount table escapes a space, a tab, a newline and a backslash in
// octal; Under compares paths as the file system spells them.
func TestUnescape(t *testing.T) {
	if got := unescape(`/a\040b/c\011d\012e\134f`); got != "/a b/c\td\ne\\f" {
		t.Fatalf("unescape: %q", got)
	}
}

// Under finds nothing below a fresh directory, and finds the mounts below
// / (/proc is one).
func TestUnder(t *testing.T) {
	if got := Under(t.TempDir()); len(got) != 0 {
		t.Fatalf("mounts below a fresh directory: %v", got)
	}
	if _, err := os.Stat("/proc/self/mountinfo"); err != nil {
		t.Skip("no /proc/self/mountinfo")
	}
	if len(Under("")) == 0 {
		t.Fatal("no mount below / at all")
	}
}
