package op_test

// Tests of the ILQR Op inside Gorgonia graphs: both VMs, gradients against
// Solver.Gradient and against finite differences of a whole graph, bad
// input, node identity, warm starts, per-run statistics, examples isolated
// by IsolateNonFinite, and planner nodes built by Plan from cost blocks
// and per-step bounds.
//
// Gorgonia traps these tests respect (see shared/GORGONIA.md): a TapeMachine
// needs Reset before every run; a LispMachine is made afresh for every run
// and needs no G.Grad; values are copied out as soon as a run ends.

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op"
	"github.com/dilqr/dilqr/op/ilqr"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// opData is the data of one batch for the pendulum graphs.
type opData struct {
	b          int
	x0         []float64 // B×3
	theta, phi []float64 // B×P, B×Q, or one shared row
	// wx (B×T×3) and wu (B×T×1) weight the loss Σ wx·X + Σ wu·U.
	wx, wu []float64
}

func (d opData) thetaShared() bool { return len(d.theta) == 3 }
func (d opData) phiShared() bool   { return len(d.phi) == 8 }

// pendulumOpData returns b pendulum starts near upright (some with controls
// on the ±2 bounds), per-example or shared θ and φ, and loss weights for
// horizon t, all from seed.
func pendulumOpData(seed uint64, b, t int, thetaShared, phiShared bool) opData {
	task := models.PendulumTask()
	rng := rand.New(rand.NewPCG(seed, 17))
	d := opData{b: b}
	for i := 0; i < b; i++ {
		d.x0 = append(d.x0, fdtest.AngleState(0.6*(rng.Float64()-0.5), 0.4*(rng.Float64()-0.5))...)
	}
	row := func(def []float64) []float64 {
		for j := range def {
			def[j] *= 1 + 0.2*(rng.Float64()-0.5)
		}
		return def
	}
	params := func(shared bool, defaults func() []float64) []float64 {
		if shared {
			return defaults()
		}
		var v []float64
		for i := 0; i < b; i++ {
			v = append(v, row(defaults())...)
		}
		return v
	}
	d.theta = params(thetaShared, task.Dynamics.DefaultParams)
	d.phi = params(phiShared, task.Cost.DefaultParams)
	d.wx, d.wu = gradWeights(seed, b*t, 3, 1)
	return d
}

// pendulumOpConfig is the pendulum task with horizon t and settings s.
func pendulumOpConfig(t int, s *ilqr.Settings) op.OpConfig {
	task := models.PendulumTask()
	return op.OpConfig{
		Problem: ilqr.Problem{Task: task, T: t}, Solver: op.SolverConfig{Settings: s},
	}
}

func denseOf(v []float64, shape ...int) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(slices.Clone(v)))
}

// opParamNode makes an input node for a shared (rank 1) or per-example
// (rank 2) parameter.
func opParamNode(g *G.ExprGraph, name string, v []float64, b, k int) *G.Node {
	if len(v) == k {
		return G.NewVector(g, tensor.Float64, G.WithShape(k), G.WithName(name), G.WithValue(denseOf(v, k)))
	}
	return G.NewMatrix(g, tensor.Float64, G.WithShape(b, k), G.WithName(name), G.WithValue(denseOf(v, b, k)))
}

// opGraph is a graph holding one ILQR node and the scalar loss
// L = Σ wx·X + Σ wu·U on its output.
type opGraph struct {
	g              *G.ExprGraph
	x0, theta, phi *G.Node
	tr             *op.Trajectory
	loss           *G.Node
	lossVal        G.Value
}

// opLossOn returns Σ wx·X + Σ wu·U for the trajectory tr (B examples).
func opLossOn(g *G.ExprGraph, tr *op.Trajectory, b, t int, wx, wu []float64) (*G.Node, error) {
	x, err := tr.X()
	if err != nil {
		return nil, err
	}
	u, err := tr.U()
	if err != nil {
		return nil, err
	}
	// The weights take the parts' shapes: U is (B, T) rather than the
	// documented (B, T, M) when M = 1 (Gorgonia's Slice drops a unit axis).
	if x.Shape().TotalSize() != len(wx) || u.Shape().TotalSize() != len(wu) {
		return nil, fmt.Errorf("X %v or U %v does not fit %d and %d loss weights", x.Shape(), u.Shape(), len(wx), len(wu))
	}
	cx := G.NewTensor(g, tensor.Float64, x.Dims(), G.WithShape(x.Shape()...), G.WithName(fmt.Sprintf("wx%p", tr)),
		G.WithValue(denseOf(wx, x.Shape()...)))
	cu := G.NewTensor(g, tensor.Float64, u.Dims(), G.WithShape(u.Shape()...), G.WithName(fmt.Sprintf("wu%p", tr)),
		G.WithValue(denseOf(wu, u.Shape()...)))
	lx, err := G.HadamardProd(x, cx)
	if err != nil {
		return nil, err
	}
	lu, err := G.HadamardProd(u, cu)
	if err != nil {
		return nil, err
	}
	sx, err := G.Sum(lx)
	if err != nil {
		return nil, err
	}
	su, err := G.Sum(lu)
	if err != nil {
		return nil, err
	}
	return G.Add(sx, su)
}

// newOpGraph builds the graph of d under cfg; with grad it also adds the
// symbolic gradient of the loss (for a TapeMachine; a LispMachine graph
// must not have it).
func newOpGraph(t *testing.T, cfg op.OpConfig, d opData, grad bool) *opGraph {
	t.Helper()
	g := G.NewGraph()
	og := &opGraph{g: g}
	og.x0 = G.NewMatrix(g, tensor.Float64, G.WithShape(d.b, 3), G.WithName("x0"), G.WithValue(denseOf(d.x0, d.b, 3)))
	og.theta = opParamNode(g, "theta", d.theta, d.b, 3)
	og.phi = opParamNode(g, "phi", d.phi, d.b, 8)
	tr, err := op.ILQR(og.x0, og.theta, og.phi, cfg)
	if err != nil {
		t.Fatal(err)
	}
	og.tr = tr
	if og.loss, err = opLossOn(g, tr, d.b, cfg.Problem.T, d.wx, d.wu); err != nil {
		t.Fatal(err)
	}
	G.Read(og.loss, &og.lossVal)
	if grad {
		if _, err := G.Grad(og.loss, og.x0, og.theta, og.phi); err != nil {
			t.Fatal(err)
		}
	}
	return og
}

