package layer

// The ILQR layer: configuration errors, Plan / Policy / Stats, the
// gradient modes, parameter values, and both Gorgonia machines.

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
	"github.com/dilqr/dilqr/op/unrolled"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestILQRConfigErrors: bad configurations and nodes are errors wrapping
// ErrConfig that name the problem; none panics.
func TestILQRConfigErrors(t *testing.T) {
	task := models.PendulumTask()
	goalCost, err := models.NewGoalCost(3, 1, []float64{1, 1, 0.3, 0.1}, []float64{1, 0, 0, 0})
	if err != nil {
		t.Fatal(err)
	}
	goalTask := models.Task{Dynamics: task.Dynamics, Cost: goalCost, Lower: task.Lower, Upper: task.Upper}
	base := func() ILQRConfig { return ILQRConfig{T: 5, Batch: 2} }
	for _, tc := range []struct {
		name string
		task models.Task
		cfg  func(g *G.ExprGraph) ILQRConfig
		says string
	}{
		{"no task", models.Task{}, func(*G.ExprGraph) ILQRConfig { return base() }, "Dynamics and Cost"},
		{"T=0", task, func(*G.ExprGraph) ILQRConfig { c := base(); c.T = 0; return c }, "T=0"},
		{"batch 0", task, func(*G.ExprGraph) ILQRConfig { c := base(); c.Batch = 0; return c }, "Batch=0"},
		{"theta init length", task, func(*G.ExprGraph) ILQRConfig {
			c := base()
			c.Theta = ParamSpec{Source: Learned, Init: []float64{1, 2}}
			return c
		}, "Init has length 2, want 3"},
		{"per-example init length", task, func(*G.ExprGraph) ILQRConfig {
			c := base()
			c.Theta = ParamSpec{Source: Learned, Init: []float64{1, 2, 3, 4}, PerExample: true}
			return c
		}, "want 3 or B·3=6"},
		{"softplus of a negative mass", task, func(*G.ExprGraph) ILQRConfig {
			c := base()
			c.Theta = ParamSpec{Source: Learned, Transform: Softplus, Init: []float64{10, -1, 1}}
			return c
		}, "Init[1]: softplus cannot reach -1"},
		{"sigmoid weight of 1", task, func(*G.ExprGraph) ILQRConfig {
			c := base()
			c.Cost = ParamSpec{Source: Learned, Transform: Sigmoid} // q = (1, 1, 0.1, 0.001): q_0 = 1
			return c
		}, "Init[0]: sigmoid cannot reach 1"},
		{"NaN init", task, func(*G.ExprGraph) ILQRConfig {
			c := base()
			c.Theta = ParamSpec{Init: []float64{10, math.NaN(), 1}}
			return c
		}, "Init[1] is NaN"},
		{"goal form on a goal cost", goalTask, func(*G.ExprGraph) ILQRConfig {
			c := base()
			c.CostForm = GoalWeights
			return c
		}, "use NativeCost"},
		{"external without node", task, func(*G.ExprGraph) ILQRConfig {
			c := base()
			c.Theta = ParamSpec{Source: External}
			return c
		}, "needs a Node"},
		{"external of wrong shape", task, func(g *G.ExprGraph) ILQRConfig {
			c := base()
			c.Theta = ParamSpec{Source: External, Node: input(t, g, "th", make([]float64, 12), 3, 4)}
			return c
		}, "shape (3, 4), want float64 (3) or (B=2, 3)"},
		{"external with init", task, func(g *G.ExprGraph) ILQRConfig {
			c := base()
			c.Theta = ParamSpec{Source: External, Node: input(t, g, "th", make([]float64, 3), 3), Init: []float64{1, 1, 1}}
			return c
		}, "not used with Source external"},
		{"node with a learned block", task, func(g *G.ExprGraph) ILQRConfig {
			c := base()
			c.Theta = ParamSpec{Source: Learned, Node: input(t, g, "th", make([]float64, 3), 3)}
			return c
		}, "only for Source external"},
		{"unknown source", task, func(*G.ExprGraph) ILQRConfig { c := base(); c.Cost.Source = 7; return c }, "Source(7)"},
		{"unknown transform", task, func(*G.ExprGraph) ILQRConfig { c := base(); c.Theta.Transform = 7; return c }, "Transform(7)"},
		{"unknown form", task, func(*G.ExprGraph) ILQRConfig { c := base(); c.CostForm = 7; return c }, "CostForm(7)"},
		{"name taken", task, func(g *G.ExprGraph) ILQRConfig {
			input(t, g, "ilqr.theta", make([]float64, 3), 3)
			return base()
		}, `node named "ilqr.theta" is already in the graph`},
		{"name taken after the first block", task, func(g *G.ExprGraph) ILQRConfig {
			input(t, g, "ilqr.cost_raw", make([]float64, 8), 8)
			c := base()
			c.Theta = ParamSpec{Source: Learned, Transform: Softplus}
			c.Cost = ParamSpec{Source: Learned}
			return c
		}, `node named "ilqr.cost_raw" is already in the graph`},
		{"theta per step", task, func(*G.ExprGraph) ILQRConfig { c := base(); c.Theta.PerStep = true; return c }, "PerStep is for"},
		{"cost with quad blocks", quadTask(), func(*G.ExprGraph) ILQRConfig {
			return ILQRConfig{T: 5, Batch: 2, CostForm: QuadBlocks, Cost: ParamSpec{Source: Learned}}
		}, "leave Cost empty"},
		{"quad blocks of a native cost", task, func(*G.ExprGraph) ILQRConfig {
			return ILQRConfig{T: 5, Batch: 2, CostQ: ParamSpec{Source: Learned}}
		}, "CostQ and CostP are for CostForm quad-blocks"},
		{"external quad block with init", quadTask(), func(g *G.ExprGraph) ILQRConfig {
			c := base()
			c.CostForm = QuadBlocks
			c.CostP = ParamSpec{Source: External, Node: input(t, g, "p", make([]float64, 4), 4), Init: []float64{1, 2, 3, 4}}
			return c
		}, "not used with Source external"},
		{"float32 beyond range", task, func(*G.ExprGraph) ILQRConfig {
			return ILQRConfig{T: 5, Batch: 2, Dtype: tensor.Float32, Theta: ParamSpec{Init: []float64{1e39, 1, 1}}}
		}, "beyond float32's range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := G.NewGraph()
			cfg := tc.cfg(g)
			before := len(g.AllNodes())
			_, err := NewILQR(g, tc.task, cfg)
			checkErr(t, err, ErrConfig, tc.says)
			if n := len(g.AllNodes()); n != before {
				t.Errorf("the refused layer left %d nodes in the graph", n-before)
			}
		})
	}
	if _, err := NewILQR(nil, task, base()); !errors.Is(err, ErrConfig) {
		t.Errorf("nil graph: %v", err)
	}
}

