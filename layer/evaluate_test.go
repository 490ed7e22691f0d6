package layer

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op"
	"github.com/dilqr/dilqr/op/ilqr"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// evalRig is a small training graph with two input nodes, fed either a
// training batch or a held-out batch of the same shapes.
type evalRig struct {
	in          [2]*G.Node // the model's input and the target
	train, eval [2]*tensor.Dense
	loss        *G.Node
	learn       G.Nodes
	vm          G.VM
	solver      G.Solver
}

// feed binds the batch d (train or eval) to the rig's inputs.
func (r *evalRig) feed(t testing.TB, d [2]*tensor.Dense) {
	t.Helper()
	for i, n := range r.in {
		if err := G.Let(n, d[i]); err != nil {
			t.Fatal(err)
		}
	}
}

// runLoss runs the training machine (forward and backward) and returns
// the loss.
func (r *evalRig) runLoss(t testing.TB) float64 {
	t.Helper()
	r.vm.Reset()
	if err := r.vm.RunAll(); err != nil {
		t.Fatal(op.Cause(err))
	}
	return floats(t, r.loss.Value())[0]
}

// params returns a copy of every learnable's value, concatenated.
func (r *evalRig) params(t testing.TB) []float64 {
	t.Helper()
	var out []float64
	for _, n := range r.learn {
		out = append(out, floats(t, n.Value())...)
	}
	return out
}

// finish adds the gradient and the training machine to a rig whose
// inputs, batches, loss and learnables are set.
func (r *evalRig) finish(t testing.TB, g *G.ExprGraph) *evalRig {
	t.Helper()
	if _, err := G.Grad(r.loss, r.learn...); err != nil {
		t.Fatal(err)
	}
	r.vm = G.NewTapeMachine(g, G.BindDualValues(r.learn...))
	t.Cleanup(func() { r.vm.Close() })
	return r
}

// plannerRig learns θ of the pendulum (softplus, from the wrong guess
// (6, 1.6, 0.7)) by imitation of expert plans, with Adam; the held-out
// batch has other starts and their expert plans.
func plannerRig(t testing.TB) *evalRig {
	const b = 4
	m := must(t)
	g := G.NewGraph()
	phi := gradCost()
	pl := newPlanner(t, g, models.PendulumTask(), ILQRConfig{
		T: trainT, Batch: b,
		Theta: ParamSpec{Source: Learned, Transform: Softplus, Init: []float64{6, 1.6, 0.7}},
		Cost:  ParamSpec{Init: phi}, Solver: op.SolverConfig{Settings: &gradTight},
	})
	r := &evalRig{solver: G.NewAdamSolver(G.WithLearnRate(0.05))}
	for i, seed := range []uint64{11, 12} {
		x0 := pendulumStarts(seed, b)
		d := [2]*tensor.Dense{dense(x0, b, 3), dense(expertControls(t, x0, phi), b, trainT, 1)}
		if i == 0 {
			r.train = d
		} else {
			r.eval = d
		}
	}
	r.in[0] = input(t, g, "x0", r.train[0].Data().([]float64), b, 3)
	r.in[1] = input(t, g, "expert", r.train[1].Data().([]float64), b, trainT, 1)
	_, u := plan(t, pl, r.in[0])
	r.loss = m(G.Mean(m(G.Square(m(G.Sub(u, r.in[1]))))))
	r.learn = pl.Learnables()
	return r.finish(t, g)
}

