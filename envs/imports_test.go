package envs

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps the import direction of DESIGN.md: envs may use models
// and the pure solver op/ilqr, but neither Gorgonia (so not op itself) nor
// layer, train or examples.
func TestImports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(goCmd, "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	const mod = "github.com/dilqr/dilqr/"
	for _, p := range strings.Fields(string(out)) {
		for _, banned := range []string{"layer", "train", "examples", "op"} {
			if p == mod+banned || strings.HasPrefix(p, mod+banned+"/") && p != mod+"op/ilqr" {
				t.Errorf("envs depends on %s", p)
			}
		}
		if strings.HasPrefix(p, "gorgonia.org/") {
			t.Errorf("envs links Gorgonia through %s", p)
		}
	}
}