// valueFloats returns a copy of a float64 value's data.
func valueFloats(t *testing.T, v G.Value) []float64 {
	t.Helper()
	if v == nil || v.Dtype() != tensor.Float64 {
		t.Fatalf("value %T, want float64", v)
	}
	return anyFloats(t, v)
}

// gradOf returns a copy of n's float64 gradient.
func gradOf(t *testing.T, n *G.Node) []float64 {
	t.Helper()
	return valueFloats(t, gradValue(t, n))
}

// gradValue returns n's gradient value.
func gradValue(t *testing.T, n *G.Node) G.Value {
	t.Helper()
	v, err := n.Grad()
	if err != nil {
		t.Fatalf("%s: %v", n.Name(), err)
	}
	return v
}

// opGrads holds the loss and the input gradients of one graph run.
type opGrads struct {
	machine        string
	loss           float64
	x0, theta, phi []float64
	status         []ilqr.Status
	iterations     []int
	gradStatus     []ilqr.GradStatus
	out            []float64 // the packed trajectory
	stats          op.Stats
}

// runOpTape runs a graph built with grad=true on a TapeMachine, runs times
// (Reset before each), and returns the last run's results.
func runOpTape(t *testing.T, og *opGraph, runs int) opGrads {
	t.Helper()
	vm := G.NewTapeMachine(og.g)
	defer vm.Close()
	var r opGrads
	for i := 0; i < runs; i++ {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		r = collectOpGrads(t, og, "tape")
	}
	return r
}

// runOpLisp runs a graph built with grad=false on a fresh LispMachine
// (forward and backward) and returns the results.
func runOpLisp(t *testing.T, og *opGraph) opGrads {
	t.Helper()
	vm := G.NewLispMachine(og.g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	return collectOpGrads(t, og, "lisp")
}

func collectOpGrads(t *testing.T, og *opGraph, machine string) opGrads {
	t.Helper()
	st := og.tr.Op.Stats()
	return opGrads{
		machine:    machine,
		loss:       valueFloats(t, og.lossVal)[0],
		x0:         gradOf(t, og.x0),
		theta:      gradOf(t, og.theta),
		phi:        gradOf(t, og.phi),
		out:        valueFloats(t, og.tr.Packed.Value()),
		status:     st.Status,
		iterations: st.Iterations,
		gradStatus: st.GradStatus,
		stats:      st,
	}
}

// solverGrads returns the loss and the gradients Solver.Gradient gives for
// d, the per-example θ and φ rows summed where d shares them.
func solverGrads(t *testing.T, cfg op.OpConfig, d opData) opGrads {
	t.Helper()
	sv, err := ilqr.NewSolver(cfg.Problem, cfg.Solver.Settings)
	if err != nil {
		t.Fatal(err)
	}
	in := ilqr.Inputs{X0: d.x0, Theta: d.theta, Phi: d.phi}
	var r ilqr.Result
	if err := sv.Solve(&r, in); err != nil {
		t.Fatal(err)
	}
	var g ilqr.Grads
	if err := sv.Gradient(&g, &r, in, d.wx, d.wu, cfg.Solver.Grad); err != nil {
		t.Fatal(err)
	}
	sum := func(v []float64, k int, shared bool) []float64 {
		if !shared {
			return v
		}
		s := make([]float64, k)
		for i, x := range v {
			s[i%k] += x
		}
		return s
	}
	return opGrads{
		machine: "solver",
		loss:    fdtest.Dot(d.wx, r.X) + fdtest.Dot(d.wu, r.U),
		x0:      g.X0,
		theta:   sum(g.Theta, 3, d.thetaShared()),
		phi:     sum(g.Phi, 8, d.phiShared()),
		status:  r.Status, iterations: r.Iterations, gradStatus: g.Status,
	}
}

// sameOpGrads fails unless a and b agree within tol relative (in the measure
// of gradRelErr); tol 0 demands bitwise equality.
func sameOpGrads(t *testing.T, a, b opGrads, tol float64) {
	t.Helper()
	for _, p := range []struct {
		name string
		x, y []float64
	}{{"loss", []float64{a.loss}, []float64{b.loss}}, {"x0", a.x0, b.x0}, {"theta", a.theta, b.theta}, {"phi", a.phi, b.phi}} {
		if len(p.x) != len(p.y) {
			t.Fatalf("%s: %s has %d values, %s %d", p.name, a.machine, len(p.x), b.machine, len(p.y))
		}
		if tol == 0 {
			if !slices.Equal(p.x, p.y) {
				e, j := fdtest.RelErr(p.x, p.y)
				t.Errorf("d/d%s: %s and %s differ (relative %.2g at %d)", p.name, a.machine, b.machine, e, j)
			}
			continue
		}
		if e, j := fdtest.RelErr(p.x, p.y); !(e <= tol) {
			t.Errorf("d/d%s[%d]: %s %.12g, %s %.12g: relative error %.2g > %g", p.name, j, a.machine, p.x[j], b.machine, p.y[j], e, tol)
		}
	}
}

// TestOpGradientsMatchSolver runs the ILQR node with every combination of
// shared and per-example θ and φ on both VMs. The two VMs must give the same
// gradients bit for bit, and those must equal Solver.Gradient's (summed over
// the batch for a shared parameter) up to summation order. The TapeMachine
// runs twice to check that a Reset run repeats the first.
func TestOpGradientsMatchSolver(t *testing.T) {
	const b, horizon = 4, 10
	for _, tc := range []struct {
		name                   string
		thetaShared, phiShared bool
		mode                   ilqr.GradMode
	}{
		{"theta(B,P)/phi(B,Q)", false, false, ilqr.Implicit},
		{"theta(P)/phi(B,Q)", true, false, ilqr.Implicit},
		{"theta(B,P)/phi(Q)", false, true, ilqr.Implicit},
		{"theta(P)/phi(Q)", true, true, ilqr.Implicit},
		{"theta(P)/phi(Q)/fixed_point", true, true, ilqr.FixedPoint},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := pendulumOpData(21, b, horizon, tc.thetaShared, tc.phiShared)
			cfg := pendulumOpConfig(horizon, &gradTight)
			cfg.Solver.Grad.Mode = tc.mode
			want := solverGrads(t, cfg, d)
			tape := runOpTape(t, newOpGraph(t, cfg, d, true), 2)
			lisp := runOpLisp(t, newOpGraph(t, cfg, d, false))
			sameOpGrads(t, tape, lisp, 0)
			sameOpGrads(t, tape, want, 1e-13)
			for _, r := range []opGrads{tape, lisp} {
				if !slices.Equal(r.status, want.status) || !slices.Equal(r.gradStatus, want.gradStatus) {
					t.Errorf("%s: statuses %v / %v, solver %v / %v", r.machine, r.status, r.gradStatus, want.status, want.gradStatus)
				}
			}
		})
	}
}

