package ilqr

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoGorgonia keeps the solver pure: package ilqr and everything it
// imports link no Gorgonia package (envs and other Go programs call it
// without a graph library).
func TestNoGorgonia(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(goCmd, "list", "-deps", ".", "github.com/dilqr/dilqr/models").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "gorgonia.org/") || strings.HasPrefix(p, "github.com/dilqr/dilqr/op") && p != "github.com/dilqr/dilqr/op/ilqr" {
			t.Errorf("op/ilqr or models depends on %s", p)
		}
	}
}
