package project

import (
	"fmt"
	"strings"
	"testing"
)

// TestBraceHeavyGlobsValidateQuickly: globs with hundreds of brace
// alternatives cannot make checking their overlaps blow up (FuzzParse
// found one that took half a minute); such a pair is taken to overlap.
func TestBraceHeavyGlobsValidateQuickly(t *testing.T) {
	in, out := strings.Repeat("{a,b}", 8), strings.Repeat("{c,d}", 8)
	var b strings.Builder
	b.WriteString("pipelines:\n  - name: b\n    jobs:\n")
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&b, "      j%d:\n        run: x\n        outputs: [\"%s/%d\"]\n", i, out, i)
	}
	fmt.Fprintf(&b, "      reads:\n        run: x\n        inputs: [\"%s/**\"]\n        outputs: [\"%s/r\"]\n", in, out)
	_, err := Parse("f.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "overlap") && !strings.Contains(err.Error(), "also declares") {
		t.Fatalf("err = %v", err)
	}
}