// TestOpLispMachineAccumulates checks that the Op's DoDiff adds into the
// inputs' gradients as Gorgonia's own ops do: a second LispMachine on the
// same graph (whose leaves keep their gradient values) gives exactly twice
// the first gradients, as it does for a graph of built-in ops (checked here
// on Sum(Square(Slice(x))) too). Users make a graph per step or zero the
// gradients, as with any Gorgonia graph.
func TestOpLispMachineAccumulates(t *testing.T) {
	d := pendulumOpData(5, 3, 10, true, false)
	og := newOpGraph(t, pendulumOpConfig(10, &gradTight), d, false)
	first := runOpLisp(t, og)
	second := runOpLisp(t, og)
	double := func(v []float64) []float64 {
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = 2 * x
		}
		return out
	}
	want := first
	want.machine = "2×first"
	want.x0, want.theta, want.phi = double(first.x0), double(first.theta), double(first.phi)
	sameOpGrads(t, second, want, 0)

	// The same with built-in ops only.
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 2), G.WithName("x"), G.WithValue(denseOf([]float64{1, 2, 3, 4}, 2, 2)))
	y, err := G.Slice(x, nil, G.S(0, 1))
	if err != nil {
		t.Fatal(err)
	}
	sq, err := G.Square(y)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := G.Sum(sq); err != nil {
		t.Fatal(err)
	}
	var gs [][]float64
	for i := 0; i < 2; i++ {
		vm := G.NewLispMachine(g)
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		vm.Close()
		gs = append(gs, gradOf(t, x))
	}
	if !slices.Equal(gs[1], double(gs[0])) {
		t.Errorf("built-in ops: second LispMachine gave %v after %v; the premise of this test changed", gs[1], gs[0])
	}
}

// mlpGraph is a graph in which an MLP computes the pendulum's dynamics
// parameters per example from fixed input features:
//
//	θ = s ⊙ softplus(W2ᵀ tanh(W1ᵀ f + b1) + b2),  s = (10, 1, 1)/ln 2,
//
// so that zero weights give the nominal (g, m, l) = (10, 1, 1), followed by
// the ILQR node and the loss Σ wu·U + Σ wx·X.
type mlpGraph struct {
	g       *G.ExprGraph
	weights []*G.Node // W1 (F,H), b1 (H), W2 (H,3), b2 (3)
	tr      *op.Trajectory
	loss    *G.Node
	lossVal G.Value
}

const mlpF, mlpH = 4, 5

// opMLPWeights returns seeded initial weights for mlpGraph.
func opMLPWeights(seed uint64) [][]float64 {
	rng := rand.New(rand.NewPCG(seed, 3))
	w := [][]float64{make([]float64, mlpF*mlpH), make([]float64, mlpH), make([]float64, mlpH*3), make([]float64, 3)}
	for _, v := range w {
		for j := range v {
			v[j] = 0.3 * rng.NormFloat64()
		}
	}
	return w
}

