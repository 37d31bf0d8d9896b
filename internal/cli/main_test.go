package cli

import (
	"os"
	"runtime/debug"
	"testing"
)

// A plan of up to 2,000 jobs gets the collector twice its default room, a
// bigger one the default; GOGC, when set, is left alone.
func TestGCRoom(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	if v, ok := os.LookupEnv("GOGC"); ok {
		defer os.Setenv("GOGC", v)
	}
	os.Unsetenv("GOGC")
	for _, c := range []struct{ jobs, want int }{{0, 200}, {2000, 200}, {2001, 100}, {10, 200}} {
		gcRoom(c.jobs)
		if got := debug.SetGCPercent(100); got != c.want {
			t.Errorf("%d jobs: GOGC %d, want %d", c.jobs, got, c.want)
		}
	}
	os.Setenv("GOGC", "50")
	defer os.Unsetenv("GOGC")
	debug.SetGCPercent(50)
	gcRoom(10)
	if got := debug.SetGCPercent(100); got != 50 {
		t.Errorf("with GOGC set: GOGC %d, want it left at 50", got)
	}
}
