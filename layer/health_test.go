package layer

import (
	"math"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op"
	"github.com/dilqr/dilqr/op/ilqr"
	G "gorgonia.org/gorgonia"
)

// TestILQRHealth runs a planner of three pendulums forward and backward:
// with IsolateNonFinite and a NaN in example 1's x0, a third of the batch
// is non-finite and the share on a bound is the share of the plan's
// controls at ±2 (example 0 starts hanging down, so its swing-up pushes
// against the bounds); with one solver iteration every example is
// unconverged. Health is all zero before a run.
func TestILQRHealth(t *testing.T) {
	const b, horizon = 3, 10
	starts := [][]float64{fdtest.AngleState(math.Pi-0.1, 0), {math.NaN(), 0, 0}, fdtest.AngleState(0.2, 0)}
	for _, tc := range []struct {
		name      string
		set       ilqr.Settings
		x0        []float64
		nonFinite float64
		unconv    float64
	}{
		{"isolated NaN", ilqr.Settings{IsolateNonFinite: true}, append(append(append([]float64(nil), starts[0]...), starts[1]...), starts[2]...), 1.0 / 3, 0},
		{"one iteration", ilqr.Settings{MaxIter: 1}, append(append(append([]float64(nil), starts[0]...), starts[0]...), starts[2]...), 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := must(t)
			g := G.NewGraph()
			pl := newPlanner(t, g, models.PendulumTask(), ILQRConfig{T: horizon, Batch: b,
				Theta: ParamSpec{Source: Learned}, Solver: op.SolverConfig{Settings: &tc.set,
					Grad: ilqr.GradOptions{Unconverged: ilqr.GradientAnyway}}})
			_, u := plan(t, pl, input(t, g, "x0", tc.x0, b, 3))
			var uv G.Value
			G.Read(u, &uv)
			loss := m(G.Sum(m(G.Square(u))))
			if h := pl.Health(); h != (op.Health{}) {
				t.Errorf("before a run: %+v", h)
			}
			r := newTapeRun(t, g, loss, pl.Learnables(), pl)
			r.run(t, false)
			h := pl.Health()
			if h != pl.Stats().Health() {
				t.Errorf("Health %+v, Stats().Health() %+v", h, pl.Stats().Health())
			}
			onBound := 0
			for _, v := range floats(t, uv) {
				if math.Abs(v) == models.PendulumMaxTorque {
					onBound++
				}
			}
			t.Logf("%+v, statuses %v, %d controls on a bound", h, pl.Stats().Status, onBound)
			if onBound == 0 {
				t.Error("no control on a bound: the test does not check that share")
			}
			if h.NonFinite != tc.nonFinite || h.Unconverged != tc.unconv || h.OnBound != float64(onBound)/(b*horizon) {
				t.Errorf("health %+v, want non-finite %.3g, unconverged %.3g, on bound %d/%d", h, tc.nonFinite, tc.unconv, onBound, b*horizon)
			}
		})
	}
}

// TestHealthMean checks the per-field means, the run count, NaN with no
// runs, and Reset.
func TestHealthMean(t *testing.T) {
	var m HealthMean
	if h := m.Mean(); !math.IsNaN(h.Unconverged) || !math.IsNaN(h.Indefinite) || !math.IsNaN(h.NonFinite) || !math.IsNaN(h.OnBound) {
		t.Errorf("no runs: %+v, want NaN everywhere", h)
	}
	m.Add(op.Health{Unconverged: 0.5, Indefinite: 0.25, NonFinite: 0, OnBound: 0.1})
	m.Add(op.Health{Unconverged: 0, Indefinite: 0.75, NonFinite: 1, OnBound: 0.3})
	want := op.Health{Unconverged: 0.25, Indefinite: 0.5, NonFinite: 0.5, OnBound: 0.2}
	if h := m.Mean(); m.Runs() != 2 || math.Abs(h.OnBound-want.OnBound) > 1e-16 ||
		h.Unconverged != want.Unconverged || h.Indefinite != want.Indefinite || h.NonFinite != want.NonFinite {
		t.Errorf("mean of 2 runs %+v (runs %d), want %+v", h, m.Runs(), want)
	}
	m.Reset()
	if m.Runs() != 0 || !math.IsNaN(m.Mean().OnBound) {
		t.Errorf("after Reset: %d runs, mean %+v", m.Runs(), m.Mean())
	}
}