func newMLPGraph(t *testing.T, cfg op.OpConfig, d opData, feat []float64, w [][]float64, grad bool) *mlpGraph {
	t.Helper()
	g := G.NewGraph()
	mg := &mlpGraph{g: g}
	must := func(n *G.Node, err error) *G.Node {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	f := G.NewConstant(denseOf(feat, d.b, mlpF), G.WithName("features"))
	w1 := G.NewMatrix(g, tensor.Float64, G.WithShape(mlpF, mlpH), G.WithName("W1"), G.WithValue(denseOf(w[0], mlpF, mlpH)))
	b1 := G.NewVector(g, tensor.Float64, G.WithShape(mlpH), G.WithName("b1"), G.WithValue(denseOf(w[1], mlpH)))
	w2 := G.NewMatrix(g, tensor.Float64, G.WithShape(mlpH, 3), G.WithName("W2"), G.WithValue(denseOf(w[2], mlpH, 3)))
	b2 := G.NewVector(g, tensor.Float64, G.WithShape(3), G.WithName("b2"), G.WithValue(denseOf(w[3], 3)))
	mg.weights = []*G.Node{w1, b1, w2, b2}
	h := must(G.Tanh(must(G.BroadcastAdd(must(G.Mul(f, w1)), b1, nil, []byte{0}))))
	z := must(G.BroadcastAdd(must(G.Mul(h, w2)), b2, nil, []byte{0}))
	// Constants live in no graph; an op on constants alone fails, so the
	// scale is an (untrained) input node.
	scale := G.NewVector(g, tensor.Float64, G.WithShape(3), G.WithName("scale"),
		G.WithValue(denseOf([]float64{10 / math.Ln2, 1 / math.Ln2, 1 / math.Ln2}, 3)))
	theta := must(G.BroadcastHadamardProd(must(G.Softplus(z)), scale, nil, []byte{0}))
	x0 := G.NewConstant(denseOf(d.x0, d.b, 3), G.WithName("x0"))
	phi := G.NewConstant(denseOf(d.phi, len(d.phi)), G.WithName("phi"))
	tr, err := op.ILQR(x0, theta, phi, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mg.tr = tr
	mg.loss = must(opLossOn(g, tr, d.b, cfg.Problem.T, d.wx, d.wu))
	G.Read(mg.loss, &mg.lossVal)
	if grad {
		if _, err := G.Grad(mg.loss, mg.weights...); err != nil {
			t.Fatal(err)
		}
	}
	return mg
}

// TestOpMLPFiniteDifferences trains nothing but checks the chain rule
// through the Op: the gradients of the loss with respect to the weights of
// an MLP that computes θ match Richardson-extrapolated central differences
// of the whole graph's forward value (the VM re-run with one weight
// perturbed, every solve cold-started and converged to TolGrad 1e-13) to
// 1e-6 relative, on both VMs. The steps are those of grad_test.go.
//
// Measured: largest relative error 1.2e-10 (tape and lisp alike; 43
// weights).
func TestOpMLPFiniteDifferences(t *testing.T) {
	const b, horizon = 3, 10
	d := pendulumOpData(8, b, horizon, true, true)
	rng := rand.New(rand.NewPCG(8, 8))
	feat := make([]float64, b*mlpF)
	for i := range feat {
		feat[i] = rng.NormFloat64()
	}
	cfg := pendulumOpConfig(horizon, &gradTight)
	w := opMLPWeights(8)

	tape := newMLPGraph(t, cfg, d, feat, w, true)
	vm := G.NewTapeMachine(tape.g)
	defer vm.Close()
	run := func() float64 {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		if st := tape.tr.Op.Stats(); !slices.Equal(st.Status, []ilqr.Status{ilqr.Converged, ilqr.Converged, ilqr.Converged}) {
			t.Fatalf("statuses %v", st.Status)
		}
		return valueFloats(t, tape.lossVal)[0]
	}
	run()
	var tapeGrads [][]float64
	for _, n := range tape.weights {
		tapeGrads = append(tapeGrads, gradOf(t, n))
	}
	lisp := newMLPGraph(t, cfg, d, feat, w, false)
	lvm := G.NewLispMachine(lisp.g)
	if err := lvm.RunAll(); err != nil {
		t.Fatal(err)
	}
	lvm.Close()
	var lispGrads [][]float64
	for _, n := range lisp.weights {
		lispGrads = append(lispGrads, gradOf(t, n))
	}

	// Central differences on the tape graph: Let the perturbed weight, re-run.
	var worst float64
	for k, n := range tape.weights {
		v := slices.Clone(w[k])
		shape := n.Shape().Clone()
		fd := fdtest.CentralDiff(v, fdtest.Rel, fdtest.Floor, func() float64 {
			if err := G.Let(n, denseOf(v, shape...)); err != nil {
				t.Fatal(err)
			}
			return run()
		})
		if err := G.Let(n, denseOf(w[k], shape...)); err != nil {
			t.Fatal(err)
		}
		for _, got := range []struct {
			machine string
			g       []float64
		}{{"tape", tapeGrads[k]}, {"lisp", lispGrads[k]}} {
			e, j := fdtest.RelErr(got.g, fd)
			worst = math.Max(worst, e)
			if !(e <= fdtest.Tol) {
				t.Errorf("%s: d/d%s[%d] = %.12g, finite differences %.12g: relative error %.2g", got.machine, n.Name(), j, got.g[j], fd[j], e)
			}
		}
		if !slices.Equal(tapeGrads[k], lispGrads[k]) {
			t.Errorf("d/d%s: tape and lisp machines differ", n.Name())
		}
	}
	t.Logf("MLP weights: largest relative error against finite differences %.2e", worst)
}

// TestOpBadInput checks that bad data never panics: NaN in an input value
// fails the run with an error wrapping ErrBadInput (reached with op.Cause),
// and wrong shapes or impossible settings fail at graph-build time with an
// error naming the input.
func TestOpBadInput(t *testing.T) {
	const b, horizon = 2, 10
	d := pendulumOpData(1, b, horizon, true, true)
	cfg := pendulumOpConfig(horizon, nil)

	t.Run("run", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			input string // x0, theta or phi
			val   float64
		}{
			{"NaN in x0", "x0", math.NaN()},
			{"Inf in x0", "x0", math.Inf(1)},
			{"NaN in theta", "theta", math.NaN()},
			{"Inf in phi", "phi", math.Inf(-1)},
		} {
			for _, machine := range []string{"tape", "lisp"} {
				t.Run(tc.name+"/"+machine, func(t *testing.T) {
					if machine == "lisp" {
						skipFailingLispUnderRace(t)
					}
					og := newOpGraph(t, cfg, d, machine == "tape")
					node := map[string]*G.Node{"x0": og.x0, "theta": og.theta, "phi": og.phi}[tc.input]
					v := valueFloats(t, node.Value())
					v[1] = tc.val
					if err := G.Let(node, denseOf(v, node.Shape()...)); err != nil {
						t.Fatal(err)
					}
					vm := newMachine(t, machine, og.g, nil)
					defer vm.Close()
					err := vm.RunAll()
					if err == nil {
						t.Fatal("RunAll accepted a non-finite input")
					}
					cause := op.Cause(err)
					if !errors.Is(cause, op.ErrBadInput) {
						t.Fatalf("cause %v (from %v) does not wrap ErrBadInput", cause, err)
					}
					if !strings.Contains(cause.Error(), strings.ToUpper(tc.input[:1])+tc.input[1:]) &&
						!strings.Contains(cause.Error(), tc.input) {
						t.Errorf("error %q does not name %s", cause, tc.input)
					}
				})
			}
		}
	})

	t.Run("build", func(t *testing.T) {
		g := G.NewGraph()
		mat := func(name string, r, c int) *G.Node {
			return G.NewMatrix(g, tensor.Float64, G.WithShape(r, c), G.WithName(name), G.WithValue(denseOf(make([]float64, r*c), r, c)))
		}
		vec := func(name string, k int) *G.Node {
			return G.NewVector(g, tensor.Float64, G.WithShape(k), G.WithName(name), G.WithValue(denseOf(make([]float64, k), k)))
		}
		x0, th, ph := mat("x0", b, 3), vec("theta", 3), vec("phi", 8)
		inverted := pendulumOpConfig(horizon, nil)
		inverted.Problem.Lower, inverted.Problem.Upper = []float64{1}, []float64{-1}
		wide := pendulumOpConfig(horizon, nil)
		wide.Problem.Lower, wide.Problem.Upper = []float64{-3}, []float64{3}
		zeroT := pendulumOpConfig(0, nil)
		badSet := pendulumOpConfig(horizon, &ilqr.Settings{TolGrad: math.NaN()})
		badMode := pendulumOpConfig(horizon, nil)
		badMode.Solver.Grad.Mode = 9
		for _, tc := range []struct {
			name           string
			x0, theta, phi *G.Node
			cfg            op.OpConfig
			mention        string // the error must contain this
		}{
			{"x0 of wrong N", mat("x0_4", b, 4), th, ph, cfg, "x0"},
			{"x0 of rank 1", vec("x0_v", 3), th, ph, cfg, "x0"},
			{"theta of wrong P", x0, vec("theta_4", 4), ph, cfg, "theta"},
			{"theta of wrong batch", x0, mat("theta_b", b+1, 3), ph, cfg, "theta"},
			{"phi of wrong Q", x0, th, vec("phi_7", 7), cfg, "phi"},
			{"phi of wrong batch", x0, th, mat("phi_b", 1, 8), cfg, "phi"},
			{"nil theta", x0, nil, ph, cfg, "theta"},
			{"inverted bounds", x0, th, ph, inverted, "Lower"},
			{"bounds wider than the clamp", x0, th, ph, wide, "clamp"},
			{"T=0", x0, th, ph, zeroT, "T=0"},
			{"NaN tolerance", x0, th, ph, badSet, "tolerance"},
			{"unknown gradient mode", x0, th, ph, badMode, "mode"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if _, ok := tc.cfg.Problem.Dynamics.(ilqr.Clamper); tc.mention == "clamp" && !ok {
					t.Skipf("%s does not implement ilqr.Clamper: NewSolver cannot see its clamp", tc.cfg.Problem.Dynamics.Name())
				}
				tr, err := op.ILQR(tc.x0, tc.theta, tc.phi, tc.cfg)
				if err == nil {
					t.Fatalf("ILQR accepted it: %v", tr.Packed)
				}
				if !errors.Is(err, op.ErrBadInput) {
					t.Errorf("error %q does not wrap ErrBadInput", err)
				}
				if !strings.Contains(err.Error(), tc.mention) {
					t.Errorf("error %q does not mention %q", err, tc.mention)
				}
			})
		}
	})
}

