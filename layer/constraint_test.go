package layer

// Tests of the ILQR layer's path-constraint parameters ψ: the pendulum with
// the speed limit |ω| ≤ w (models.StateBounds, ψ = (lower, upper), only
// the ω entries finite), active on the swing from near (cos 3, sin 3, 0.3).

import (
	"errors"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
	"github.com/dilqr/dilqr/internal/gtest"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op"
	"github.com/dilqr/dilqr/op/ilqr"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// conT is the horizon of the constrained plans.
const conT = 20

// conTight are the settings of constrained solves that are differentiated
// or finite-differenced (as ilqr's constrained gradient tests).
var conTight = ilqr.Settings{MaxIter: 3000, TolGrad: 1e-12, TolGradLoose: 1e-12, TolViolation: 1e-12}

// speedPsi returns ψ of the speed limit |ω| ≤ w.
func speedPsi(w float64) []float64 {
	inf := math.Inf(1)
	return []float64{-inf, -inf, -w, inf, inf, w}
}

// TestILQRPsiGradients checks dL/d(psi_raw) of a Learned ψ, shared and per
// example, against central differences of the layer's graph, with the
// speed limit active in every example.
func TestILQRPsiGradients(t *testing.T) {
	const b = 2
	for _, perEx := range []bool{false, true} {
		name := "shared"
		if perEx {
			name = "per-example"
		}
		t.Run(name, func(t *testing.T) {
			g := G.NewGraph()
			init := speedPsi(0.6)
			if perEx {
				init = append(init, speedPsi(0.62)...)
			}
			pl := newPlanner(t, g, gtest.SpeedLimitTask(t, 0.6), ILQRConfig{T: conT, Batch: b,
				Solver: op.SolverConfig{Settings: &conTight},
				Psi:    ParamSpec{Source: Learned, Init: init, PerExample: perEx}})
			if ps := pl.Params(); len(ps) != 1 || ps[0].Name != "psi_raw" {
				t.Fatalf("params %v: want psi_raw alone", ps)
			}
			want := []int{2}
			if perEx {
				want = []int{b, 2}
			}
			if sh := pl.Learnables()[0].Shape(); !slices.Equal(sh, want) {
				t.Fatalf("psi_raw has shape %v, want %v (the finite columns)", sh, want)
			}
			x, u := plan(t, pl, input(t, g, "x0", gtest.SwingStarts(b), b, 3))
			r := newTapeRun(t, g, weightedLoss(t, g, x, u, 3), pl.Learnables(), pl)
			r.run(t, true)
			st := pl.Stats()
			mult := pl.last.Op.Mult()
			for i := range b {
				if st.Violation[i] > 1e-9 || slices.Max(mult[i*conT*6:(i+1)*conT*6]) <= 0 {
					t.Fatalf("example %d: violation %.2g, largest multiplier %g: the limit must be active and met", i,
						st.Violation[i], slices.Max(mult[i*conT*6:(i+1)*conT*6]))
				}
			}
			t.Logf("largest relative error against central differences: %.2g", checkFD(t, r))
		})
	}
}

// TestILQRPsiTrain learns the speed limit by imitation: the expert plans
// with |ω| ≤ 0.5, the layer starts from 0.7 and Adam (learning rate 0.01)
// fits its plans' states to the expert's. In 300 steps the loss must fall
// by 10⁴× (observed 8e7×: 0.291 → 3.6e-9) and both learned limits come
// within 0.01 of 0.5 (Adam overshoots to 0.43 near step 60, then settles).
func TestILQRPsiTrain(t *testing.T) {
	const b, steps, eta = 3, 300, 0.01
	x0 := gtest.SwingStarts(b)
	task := gtest.SpeedLimitTask(t, 0.5)
	expert, err := ilqr.Solve(ilqr.Problem{Task: task, T: conT}, ilqr.Inputs{X0: x0}, &conTight)
	if err != nil {
		t.Fatal(err)
	}
	if !expert.AllConverged() {
		t.Fatalf("expert: %v", expert.Status)
	}
	g := G.NewGraph()
	m := must(t)
	pl := newPlanner(t, g, task, ILQRConfig{T: conT, Batch: b,
		Solver: op.SolverConfig{WarmStart: true},
		Psi:    ParamSpec{Source: Learned, Init: speedPsi(0.7)}})
	x, _ := plan(t, pl, input(t, g, "x0", x0, b, 3))
	xstar := input(t, g, "expert", expert.X, b, conT, 3)
	loss := m(G.Mean(m(G.Square(m(G.Sub(x, xstar))))))
	r := newTapeRun(t, g, loss, pl.Learnables(), pl)
	adam := G.NewAdamSolver(G.WithLearnRate(eta))
	var first, last float64
	for i := range steps {
		last = r.run(t, true)
		if i == 0 {
			first = last
		}
		if err := adam.Step(G.NodesToValueGrads(r.learn)); err != nil {
			t.Fatal(err)
		}
	}
	last = r.run(t, true)
	psi, err := pl.PsiValue()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loss %.3g → %.3g in %d Adam steps; ψ = %.4g", first, last, steps, psi)
	if !(last*1e4 <= first) {
		t.Errorf("loss fell by %.3g×, want ≥ 10⁴×", first/last)
	}
	if !(math.Abs(psi[5]-0.5) <= 0.01) || !(math.Abs(psi[2]+0.5) <= 0.01) || !math.IsInf(psi[0], -1) || !math.IsInf(psi[4], 1) {
		t.Errorf("learned ψ %v: want both speed limits within 0.01 of 0.5, the other entries infinite", psi)
	}
}

// TestILQRPsiSaveLoad: a learned ψ goes through Save and Load bit for bit;
// a layer learning other columns of ψ refuses the file.
func TestILQRPsiSaveLoad(t *testing.T) {
	task := gtest.SpeedLimitTask(t, 0.6)
	cfg := ILQRConfig{T: 5, Batch: 2, Psi: ParamSpec{Source: Learned, PerExample: true}}
	src := newPlanner(t, G.NewGraph(), task, cfg)
	raw, err := nodeData(src.Params()[0])
	if err != nil {
		t.Fatal(err)
	}
	copy(raw, []float64{-0.55, 0.45, -0.8, 0.65})
	want, err := src.PsiValue()
	if err != nil {
		t.Fatal(err)
	}
	inf := math.Inf(1)
	if w := []float64{-inf, -inf, -0.55, inf, inf, 0.45, -inf, -inf, -0.8, inf, inf, 0.65}; !slices.Equal(want, w) {
		t.Fatalf("PsiValue %v, want %v", want, w)
	}
	path := filepath.Join(t.TempDir(), "psi.params")
	if err := src.Save(path); err != nil {
		t.Fatal(err)
	}
	dst := newPlanner(t, G.NewGraph(), task, cfg)
	if err := dst.Load(path); err != nil {
		t.Fatal(err)
	}
	got, err := dst.PsiValue()
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
			t.Errorf("ψ[%d]: loaded %v, saved %v", i, got[i], want[i])
		}
	}
	other := cfg
	other.Psi.Init = []float64{-1, -inf, -0.6, 1, inf, 0.6} // learns c and ω: 4 columns
	o := newPlanner(t, G.NewGraph(), task, other)
	checkErr(t, o.Load(path), ErrMismatch, "psi_raw")
}

