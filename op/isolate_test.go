package op_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op"
	"github.com/dilqr/dilqr/op/ilqr"
	G "gorgonia.org/gorgonia"
)

// TestOpIsolateNonFinite runs a batch of three whose example 1 has a NaN in
// x0 through a TapeMachine with ilqr.Settings.IsolateNonFinite: the run
// succeeds, example 1's output holds x0 (the NaN as 0) with zero controls
// and its gradients are zero, and examples 0 and 2 get exactly the
// outputs and gradients of a batch without example 1. Stats report every
// example. Without the setting the run fails, naming example 1, with the
// Stats still per example.
func TestOpIsolateNonFinite(t *testing.T) {
	const horizon = 8
	task := models.PendulumTask()
	good := opData{b: 2, x0: slices.Concat(fdtest.AngleState(0.2, 0.1), fdtest.AngleState(-0.3, 0)),
		theta: []float64{10, 1, 1, 9, 1.1, 1}, phi: task.Cost.DefaultParams()}
	good.wx, good.wu = gradWeights(3, 2*horizon, 3, 1)
	bad := opData{b: 3, x0: slices.Concat(good.x0[:3], []float64{math.NaN(), 0, 0.5}, good.x0[3:]),
		theta: slices.Concat(good.theta[:3], []float64{10, 1, 1}, good.theta[3:]), phi: good.phi}
	w1x, w1u := gradWeights(4, horizon, 3, 1)
	bad.wx = slices.Concat(good.wx[:horizon*3], w1x, good.wx[horizon*3:])
	bad.wu = slices.Concat(good.wu[:horizon], w1u, good.wu[horizon:])

	isolate := pendulumOpConfig(horizon, &ilqr.Settings{IsolateNonFinite: true})
	want := runOpTape(t, newOpGraph(t, isolate, good, true), 1)
	got := runOpTape(t, newOpGraph(t, isolate, bad, true), 1)
	if !slices.Equal(got.status, []ilqr.Status{ilqr.Converged, ilqr.NonFinite, ilqr.Converged}) ||
		!slices.Equal(got.gradStatus, []ilqr.GradStatus{ilqr.GradOK, ilqr.GradNonFinite, ilqr.GradOK}) {
		t.Fatalf("statuses %v, gradients %v", got.status, got.gradStatus)
	}
	k := horizon * 4
	if !slices.Equal(got.out[:k], want.out[:k]) || !slices.Equal(got.out[2*k:], want.out[k:]) {
		t.Error("the healthy examples' trajectories differ from a batch without the bad one")
	}
	for s := range horizon {
		if row := got.out[k+s*4 : k+(s+1)*4]; !slices.Equal(row, []float64{0, 0, 0.5, 0}) {
			t.Fatalf("example 1, step %d: output %v, want x0 held (NaN as 0) and u = 0", s, row)
		}
	}
	if !slices.Equal(got.theta[:3], want.theta[:3]) || !slices.Equal(got.theta[6:], want.theta[3:]) ||
		!slices.Equal(got.x0[:3], want.x0[:3]) || !slices.Equal(got.x0[6:], want.x0[3:]) {
		t.Error("the healthy examples' gradients differ from a batch without the bad one")
	}
	if slices.ContainsFunc(slices.Concat(got.theta[3:6], got.x0[3:6]), func(v float64) bool { return v != 0 }) {
		t.Errorf("example 1: dL/dθ %v, dL/dx0 %v, want zeros", got.theta[3:6], got.x0[3:6])
	}
	onBound := 0
	for e := range 3 {
		for s := range horizon {
			if u := got.out[(e*horizon+s)*4+3]; math.Abs(u) == 2 {
				onBound++
			}
		}
	}
	h := got.stats.Health()
	t.Logf("health %+v (%d controls on a bound)", h, onBound)
	if h.NonFinite != 1.0/3 || h.Unconverged != 0 || h.Indefinite != 0 || h.OnBound != float64(onBound)/(3*horizon) {
		t.Errorf("health %+v, want non-finite 1/3, on bound %d/%d", h, onBound, 3*horizon)
	}

	og := newOpGraph(t, pendulumOpConfig(horizon, nil), bad, true)
	vm := G.NewTapeMachine(og.g)
	defer vm.Close()
	err := vm.RunAll()
	if !errors.Is(op.Cause(err), op.ErrBadInput) || !strings.Contains(err.Error(), "example 1") {
		t.Fatalf("without isolation: error %v, want ErrBadInput naming example 1", err)
	}
	if n := len(op.Cause(err).Error()); n > 120 {
		t.Errorf("the Op's error is %d characters long: %q", n, op.Cause(err))
	}
	if st := og.tr.Op.Stats(); !slices.Equal(st.Status, []ilqr.Status{ilqr.Converged, ilqr.NonFinite, ilqr.Converged}) {
		t.Errorf("without isolation: statuses %v", st.Status)
	}
}