// dampedPendulumStep is the pendulum with viscous damping 0.3ω added to
// the angular acceleration: a model of the same sizes as the pendulum but a
// different function (and name), for the node-identity test.
func dampedPendulumStep[T models.Scalar[T]](next, x, u, th []T) {
	const dt = models.PendulumDt
	c, s, w := x[0], x[1], x[2]
	g, m, l := th[0], th[1], th[2]
	ub := u[0].Clamp(-2, 2)
	acc := g.MulC(3).Div(l.MulC(2)).Mul(s).Add(ub.MulC(3).Div(m.Mul(l).Mul(l))).Sub(w.MulC(0.3))
	w1 := w.Add(acc.MulC(dt))
	a1 := s.Atan2(c).Add(w1.MulC(dt))
	next[0] = a1.Cos()
	next[1] = a1.Sin()
	next[2] = w1
}

// TestOpNodeIdentity builds ILQR nodes on the same inputs with configs that
// differ in one result-changing field each: none may merge with the base
// node (Gorgonia merges nodes of equal hash, type, shape and children), and
// their outputs or gradients differ where the field must change them. Two
// identical configs (distinct Settings values with the same fields) must
// merge into one node whose Trajectory still reports Stats. Warm-started
// nodes never merge: their results depend on their own history.
func TestOpNodeIdentity(t *testing.T) {
	const b, horizon = 3, 10
	d := pendulumOpData(4, b, horizon, true, true)
	// Starts 0.3 rad off: the bound-active pendulum case of grad_test.go.
	copy(d.x0[3:6], fdtest.AngleState(0.3, 0.2))
	tight := func() *ilqr.Settings { s := gradTight; return &s }
	base := pendulumOpConfig(horizon, tight())

	damped, err := models.NewAuto("damped-pendulum(test,c=0.3)", models.Dims{N: 3, M: 1, P: 3}, []float64{10, 1, 1},
		models.StepFuncs{Float: dampedPendulumStep[models.Float], Dual: dampedPendulumStep[models.Dual],
			HyperDual: dampedPendulumStep[models.HyperDual]})
	if err != nil {
		t.Fatal(err)
	}
	goal, err := models.NewGoalCost(3, 1, []float64{0.7, 0.7, 0.2, 0.03}, []float64{1, 0, 0, 0})
	if err != nil {
		t.Fatal(err)
	}
	type change int
	const (
		sameOut  change = iota // same forward output, different gradient
		diffOut                // different forward output
		diffSize               // different output shape
	)
	variants := []struct {
		name   string
		edit   func(c *op.OpConfig)
		effect change
	}{
		{"T", func(c *op.OpConfig) { c.Problem.T = horizon + 1 }, diffSize},
		{"bounds", func(c *op.OpConfig) { c.Problem.Lower, c.Problem.Upper = []float64{-1}, []float64{1} }, diffOut},
		{"per-step bounds", func(c *op.OpConfig) {
			c.Problem.Lower = make([]float64, horizon)
			c.Problem.Upper = make([]float64, horizon)
			for i := range c.Problem.Lower {
				c.Problem.Lower[i], c.Problem.Upper[i] = -2, 2
			}
			c.Problem.Lower[0] = -0.5 // example 1 pushes at −2 first
		}, diffOut},
		{"MaxIter", func(c *op.OpConfig) { c.Solver.Settings.MaxIter = 1 }, diffOut},
		{"TolGrad", func(c *op.OpConfig) { c.Solver.Settings.TolGrad = 1e-3; c.Solver.Settings.TolGradLoose = 1e-3 }, diffOut},
		{"ExactIter", func(c *op.OpConfig) { c.Solver.Settings.ExactIter = true; c.Solver.Settings.MaxIter = 3 }, diffOut},
		{"grad mode", func(c *op.OpConfig) { c.Solver.Grad.Mode = ilqr.FixedPoint }, sameOut},
		{"dynamics model", func(c *op.OpConfig) { c.Problem.Dynamics = damped }, diffOut},
		{"cost model", func(c *op.OpConfig) { c.Problem.Cost = goal }, diffOut},
	}

	g := G.NewGraph()
	x0 := G.NewMatrix(g, tensor.Float64, G.WithShape(b, 3), G.WithName("x0"), G.WithValue(denseOf(d.x0, b, 3)))
	th := opParamNode(g, "theta", d.theta, b, 3)
	ph := opParamNode(g, "phi", d.phi, b, 8)
	baseTr, err := op.ILQR(x0, th, ph, base)
	if err != nil {
		t.Fatal(err)
	}
	var baseOut G.Value
	G.Read(baseTr.Packed, &baseOut)
	outs := make([]G.Value, len(variants))
	trs := make([]*op.Trajectory, len(variants))
	for i, v := range variants {
		cfg := pendulumOpConfig(horizon, tight())
		v.edit(&cfg)
		tr, err := op.ILQR(x0, th, ph, cfg)
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		trs[i] = tr
		G.Read(tr.Packed, &outs[i])
	}
	same, err := op.ILQR(x0, th, ph, pendulumOpConfig(horizon, tight()))
	if err != nil {
		t.Fatal(err)
	}
	warmCfg := pendulumOpConfig(horizon, tight())
	warmCfg.Solver.WarmStart = true
	warm1, err := op.ILQR(x0, th, ph, warmCfg)
	if err != nil {
		t.Fatal(err)
	}
	warm2, err := op.ILQR(x0, th, ph, warmCfg)
	if err != nil {
		t.Fatal(err)
	}

	if same.Packed != baseTr.Packed || same.Op != baseTr.Op {
		t.Errorf("identical configs made two nodes (%d, %d)", baseTr.Packed.ID(), same.Packed.ID())
	}
	if warm1.Packed == warm2.Packed {
		t.Errorf("two warm-started nodes merged (%d)", warm1.Packed.ID())
	}
	for i, v := range variants {
		if trs[i].Packed == baseTr.Packed || trs[i].Packed.ID() == baseTr.Packed.ID() {
			t.Errorf("%s: merged with the base node", v.name)
		}
		if trs[i].Op.Hashcode() == baseTr.Op.Hashcode() {
			t.Errorf("%s: op hash equals the base op's (%d)", v.name, baseTr.Op.Hashcode())
		}
		if trs[i].Op.String() == baseTr.Op.String() {
			t.Errorf("%s: op string equals the base op's: %s", v.name, baseTr.Op)
		}
	}

	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	bo := valueFloats(t, baseOut)
	for i, v := range variants {
		o := valueFloats(t, outs[i])
		switch v.effect {
		case diffSize:
			if len(o) == len(bo) {
				t.Errorf("%s: output has the base output's size %d", v.name, len(o))
			}
		case diffOut:
			if slices.Equal(o, bo) {
				t.Errorf("%s: output equals the base output", v.name)
			}
		case sameOut:
			if !slices.Equal(o, bo) {
				t.Errorf("%s: forward output differs from the base output", v.name)
			}
		}
	}
	// The merged node's Trajectory reports the run.
	st := same.Op.Stats()
	if len(st.Status) != b || len(st.Iterations) != b {
		t.Fatalf("merged node's stats: %+v", st)
	}
	for i, s := range st.Status {
		if s != ilqr.Converged || st.Iterations[i] < 1 {
			t.Errorf("merged node's example %d: %v after %d iterations", i, s, st.Iterations[i])
		}
	}

	// Gradient mode: same output, different gradients (bound-active
	// example 1 far enough from upright for the modes to differ).
	implicitCfg := pendulumOpConfig(horizon, tight())
	fixedCfg := pendulumOpConfig(horizon, tight())
	fixedCfg.Solver.Grad.Mode = ilqr.FixedPoint
	gi := runOpTape(t, newOpGraph(t, implicitCfg, d, true), 1)
	gf := runOpTape(t, newOpGraph(t, fixedCfg, d, true), 1)
	if slices.Equal(gi.theta, gf.theta) {
		t.Errorf("implicit and fixed-point graphs gave the same θ gradient %v", gi.theta)
	}
	if !slices.Equal(gi.out, gf.out) {
		t.Errorf("implicit and fixed-point graphs gave different trajectories")
	}
}