// TestILQRPsiFloat32 runs the same planner in Float64 and Float32 layers
// (ψ's learned limits exact in float32): the float32 gradient of psi_raw
// is the float64 one within float32 rounding of the inputs.
func TestILQRPsiFloat32(t *testing.T) {
	const b = 2
	var grads [2][]float64
	for i, dt := range []tensor.Dtype{tensor.Float64, tensor.Float32} {
		g := G.NewGraph()
		pl := newPlanner(t, g, gtest.SpeedLimitTask(t, 0.625), ILQRConfig{T: conT, Batch: b, Dtype: dt,
			Solver: op.SolverConfig{Settings: &conTight},
			Psi:    ParamSpec{Source: Learned}})
		x0 := inputAs(t, g, dt, "x0", round32(gtest.SwingStarts(b)), b, 3)
		x, u := plan(t, pl, x0)
		m := must(t)
		loss := m(G.Add(m(G.Sum(x)), m(G.Sum(u))))
		if _, err := G.Grad(loss, pl.Learnables()...); err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(g)
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		if st := pl.Stats(); slices.ContainsFunc(st.Status, func(s ilqr.Status) bool { return s != ilqr.Converged }) {
			t.Fatalf("%v: %v", dt, st.Status)
		}
		gv, err := pl.Learnables()[0].Grad()
		if err != nil {
			t.Fatal(err)
		}
		grads[i] = valuesOf(t, gv)
		if p, _ := pl.PsiValue(); p[5] != 0.625 {
			t.Fatalf("%v: ψ %v", dt, p)
		}
	}
	if e, j := fdtest.RelErr(grads[1], grads[0]); !(e <= 1e-5) {
		t.Errorf("dL/dpsi_raw[%d]: float32 %.9g, float64 %.9g: relative error %.2g", j, grads[1][j], grads[0][j], e)
	}
	if slices.Max(grads[0]) == 0 && slices.Min(grads[0]) == 0 {
		t.Error("zero gradient: the limit is not active")
	}
}

