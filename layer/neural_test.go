package layer

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// neuralInit is the initial θ_all of the residual planner in the tests
// below: the network's default weights (seed 5, hidden [8]) on a pendulum
// whose g is 7 instead of the expert's 10, so that the plans start wrong
// and training has both g and the weights to move.
func neuralInit(t testing.TB, dyn *models.NeuralDynamics) []float64 {
	t.Helper()
	init := dyn.DefaultParams()
	if dyn.BaseParams() != 3 {
		t.Fatalf("base parameters %d, want the pendulum's 3", dyn.BaseParams())
	}
	init[0] = 7
	return init
}

// newNeuralPlanner adds a planner whose dynamics are a residual network on
// the pendulum, x′ = f(x, u; θ) + N([x; u]; W), with all of θ_all = (θ, W)
// Learned (Identity transform: the weights are unconstrained) from init,
// and the cost phi fixed.
func newNeuralPlanner(t testing.TB, g *G.ExprGraph, dt tensor.Dtype, b int, init, phi []float64) (*ILQR, *models.NeuralDynamics) {
	t.Helper()
	dyn, err := models.NewResidualDynamics(models.NewPendulum(), []int{8}, models.Tanh, 5)
	if err != nil {
		t.Fatal(err)
	}
	task := models.PendulumTask()
	task.Dynamics = dyn
	if init == nil {
		init = neuralInit(t, dyn)
	}
	pl := newPlanner(t, g, task, ILQRConfig{T: trainT, Batch: b, Dtype: dt,
		Theta:  ParamSpec{Source: Learned, Init: init},
		Cost:   ParamSpec{Init: phi},
		Solver: op.SolverConfig{Settings: &gradTight}})
	return pl, dyn
}

// TestNeuralDynamicsTrains trains a planner with residual network dynamics
// (pendulum + MLP 4-8-3, θ_all of 3 + 67 entries, all learned) to imitate
// the expert's controls (true pendulum, cost gradCost, whose control
// weight 0.5 keeps the plans inside the bounds) with Gorgonia's Adam, on a
// Float64 and on a Float32 graph. 40 steps at learning rate 0.02 must
// bring the mean squared control error below 1/10 of its start (observed
// on both dtypes: 0.024 → 7.9e-4, 30×; see the log), with
// every solve converged, every loss finite and every parameter still in
// the graph's dtype. Then the learned θ_all is saved and loaded into a
// planner built from other initial values, which must then hold the same
// θ_all, bit for bit.
func TestNeuralDynamicsTrains(t *testing.T) {
	for _, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		t.Run(dt.String(), func(t *testing.T) {
			const b, steps = 6, 40
			m := must(t)
			g := G.NewGraph()
			x0v := pendulumStarts(61, b)
			phi := gradCost()
			if dt == tensor.Float32 {
				x0v = round32(x0v)
			}
			pl, dyn := newNeuralPlanner(t, g, dt, b, nil, phi)
			_, u := plan(t, pl, inputAs(t, g, dt, "x0", x0v, b, 3))
			ustar := inputAs(t, g, dt, "expert", expertControls(t, x0v, phi), b, trainT, 1)
			loss := m(G.Mean(m(G.Square(m(G.Sub(u, ustar))))))
			if loss.Dtype() != dt {
				t.Fatalf("loss is %v", loss.Dtype())
			}
			learn := pl.Learnables()
			if len(learn) != 1 || learn[0].Shape().TotalSize() != dyn.Dims().P {
				t.Fatalf("learnables %v, want one node of θ_all's %d entries", learn, dyn.Dims().P)
			}
			curve := adamCurve(t, g, loss, learn, 0.02, steps, func(step int) {
				if h := pl.Health(); h.Unconverged > 0 || h.NonFinite > 0 {
					t.Fatalf("step %d: planner health %+v", step, h)
				}
			})
			if v := learn[0].Value(); v.Dtype() != dt {
				t.Fatalf("θ_all holds %v after training", v.Dtype())
			}
			t.Logf("loss every 5 steps: %.3g", everyNth(curve, 5))
			if first, last := curve[0], curve[steps]; !(last < first/10) {
				t.Errorf("loss %.4g → %.4g in %d Adam steps: want a fall below 1/10", first, last, steps)
			}

			// Save and load the learned θ_all.
			learned, err := pl.ThetaValue()
			if err != nil {
				t.Fatal(err)
			}
			init := neuralInit(t, dyn)
			if slices.Equal(learned, init) {
				t.Fatal("training left θ_all at its initial value")
			}
			path := filepath.Join(t.TempDir(), "neural.params")
			if err := pl.Save(path); err != nil {
				t.Fatal(err)
			}
			other := slices.Clone(init)
			other[0] = 12
			for i := 3; i < len(other); i++ {
				other[i] *= -1
			}
			pl2, _ := newNeuralPlanner(t, G.NewGraph(), dt, b, other, phi)
			if err := pl2.Load(path); err != nil {
				t.Fatal(err)
			}
			got, err := pl2.ThetaValue()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, learned) {
				t.Errorf("loaded θ_all differs from the saved one (first entries %.6g, want %.6g)", got[:4], learned[:4])
			}
		})
	}
}

// adamCurve trains learn with Gorgonia's Adam at rate lr for steps steps
// on the scalar loss of graph g and returns the loss before each step and
// after the last (steps+1 values). It fails t on an error or a loss that
// is not finite; check, when not nil, runs after each forward pass with
// the number of steps taken so far.
func adamCurve(t *testing.T, g *G.ExprGraph, loss *G.Node, learn G.Nodes, lr float64, steps int, check func(step int)) []float64 {
	t.Helper()
	var lv G.Value
	G.Read(loss, &lv)
	if _, err := G.Grad(loss, learn...); err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(learn...))
	defer vm.Close()
	adam := G.NewAdamSolver(G.WithLearnRate(lr))
	curve := make([]float64, 0, steps+1)
	for {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			t.Fatal(op.Cause(err))
		}
		if check != nil {
			check(len(curve))
		}
		l := valuesOf(t, lv)[0]
		if math.IsNaN(l) || math.IsInf(l, 0) {
			t.Fatalf("loss %v after %d steps", l, len(curve))
		}
		curve = append(curve, l)
		if len(curve) > steps {
			return curve
		}
		if err := adam.Step(G.NodesToValueGrads(learn)); err != nil {
			t.Fatal(err)
		}
	}
}
