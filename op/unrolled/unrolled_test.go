package unrolled

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op"
	"github.com/dilqr/dilqr/op/ilqr"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// testCase is one unrolled problem: a task, its step, a horizon and the
// inputs. theta and phi are shared (length P, Q) or per example (B·P, B·Q).
type testCase struct {
	name        string
	task        models.Task
	step        models.Step[GraphScalar]
	T           int
	x0          []float64 // B×N
	theta, phi  []float64
	thetaShared bool
	phiShared   bool
}

func (c testCase) dims() (b, n, m, p, q int) {
	d := c.task.Dynamics.Dims()
	return len(c.x0) / d.N, d.N, d.M, d.P, c.task.Cost.Dims().Q
}

func (c testCase) problem() ilqr.Problem {
	return ilqr.Problem{Task: c.task, T: c.T}
}

func (c testCase) inputs() ilqr.Inputs {
	return ilqr.Inputs{X0: c.x0, Theta: c.theta, Phi: c.phi}
}

// pendulumCase starts B pendulums near upright with angles th and rates w
// (so the optimal controls stay inside ±2) with shared default parameters.
func pendulumCase(T int, th, w []float64) testCase {
	task := models.PendulumTask()
	x0 := make([]float64, 0, 3*len(th))
	for i := range th {
		x0 = append(x0, math.Cos(th[i]), math.Sin(th[i]), w[i])
	}
	return testCase{
		name: "pendulum", task: task, step: models.PendulumStep[GraphScalar], T: T, x0: x0,
		theta: task.Dynamics.DefaultParams(), phi: task.Cost.DefaultParams(),
		thetaShared: true, phiShared: true,
	}
}

// uprightCase is the B = 2 pendulum case of the convergence tests: near
// upright, optimal controls at most 1.3 in magnitude (the bounds are ±2;
// most starts with |θ| ≥ 0.1 saturate them at T = 10).
func uprightCase(T int) testCase {
	return pendulumCase(T, []float64{0.15, -0.1}, []float64{-0.3, 0.1})
}

// perExample returns c with θ and φ given per example (the same values).
func (c testCase) perExample() testCase {
	b, _, _, _, _ := c.dims()
	rep := func(v []float64) []float64 {
		out := make([]float64, 0, b*len(v))
		for range b {
			out = append(out, v...)
		}
		return out
	}
	c.theta, c.phi = rep(c.theta), rep(c.phi)
	c.thetaShared, c.phiShared = false, false
	c.name += "/per-example"
	return c
}

// testGraph is one built unrolled graph with its loss L = Σ W⊙out.
type testGraph struct {
	g                *G.ExprGraph
	x0, theta, phi   *G.Node
	out, loss        *G.Node
	outVal, lossVal  G.Value
	b, t, n, m, p, q int
}

func denseOf(shape []int, data []float64) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float64(nil), data...)))
}

// lossWeights returns fixed random loss weights W (B×T×(N+M)) for seed s.
func lossWeights(n int, s uint64) []float64 {
	rng := rand.New(rand.NewPCG(s, 7))
	w := make([]float64, n)
	for i := range w {
		w[i] = 2*rng.Float64() - 1
	}
	return w
}

// buildGraph builds c with iters iterations, its loss with weights w (nil: no
// loss), and G.Read nodes for both (see GORGONIA.md on register reuse).
func buildGraph(t testing.TB, c testCase, iters int, w []float64) *testGraph {
	t.Helper()
	bs, n, m, p, q := c.dims()
	r := &testGraph{g: G.NewGraph(), b: bs, t: c.T, n: n, m: m, p: p, q: q}
	r.x0 = G.NewTensor(r.g, tensor.Float64, 2, G.WithShape(bs, n), G.WithName("x0"), G.WithValue(denseOf([]int{bs, n}, c.x0)))
	param := func(name string, v []float64, shared bool, k int) *G.Node {
		if shared {
			return G.NewTensor(r.g, tensor.Float64, 1, G.WithShape(k), G.WithName(name), G.WithValue(denseOf([]int{k}, v)))
		}
		return G.NewTensor(r.g, tensor.Float64, 2, G.WithShape(bs, k), G.WithName(name), G.WithValue(denseOf([]int{bs, k}, v)))
	}
	r.theta = param("theta", c.theta, c.thetaShared, p)
	r.phi = param("phi", c.phi, c.phiShared, q)
	out, err := Build(r.x0, r.theta, r.phi, Config{Problem: c.problem(), Step: c.step, Iters: iters})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	r.out = out
	G.Read(out, &r.outVal)
	if w == nil {
		return r
	}
	wn := G.NewConstant(denseOf([]int{bs, c.T, n + m}, w), G.WithName("weights"))
	prod := G.Must(G.HadamardProd(out, wn))
	r.loss = G.Must(G.Sum(G.Must(G.Reshape(prod, tensor.Shape{bs * c.T * (n + m)}))))
	G.Read(r.loss, &r.lossVal)
	return r
}