// TestILQRPlanErrors: a wrong x0 is rejected when the node is added; bad
// solver settings and bounds come back from op wrapping op.ErrBadInput; NaN
// in x0 fails the run with an error (reached with op.Cause), not a panic.
func TestILQRPlanErrors(t *testing.T) {
	task := models.PendulumTask()
	g := G.NewGraph()
	pl := newPlanner(t, g, task, ILQRConfig{T: 5, Batch: 2})
	for _, x0 := range []*G.Node{nil, input(t, g, "x0_3", make([]float64, 9), 3, 3), input(t, g, "x0_4", make([]float64, 8), 2, 4)} {
		if _, _, err := pl.Plan(x0); !errors.Is(err, ErrConfig) {
			t.Errorf("Plan(%v): %v, want ErrConfig", x0, err)
		}
	}
	badSet := newPlanner(t, g, task, ILQRConfig{T: 5, Batch: 2, Name: "bad", Solver: op.SolverConfig{Settings: &ilqr.Settings{TolGrad: -1}}})
	if _, err := badSet.Policy(input(t, g, "x0", pendulumStarts(1, 2), 2, 3)); !errors.Is(err, op.ErrBadInput) {
		t.Errorf("negative tolerance: %v, want op.ErrBadInput", err)
	}
	wide := task
	wide.Lower, wide.Upper = []float64{-3}, []float64{3}
	wl := newPlanner(t, g, wide, ILQRConfig{T: 5, Batch: 2, Name: "wide"})
	if _, err := wl.Policy(g.ByName("x0")[0]); err == nil || !strings.Contains(err.Error(), "clamp") {
		t.Errorf("bounds wider than the clamp: %v", err)
	}

	g2 := G.NewGraph()
	pl2, _ := NewILQR(g2, task, ILQRConfig{T: 5, Batch: 2})
	x0 := pendulumStarts(1, 2)
	x0[4] = math.NaN()
	u0, err := pl2.Policy(input(t, g2, "x0", x0, 2, 3))
	if err != nil {
		t.Fatal(err)
	}
	_ = u0
	vm := G.NewTapeMachine(g2)
	defer vm.Close()
	err = vm.RunAll()
	if !errors.Is(op.Cause(err), op.ErrBadInput) {
		t.Errorf("NaN in x0: %v, want op.ErrBadInput", err)
	}
}