// TestOpWarmStart checks the WarmStart option: a second run on the same
// inputs starts from the first run's converged controls, so it needs at
// most one iteration (measured: 0) and gives the same trajectory to 1e-12;
// and two fresh graphs fed the same sequence of inputs give the same
// sequence of outputs bit for bit.
func TestOpWarmStart(t *testing.T) {
	const b, horizon = 4, 20
	cfg := pendulumOpConfig(horizon, nil)
	cfg.Solver.WarmStart = true
	seq := []opData{
		pendulumOpData(31, b, horizon, true, true),
		pendulumOpData(31, b, horizon, true, true), // the same again
		pendulumOpData(32, b, horizon, true, true),
		pendulumOpData(33, b, horizon, true, true),
	}
	runSeq := func() ([][]float64, []op.Stats) {
		og := newOpGraph(t, cfg, seq[0], true)
		vm := G.NewTapeMachine(og.g)
		defer vm.Close()
		var outs [][]float64
		var stats []op.Stats
		for _, d := range seq {
			if err := G.Let(og.x0, denseOf(d.x0, b, 3)); err != nil {
				t.Fatal(err)
			}
			vm.Reset()
			if err := vm.RunAll(); err != nil {
				t.Fatal(err)
			}
			outs = append(outs, valueFloats(t, og.tr.Packed.Value()))
			stats = append(stats, og.tr.Op.Stats())
		}
		return outs, stats
	}
	outs, stats := runSeq()
	for i, s := range stats {
		t.Logf("run %d: statuses %v iterations %v", i, s.Status, s.Iterations)
		for j, st := range s.Status {
			if st != ilqr.Converged {
				t.Fatalf("run %d example %d: %v", i, j, st)
			}
		}
	}
	if slices.Max(stats[0].Iterations) <= 1 {
		t.Fatalf("cold run took %v iterations: the test needs a harder start", stats[0].Iterations)
	}
	if m := slices.Max(stats[1].Iterations); m > 1 {
		t.Errorf("warm-started repeat took %v iterations, want ≤ 1", stats[1].Iterations)
	}
	if e, j := fdtest.RelErr(outs[1], outs[0]); e > 1e-12 {
		t.Errorf("warm-started repeat differs from the first run by %.2g at %d", e, j)
	}
	outs2, _ := runSeq()
	for i := range outs {
		if !slices.Equal(outs[i], outs2[i]) {
			t.Errorf("run %d: two fresh graphs fed the same sequence differ", i)
		}
	}
}

