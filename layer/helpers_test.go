package layer

// Helpers shared by the tests: tensors, graph runs, finite differences.
//
// Gorgonia traps these helpers respect (see shared/GORGONIA.md): a
// TapeMachine is Reset before every run; a LispMachine is made afresh for
// every run on a graph without G.Grad; values are read through G.Read
// (registered before the machine is made) and copied at once.

import (
	"errors"
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

// gradTight are the solver settings of every solve that is differentiated
// or finite-differenced: the projected gradient must fall to 1e-13
// (TolGradLoose as small, so that the stop on a small cost change cannot end
// a solve early). Round-off in the solution is then ~1e-13, which a
// difference quotient with step h divides by h.
var gradTight = ilqr.Settings{MaxIter: 1000, TolGrad: 1e-13, TolGradLoose: 1e-13}

// Finite differences use fdtest's steps: entry j of a weight tensor w is
// perturbed by h_j = fdtest.Rel · max(|w_j|, fdtest.Floor), a step relative
// to the entry's own scale with a floor for entries near zero (biases start
// at 0: they get 1e-5), in Richardson-extrapolated central differences
// (fdtest.CentralDiff). They were chosen on a grid for the same solver
// settings: smaller steps lose to the ~1e-12 round-off of a re-solved loss.
// The gradients must match them to fdtest.Tol in fdtest.RelErr, which
// compares entries far below a tensor's typical size absolutely at that
// size.

func dense(v []float64, shape ...int) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(slices.Clone(v)))
}