func copyValue(v G.Value) []float64 {
	return append([]float64(nil), v.Data().([]float64)...)
}

// gradSet holds the loss gradients w.r.t. x0, θ and φ.
type gradSet struct{ x0, theta, phi []float64 }

func (g gradSet) all() []float64 {
	return append(append(append([]float64(nil), g.x0...), g.theta...), g.phi...)
}

func (r *testGraph) grads(t testing.TB) gradSet {
	t.Helper()
	get := func(n *G.Node) []float64 {
		v, err := n.Grad()
		if err != nil {
			t.Fatalf("gradient of %v: %v", n, err)
		}
		return copyValue(v)
	}
	return gradSet{get(r.x0), get(r.theta), get(r.phi)}
}

// tapeGrads runs c's loss with G.Grad and a TapeMachine. A graph whose
// gradient nodes collide in Gorgonia's 32-bit hash (HashCollisions) would
// be miscomputed by the TapeMachine, so it is rebuilt with fresh salts.
func tapeGrads(t testing.TB, c testCase, iters int, w []float64) (gradSet, float64) {
	t.Helper()
	var r *testGraph
	for try := 0; ; try++ {
		r = buildGraph(t, c, iters, w)
		if _, err := G.Grad(r.loss, r.x0, r.theta, r.phi); err != nil {
			t.Fatalf("Grad: %v", err)
		}
		dup := HashCollisions(r.g)
		if len(dup) == 0 {
			break
		}
		t.Logf("%d nodes share a hash with another node (%v): rebuilding", len(dup), dup[0])
		if try == 4 {
			t.Fatalf("hash collisions in 5 builds")
		}
	}
	vm := G.NewTapeMachine(r.g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatalf("TapeMachine: %v", err)
	}
	return r.grads(t), r.lossVal.Data().(float64)
}

// newTape compiles r's graph for a TapeMachine, failing on hash
// collisions.
func newTape(t testing.TB, r *testGraph) G.VM {
	t.Helper()
	if dup := HashCollisions(r.g); len(dup) > 0 {
		t.Fatalf("%d nodes share a hash with another node (%v)", len(dup), dup[0])
	}
	return G.NewTapeMachine(r.g)
}

// lispGrads runs c's loss forward and backward on a LispMachine.
func lispGrads(t testing.TB, c testCase, iters int, w []float64) (gradSet, float64) {
	t.Helper()
	r := buildGraph(t, c, iters, w)
	vm := G.NewLispMachine(r.g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatalf("LispMachine: %v", err)
	}
	return r.grads(t), r.lossVal.Data().(float64)
}

// forward returns the packed trajectory of c after iters iterations.
func forward(t testing.TB, c testCase, iters int) []float64 {
	t.Helper()
	r := buildGraph(t, c, iters, nil)
	vm := newTape(t, r)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatalf("TapeMachine: %v", err)
	}
	return copyValue(r.outVal)
}

// forwardLisp is forward on a forward-only LispMachine (no compile).
func forwardLisp(t testing.TB, c testCase, iters int) []float64 {
	t.Helper()
	r := buildGraph(t, c, iters, nil)
	vm := G.NewLispMachine(r.g, G.ExecuteFwdOnly())
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatalf("LispMachine: %v", err)
	}
	return copyValue(r.outVal)
}

// solveTight solves c with the solver to full precision.
func solveTight(t testing.TB, c testCase) *ilqr.Result {
	t.Helper()
	res, err := ilqr.Solve(c.problem(), c.inputs(), &ilqr.Settings{MaxIter: 1000, TolGrad: 1e-13, TolGradLoose: 1e-13, TolCost: 1e-300})
	if err != nil {
		t.Fatal(err)
	}
	if !res.AllConverged() {
		t.Fatalf("%s: solver did not converge: %v", c.name, res.Status)
	}
	return res
}