// mlpRig fits an MLP (4 → 8 → 2, tanh) to a fixed linear map with RMSProp.
func mlpRig(t testing.TB) *evalRig {
	const b = 6
	m := must(t)
	g := G.NewGraph()
	mlp, err := NewMLP(g, MLPConfig{Sizes: []int{4, 8, 2}, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	r := &evalRig{solver: G.NewRMSPropSolver(G.WithLearnRate(0.01))}
	w := normals(40, 4*2)
	for i, seed := range []uint64{41, 42} {
		x := normals(seed, b*4)
		y := make([]float64, b*2)
		for e := range b {
			for j := range 2 {
				for k := range 4 {
					y[e*2+j] += x[e*4+k] * w[k*2+j]
				}
			}
		}
		d := [2]*tensor.Dense{dense(x, b, 4), dense(y, b, 2)}
		if i == 0 {
			r.train = d
		} else {
			r.eval = d
		}
	}
	r.in[0] = input(t, g, "x", r.train[0].Data().([]float64), b, 4)
	r.in[1] = input(t, g, "y", r.train[1].Data().([]float64), b, 2)
	out, err := mlp.Forward(r.in[0])
	if err != nil {
		t.Fatal(err)
	}
	r.loss = m(G.Mean(m(G.Square(m(G.Sub(out, r.in[1]))))))
	r.learn = mlp.Learnables()
	return r.finish(t, g)
}

// Ways of evaluating on the held-out batch between training steps.
const (
	evalNone      = "none"            // no evaluation
	evalEvaluator = "Evaluator"       // layer.Evaluator
	evalNaive     = "naive"           // the training machine on the held-out batch
	evalZeroed    = "naive+ZeroGrads" // the same, then ZeroGrads
)

// trajectory is what a training run went through: the loss of every step,
// the parameters after it and the held-out losses measured after it.
type trajectory struct {
	losses, heldOut []float64
	params          [][]float64
}

// trainWithEval trains r for steps steps, evaluating on the held-out batch
// after every step in the way named by how.
func trainWithEval(t *testing.T, r *evalRig, steps int, how string) trajectory {
	t.Helper()
	var ev *Evaluator
	if how == evalEvaluator {
		var err error
		if ev, err = NewEvaluator(r.loss); err != nil {
			t.Fatal(err)
		}
		defer ev.Close()
	}
	var tr trajectory
	for range steps {
		r.feed(t, r.train)
		tr.losses = append(tr.losses, r.runLoss(t))
		if err := r.solver.Step(G.NodesToValueGrads(r.learn)); err != nil {
			t.Fatal(err)
		}
		tr.params = append(tr.params, r.params(t))
		switch how {
		case evalEvaluator:
			before := r.in[0].Value()
			out, err := ev.Run(map[*G.Node]G.Value{r.in[0]: r.eval[0], r.in[1]: r.eval[1]})
			if err != nil {
				t.Fatal(err)
			}
			if r.in[0].Value() != before {
				t.Fatal("Evaluator.Run left the held-out batch bound to the input")
			}
			tr.heldOut = append(tr.heldOut, floats(t, out[0])[0])
		case evalNaive, evalZeroed:
			r.feed(t, r.eval)
			tr.heldOut = append(tr.heldOut, r.runLoss(t))
			if how == evalZeroed {
				if err := ZeroGrads(r.learn...); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return tr
}

// sameBits reports whether a and b hold the same float64 bit patterns.
func sameBits(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) })
}

// TestEvaluationLeavesTrainingUnchanged trains a planner (Adam) and an MLP
// (RMSProp) for a few steps, evaluating on a held-out batch after every
// step. With the Evaluator, or with the training machine followed by
// ZeroGrads, the losses and parameters of every step are bit for bit
// those of the run without evaluations, and the held-out losses of the
// two ways agree bit for bit. The control: the training machine alone on
// the held-out batch (its gradient added into the next step's) changes
// the trajectory.
func TestEvaluationLeavesTrainingUnchanged(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rig   func(testing.TB) *evalRig
		steps int
	}{
		{"planner/Adam", plannerRig, 5},
		{"MLP/RMSProp", mlpRig, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runs := map[string]trajectory{}
			for _, how := range []string{evalNone, evalEvaluator, evalNaive, evalZeroed} {
				runs[how] = trainWithEval(t, tc.rig(t), tc.steps, how)
			}
			plain := runs[evalNone]
			t.Logf("losses without evaluation %.6g; naive %.6g", plain.losses, runs[evalNaive].losses)
			for _, how := range []string{evalEvaluator, evalZeroed} {
				got := runs[how]
				if !sameBits(got.losses, plain.losses) {
					t.Errorf("%s: losses %v, without evaluation %v", how, got.losses, plain.losses)
				}
				for s := range plain.params {
					if !sameBits(got.params[s], plain.params[s]) {
						t.Errorf("%s: parameters after step %d differ from the run without evaluation", how, s+1)
						break
					}
				}
			}
			if ev, zg := runs[evalEvaluator].heldOut, runs[evalZeroed].heldOut; !sameBits(ev, zg) {
				t.Errorf("held-out losses: Evaluator %v, training machine %v", ev, zg)
			}
			if ho := runs[evalEvaluator].heldOut; ho[0] == plain.losses[1] {
				t.Errorf("held-out loss %g equals the training loss: the held-out batch was not used", ho[0])
			}
			naive := runs[evalNaive]
			if sameBits(naive.losses, plain.losses) || sameBits(naive.params[len(naive.params)-1], plain.params[len(plain.params)-1]) {
				t.Error("control: evaluating with the training machine left the trajectory unchanged; the test cannot tell a safe evaluation from an unsafe one")
			}
		})
	}
}