// input adds an input node with value v.
func input(t testing.TB, g *G.ExprGraph, name string, v []float64, shape ...int) *G.Node {
	t.Helper()
	n, err := inputNode(g, name, slices.Clone(v), shape...)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// floats returns a copy of a value's float64 data.
func floats(t testing.TB, v G.Value) []float64 {
	t.Helper()
	if v == nil || v.Dtype() != tensor.Float64 {
		t.Fatalf("value %T, want float64", v)
	}
	return valuesOf(t, v)
}

func gradOf(t testing.TB, n *G.Node) []float64 {
	t.Helper()
	v, err := n.Grad()
	if err != nil {
		t.Fatalf("%s: %v", n.Name(), err)
	}
	return floats(t, v)
}

func must(t testing.TB) func(*G.Node, error) *G.Node {
	return func(n *G.Node, err error) *G.Node {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
}

// pendulumStarts returns b seeded pendulum states near upright: angles in
// ±0.3 rad, velocities in ±0.2 rad/s, where the planner's controls stay
// inside the ±2 bounds (checked by the tests that need it).
func pendulumStarts(seed uint64, b int) []float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	var x0 []float64
	for i := 0; i < b; i++ {
		x0 = append(x0, fdtest.AngleState(0.6*(rng.Float64()-0.5), 0.4*(rng.Float64()-0.5))...)
	}
	return x0
}

// normals returns k standard normal values from the stream (seed, 2), the
// layer tests' own (fdtest.Normals draws from (seed, 99)).
func normals(seed uint64, k int) []float64 {
	return fdtest.NormalsFrom(rand.New(rand.NewPCG(seed, 2)), k)
}

// weightedLoss adds L = Σ wx⊙X + Σ wu⊙U with seeded weights: a loss whose
// gradient reaches every state and control of the plan.
func weightedLoss(t testing.TB, g *G.ExprGraph, x, u *G.Node, seed uint64) *G.Node {
	t.Helper()
	m := must(t)
	wx := input(t, g, "loss.wx", normals(seed, x.Shape().TotalSize()), x.Shape()...)
	wu := input(t, g, "loss.wu", normals(seed+1, u.Shape().TotalSize()), u.Shape()...)
	return m(G.Add(m(G.Sum(m(G.HadamardProd(x, wx)))), m(G.Sum(m(G.HadamardProd(u, wu))))))
}

// graphRun is a graph with a scalar loss, run on a TapeMachine.
type graphRun struct {
	g       *G.ExprGraph
	loss    *G.Node
	lossVal G.Value
	learn   G.Nodes
	planner *ILQR
	vm      G.VM
	// step, when not zero, replaces fdtest.Rel.
	step float64
}

func (r *graphRun) fdRel() float64 {
	if r.step != 0 {
		return r.step
	}
	return fdtest.Rel
}

// newTapeRun adds the symbolic gradient of loss w.r.t. learn and makes a
// TapeMachine bound to learn.
func newTapeRun(t testing.TB, g *G.ExprGraph, loss *G.Node, learn G.Nodes, planner *ILQR) *graphRun {
	t.Helper()
	r := &graphRun{g: g, loss: loss, learn: learn, planner: planner}
	G.Read(loss, &r.lossVal)
	if _, err := G.Grad(loss, learn...); err != nil {
		t.Fatal(err)
	}
	r.vm = G.NewTapeMachine(g, G.BindDualValues(learn...))
	t.Cleanup(func() { r.vm.Close() })
	return r
}

// run runs the machine once and returns the loss; with converged it fails
// unless every example of the planner converged.
func (r *graphRun) run(t testing.TB, converged bool) float64 {
	t.Helper()
	r.vm.Reset()
	if err := r.vm.RunAll(); err != nil {
		t.Fatal(op.Cause(err))
	}
	if converged && r.planner != nil {
		for i, s := range r.planner.Stats().Status {
			if s != ilqr.Converged {
				t.Fatalf("example %d: %v", i, s)
			}
		}
	}
	return floats(t, r.lossVal)[0]
}

// grads runs forward and backward once (gradients zeroed first, since
// bound dual values accumulate) and returns the loss and the gradient of
// every learnable.
func (r *graphRun) grads(t testing.TB) (float64, [][]float64) {
	t.Helper()
	for _, n := range r.learn {
		if v, err := n.Grad(); err == nil {
			if d, ok := v.(*tensor.Dense); ok {
				d.Zero()
			}
		}
	}
	loss := r.run(t, true)
	out := make([][]float64, len(r.learn))
	for i, n := range r.learn {
		out[i] = gradOf(t, n)
	}
	return loss, out
}

// centralDiff returns the Richardson-extrapolated central differences of
// the loss with respect to every entry of node n, whose value it perturbs
// in place and restores.
func (r *graphRun) centralDiff(t testing.TB, n *G.Node) []float64 {
	t.Helper()
	v, err := nodeData(Param{Name: n.Name(), Node: n})
	if err != nil {
		t.Fatal(err)
	}
	return fdtest.CentralDiff(v, r.fdRel(), fdtest.Floor, func() float64 { return r.run(t, true) })
}

// checkFD compares the gradients of every learnable of r with central
// differences and returns the largest relative error.
func checkFD(t *testing.T, r *graphRun) float64 {
	t.Helper()
	_, gs := r.grads(t)
	var worst float64
	for i, n := range r.learn {
		fd := r.centralDiff(t, n)
		e, k := fdtest.RelErr(gs[i], fd)
		worst = math.Max(worst, e)
		if !(e <= fdtest.Tol) {
			t.Errorf("d/d%s[%d] = %.12g, finite differences %.12g: relative error %.2g > %g", n.Name(), k, gs[i][k], fd[k], e, fdtest.Tol)
		}
	}
	return worst
}

// checkPlanFD checks the gradients of learn for the loss weightedLoss(x, u,
// seed) of pl's plan (x, u) against finite differences (checkFD, with the
// relative step rel, fdtest.Rel when rel is 0), once every control of the
// plan is seen to lie at least 0.05 inside the bounds; it returns the
// largest relative error.
func checkPlanFD(t *testing.T, g *G.ExprGraph, pl *ILQR, x, u *G.Node, learn G.Nodes, seed uint64, rel float64) float64 {
	t.Helper()
	var uv G.Value
	G.Read(u, &uv)
	r := newTapeRun(t, g, weightedLoss(t, g, x, u, seed), learn, pl)
	r.step = rel
	r.run(t, true)
	checkOffBounds(t, floats(t, uv), 0.05)
	return checkFD(t, r)
}

// newPlanner returns NewILQR(g, task, cfg), failing the test on an error.
func newPlanner(t testing.TB, g *G.ExprGraph, task models.Task, cfg ILQRConfig) *ILQR {
	t.Helper()
	pl, err := NewILQR(g, task, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

// plan returns pl's plan (X, U) from x0, failing the test on an error.
func plan(t testing.TB, pl *ILQR, x0 *G.Node) (x, u *G.Node) {
	t.Helper()
	x, u, err := pl.Plan(x0)
	if err != nil {
		t.Fatal(err)
	}
	return x, u
}

// checkErr fails unless err is an error wrapping want whose message
// contains says.
func checkErr(t *testing.T, err, want error, says string) {
	t.Helper()
	if err == nil {
		t.Fatal("accepted")
	}
	if !errors.Is(err, want) {
		t.Errorf("error %q does not wrap %v", err, want)
	}
	if !strings.Contains(err.Error(), says) {
		t.Errorf("error %q does not say %q", err, says)
	}
}

// checkOffBounds fails unless every control of the planner's last run lies
// at least margin inside the pendulum's ±2 bounds, so that finite
// differences cannot cross an active-set change.
func checkOffBounds(t *testing.T, u []float64, margin float64) {
	t.Helper()
	for i, v := range u {
		if math.Abs(v) > models.PendulumMaxTorque-margin {
			t.Fatalf("control %d is %g, within %g of a bound: choose another start", i, v, margin)
		}
	}
}
