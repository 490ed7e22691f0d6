package op_test

import (
	"slices"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op"
	"github.com/dilqr/dilqr/op/ilqr"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestPlanBlocksAndBounds builds a planner node whose cost is a full
// quadratic given in two blocks, Q (K²) shared by the batch and p (B, T, K)
// per example and step (a time-varying reference), and whose bounds are
// per step (T, M), runs it on a TapeMachine and a LispMachine, and checks
// the outputs and every input's gradient against the solver called
// directly on the assembled inputs (gradients summed over the axes each
// node is shared across).
func TestPlanBlocksAndBounds(t *testing.T) {
	const b, T = 3, 8
	task := models.PendulumTask()
	qc := task.Cost.(*models.QuadCost)
	full := models.FullFromQuad(qc)
	task.Cost = full
	const n, m, k = 3, 1, 4
	q := full.DefaultParams()[:k*k]
	q[0*k+3], q[3*k+0] = 0.01, 0.01 // a cross term between c and u
	q[3*k+3] = 0.05
	p := make([]float64, b*T*k)
	ref := fdtest.Normals(61, b*T)
	for e := range b {
		for s := range T {
			p[(e*T+s)*k+0] = -1 + 0.1*ref[e*T+s] // track a wobbling goal
		}
	}
	lo, hi := make([]float64, T*m), make([]float64, T*m)
	for s := range T {
		lo[s], hi[s] = -1-0.05*float64(s), 1+0.05*float64(s)
	}
	x0 := slices.Concat(fdtest.AngleState(0.5, 0.1), fdtest.AngleState(-0.3, 0), fdtest.AngleState(0.9, -0.2))
	theta := task.Dynamics.DefaultParams()
	wx, wu := gradWeights(62, b*T, n, m)
	cfg := op.OpConfig{Problem: ilqr.Problem{Task: task, T: T},
		Solver: op.SolverConfig{Settings: &gradTight}}

	// The solver on the assembled inputs.
	phi := make([]float64, b*T*(k*k+k))
	for r := range b * T {
		copy(phi[r*(k*k+k):], q)
		copy(phi[r*(k*k+k)+k*k:], p[r*k:(r+1)*k])
	}
	in := ilqr.Inputs{X0: x0, Theta: theta, Phi: phi, PhiPerStep: true, Lower: lo, Upper: hi}
	sv, err := ilqr.NewSolver(cfg.Problem, &gradTight)
	if err != nil {
		t.Fatal(err)
	}
	var res ilqr.Result
	if err := sv.Solve(&res, in); err != nil {
		t.Fatal(err)
	}
	var g ilqr.Grads
	if err := sv.Gradient(&g, &res, in, wx, wu, ilqr.GradOptions{}); err != nil {
		t.Fatal(err)
	}
	onBound := 0
	for i, u := range res.U {
		if u <= lo[i%T] || u >= hi[i%T] {
			onBound++
		}
	}
	if !res.AllConverged() || onBound == 0 {
		t.Fatalf("statuses %v, %d controls on a bound (want some)", res.Status, onBound)
	}
	want := map[string][]float64{"x0": g.X0, "theta": make([]float64, 3), "Q": make([]float64, k*k),
		"p": make([]float64, b*T*k), "lower": make([]float64, T), "upper": make([]float64, T)}
	for i, v := range g.Theta {
		want["theta"][i%3] += v
	}
	for r := range b * T {
		for j := range k * k {
			want["Q"][j] += g.Phi[r*(k*k+k)+j]
		}
		copy(want["p"][r*k:(r+1)*k], g.Phi[r*(k*k+k)+k*k:(r+1)*(k*k+k)])
	}
	for i := range g.Lower {
		want["lower"][i%T] += g.Lower[i]
		want["upper"][i%T] += g.Upper[i]
	}

	for _, machine := range []string{"tape", "lisp"} {
		t.Run(machine, func(t *testing.T) {
			gr := G.NewGraph()
			vec := func(name string, v []float64, shape ...int) *G.Node {
				return G.NewTensor(gr, tensor.Float64, len(shape), G.WithShape(shape...), G.WithName(name),
					G.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(slices.Clone(v)))))
			}
			nodes := map[string]*G.Node{
				"x0": vec("x0", x0, b, n), "theta": vec("theta", theta, 3),
				"Q": vec("Q", q, k*k), "p": vec("p", p, b, T, k),
				"lower": vec("lower", lo, T, m), "upper": vec("upper", hi, T, m),
			}
			tr, err := op.Plan(op.Nodes{X0: nodes["x0"], Theta: nodes["theta"],
				Cost:  []op.CostNode{{Node: nodes["Q"]}, {Node: nodes["p"], PerStep: true}},
				Lower: nodes["lower"], Upper: nodes["upper"]}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			loss, err := opLossOn(gr, tr, b, T, wx, wu)
			if err != nil {
				t.Fatal(err)
			}
			var vm G.VM
			if machine == "tape" {
				if _, err := G.Grad(loss, nodes["x0"], nodes["theta"], nodes["Q"], nodes["p"], nodes["lower"], nodes["upper"]); err != nil {
					t.Fatal(err)
				}
				vm = G.NewTapeMachine(gr)
			} else {
				vm = G.NewLispMachine(gr)
			}
			defer vm.Close()
			if err := vm.RunAll(); err != nil {
				t.Fatal(err)
			}
			out := valueFloats(t, tr.Packed.Value())
			for i := range b * T {
				if out[i*k+3] != res.U[i] {
					t.Fatalf("u[%d] = %g, solver %g", i, out[i*k+3], res.U[i])
				}
			}
			for name, w := range want {
				got := gradOf(t, nodes[name])
				if e, at := fdtest.RelErr(got, w); !(e <= 1e-12) {
					t.Errorf("dL/d%s[%d] = %g, solver %g (error %.1e)", name, at, got[at], w[at], e)
				}
			}
			if nz := slices.IndexFunc(want["lower"], func(v float64) bool { return v != 0 }); nz < 0 && onBound > 0 {
				if slices.IndexFunc(want["upper"], func(v float64) bool { return v != 0 }) < 0 {
					t.Error("no bound has a gradient though controls sit on bounds")
				}
			}
		})
	}
}