// TestZeroGrads checks that ZeroGrads zeroes accumulated gradients of
// tensor and scalar nodes, leaves a node with no run yet alone, and
// refuses a node that was never differentiated without changing the
// others.
func TestZeroGrads(t *testing.T) {
	m := must(t)
	g := G.NewGraph()
	w := input(t, g, "w", []float64{1, 2, 3}, 3)
	s := G.NewScalar(g, tensor.Float64, G.WithName("s"), G.WithValue(2.0))
	other := input(t, g, "other", []float64{4}, 1)
	loss := m(G.Mul(m(G.Sum(m(G.Square(w)))), s))
	if _, err := G.Grad(loss, w, s); err != nil {
		t.Fatal(err)
	}
	if err := ZeroGrads(w, s); err != nil {
		t.Fatalf("before any run: %v", err)
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(w, s))
	defer vm.Close()
	for range 2 {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
	}
	// Two runs accumulate: d/dw = 2·(2 s w), d/ds = 2·Σw².
	if gw, gs := gradOf(t, w), gradOf(t, s); !slices.Equal(gw, []float64{8, 16, 24}) || !slices.Equal(gs, []float64{28}) {
		t.Fatalf("accumulated gradients %v, %v; want [8 16 24], [28]", gw, gs)
	}
	err := ZeroGrads(w, other, s)
	if err == nil || !strings.Contains(err.Error(), "other") {
		t.Fatalf("a node without a gradient: error %v, want one naming it", err)
	}
	if gw := gradOf(t, w); !slices.Equal(gw, []float64{8, 16, 24}) {
		t.Errorf("a refused call changed w's gradient to %v", gw)
	}
	if err := ZeroGrads(w, s); err != nil {
		t.Fatal(err)
	}
	if gw, gs := gradOf(t, w), gradOf(t, s); !slices.Equal(gw, []float64{0, 0, 0}) || !slices.Equal(gs, []float64{0}) {
		t.Errorf("after ZeroGrads: %v, %v", gw, gs)
	}
	vm.Reset()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	if gw := gradOf(t, w); !slices.Equal(gw, []float64{4, 8, 12}) {
		t.Errorf("one run after ZeroGrads: d/dw %v, want [4 8 12]", gw)
	}
}

// TestEvaluatorRefusesTrainingModeOps checks that a graph with a
// G.Dropout is refused, and the reason not to run it in evaluation mode
// instead: on a TapeMachine made with G.EvalMode, Dropout returns its
// input tensor itself and the Add after it writes into it in place, so the
// input node's value changes. If that premise stops holding (a Gorgonia
// upgrade), the Evaluator could run such ops in evaluation mode.
func TestEvaluatorRefusesTrainingModeOps(t *testing.T) {
	m := must(t)
	g := G.NewGraph()
	ones := slices.Repeat([]float64{1}, 16)
	x := input(t, g, "x", ones, 16)
	out := m(G.Add(m(G.Dropout(x, 0.5)), x))
	_, err := NewEvaluator(out)
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "training mode") {
		t.Errorf("a graph with Dropout: error %v, want ErrConfig about its training mode", err)
	}
	vm := G.NewTapeMachine(g, G.EvalMode())
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	if v := floats(t, x.Value()); slices.Equal(v, ones) {
		t.Errorf("premise changed: Dropout in evaluation mode left its input as it was (%v)", v)
	}
}

// TestEvaluatorRefusesWarmStart checks that a graph with a warm-started
// planner is refused (its runs move the next run's start) and one without
// is accepted; this also guards warmStarted's reading of the Op's
// identity.
func TestEvaluatorRefusesWarmStart(t *testing.T) {
	for _, warm := range []bool{false, true} {
		g := G.NewGraph()
		pl := newPlanner(t, g, models.PendulumTask(), ILQRConfig{T: 5, Batch: 2,
			Solver: op.SolverConfig{WarmStart: warm}})
		x0 := input(t, g, "x0", pendulumStarts(1, 2), 2, 3)
		_, u := plan(t, pl, x0)
		ev, err := NewEvaluator(u)
		if !warm {
			if err != nil {
				t.Fatalf("without WarmStart: %v", err)
			}
			if _, err := ev.Run(nil); err != nil {
				t.Fatal(err)
			}
			ev.Close()
			continue
		}
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "warm") {
			t.Errorf("with WarmStart: error %v, want ErrConfig about the warm start", err)
		}
	}
}