// maxPackedDiff compares a packed (B,T,N+M) trajectory with an ilqr.Result.
func maxPackedDiff(packed []float64, r *ilqr.Result) float64 {
	k := r.N + r.M
	var e float64
	for i := range r.B * r.T {
		for j := range r.N {
			e = math.Max(e, math.Abs(packed[i*k+j]-r.X[i*r.N+j]))
		}
		for j := range r.M {
			e = math.Max(e, math.Abs(packed[i*k+r.N+j]-r.U[i*r.M+j]))
		}
	}
	return e
}

// implicitGrads is the exact implicit gradient of L = Σ W⊙τ* at the
// solver's solution, summed over the batch for shared θ and φ.
func implicitGrads(t testing.TB, c testCase, sol *ilqr.Result, w []float64) gradSet {
	t.Helper()
	return implicitGradsOpt(t, c, sol, w, true)
}

// implicitGradsOpt is implicitGrads; unless strict, examples whose
// gradient could not be computed are left zero instead of failing.
func implicitGradsOpt(t testing.TB, c testCase, sol *ilqr.Result, w []float64, strict bool) gradSet {
	t.Helper()
	sv, err := ilqr.NewSolver(c.problem(), nil)
	if err != nil {
		t.Fatal(err)
	}
	bs, n, m, p, q := c.dims()
	k := n + m
	dX := make([]float64, bs*c.T*n)
	dU := make([]float64, bs*c.T*m)
	for i := range bs * c.T {
		copy(dX[i*n:(i+1)*n], w[i*k:i*k+n])
		copy(dU[i*m:(i+1)*m], w[i*k+n:(i+1)*k])
	}
	var g ilqr.Grads
	if err := sv.Gradient(&g, sol, c.inputs(), dX, dU, ilqr.GradOptions{Mode: ilqr.Implicit}); err != nil {
		t.Fatal(err)
	}
	for i, s := range g.Status {
		if s != ilqr.GradOK && strict {
			t.Fatalf("implicit gradient of example %d: %v", i, s)
		}
	}
	sum := func(v []float64, k int, shared bool) []float64 {
		if !shared {
			return append([]float64(nil), v...)
		}
		out := make([]float64, k)
		for i, x := range v {
			out[i%k] += x
		}
		return out
	}
	return gradSet{append([]float64(nil), g.X0...), sum(g.Theta, p, c.thetaShared), sum(g.Phi, q, c.phiShared)}
}

// relErr is ‖a − b‖_∞ / ‖b‖_∞.
func relErr(a, b []float64) float64 {
	var d, s float64
	for i := range b {
		d = math.Max(d, math.Abs(a[i]-b[i]))
		s = math.Max(s, math.Abs(b[i]))
	}
	if s == 0 {
		return d // b is zero: the absolute error
	}
	return d / s
}