// TestOpStats checks the per-run statistics: nil before any run, one
// status and iteration count per example after a forward run, with
// GradStatus nil until a backward pass fills it.
func TestOpStats(t *testing.T) {
	const b, horizon = 3, 10
	d := pendulumOpData(6, b, horizon, false, true)
	cfg := pendulumOpConfig(horizon, nil)

	fwd := newOpGraph(t, cfg, d, false)
	if st := fwd.tr.Op.Stats(); st.Status != nil || st.Iterations != nil || st.GradStatus != nil {
		t.Fatalf("stats before a run: %+v", st)
	}
	vm := G.NewTapeMachine(fwd.g) // no G.Grad: forward only
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	want := solverGrads(t, cfg, d)
	st := fwd.tr.Op.Stats()
	if !slices.Equal(st.Status, want.status) || !slices.Equal(st.Iterations, want.iterations) || len(st.GradNorm) != b {
		t.Errorf("forward stats %+v, solver statuses %v iterations %v", st, want.status, want.iterations)
	}
	if st.GradStatus != nil {
		t.Errorf("GradStatus %v before any backward pass", st.GradStatus)
	}
	for i, gn := range st.GradNorm {
		if !(gn <= 1e-6) {
			t.Errorf("example %d: final projected gradient %g", i, gn)
		}
	}

	r := runOpTape(t, newOpGraph(t, cfg, d, true), 1)
	if !slices.Equal(r.gradStatus, []ilqr.GradStatus{ilqr.GradOK, ilqr.GradOK, ilqr.GradOK}) {
		t.Errorf("GradStatus after a backward pass: %v", r.gradStatus)
	}
}

// TestOpFailedExample runs a batch whose example 1 cannot converge in the
// single iteration allowed (it hangs down) while example 0 starts at the
// upright equilibrium (converged after 0 iterations). With the default
// SkipUnconverged policy example 1's gradients are zero and its GradStatus
// GradSkipped, no NaN enters the graph, and the shared θ and φ gradients
// are example 0's alone. Both VMs.
func TestOpFailedExample(t *testing.T) {
	const horizon = 20
	task := models.PendulumTask()
	d := opData{b: 2, x0: slices.Concat([]float64{1, 0, 0}, fdtest.AngleState(math.Pi-0.1, 0)),
		theta: task.Dynamics.DefaultParams(), phi: task.Cost.DefaultParams()}
	d.wx, d.wu = gradWeights(2, 2*horizon, 3, 1)
	cfg := pendulumOpConfig(horizon, &ilqr.Settings{MaxIter: 1})

	// Example 0 alone, as the Solver sees it.
	alone := opData{b: 1, x0: d.x0[:3], theta: d.theta, phi: d.phi, wx: d.wx[:horizon*3], wu: d.wu[:horizon]}
	want := solverGrads(t, cfg, alone)

	for _, r := range []opGrads{
		runOpTape(t, newOpGraph(t, cfg, d, true), 1),
		runOpLisp(t, newOpGraph(t, cfg, d, false)),
	} {
		if !slices.Equal(r.status, []ilqr.Status{ilqr.Converged, ilqr.IterationLimit}) {
			t.Fatalf("%s: statuses %v", r.machine, r.status)
		}
		if !slices.Equal(r.gradStatus, []ilqr.GradStatus{ilqr.GradOK, ilqr.GradSkipped}) {
			t.Errorf("%s: gradient statuses %v", r.machine, r.gradStatus)
		}
		for _, v := range [][]float64{r.x0, r.theta, r.phi} {
			for _, x := range v {
				if math.IsNaN(x) || math.IsInf(x, 0) {
					t.Fatalf("%s: non-finite gradient", r.machine)
				}
			}
		}
		if slices.ContainsFunc(r.x0[3:], func(x float64) bool { return x != 0 }) {
			t.Errorf("%s: unconverged example's x0 gradient %v, want zero", r.machine, r.x0[3:])
		}
		got := r
		got.x0 = r.x0[:3]
		got.loss = want.loss // the losses differ by example 1's term
		sameOpGrads(t, got, want, 1e-13)
	}
}