// TestILQRPlanPolicyStats: Plan's shapes; Policy on the same x0 shares the
// solve and returns U[:, 0, :]; Stats reports every example converged after
// a run and nothing before; the run is deterministic.
func TestILQRPlanPolicyStats(t *testing.T) {
	const b, horizon = 3, 8
	g := G.NewGraph()
	pl := newPlanner(t, g, models.PendulumTask(), ILQRConfig{T: horizon, Batch: b})
	x0 := input(t, g, "x0", pendulumStarts(4, b), b, 3)
	x, u := plan(t, pl, x0)
	u0, err := pl.Policy(x0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(x.Shape(), []int{b, horizon, 3}) || !slices.Equal(u.Shape(), []int{b, horizon, 1}) || !slices.Equal(u0.Shape(), []int{b, 1}) {
		t.Fatalf("shapes X %v U %v u0 %v", x.Shape(), u.Shape(), u0.Shape())
	}
	if st := pl.Stats(); st.Status != nil {
		t.Errorf("stats before a run: %+v", st)
	}
	var uv, u0v, xv G.Value
	G.Read(u, &uv)
	G.Read(u0, &u0v)
	G.Read(x, &xv)
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	var first []float64
	for run := 0; run < 2; run++ {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		us, u0s, xs := floats(t, uv), floats(t, u0v), floats(t, xv)
		for i := 0; i < b; i++ {
			if u0s[i] != us[i*horizon] {
				t.Errorf("policy %g, plan's first control %g", u0s[i], us[i*horizon])
			}
		}
		if !slices.Equal(xs[:3], floats(t, x0.Value())[:3]) {
			t.Errorf("X starts at %v, x0 is %v", xs[:3], floats(t, x0.Value())[:3])
		}
		if run == 0 {
			first = us
		} else if !slices.Equal(us, first) {
			t.Error("a second run gave other controls")
		}
		st := pl.Stats()
		if len(st.Status) != b {
			t.Fatalf("stats %+v", st)
		}
		for i, s := range st.Status {
			if s != ilqr.Converged || st.Iterations[i] < 1 {
				t.Errorf("example %d: %v after %d iterations", i, s, st.Iterations[i])
			}
		}
	}
}

// TestILQRGradModes: with θ and the quadratic cost learned as they are
// (identity transform, shared rows), the layer's gradients equal
// ilqr.Solver.Gradient's (summed over the batch) in both modes, and on a
// swing where the costates are large the fixed-point gradient differs from
// the implicit one.
func TestILQRGradModes(t *testing.T) {
	const b = 2
	x0 := append(fdtest.AngleState(1, 0), fdtest.AngleState(0.8, 0.3)...) // one-radian swings
	phi := gradCost()
	task := models.PendulumTask()
	var grads [2][]float64
	for _, mode := range []ilqr.GradMode{ilqr.Implicit, ilqr.FixedPoint} {
		g := G.NewGraph()
		pl := newPlanner(t, g, task, ILQRConfig{T: gradT, Batch: b,
			Theta: ParamSpec{Source: Learned}, Cost: ParamSpec{Source: Learned, Init: phi}, Solver: op.SolverConfig{Settings: &gradTight, Grad: ilqr.GradOptions{Mode: mode}}})
		x, u := plan(t, pl, input(t, g, "x0", x0, b, 3))
		r := newTapeRun(t, g, weightedLoss(t, g, x, u, 6), pl.Learnables(), pl)
		_, gs := r.grads(t)
		got := append(gs[0], gs[1]...)

		want := solverGrads(t, pl, x0, phi, mode)
		if e, j := fdtest.RelErr(got, want); e > 1e-12 {
			t.Errorf("%v: layer gradient [%d] %.15g, solver %.15g (relative %.2g)", mode, j, got[j], want[j], e)
		}
		grads[mode] = got
	}
	e, _ := fdtest.RelErr(grads[ilqr.FixedPoint], grads[ilqr.Implicit])
	t.Logf("fixed-point gradient off the implicit one by %.2g relative", e)
	if e < 1e-3 {
		t.Errorf("fixed-point and implicit gradients agree to %.2g: the mode did not reach the op", e)
	}
}

// solverGrads solves the pendulum problem of the layer pl from x0 (nominal
// θ, cost φ) with the solver and returns the gradient of weightedLoss
// (seed 6) for θ and φ, summed over the batch, in mode.
func solverGrads(t *testing.T, pl *ILQR, x0, phi []float64, mode ilqr.GradMode) []float64 {
	t.Helper()
	b := len(x0) / 3
	sv, err := ilqr.NewSolver(pl.Problem(), &gradTight)
	if err != nil {
		t.Fatal(err)
	}
	in := ilqr.Inputs{X0: x0, Theta: models.PendulumTask().Dynamics.DefaultParams(), Phi: phi}
	var res ilqr.Result
	if err := sv.Solve(&res, in); err != nil {
		t.Fatal(err)
	}
	var og ilqr.Grads
	if err := sv.Gradient(&og, &res, in, normals(6, b*gradT*3), normals(7, b*gradT), ilqr.GradOptions{Mode: mode}); err != nil {
		t.Fatal(err)
	}
	return append(fdtest.SumRows(og.Theta, 3), fdtest.SumRows(og.Phi, 8)...)
}

// TestILQRValues: ThetaValue and CostValue give back the initial natural
// values through the transforms; the default goal form of the pendulum's
// quadratic cost maps back onto that cost; an external block has no value.
func TestILQRValues(t *testing.T) {
	g := G.NewGraph()
	theta0 := []float64{7, 1.3, 0.8}
	wg := []float64{0.5, 0.6, 0.2, 0.1, 1, 0.1, 0, 0.2}
	pl := newPlanner(t, g, models.PendulumTask(), ILQRConfig{T: 5, Batch: 2,
		Theta:    ParamSpec{Source: Learned, Transform: Softplus, Init: theta0, PerExample: true},
		Cost:     ParamSpec{Source: Learned, Transform: Sigmoid, Init: wg},
		CostForm: GoalWeights})
	th, err := pl.ThetaValue()
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := fdtest.RelErr(th, append(slices.Clone(theta0), theta0...)); e > 1e-15 {
		t.Errorf("θ = %v, initialised to %v per example", th, theta0)
	}
	cv, err := pl.CostValue()
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := fdtest.RelErr(cv, wg); e > 1e-15 {
		t.Errorf("cost = %v, initialised to %v", cv, wg)
	}
	if !strings.Contains(pl.Describe(), "theta_raw=softplus,cost_raw=goal/sigmoid") {
		t.Errorf("Describe() = %q", pl.Describe())
	}

	// Fixed goal form with defaults: (w, goal) from the QuadCost, mapped back.
	g2 := G.NewGraph()
	fx := newPlanner(t, g2, models.PendulumTask(), ILQRConfig{T: 5, Batch: 2, CostForm: GoalWeights,
		Theta: ParamSpec{Source: External, Node: input(t, g2, "th", []float64{10, 1, 1}, 3)}})
	cv, _ = fx.CostValue()
	wantWG := []float64{math.Sqrt(0.5), math.Sqrt(0.5), math.Sqrt(0.05), math.Sqrt(0.0005), 1, 0, 0, 0}
	if e, _ := fdtest.RelErr(cv, wantWG); e > 1e-15 {
		t.Errorf("default goal form %v, want %v", cv, wantWG)
	}
	phi := floats(t, fx.Phi().Value())
	if e, _ := fdtest.RelErr(phi, models.PendulumTask().Cost.DefaultParams()); e > 1e-15 {
		t.Errorf("mapped back to %v, want the task's %v", phi, models.PendulumTask().Cost.DefaultParams())
	}
	if _, err := fx.ThetaValue(); err == nil {
		t.Error("ThetaValue of an external block succeeded")
	}
	if len(fx.Learnables()) != 0 || fx.Describe() != "ilqr(pendulum(dt=0.05,umax=2),quad(n=3,m=1))" {
		t.Errorf("learnables %v, Describe %q", fx.Learnables(), fx.Describe())
	}
}

// TestTapeAndLispAgree: a composite model (MLP → θ, learned goal cost →
// ILQR) gives the same loss and gradients on a TapeMachine (symbolic
// gradient) and a LispMachine (DoDiff), to 1e-13 relative.
func TestTapeAndLispAgree(t *testing.T) {
	build := func(g *G.ExprGraph) (*ILQR, *G.Node, G.Nodes) {
		mlp, err := NewMLP(g, MLPConfig{Sizes: []int{4, 6, 3}, Seed: 8, OutputBias: nominalRaw(t)})
		if err != nil {
			t.Fatal(err)
		}
		z := must(t)(mlp.Forward(input(t, g, "features", normals(80, gradB*4), gradB, 4)))
		pl := newPlanner(t, g, models.PendulumTask(), ILQRConfig{T: gradT, Batch: gradB,
			Theta:    ParamSpec{Source: External, Transform: Softplus, Node: z},
			Cost:     ParamSpec{Source: Learned, Transform: Sigmoid, Init: []float64{0.7, 0.7, 0.2, 0.5, 1, 0, 0, 0}},
			CostForm: GoalWeights, Solver: op.SolverConfig{Settings: &gradTight}})
		x, u := plan(t, pl, input(t, g, "x0", pendulumStarts(8, gradB), gradB, 3))
		return pl, weightedLoss(t, g, x, u, 8), append(mlp.Learnables(), pl.Learnables()...)
	}
	gt := G.NewGraph()
	plT, lossT, learnT := build(gt)
	r := newTapeRun(t, gt, lossT, learnT, plT)
	tapeLoss, tapeGrads := r.grads(t)

	gl := G.NewGraph()
	plL, lossL, learnL := build(gl)
	var lv G.Value
	G.Read(lossL, &lv)
	vm := G.NewLispMachine(gl)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(op.Cause(err))
	}
	if e, _ := fdtest.RelErr([]float64{floats(t, lv)[0]}, []float64{tapeLoss}); e > 1e-15 {
		t.Errorf("loss: lisp %g, tape %g", floats(t, lv)[0], tapeLoss)
	}
	var worst float64
	for i, n := range learnL {
		e, j := fdtest.RelErr(gradOf(t, n), tapeGrads[i])
		worst = math.Max(worst, e)
		if e > 1e-13 {
			t.Errorf("d/d%s[%d]: lisp %.15g, tape %.15g", n.Name(), j, gradOf(t, n)[j], tapeGrads[i][j])
		}
	}
	if !slices.Equal(plL.Stats().Status, plT.Stats().Status) {
		t.Errorf("statuses: lisp %v, tape %v", plL.Stats().Status, plT.Stats().Status)
	}
	t.Logf("tape vs lisp: largest relative difference %.2g over %d weights", worst, countValues(learnT))
}