// TestMatchesSolver: starting near the optimum's basin, the
// unrolled iterations converge to the solver's solution (both at the
// optimum, controls inside the bounds).
func TestMatchesSolver(t *testing.T) {
	cart := func() testCase {
		task := models.CartpoleTask()
		x0 := []float64{0.1, 0, math.Cos(0.2), math.Sin(0.2), 0.1, -0.2, 0.1, math.Cos(-0.15), math.Sin(-0.15), 0}
		return testCase{name: "cartpole", task: task, step: models.CartpoleStep[GraphScalar], T: 10, x0: x0,
			theta: task.Dynamics.DefaultParams(), phi: task.Cost.DefaultParams(), thetaShared: true, phiShared: true}
	}
	dp := func() testCase {
		task := models.DoublePendulumTask()
		x0 := []float64{
			0, 0, math.Cos(0.05), math.Sin(0.05), 0, math.Cos(-0.03), math.Sin(-0.03), 0.1,
			0.1, 0, math.Cos(-0.04), math.Sin(-0.04), 0.05, math.Cos(0.02), math.Sin(0.02), 0,
		}
		return testCase{name: "double pendulum", task: task, step: models.DoublePendulumStep[GraphScalar], T: 10, x0: x0,
			theta: task.Dynamics.DefaultParams(), phi: task.Cost.DefaultParams(), thetaShared: true, phiShared: true}
	}
	cases := []struct {
		c     testCase
		iters int
	}{
		{uprightCase(10), 10},
		{uprightCase(10).perExample(), 10},
		{pendulumCase(10, []float64{0.1}, []float64{-0.1}), 10}, // B = 1
		{uprightCase(1), 3},                                     // T = 1
		{uprightCase(2), 6},                                     // T = 2
		{cart(), 10},
		{dp(), 10},
	}
	for _, tc := range cases {
		c := tc.c
		name := fmt.Sprintf("%s/B=%d/T=%d", c.name, len(c.x0)/c.task.Dynamics.Dims().N, c.T)
		t.Run(name, func(t *testing.T) {
			sol := solveTight(t, c)
			for _, u := range sol.U {
				if math.Abs(u) >= 0.95*c.task.Upper[0] {
					t.Fatalf("optimal control %g near the bound: pick another start", u)
				}
			}
			var last float64
			first := 1
			if testing.Short() {
				first = tc.iters // the table only in long mode
			}
			for it := first; it <= tc.iters; it++ {
				last = maxPackedDiff(forward(t, c, it), sol)
				t.Logf("iterations %2d: max |unrolled − solver| = %.2e", it, last)
			}
			if last > 1e-8 {
				t.Errorf("after %d iterations the trajectory differs from the solver's by %.2e > 1e-8", tc.iters, last)
			}
		})
	}
}

// TestGradientApproachesImplicit: the gradient of L = Σ wx·X + Σ
// wu·U through the unrolled iterations (G.Grad + TapeMachine) tends to the
// exact implicit gradient as the iterations converge, and matches it once
// the forward pass has converged: at 10 iterations near upright (forward
// error ~1e-12, TestMatchesSolver), at 50 from hanging down, where
// the full steps take longer and the optimal controls sit on the bounds
// (held fixed by both gradients). Runs beyond 10 iterations use the
// LispMachine: Gorgonia's TapeMachine compile is quadratic in the node
// count (compile.go:524) and would take minutes; TestLispMatchesTape
// shows both machines agree.
func TestGradientApproachesImplicit(t *testing.T) {
	cases := []struct {
		name     string
		c        testCase
		assertAt int
		long     bool
	}{
		{"upright", uprightCase(10), 10, false},
		{"hanging", pendulumCase(10, []float64{3.0, -2.9}, []float64{0, 0.3}), 50, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.long && testing.Short() {
				t.Skip("long")
			}
			c := tc.c
			bs, n, m, _, _ := c.dims()
			w := lossWeights(bs*c.T*(n+m), 1)
			sol := solveTight(t, c)
			want := implicitGrads(t, c, sol, w)
			iters := []int{1, 2, 5, 10, 20, 50}
			if testing.Short() {
				iters = []int{1, 2, 5, 10}
			}
			t.Logf("%6s  %-10s  %-10s  %-10s  %-10s  %s", "iters", "all", "x0", "theta", "phi", "forward")
			for _, it := range iters {
				var got gradSet
				machine := "tape"
				if it <= 10 {
					got, _ = tapeGrads(t, c, it, w)
				} else {
					got, _ = lispGrads(t, c, it, w)
					machine = "lisp"
				}
				fwd := maxPackedDiff(forwardLisp(t, c, it), sol)
				e := relErr(got.all(), want.all())
				t.Logf("%6d  %.3e   %.3e   %.3e   %.3e   %.1e (%s)", it, e,
					relErr(got.x0, want.x0), relErr(got.theta, want.theta), relErr(got.phi, want.phi), fwd, machine)
				if it >= tc.assertAt && e > 1e-7 {
					t.Errorf("%d iterations: relative gradient error %.2e > 1e-7", it, e)
				}
			}
		})
	}
}