// TestEvaluatorErrors checks the refusals of NewEvaluator and that a
// failing run returns the Op's own error and restores the inputs.
func TestEvaluatorErrors(t *testing.T) {
	if _, err := NewEvaluator(); !errors.Is(err, ErrConfig) {
		t.Errorf("no outputs: %v", err)
	}
	g1, g2 := G.NewGraph(), G.NewGraph()
	a, b := input(t, g1, "a", []float64{1}, 1), input(t, g2, "b", []float64{1}, 1)
	if _, err := NewEvaluator(a, b); !errors.Is(err, ErrConfig) {
		t.Errorf("outputs of two graphs: %v", err)
	}

	g := G.NewGraph()
	pl := newPlanner(t, g, models.PendulumTask(), ILQRConfig{T: 5, Batch: 2})
	good := dense(pendulumStarts(1, 2), 2, 3)
	x0 := input(t, g, "x0", good.Data().([]float64), 2, 3)
	_, u := plan(t, pl, x0)
	ev, err := NewEvaluator(u)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	before := x0.Value()
	bad := dense([]float64{math.NaN(), 0, 0, 1, 0, 0}, 2, 3)
	_, err = ev.Run(map[*G.Node]G.Value{x0: bad})
	if !errors.Is(err, op.ErrBadInput) || !strings.HasPrefix(err.Error(), "layer: Evaluator: ") {
		t.Errorf("NaN in x0: error %v, want one wrapping op.ErrBadInput", err)
	}
	if x0.Value() != before {
		t.Error("a failed run left the held-out batch bound to the input")
	}
	if st := pl.Stats().Status; len(st) != 2 || st[0] != ilqr.NonFinite {
		t.Errorf("statuses after the failed run %v", st)
	}
	if _, err := ev.Run(map[*G.Node]G.Value{x0: dense([]float64{1, 2}, 2)}); err == nil {
		t.Error("a value of the wrong shape was accepted")
	}
}

// TestEvaluatorOutputsReusedInPlace evaluates y = tanh(x) and the loss
// Σ(y − c), whose G.Sub a TapeMachine runs in place in y's register: y's
// value read after a plain run is y − c (the premise, gorgonia issue 576),
// while the Evaluator returns tanh(x), run after run.
func TestEvaluatorOutputsReusedInPlace(t *testing.T) {
	m := must(t)
	g := G.NewGraph()
	xv := []float64{0.5, -1, 2}
	x := input(t, g, "x", xv, 3)
	c := input(t, g, "c", []float64{1, 1, 1}, 3)
	y := m(G.Tanh(x))
	loss := m(G.Sum(m(G.Sub(y, c))))
	want := make([]float64, 3)
	for i, v := range xv {
		want[i] = math.Tanh(v)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	if got := floats(t, y.Value()); slices.Equal(got, want) {
		t.Errorf("premise changed: a plain TapeMachine's y reads %v, tanh(x) itself", got)
	}
	ev, err := NewEvaluator(loss, y)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	for run := range 2 {
		out, err := ev.Run(nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := floats(t, out[1]); !slices.Equal(got, want) {
			t.Fatalf("run %d: y = %v, want tanh(x) = %v", run, got, want)
		}
		if l := floats(t, out[0])[0]; math.Abs(l-(want[0]+want[1]+want[2]-3)) > 1e-15 {
			t.Fatalf("run %d: loss %v", run, l)
		}
	}
}

// TestEvaluatorBadNodes: a nil output, a nil feed node and a node of
// another graph are configuration errors, not panics or silently ignored
// feeds.
func TestEvaluatorBadNodes(t *testing.T) {
	if _, err := NewEvaluator(nil); !errors.Is(err, ErrConfig) {
		t.Errorf("NewEvaluator(nil): %v, want ErrConfig", err)
	}
	vec := func(g *G.ExprGraph, name string) *G.Node {
		return G.NewVector(g, tensor.Float64, G.WithShape(2), G.WithName(name),
			G.WithValue(tensor.New(tensor.WithShape(2), tensor.WithBacking([]float64{1, 2}))))
	}
	g := G.NewGraph()
	x := vec(g, "x")
	e, err := NewEvaluator(G.Must(G.Sum(x)))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	v := tensor.New(tensor.WithShape(2), tensor.WithBacking([]float64{3, 4}))
	for name, n := range map[string]*G.Node{"nil node": nil, "another graph's node": vec(G.NewGraph(), "x")} {
		if _, err := e.Run(map[*G.Node]G.Value{n: v}); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
	out, err := e.Run(map[*G.Node]G.Value{x: v})
	if err != nil || out[0].Data().(float64) != 7 {
		t.Fatalf("a good feed: %v, %v", out, err)
	}
}