// TestILQRUnrolled: the layer with the unrolled baseline (40 iterations,
// which reach the solver's solution from these starts) gives the exact
// implicit gradient of the converged plan to 1e-6, on a LispMachine; its
// Stats are empty, and a goal-form cost is refused with an error.
func TestILQRUnrolled(t *testing.T) {
	const b = 2
	x0 := append(fdtest.AngleState(1, 0), fdtest.AngleState(0.8, 0.3)...)
	phi := gradCost()
	task := models.PendulumTask()
	g := G.NewGraph()
	pl := newPlanner(t, g, task, ILQRConfig{T: gradT, Batch: b,
		Unrolled: &UnrolledSpec{Step: models.PendulumStep[unrolled.GraphScalar], Iters: 40},
		Theta:    ParamSpec{Source: Learned}, Cost: ParamSpec{Source: Learned, Init: phi}})
	x, u := plan(t, pl, input(t, g, "x0", x0, b, 3))
	weightedLoss(t, g, x, u, 6)
	vm := G.NewLispMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(op.Cause(err))
	}
	got := append(gradOf(t, pl.Learnables()[0]), gradOf(t, pl.Learnables()[1])...)
	if s := pl.Stats(); len(s.Status) != 0 {
		t.Errorf("unrolled layer has solver stats %v", s)
	}

	// The learnables are the raw blocks; with the identity transform
	// (the default) raw and natural values coincide.
	want := solverGrads(t, pl, x0, phi, ilqr.Implicit)
	if e, j := fdtest.RelErr(got, want); e > 1e-6 {
		t.Errorf("unrolled layer gradient [%d] %.12g, implicit %.12g (relative %.2g)", j, got[j], want[j], e)
	}

	g2 := G.NewGraph()
	bad, err := NewILQR(g2, task, ILQRConfig{T: gradT, Batch: b,
		Unrolled: &UnrolledSpec{Step: models.PendulumStep[unrolled.GraphScalar], Iters: -1}})
	if err == nil {
		_, _, err = bad.Plan(input(t, g2, "x0", x0, b, 3))
	}
	if err == nil || !strings.Contains(err.Error(), "Iters") {
		t.Errorf("unrolled layer with Iters = -1: error %v, want one naming Iters", err)
	}
}