// TestGradientFiniteDifferences: at a few iterations, far from
// convergence and with saturated controls in one example, the gradient
// Gorgonia computes through the graph matches central differences of the
// graph's own forward output.
func TestGradientFiniteDifferences(t *testing.T) {
	const iters = 3
	base := pendulumCase(10, []float64{0.3, 2.2}, []float64{0.2, -0.5}) // example 2 saturates
	one := pendulumCase(10, []float64{2.2}, []float64{-0.5})            // B = 1
	one.name += "/B=1"
	for _, c := range []testCase{base, base.perExample(), one} {
		t.Run(c.name, func(t *testing.T) {
			bs, n, m, _, _ := c.dims()
			w := lossWeights(bs*c.T*(n+m), 2)
			got, _ := tapeGrads(t, c, iters, w)
			// Forward-only graph, re-run with perturbed inputs.
			r := buildGraph(t, c, iters, w)
			vm := newTape(t, r)
			defer vm.Close()
			eval := func() float64 {
				vm.Reset()
				if err := vm.RunAll(); err != nil {
					t.Fatal(err)
				}
				return r.lossVal.Data().(float64)
			}
			eval()
			saturated := false
			for i, v := range copyValue(r.outVal) {
				if i%(n+m) >= n && math.Abs(v) == c.task.Upper[0] {
					saturated = true
				}
			}
			if !saturated {
				t.Fatal("no control on a bound: the case no longer covers the clamps")
			}
			fd := func(node *G.Node, shape []int, v []float64) []float64 {
				out := make([]float64, len(v))
				x := append([]float64(nil), v...)
				set := func() {
					if err := G.Let(node, denseOf(shape, x)); err != nil {
						t.Fatal(err)
					}
				}
				for j := range x {
					h := 1e-6 * math.Max(1, math.Abs(v[j]))
					x[j] = v[j] + h
					set()
					lp := eval()
					x[j] = v[j] - h
					set()
					lm := eval()
					x[j] = v[j]
					out[j] = (lp - lm) / (2 * h)
				}
				set()
				return out
			}
			want := gradSet{
				x0:    fd(r.x0, []int{bs, n}, c.x0),
				theta: fd(r.theta, r.theta.Shape(), c.theta),
				phi:   fd(r.phi, r.phi.Shape(), c.phi),
			}
			e := relErr(got.all(), want.all())
			t.Logf("%d iterations: relative error vs central differences %.2e (x0 %.1e, θ %.1e, φ %.1e)",
				iters, e, relErr(got.x0, want.x0), relErr(got.theta, want.theta), relErr(got.phi, want.phi))
			if e > 1e-6 {
				t.Errorf("relative error %.2e > 1e-6\n got  %v\n want %v", e, got.all(), want.all())
			}
		})
	}
}

// TestLispMatchesTape: Gorgonia's two machines give the same loss
// and gradients through the unrolled graph.
func TestLispMatchesTape(t *testing.T) {
	base := pendulumCase(10, []float64{0.3, 2.2}, []float64{0.2, -0.5})
	for _, c := range []testCase{base, base.perExample()} {
		t.Run(c.name, func(t *testing.T) {
			bs, n, m, _, _ := c.dims()
			w := lossWeights(bs*c.T*(n+m), 3)
			gt, lt := tapeGrads(t, c, 3, w)
			gl, ll := lispGrads(t, c, 3, w)
			if math.Abs(lt-ll) > 1e-12*math.Abs(lt) {
				t.Errorf("loss: tape %v, lisp %v", lt, ll)
			}
			if e := relErr(gl.all(), gt.all()); e > 1e-12 {
				t.Errorf("gradients differ by %.2e\n tape %v\n lisp %v", e, gt.all(), gl.all())
			}
		})
	}
}

