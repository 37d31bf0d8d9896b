package job

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const gatedArg = "__gated"

// gatedMain is the test binary started behind a gate: it says where it
// is and whether its children would see the gate.
func gatedMain() {
	if !PassGate() {
		os.Exit(3)
	}
	wd, _ := os.Getwd()
	_, leaked := os.LookupEnv(startGateEnv)
	fmt.Printf("in %s, gate in env: %v\n", wd, leaked)
	os.Exit(0)
}

func gated(t *testing.T) (*exec.Cmd, *Gate, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(os.Args[0], gatedArg)
	cmd.Dir = t.TempDir()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	gate, err := NewGate(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, gate, &out
}

// The process waits at its gate until it is told where to go on, goes
// on there, and its children do not inherit the gate; a gate closed with
// nothing said ends it having done nothing.
func TestStartGate(t *testing.T) {
	cmd, gate, out := gated(t)
	dir := t.TempDir()
	if err := gate.Open(dir); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("opened: %v\n%s", err, out)
	}
	if want := fmt.Sprintf("in %s, gate in env: false\n", dir); out.String() != want {
		t.Errorf("opened: %q, want %q", out, want)
	}

	cmd, gate, out = gated(t)
	gate.Close()
	if err := cmd.Wait(); cmd.ProcessState.ExitCode() != 3 || out.Len() > 0 {
		t.Errorf("called off: %v, %q; want exit 3 and no output", err, out)
	}

	// Without a gate, nothing waits.
	plain := exec.Command(os.Args[0], gatedArg)
	plain.Dir = t.TempDir()
	if got, err := plain.Output(); err != nil || !strings.HasPrefix(string(got), "in "+plain.Dir+",") {
		t.Errorf("no gate: %v, %q", err, got)
	}
}
