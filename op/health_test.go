package op

import (
	"strings"
	"testing"

	"github.com/dilqr/dilqr/op/ilqr"
	"gorgonia.org/tensor"
)

// TestHealthShares: each example counts once in the share of its outcome,
// from the solver's status and the gradient's: a dependent-constraint
// gradient (zero) with the indefinite ones, a non-finite gradient sweep
// with the non-finite inputs; before a backward pass only the solver's
// statuses count.
func TestHealthShares(t *testing.T) {
	s := Stats{Stats: ilqr.Stats{
		Status:    []ilqr.Status{ilqr.Converged, ilqr.Converged, ilqr.NonFinite, ilqr.IterationLimit, ilqr.Stalled},
		Violation: []float64{0, 1e-10, 0, 0, 3e-10},
	},
		GradStatus: []ilqr.GradStatus{ilqr.GradDependent, ilqr.GradNonFinite, ilqr.GradNonFinite, ilqr.GradSkipped, ilqr.GradRegularized},
		OnBound:    []int{1, 0, 0, 2, 1}, controls: 20}
	want := Health{Unconverged: 0.2, Violation: 3e-10, Indefinite: 0.4, NonFinite: 0.4, OnBound: 0.2}
	if h := s.Health(); h != want {
		t.Errorf("Health() = %+v, want %+v", h, want)
	}
	s.GradStatus = nil
	want = Health{Unconverged: 0.2, Violation: 3e-10, NonFinite: 0.2, OnBound: 0.2}
	if h := s.Health(); h != want {
		t.Errorf("before a backward pass: Health() = %+v, want %+v", h, want)
	}
}

// TestFloat64sDtype: an input of another dtype is refused with an error
// that names the dtype (a float32 tensor is a *tensor.Dense too).
func TestFloat64sDtype(t *testing.T) {
	v := tensor.New(tensor.WithShape(2), tensor.WithBacking([]float32{1, 2}))
	_, err := float64s(v, "psi", tensor.Shape{2})
	if err == nil || !strings.Contains(err.Error(), "psi must be float64, is float32") {
		t.Errorf("error %v, want one naming float32", err)
	}
}