// TestEdgeCases: horizons 1 to 3, no iterations and a batch of one run
// forward and backward on both machines, with every input differentiated.
// With T = 1 the output does not depend on θ, and without iterations not
// on φ: Build ties them in (the LispMachine rejects an input without
// consumers as a non-scalar cost, and writes err.dot into the current
// directory), and their gradients are zero. Where the LispMachine applies
// (B > 1, see Build) it agrees with the TapeMachine.
func TestEdgeCases(t *testing.T) {
	t.Chdir(t.TempDir()) // to see whether anything writes files
	cases := []struct {
		c     testCase
		iters int
		lisp  bool
	}{
		{uprightCase(1), 2, true},
		{uprightCase(1), 0, true},
		{uprightCase(2), 2, true},
		{uprightCase(3), 2, true},
		{uprightCase(10), 0, true},
		{pendulumCase(10, []float64{0.1}, []float64{-0.1}), 2, false},
		{pendulumCase(1, []float64{0.1}, []float64{-0.1}), 0, false},
	}
	for _, tc := range cases {
		c := tc.c
		bs, n, m, _, _ := c.dims()
		t.Run(fmt.Sprintf("T=%d/iters=%d/B=%d", c.T, tc.iters, bs), func(t *testing.T) {
			w := lossWeights(bs*c.T*(n+m), 6)
			var grads [2][][]float64
			machines := 1
			if tc.lisp {
				machines = 2
			}
			for lisp := range machines {
				r := buildGraph(t, c, tc.iters, w)
				wrt := G.Nodes{r.x0, r.theta, r.phi}
				var vm G.VM
				if lisp == 1 {
					if _, err := Forward(r.loss); err != nil {
						t.Fatalf("Forward: %v", err)
					}
					vm = G.NewLispMachine(r.g)
				} else {
					if _, err := G.Grad(r.loss, wrt...); err != nil {
						t.Fatalf("Grad: %v", err)
					}
					vm = newTape(t, r)
				}
				if err := vm.RunAll(); err != nil {
					t.Fatalf("lisp=%d: %v", lisp, err)
				}
				vm.Close()
				for _, nd := range wrt {
					v, err := nd.Grad()
					if err != nil {
						t.Fatalf("lisp=%d: gradient of %v: %v", lisp, nd, err)
					}
					grads[lisp] = append(grads[lisp], copyValue(v))
				}
				for i, unused := range []bool{false, c.T == 1, tc.iters == 0} {
					g := grads[lisp][i]
					if nonzero := slices.ContainsFunc(g, func(v float64) bool { return v != 0 }); nonzero == unused {
						t.Errorf("lisp=%d: gradient of %v is %v; the output depends on it: %t", lisp, wrt[i], g, !unused)
					}
				}
			}
			for i := range grads[machines-1] {
				if e := relErr(grads[machines-1][i], grads[0][i]); e > 1e-12 {
					t.Errorf("input %d: lisp and tape gradients differ by %.2e", i, e)
				}
			}
		})
	}
	if files, _ := filepath.Glob("*"); len(files) > 0 {
		t.Errorf("files written into the current directory: %v", files)
	}
}

// TestUpstreamParameters: θ may be the output of upstream nodes
// (here θ = exp(log θ)); the gradient reaches them by the chain rule.
func TestUpstreamParameters(t *testing.T) {
	c := uprightCase(10)
	bs, n, m, p, q := c.dims()
	w := lossWeights(bs*c.T*(n+m), 8)
	direct, _ := tapeGrads(t, c, 2, w)

	g := G.NewGraph()
	x0 := G.NewTensor(g, tensor.Float64, 2, G.WithShape(bs, n), G.WithName("x0"), G.WithValue(denseOf([]int{bs, n}, c.x0)))
	logTh := make([]float64, p)
	for i, v := range c.theta {
		logTh[i] = math.Log(v)
	}
	lt := G.NewTensor(g, tensor.Float64, 1, G.WithShape(p), G.WithName("logTheta"), G.WithValue(denseOf([]int{p}, logTh)))
	theta := G.Must(G.Exp(lt))
	phi := G.NewTensor(g, tensor.Float64, 1, G.WithShape(q), G.WithName("phi"), G.WithValue(denseOf([]int{q}, c.phi)))
	out, err := Build(x0, theta, phi, Config{Problem: c.problem(), Step: c.step, Iters: 2})
	if err != nil {
		t.Fatal(err)
	}
	wn := G.NewConstant(denseOf([]int{bs, c.T, n + m}, w), G.WithName("weights"))
	loss := G.Must(G.Sum(G.Must(G.Reshape(G.Must(G.HadamardProd(out, wn)), tensor.Shape{bs * c.T * (n + m)}))))
	vm := G.NewLispMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	gv, err := lt.Grad()
	if err != nil {
		t.Fatal(err)
	}
	got := copyValue(gv)
	want := make([]float64, p)
	for i := range want {
		want[i] = direct.theta[i] * c.theta[i] // dL/dlog θ = dL/dθ · θ
	}
	if e := relErr(got, want); e > 1e-12 {
		t.Errorf("dL/dlog θ = %v, want %v (rel. error %.1e)", got, want, e)
	}
	_ = loss
}

