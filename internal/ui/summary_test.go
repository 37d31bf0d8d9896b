package ui

import (
	"fmt"
	"strings"
	"testing"
)

func TestPathLineKeepsAShortPathWhole(t *testing.T) {
	ids := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}
	if got, want := pathLine(ids), strings.Join(ids, " → "); got != want {
		t.Errorf("pathLine(9 jobs) = %q, want %q", got, want)
	}
}

func TestPathLineShortensALongOne(t *testing.T) {
	var ids []string
	for i := range 500 {
		ids = append(ids, fmt.Sprintf("j%04d", i))
	}
	want := "j0000 → j0001 → j0002 → j0003 → … 492 more … → j0496 → j0497 → j0498 → j0499"
	if got := pathLine(ids); got != want {
		t.Errorf("pathLine(500 jobs) = %q, want %q", got, want)
	}
}