// TestOpNonFiniteExample runs a batch whose example 1 has a zero pendulum
// length in its θ row, so its rollout overflows (status NonFinite) while
// example 0 solves normally. Nothing may panic and no NaN may reach the
// input gradients. Stats must report the failure.
// Without Settings.IsolateNonFinite the forward run refuses the batch with
// ErrBadInput naming example 1 (its states would put NaN into the graph).
func TestOpNonFiniteExample(t *testing.T) {
	const horizon = 10
	task := models.PendulumTask()
	d := opData{b: 2, x0: slices.Concat(fdtest.AngleState(0.2, 0), fdtest.AngleState(0.3, 0)),
		theta: []float64{10, 1, 1, 10, 1, 0}, phi: task.Cost.DefaultParams()}
	d.wx, d.wu = gradWeights(2, 2*horizon, 3, 1)
	cfg := pendulumOpConfig(horizon, nil)
	for _, machine := range []string{"tape", "lisp"} {
		t.Run(machine, func(t *testing.T) {
			if machine == "lisp" {
				skipFailingLispUnderRace(t)
			}
			og := newOpGraph(t, cfg, d, machine == "tape")
			vm := newMachine(t, machine, og.g, nil)
			defer vm.Close()
			err := vm.RunAll()
			st := og.tr.Op.Stats()
			if len(st.Status) != 2 || st.Status[0] != ilqr.Converged || st.Status[1] != ilqr.NonFinite {
				t.Fatalf("statuses %v, want [converged non-finite]", st.Status)
			}
			// The documented policy: a non-finite rollout would put NaN
			// into the graph, so the run fails with ErrBadInput naming the
			// example, and Stats say which example it was.
			if err == nil {
				t.Fatal("run with a non-finite example succeeded")
			}
			if !errors.Is(op.Cause(err), op.ErrBadInput) || !strings.Contains(err.Error(), "example 1") {
				t.Fatalf("run failed with %v, want ErrBadInput naming example 1", err)
			}
		})
	}
}

// TestTrajectoryPartShapes checks that X and U keep their last axis even
// when it has width one (the pendulum's single control).
func TestTrajectoryPartShapes(t *testing.T) {
	g := G.NewGraph()
	x0, th, ph := pendulumInputs(g, tensor.Float64, tensor.Float64, tensor.Float64)
	tr, err := op.ILQR(x0, th, ph, pendulumOpConfig(7, nil))
	if err != nil {
		t.Fatal(err)
	}
	x, u := trajectoryParts(t, tr)
	if !x.Shape().Eq(tensor.Shape{2, 7, 3}) || !u.Shape().Eq(tensor.Shape{2, 7, 1}) {
		t.Fatalf("X %v, U %v; want (2, 7, 3) and (2, 7, 1)", x.Shape(), u.Shape())
	}
}

// pendulumInputs adds the inputs of a pendulum planner without values to
// g: x0 (2×3), a shared θ (3) and φ (8), of the dtypes given.
func pendulumInputs(g *G.ExprGraph, x0, theta, phi tensor.Dtype) (*G.Node, *G.Node, *G.Node) {
	return G.NewMatrix(g, x0, G.WithShape(2, 3), G.WithName("x0")),
		G.NewVector(g, theta, G.WithShape(3), G.WithName("theta")),
		G.NewVector(g, phi, G.WithShape(8), G.WithName("phi"))
}

// trajectoryParts returns the X and U nodes of tr.
func trajectoryParts(t *testing.T, tr *op.Trajectory) (x, u *G.Node) {
	t.Helper()
	x, err := tr.X()
	if err != nil {
		t.Fatal(err)
	}
	u, err = tr.U()
	if err != nil {
		t.Fatal(err)
	}
	return x, u
}

// newMachine returns a TapeMachine for machine "tape", else a LispMachine,
// for g. For the tape, with a loss, it first adds the gradient of loss
// with respect to wrt (G.Grad); the LispMachine differentiates by itself.
func newMachine(t *testing.T, machine string, g *G.ExprGraph, loss *G.Node, wrt ...*G.Node) G.VM {
	t.Helper()
	if machine != "tape" {
		return G.NewLispMachine(g)
	}
	if loss != nil {
		if _, err := G.Grad(loss, wrt...); err != nil {
			t.Fatal(err)
		}
	}
	return G.NewTapeMachine(g)
}

// runMachine runs g once on a new machine (see newMachine), failing the
// test on an error; the machine is closed when the test ends.
func runMachine(t *testing.T, machine string, g *G.ExprGraph, loss *G.Node, wrt ...*G.Node) {
	t.Helper()
	vm := newMachine(t, machine, g, loss, wrt...)
	t.Cleanup(func() { vm.Close() })
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
}

// gradWeights returns seeded loss weights for t·n states and t·m controls.
func gradWeights(seed uint64, t, n, m int) (wx, wu []float64) {
	w := fdtest.Normals(seed, t*(n+m))
	return w[:t*n], w[t*n:]
}

// gradTight are the settings of every solve whose solution is
// differentiated or finite-differenced (see ilqr's gradient tests).
var gradTight = ilqr.Settings{MaxIter: 1000, TolGrad: 1e-13, TolGradLoose: 1e-13}

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
			runMachine(t, machine, gr, loss, nodes["x0"], nodes["theta"], nodes["Q"], nodes["p"], nodes["lower"], nodes["upper"])
			out := valueFloats(t, tr.Packed.Value())
			for i := range b * T {
				if out[i*k+3] != res.U[i] {
					t.Fatalf("u[%d] = %g, solver %g", i, out[i*k+3], res.U[i])
				}
			}
			// OnBound counts against the bounds given as nodes, not the task's.
			if st := tr.Op.Stats(); st.OnBound[0]+st.OnBound[1]+st.OnBound[2] != onBound {
				t.Errorf("Stats.OnBound %v, want %d in all", st.OnBound, onBound)
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