// TestSharedMatchesPerExample: shared parameters give the same
// trajectory as the same values per example, and their gradient is the
// per-example gradients summed.
func TestSharedMatchesPerExample(t *testing.T) {
	c := pendulumCase(10, []float64{0.3, 2.2}, []float64{0.2, -0.5})
	pc := c.perExample()
	bs, n, m, p, q := c.dims()
	if d := relErr(forward(t, c, 2), forward(t, pc, 2)); d != 0 {
		t.Errorf("trajectories differ by %.2e", d)
	}
	w := lossWeights(bs*c.T*(n+m), 4)
	gs, _ := tapeGrads(t, c, 2, w)
	gp, _ := tapeGrads(t, pc, 2, w)
	sum := func(v []float64, k int) []float64 {
		out := make([]float64, k)
		for i, x := range v {
			out[i%k] += x
		}
		return out
	}
	if e := relErr(gs.all(), gradSet{gp.x0, sum(gp.theta, p), sum(gp.phi, q)}.all()); e > 1e-13 {
		t.Errorf("shared gradient differs from summed per-example gradients by %.2e", e)
	}
}

// TestDeterministic: rerunning a TapeMachine, and rebuilding the
// graph, give bitwise equal outputs.
func TestDeterministic(t *testing.T) {
	c := pendulumCase(10, []float64{0.3, 2.2}, []float64{0.2, -0.5})
	r := buildGraph(t, c, 2, nil)
	vm := newTape(t, r)
	defer vm.Close()
	var runs [][]float64
	for range 2 {
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, copyValue(r.outVal))
	}
	runs = append(runs, forward(t, c, 2))
	for i := 1; i < len(runs); i++ {
		for j := range runs[0] {
			if runs[i][j] != runs[0][j] {
				t.Fatalf("run %d differs at %d: %v vs %v", i, j, runs[i][j], runs[0][j])
			}
		}
	}
	if d := runs[0][0] - c.x0[0]; d != 0 {
		t.Errorf("x_0 in the output differs from the input by %g", d)
	}
}

