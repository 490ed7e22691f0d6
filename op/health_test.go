package op

import (
	"testing"

	"github.com/dilqr/dilqr/op/ilqr"
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