// TestILQRPsiConfigErrors: ψ for a task without a constraint, an Init of
// the wrong length, outside the constraint's domain or with an infinite
// column finite elsewhere, an External node of the wrong shape, and the
// unrolled baseline with a constraint are configuration errors; an
// External ψ that turns NaN at run time is the Op's ErrBadInput, not a
// panic.
func TestILQRPsiConfigErrors(t *testing.T) {
	inf := math.Inf(1)
	task := gtest.SpeedLimitTask(t, 0.6)
	for _, c := range []struct {
		name, says string
		task       models.Task
		cfg        ILQRConfig
	}{
		{"no constraint", "the task has no path constraint", models.PendulumTask(),
			ILQRConfig{Psi: ParamSpec{Source: Learned}}},
		{"length", "Init has length 5", task, ILQRConfig{Psi: ParamSpec{Init: make([]float64, 5)}}},
		{"domain", "lower 0.7 > upper 0.6", task, ILQRConfig{Psi: ParamSpec{Init: []float64{-inf, -inf, 0.7, inf, inf, 0.6}}}},
		{"NaN", "NaN", task, ILQRConfig{Psi: ParamSpec{Source: Learned, Init: []float64{-inf, -inf, math.NaN(), inf, inf, 0.6}}}},
		{"mixed columns", "entry 0 is infinite in some rows", task, ILQRConfig{Psi: ParamSpec{Source: Learned, PerExample: true,
			Init: append(speedPsi(0.6), -1, -inf, -0.6, 1, inf, 0.6)}}},
		{"nothing to learn", "no finite entry", models.Task{Dynamics: task.Dynamics, Cost: task.Cost, Lower: task.Lower, Upper: task.Upper,
			Constraint: task.Constraint}, ILQRConfig{Psi: ParamSpec{Source: Learned, Init: []float64{-inf, -inf, -inf, inf, inf, inf}}}},
		{"external shape", "want float64 (2, 6)", task, ILQRConfig{Psi: ParamSpec{Source: External, PerExample: true}}},
		{"unrolled", "the unrolled baseline does not take a path constraint", task,
			ILQRConfig{Unrolled: &UnrolledSpec{Step: nil, Iters: 2}}},
		{"external scalar", "want float64 (6)", task, ILQRConfig{Psi: ParamSpec{Source: External}}},
		{"float32 range", "Init[0]: value -1e+39 is beyond float32's range", task,
			ILQRConfig{Dtype: tensor.Float32, Psi: ParamSpec{Source: Learned, Init: []float64{-1e39, -inf, -0.6, 1e39, inf, 0.6}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := G.NewGraph()
			cfg := c.cfg
			cfg.T, cfg.Batch = 5, 2
			// Learned θ and cost blocks come before ψ: a refused ψ must
			// not leave their nodes in the graph.
			cfg.Theta.Source, cfg.Cost.Source = Learned, Learned
			switch c.name {
			case "external shape":
				cfg.Psi.Node = input(t, g, "psi", speedPsi(0.6), 6)
			case "external scalar":
				cfg.Psi.Node = G.NewScalar(g, tensor.Float64, G.WithName("psi"))
			}
			before := len(g.AllNodes())
			_, err := NewILQR(g, c.task, cfg)
			checkErr(t, err, ErrConfig, c.says)
			if n := len(g.AllNodes()); n != before {
				t.Errorf("the refused layer left %d nodes in the graph", n-before)
			}
		})
	}
	t.Run("NaN at run time", func(t *testing.T) {
		g := G.NewGraph()
		psi := input(t, g, "psi", speedPsi(0.6), 6)
		pl := newPlanner(t, g, task, ILQRConfig{T: 5, Batch: 2, Psi: ParamSpec{Source: External, Node: psi}})
		x, u := plan(t, pl, input(t, g, "x0", gtest.SwingStarts(2), 2, 3))
		m := must(t)
		loss := m(G.Add(m(G.Sum(x)), m(G.Sum(u))))
		if _, err := G.Grad(loss, psi); err != nil {
			t.Fatal(err)
		}
		vm := G.NewTapeMachine(g)
		defer vm.Close()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		psi.Value().Data().([]float64)[2] = math.NaN()
		vm.Reset()
		err := vm.RunAll()
		if err == nil || !errors.Is(op.Cause(err), op.ErrBadInput) {
			t.Errorf("NaN ψ: error %v, want ErrBadInput", err)
		}
	})
}

// TestILQRPsiLispMachine: the LispMachine (DoDiff through the scatter of
// the learned columns) gives the TapeMachine's gradient of psi_raw.
func TestILQRPsiLispMachine(t *testing.T) {
	const b = 2
	var grads [2][]float64
	for i, machine := range []string{"tape", "lisp"} {
		g := G.NewGraph()
		pl := newPlanner(t, g, gtest.SpeedLimitTask(t, 0.6), ILQRConfig{T: conT, Batch: b,
			Solver: op.SolverConfig{Settings: &conTight}, Psi: ParamSpec{Source: Learned, PerExample: true}})
		x, u := plan(t, pl, input(t, g, "x0", gtest.SwingStarts(b), b, 3))
		loss := weightedLoss(t, g, x, u, 5)
		var vm G.VM
		if machine == "tape" {
			if _, err := G.Grad(loss, pl.Learnables()...); err != nil {
				t.Fatal(err)
			}
			vm = G.NewTapeMachine(g)
		} else {
			vm = G.NewLispMachine(g)
		}
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		vm.Close()
		grads[i] = gradOf(t, pl.Learnables()[0])
	}
	if e, j := fdtest.RelErr(grads[1], grads[0]); !(e <= 1e-12) {
		t.Errorf("dL/dpsi_raw[%d]: LispMachine %.12g, TapeMachine %.12g", j, grads[1][j], grads[0][j])
	}
	if slices.Max(grads[0]) == 0 && slices.Min(grads[0]) == 0 {
		t.Error("zero gradient: the limit is not active")
	}
}