// TestBadConfig: every invalid configuration or input node is an
// error wrapping ilqr.ErrBadInput, never a panic.
func TestBadConfig(t *testing.T) {
	good := pendulumCase(5, []float64{0.3}, []float64{0.1})
	lin, err := models.NewLinear(2, 2, []float64{1, 0, 0, 1}, []float64{1, 0, 0, 1})
	if err != nil {
		t.Fatal(err)
	}
	linCost, err := models.NewQuadCost(2, 2, []float64{1, 1, 1, 1}, []float64{0, 0, 0, 0})
	if err != nil {
		t.Fatal(err)
	}
	goal, err := models.NewGoalCost(3, 1, []float64{1, 1, 1, 1}, []float64{1, 0, 0, 0})
	if err != nil {
		t.Fatal(err)
	}
	wrongStep := func(next, x, u, th []GraphScalar) { // pendulum with dt 0.1
		models.PendulumStep(next, x, u, th)
		next[2] = next[2].MulC(2)
	}
	type nodes struct{ x0, theta, phi *G.Node }
	mk := func(g *G.ExprGraph, xs, ts, ps []int) nodes {
		n := func(name string, s []int) *G.Node {
			return G.NewTensor(g, tensor.Float64, len(s), G.WithShape(s...), G.WithName(name))
		}
		return nodes{n("x0", xs), n("theta", ts), n("phi", ps)}
	}
	cases := []struct {
		name       string
		xs, ts, ps []int
		edit       func(*Config, *nodes)
	}{
		{"ok", []int{1, 3}, []int{3}, []int{8}, nil},
		{"nil x0", []int{1, 3}, []int{3}, []int{8}, func(_ *Config, n *nodes) { n.x0 = nil }},
		{"nil step", []int{1, 3}, []int{3}, []int{8}, func(c *Config, _ *nodes) { c.Step = nil }},
		{"negative iters", []int{1, 3}, []int{3}, []int{8}, func(c *Config, _ *nodes) { c.Iters = -1 }},
		{"NaN reg", []int{1, 3}, []int{3}, []int{8}, func(c *Config, _ *nodes) { c.Reg = math.NaN() }},
		{"negative reg", []int{1, 3}, []int{3}, []int{8}, func(c *Config, _ *nodes) { c.Reg = -1 }},
		{"T=0", []int{1, 3}, []int{3}, []int{8}, func(c *Config, _ *nodes) { c.Problem.T = 0 }},
		{"inverted bounds", []int{1, 3}, []int{3}, []int{8}, func(c *Config, _ *nodes) {
			c.Problem.Lower, c.Problem.Upper = []float64{1}, []float64{-1}
		}},
		{"bounds wider than clamp", []int{1, 3}, []int{3}, []int{8}, func(c *Config, _ *nodes) {
			c.Problem.Lower, c.Problem.Upper = []float64{-3}, []float64{3}
		}},
		{"goal cost", []int{1, 3}, []int{3}, []int{8}, func(c *Config, _ *nodes) { c.Problem.Cost = goal }},
		{"path constraint", []int{1, 3}, []int{3}, []int{8}, func(c *Config, _ *nodes) {
			lim, err := models.PendulumSpeedLimit(1)
			if err != nil {
				t.Fatal(err)
			}
			c.Problem.Constraint = lim
		}},
		{"two controls", []int{1, 2}, []int{0}, []int{8}, func(c *Config, _ *nodes) {
			c.Problem.Dynamics, c.Problem.Cost = lin, linCost
			c.Problem.Lower, c.Problem.Upper = []float64{-1, -1}, []float64{1, 1}
		}},
		{"x0 rank 1", []int{3}, []int{3}, []int{8}, nil},
		{"x0 wrong N", []int{1, 4}, []int{3}, []int{8}, nil},
		{"theta wrong P", []int{1, 3}, []int{4}, []int{8}, nil},
		{"theta wrong B", []int{1, 3}, []int{2, 3}, []int{8}, nil},
		{"phi wrong Q", []int{1, 3}, []int{3}, []int{7}, nil},
		{"phi rank 3", []int{1, 3}, []int{3}, []int{1, 1, 8}, nil},
		{"other graph", []int{1, 3}, []int{3}, []int{8}, func(_ *Config, n *nodes) {
			n.phi = G.NewTensor(G.NewGraph(), tensor.Float64, 1, G.WithShape(8), G.WithName("phi"))
		}},
		{"step of another model", []int{1, 3}, []int{3}, []int{8}, func(c *Config, _ *nodes) {
			c.Step = models.CartpoleStep[GraphScalar]
		}},
		{"step differs from dynamics", []int{1, 3}, []int{3}, []int{8}, func(c *Config, _ *nodes) {
			c.Step = wrongStep
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := G.NewGraph()
			n := mk(g, tc.xs, tc.ts, tc.ps)
			cfg := Config{Problem: good.problem(), Step: good.step, Iters: 1}
			if tc.edit != nil {
				tc.edit(&cfg, &n)
			}
			out, err := Build(n.x0, n.theta, n.phi, cfg)
			if tc.name == "ok" {
				if err != nil || out == nil {
					t.Fatalf("valid config: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error (output %v)", out)
			}
			if !errors.Is(err, ilqr.ErrBadInput) {
				t.Errorf("error %q does not wrap ilqr.ErrBadInput", err)
			}
			t.Logf("%v", err)
		})
	}
}

// TestNonFinite: a NaN input, or iterations that diverge, stop the
// run with an error instead of returning NaN.
func TestNonFinite(t *testing.T) {
	c := pendulumCase(5, []float64{0.3}, []float64{0.1})
	c.x0[2] = math.NaN()
	r := buildGraph(t, c, 1, nil)
	vm := newTape(t, r)
	defer vm.Close()
	err := vm.RunAll()
	if err == nil {
		t.Fatalf("NaN x0 ran without error: %v", r.outVal)
	}
	if !strings.Contains(op.Cause(err).Error(), "not finite") {
		t.Errorf("unexpected error %v", err)
	}
}

// TestNodeCount: the graph grows linearly in the iterations, by a
// fixed number of nodes per iteration and time step.
func TestNodeCount(t *testing.T) {
	c := uprightCase(10)
	count := func(it int) int { return len(buildGraph(t, c, it, nil).g.AllNodes()) }
	n1, n2, n4 := count(1), count(2), count(4)
	per := n2 - n1
	t.Logf("T=10: %d nodes for 1 iteration, %d per further iteration", n1, per)
	if n4-n2 != 2*per {
		t.Errorf("node count not linear in iterations: %d, %d, %d", n1, n2, n4)
	}
	if per > 60*c.T {
		t.Errorf("%d nodes per iteration for T=%d: more than 60 per step", per, c.T)
	}
}
