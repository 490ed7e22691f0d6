package ilqr_test

// Tests of Solver.Gradient against central finite differences of the
// re-solved, converged problem: the judge of "exact" in DESIGN.md.
//
// The loss is linear in the solution, L = Σ wx·X + Σ wu·U with fixed random
// weights, so its incoming gradient is dX = wx, dU = wu and every difference
// quotient measures only how the optimal trajectory moves.

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
)

// gradTight are the settings of every solve whose solution is
// differentiated or finite-differenced: the projected gradient must fall to
// 1e-13 (TolGradLoose as small, so the looser stop on a small cost change
// cannot end the solve early). Round-off in U is then ~1e-13, which a
// difference quotient with step h divides by h.
var gradTight = ilqr.Settings{MaxIter: 1000, TolGrad: 1e-13, TolGradLoose: 1e-13}

// gradCase is one problem (batch of one) for the finite-difference checks.
type gradCase struct {
	name string
	prob ilqr.Problem
	in   ilqr.Inputs
	// bounded: some control must sit on a bound (and none may sit within
	// gradNearBound of one without being on it); otherwise no control may
	// touch a bound.
	bounded bool
	long    bool
	// fpMin, when positive, is a lower bound the fixed-point gradient's
	// relative error must exceed; fpExact says it must equal the implicit
	// gradient (dynamics with ∇²f = 0).
	fpMin   float64
	fpExact bool
}

// gradNearBound is how close a free control may come to a bound: closer,
// and the difference quotients could cross an active-set change.
const gradNearBound = 1e-3

// gradMinMultiplier is the smallest |∂J/∂u| allowed for a control on a
// bound (strict complementarity): a weakly active control could leave its
// bound under a perturbation.
const gradMinMultiplier = 1e-4

// pendulumGradCase is the pendulum task from angle th (0 = upright) and
// angular velocity om.
func pendulumGradCase(name string, t int, th, om float64, bounded, long bool, fpMin float64) gradCase {
	task := models.PendulumTask()
	return gradCase{
		name:    name,
		prob:    ilqr.Problem{Task: task, T: t},
		in:      ilqr.Inputs{X0: fdtest.AngleState(th, om), Theta: task.Dynamics.DefaultParams(), Phi: task.Cost.DefaultParams()},
		bounded: bounded, long: long, fpMin: fpMin,
	}
}

// withControlWeight returns c with the control weight q_u of its quadratic
// cost set to qu (a dearer control stays off the bounds on larger swings).
func withControlWeight(c gradCase, name string, qu float64) gradCase {
	c.name = name
	c.in.Phi = slices.Clone(c.in.Phi)
	k := len(c.in.Phi) / 2
	c.in.Phi[k-1] = qu
	return c
}

func cartpoleGradCase(name string, t int, th, om float64, lim float64, long bool) gradCase {
	task := models.CartpoleTask()
	return gradCase{
		name: name,
		long: long,
		prob: ilqr.Problem{Task: models.Task{Dynamics: task.Dynamics, Cost: task.Cost, Lower: []float64{-lim}, Upper: []float64{lim}}, T: t},

		in: ilqr.Inputs{X0: []float64{0.1, -0.2, math.Cos(th), math.Sin(th), om},
			Theta: task.Dynamics.DefaultParams(), Phi: task.Cost.DefaultParams()},
		bounded: lim < models.CartpoleMaxForce,
		fpMin:   1e-3,
	}
}

func doublePendulumGradCase(name string, t int, th1, th2 float64, lim float64, long bool) gradCase {
	task := models.DoublePendulumTask()
	return gradCase{
		name: name,
		prob: ilqr.Problem{Task: models.Task{Dynamics: task.Dynamics, Cost: task.Cost, Lower: []float64{-lim}, Upper: []float64{lim}}, T: t},

		in: ilqr.Inputs{X0: []float64{0, 0.1, math.Cos(th1), math.Sin(th1), 0.2, math.Cos(th2), math.Sin(th2), -0.1},
			Theta: task.Dynamics.DefaultParams(), Phi: task.Cost.DefaultParams()},
		bounded: lim < models.DoublePendulumMaxForce,
		long:    long,
		fpMin:   1e-3,
	}
}

// linearGradCase is a random stable-ish linear model (n=3, m=2) with a
// goal-weighted cost; lim bounds the controls (per step, T·M values, to
// exercise that form), +Inf for an unbounded problem.
func linearGradCase(name string, seed uint64, lim float64) gradCase {
	const n, m, t = 3, 2, 12
	rng := rand.New(rand.NewPCG(seed, 7))
	a := make([]float64, n*n)
	for i := range a {
		a[i] = 0.2 * rng.NormFloat64()
	}
	for i := 0; i < n; i++ {
		a[i*n+i] += 1
	}
	b := make([]float64, n*m)
	for i := range b {
		b[i] = rng.NormFloat64()
	}
	dyn, err := models.NewLinear(n, m, a, b)
	if err != nil {
		panic(err)
	}
	w := make([]float64, n+m)
	goal := make([]float64, n+m)
	for i := range w {
		w[i] = 0.5 + rng.Float64()
		goal[i] = rng.NormFloat64()
	}
	cost, err := models.NewGoalCost(n, m, w, goal)
	if err != nil {
		panic(err)
	}
	lo := make([]float64, t*m)
	hi := make([]float64, t*m)
	for i := range lo {
		lo[i], hi[i] = -lim, lim
	}
	x0 := []float64{1, -0.5, 0.8}
	return gradCase{
		name:    name,
		prob:    ilqr.Problem{Task: models.Task{Dynamics: dyn, Cost: cost, Lower: lo, Upper: hi}, T: t},
		in:      ilqr.Inputs{X0: x0, Theta: dyn.DefaultParams(), Phi: cost.DefaultParams()},
		bounded: !math.IsInf(lim, 1),
		fpExact: true,
	}
}

func gradCases() []gradCase {
	return []gradCase{
		// Near upright with the default cost: unsaturated, but the
		// costates are small there, so the fixed-point gradient is close.
		pendulumGradCase("pendulum/T=10/free", 10, 0.05, 0, false, false, 0),
		pendulumGradCase("pendulum/T=20/free", 20, 0.05, 0, false, false, 0),
		// A one-radian swing stays unsaturated with a dearer control
		// (q_u = 0.5): the costates, and the fixed-point error, are large.
		withControlWeight(pendulumGradCase("", 10, 1, 0, false, false, 1e-3), "pendulum/T=10/free/swing", 0.5),
		withControlWeight(pendulumGradCase("", 20, 1, 0, false, true, 1e-3), "pendulum/T=20/free/swing", 0.5),
		pendulumGradCase("pendulum/T=10/bounds", 10, 0.3, 0.2, true, false, 1e-3),
		pendulumGradCase("pendulum/T=20/bounds", 20, 0.3, 0.2, true, true, 1e-3),
		pendulumGradCase("pendulum/T=20/bounds/swing", 20, 2, 0.2, true, true, 1e-3),
		cartpoleGradCase("cartpole/T=10/free", 10, 0.2, 0.1, models.CartpoleMaxForce, false),
		cartpoleGradCase("cartpole/T=10/bounds", 10, 0.2, 0.1, 2, false),
		cartpoleGradCase("cartpole/T=20/bounds/swing", 20, 1.5, 0, 5, true),
		doublePendulumGradCase("doublependulum/T=10/free", 10, 0.1, -0.05, models.DoublePendulumMaxForce, false),
		doublePendulumGradCase("doublependulum/T=10/bounds", 10, 0.1, -0.05, 3, true),
		doublePendulumGradCase("doublependulum/T=20/bounds", 20, 0.3, -0.2, 5, true),
		linearGradCase("linear/T=12/free", 1, math.Inf(1)),
		linearGradCase("linear/T=12/bounds", 1, 1),
	}
}

// nameSeed derives a case's seed from its name, so adding a case does not
// change the others' weights.
func nameSeed(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

// activeSet returns, per control of a batch-of-one solution, -1 on the
// lower bound, +1 on the upper bound and 0 when free.
func activeSet(sv *ilqr.Solver, u []float64) []int {
	p := sv.Problem()
	act := make([]int, len(u))
	for j, v := range u {
		switch v {
		case p.Lower[j]:
			act[j] = -1
		case p.Upper[j]:
			act[j] = 1
		}
	}
	return act
}

// controlGradient returns ∂J/∂u_t = ∇_u g_t + f_uᵀ λ_{t+1} along a
// batch-of-one solution (the KKT multipliers of the bounds).
func controlGradient(p ilqr.Problem, in ilqr.Inputs, r *ilqr.Result) []float64 {
	n, m, t := r.N, r.M, r.T
	dyn := p.Dynamics.NewEvaluator()
	cost := p.Cost.NewEvaluator()
	k := n + m
	grad := make([]float64, k)
	hess := make([]float64, k*k)
	next := make([]float64, n)
	fx := make([]float64, n*n)
	fu := make([]float64, n*m)
	out := make([]float64, t*m)
	for s := 0; s < t; s++ {
		x, u := r.X[s*n:(s+1)*n], r.U[s*m:(s+1)*m]
		cost.Quadratize(grad, hess, x, u, in.Phi)
		copy(out[s*m:(s+1)*m], grad[n:])
		if s == t-1 {
			continue
		}
		dyn.Linearize(next, fx, fu, x, u, in.Theta)
		lam := r.Lambda[(s+1)*n : (s+2)*n]
		for j := 0; j < m; j++ {
			for i := 0; i < n; i++ {
				out[s*m+j] += fu[i*m+j] * lam[i]
			}
		}
	}
	return out
}

// checkActiveSet enforces the case's saturation claim and keeps the
// solution away from active-set changes: free controls at least
// gradNearBound from their bounds, bound ones with a multiplier of at least
// gradMinMultiplier pointing outwards.
func checkActiveSet(t *testing.T, c gradCase, sv *ilqr.Solver, r *ilqr.Result) {
	t.Helper()
	p := sv.Problem()
	act := activeSet(sv, r.U)
	du := controlGradient(c.prob, c.in, r)
	nAct := 0
	minDist, minMult := math.Inf(1), math.Inf(1)
	for j, a := range act {
		switch a {
		case 0:
			d := math.Min(r.U[j]-p.Lower[j], p.Upper[j]-r.U[j])
			minDist = math.Min(minDist, d)
			if d < gradNearBound {
				t.Fatalf("control %d = %g is free but only %.2g from a bound: too close to an active-set change", j, r.U[j], d)
			}
		case -1, 1:
			nAct++
			// On the lower bound the cost must rise inwards: ∂J/∂u > 0.
			mult := -float64(a) * du[j]
			minMult = math.Min(minMult, mult)
			if mult < gradMinMultiplier {
				t.Fatalf("control %d sits on a bound with multiplier %.3g < %g: weakly active", j, mult, gradMinMultiplier)
			}
		}
	}
	switch {
	case c.bounded && nAct == 0:
		t.Fatalf("case %s should have controls on a bound, has none: U = %v", c.name, r.U)
	case !c.bounded && nAct > 0:
		t.Fatalf("case %s should be unsaturated, has %d controls on a bound: U = %v", c.name, nAct, r.U)
	}
	t.Logf("%d of %d controls on a bound; free ones ≥ %.3g from a bound, multipliers ≥ %.3g", nAct, len(act), minDist, minMult)
}

// gradFD holds central differences of the re-solved loss for every input.
type gradFD struct {
	x0, theta, phi []float64
}

// fdLoss returns the solution-linear loss of the problem re-solved at in,
// warm-started from the base solution's controls; it fails the test when the
// re-solve does not converge or its active set differs from base.
func fdLoss(t *testing.T, sv *ilqr.Solver, in ilqr.Inputs, base *ilqr.Result, wx, wu []float64, f func(*ilqr.Result) float64) float64 {
	t.Helper()
	in.U0 = base.U
	var r ilqr.Result
	if err := sv.Solve(&r, in); err != nil {
		t.Fatal(err)
	}
	if r.Status[0] != ilqr.Converged {
		t.Fatalf("finite-difference re-solve: %v after %d iterations (‖pg‖ %.2g)", r.Status[0], r.Iterations[0], r.GradNorm[0])
	}
	if !slices.Equal(activeSet(sv, r.U), activeSet(sv, base.U)) {
		t.Fatalf("finite-difference re-solve changed the active set")
	}
	if f != nil {
		return f(&r)
	}
	return fdtest.Dot(wx, r.X) + fdtest.Dot(wu, r.U)
}

// runSolvedGradCases runs f on every gradient case, solved by
// solveGradCase, as a subtest; long cases are skipped under -short.
func runSolvedGradCases(t *testing.T, f func(t *testing.T, c gradCase, sv *ilqr.Solver, r *ilqr.Result)) {
	for _, c := range gradCases() {
		t.Run(c.name, func(t *testing.T) {
			if c.long && testing.Short() {
				t.Skip("long case")
			}
			sv, r := solveGradCase(t, c)
			f(t, c, sv, r)
		})
	}
}

// solveGradCase solves a case with the tight settings and checks it
// converged.
func solveGradCase(t *testing.T, c gradCase) (*ilqr.Solver, *ilqr.Result) {
	t.Helper()
	return solveConverged(t, c.prob, &gradTight, c.in)
}

// solveConverged solves in with settings set and fails the test unless
// every example converged.
func solveConverged(t *testing.T, prob ilqr.Problem, set *ilqr.Settings, in ilqr.Inputs) (*ilqr.Solver, *ilqr.Result) {
	t.Helper()
	sv, err := ilqr.NewSolver(prob, set)
	if err != nil {
		t.Fatal(err)
	}
	var r ilqr.Result
	if err := sv.Solve(&r, in); err != nil {
		t.Fatal(err)
	}
	if !r.AllConverged() {
		t.Fatalf("solve: %v after %v iterations (‖pg‖ %.2g)", r.Status, r.Iterations, r.GradNorm)
	}
	return sv, &r
}

// TestGradientFiniteDifferences checks the implicit gradient of every input
// (x0, θ, φ) against central differences of the re-solved problem, and shows
// that the fixed-point (DiffMPC) gradient of the same problems is not the
// derivative, except where the two must agree (linear dynamics, ∇²f = 0).
//
// Measured (relative error in the measure of gradRelErr, max over x0, θ, φ):
//
//	case                         implicit  fixed point
//	pendulum/T=10/free           1.5e-08   2.9e-04
//	pendulum/T=20/free           1.7e-09   1.5e-05
//	pendulum/T=10/free/swing     2.1e-08   7.9e-01
//	pendulum/T=20/free/swing     5.2e-08   2.5e+00
//	pendulum/T=10/bounds         2.6e-09   4.8e-03
//	pendulum/T=20/bounds         2.4e-09   2.2e-03
//	pendulum/T=20/bounds/swing   9.7e-09   5.6e-01
//	cartpole/T=10/free           1.8e-08   2.1e-01
//	cartpole/T=10/bounds         8.9e-10   3.3e-02
//	cartpole/T=20/bounds/swing   3.5e-07   2.3e-01
//	doublependulum/T=10/free     9.1e-08   1.8e+00
//	doublependulum/T=10/bounds   2.2e-08   3.0e+00
//	doublependulum/T=20/bounds   9.5e-09   4.1e-01
//	linear/T=12/free             6.0e-12   6.0e-12
//	linear/T=12/bounds           4.4e-11   4.4e-11
//
// The near-upright pendulum cases keep the fixed-point error small (the
// costates, which weight the neglected ∇²f terms, are small there), so only
// the cases with fpMin assert it exceeds 1e-3.
func TestGradientFiniteDifferences(t *testing.T) {
	runSolvedGradCases(t, func(t *testing.T, c gradCase, sv *ilqr.Solver, r *ilqr.Result) {
		checkActiveSet(t, c, sv, r)
		wx, wu, in := fdSetup(c.name, c.prob.T, r, c.in)
		loss := func() float64 { return fdLoss(t, sv, in, r, wx, wu, nil) }
		fd := gradFD{
			x0:    fdtest.CentralDiff(in.X0, fdtest.Rel, fdtest.Floor, loss),
			theta: fdtest.CentralDiff(in.Theta, fdtest.Rel, fdtest.Floor, loss),
			phi:   fdtest.CentralDiff(in.Phi, fdtest.Rel, fdtest.Floor, loss),
		}

		var worst [2]float64
		var grads [2]ilqr.Grads
		for mi, mode := range []ilqr.GradMode{ilqr.Implicit, ilqr.FixedPoint} {
			g := &grads[mi]
			if err := sv.Gradient(g, r, c.in, wx, wu, ilqr.GradOptions{Mode: mode}); err != nil {
				t.Fatal(err)
			}
			if g.Status[0] != ilqr.GradOK {
				t.Fatalf("%v gradient status %v", mode, g.Status[0])
			}
			for _, part := range []struct {
				name  string
				g, fd []float64
			}{{"x0", g.X0, fd.x0}, {"theta", g.Theta, fd.theta}, {"phi", g.Phi, fd.phi}} {
				e, j := fdtest.RelErr(part.g, part.fd)
				worst[mi] = math.Max(worst[mi], e)
				if mode == ilqr.Implicit && !(e <= fdtest.Tol) {
					t.Errorf("implicit d/d%s[%d] = %.12g, finite differences %.12g: relative error %.2g > %g",
						part.name, j, part.g[j], part.fd[j], e, fdtest.Tol)
				}
				t.Logf("%-11v %-5s rel. error %.2e", mode, part.name, e)
			}
		}
		t.Logf("summary %s: implicit %.2e fixed-point %.2e", c.name, worst[0], worst[1])
		if c.fpMin > 0 && !(worst[1] > c.fpMin) {
			t.Errorf("fixed-point gradient is within %.2g of finite differences; expected it to be off by > %g", worst[1], c.fpMin)
		}
		if c.fpExact {
			// ∇²f = 0: the Lagrangian and Gauss-Newton Hessians coincide.
			for _, pair := range [][2][]float64{{grads[0].X0, grads[1].X0}, {grads[0].Theta, grads[1].Theta}, {grads[0].Phi, grads[1].Phi}} {
				if e, j := fdtest.RelErr(pair[1], pair[0]); e > 1e-12 {
					t.Errorf("linear dynamics: fixed-point gradient differs from implicit at %d by %.2g", j, e)
				}
			}
		}
	})
}

// TestCostateIsValueGradient checks the envelope theorem on every case:
// the gradient of the optimal cost J*(x0) is the costate λ_0 (Result.Lambda
// row 0), against central differences of the re-solved optimal cost.
func TestCostateIsValueGradient(t *testing.T) {
	runSolvedGradCases(t, func(t *testing.T, c gradCase, sv *ilqr.Solver, r *ilqr.Result) {
		in := c.in
		in.X0 = slices.Clone(c.in.X0)
		cost := func(r *ilqr.Result) float64 { return r.Cost[0] }
		fd := fdtest.CentralDiff(in.X0, fdtest.Rel, fdtest.Floor, func() float64 { return fdLoss(t, sv, in, r, nil, nil, cost) })
		lam0 := r.Lambda[:r.N]
		if e, j := fdtest.RelErr(lam0, fd); !(e <= fdtest.Tol) {
			t.Errorf("λ_0[%d] = %.12g, dJ*/dx0 by finite differences %.12g: relative error %.2g", j, lam0[j], fd[j], e)
		} else {
			t.Logf("λ_0 vs dJ*/dx0: relative error %.2e", e)
		}
	})
}

// TestGradientUnconvergedPolicy solves a batch of three pendulum examples
// (T=20) with MaxIter 1: example 0 starts at the upright equilibrium, where
// zero controls are optimal (converged after 0 iterations); example 1 starts
// 0.1 rad off and example 2 hangs down, which one iteration cannot solve
// (IterationLimit; the projected gradient of example 1 is still ~2.7).
//
// SkipUnconverged gives examples 1 and 2 zero gradients and GradSkipped.
// GradientAnyway evaluates the formula at the final iterates: example 1 gets
// finite, non-zero gradients and GradOK in both modes. Example 2's iterate is
// far from a minimum: the Gauss-Newton (fixed-point) Hessian is positive
// definite anyway (GradOK), the Lagrangian Hessian of the implicit mode may
// not be (measured: GradIndefinite; from 0.3 or 1 rad off, example 1 would be
// indefinite too), and then the gradients must be zero and say so. Whatever
// the status, no NaN.
func TestGradientUnconvergedPolicy(t *testing.T) {
	task := models.PendulumTask()
	p := ilqr.Problem{Task: task, T: 20}
	in := ilqr.Inputs{X0: slices.Concat([]float64{1, 0, 0}, fdtest.AngleState(0.1, 0), fdtest.AngleState(math.Pi-0.1, 0))}
	sv, err := ilqr.NewSolver(p, &ilqr.Settings{MaxIter: 1})
	if err != nil {
		t.Fatal(err)
	}
	var r ilqr.Result
	if err := sv.Solve(&r, in); err != nil {
		t.Fatal(err)
	}
	if r.Status[0] != ilqr.Converged || r.Iterations[0] != 0 {
		t.Fatalf("upright example: %v after %d iterations, want converged after 0", r.Status[0], r.Iterations[0])
	}
	for i := 1; i < 3; i++ {
		if r.Status[i] != ilqr.IterationLimit {
			t.Fatalf("example %d: %v, want %v", i, r.Status[i], ilqr.IterationLimit)
		}
	}
	const b, n, np, nq = 3, 3, 3, 8
	wx, wu := gradWeights(5, b*p.T, n, 1)
	ok, skip, indef := ilqr.GradOK, ilqr.GradSkipped, ilqr.GradIndefinite
	type set = []ilqr.GradStatus
	for _, tc := range []struct {
		name string
		opt  ilqr.GradOptions
		want [b]set // statuses allowed per example
	}{
		{"skip/implicit", ilqr.GradOptions{Mode: ilqr.Implicit, Unconverged: ilqr.SkipUnconverged},
			[b]set{{ok}, {skip}, {skip}}},
		{"skip/fixed_point", ilqr.GradOptions{Mode: ilqr.FixedPoint, Unconverged: ilqr.SkipUnconverged},
			[b]set{{ok}, {skip}, {skip}}},
		{"anyway/implicit", ilqr.GradOptions{Mode: ilqr.Implicit, Unconverged: ilqr.GradientAnyway},
			[b]set{{ok}, {ok}, {indef, ok}}},
		{"anyway/fixed_point", ilqr.GradOptions{Mode: ilqr.FixedPoint, Unconverged: ilqr.GradientAnyway},
			[b]set{{ok}, {ok}, {ok}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g ilqr.Grads
			if err := sv.Gradient(&g, &r, in, wx, wu, tc.opt); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < b; i++ {
				var norm float64
				for _, v := range [][]float64{g.X0[i*n : (i+1)*n], g.Theta[i*np : (i+1)*np], g.Phi[i*nq : (i+1)*nq]} {
					for _, x := range v {
						if math.IsNaN(x) || math.IsInf(x, 0) {
							t.Fatalf("example %d: non-finite gradient %v", i, x)
						}
						norm = math.Max(norm, math.Abs(x))
					}
				}
				t.Logf("example %d (%v, %v): gradient max |·| = %.3g", i, r.Status[i], g.Status[i], norm)
				if !slices.Contains(tc.want[i], g.Status[i]) {
					t.Errorf("example %d: gradient status %v, want one of %v", i, g.Status[i], tc.want[i])
				}
				if g.Status[i] != ilqr.GradOK && norm != 0 {
					t.Errorf("example %d: status %v but gradients non-zero (max %g)", i, g.Status[i], norm)
				}
				if g.Status[i] == ilqr.GradOK && norm == 0 {
					t.Errorf("example %d: status %v but all gradients zero", i, g.Status[i])
				}
			}
		})
	}
}

// TestGradientBatch checks that a batch gives each example the gradient it
// gets alone (per-example θ and φ rows, parallel workers), that a second
// call reproduces it bit for bit, and that Gradient modifies none of its
// inputs.
func TestGradientBatch(t *testing.T) {
	task := models.PendulumTask()
	p := ilqr.Problem{Task: task, T: 10}
	rng := rand.New(rand.NewPCG(3, 4))
	const b = 5
	var in ilqr.Inputs
	for i := 0; i < b; i++ {
		in.X0 = append(in.X0, fdtest.AngleState(rng.Float64()*2-1, rng.Float64()-0.5)...)
		th := task.Dynamics.DefaultParams()
		for j := range th {
			th[j] *= 1 + 0.2*(rng.Float64()-0.5)
		}
		in.Theta = append(in.Theta, th...)
		in.Phi = append(in.Phi, task.Cost.DefaultParams()...)
	}
	wx, wu := gradWeights(11, b*p.T, 3, 1)
	set := gradTight
	set.Workers = 2
	sv, r := solveConverged(t, p, &set, in)
	snap := func() [][]float64 {
		return [][]float64{slices.Clone(in.X0), slices.Clone(in.Theta), slices.Clone(in.Phi),
			slices.Clone(r.X), slices.Clone(r.U), slices.Clone(r.Lambda), slices.Clone(wx), slices.Clone(wu)}
	}
	before := snap()
	var g1, g2 ilqr.Grads
	for _, g := range []*ilqr.Grads{&g1, &g2} {
		if err := sv.Gradient(g, r, in, wx, wu, ilqr.GradOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i, v := range snap() {
		if !slices.Equal(v, before[i]) {
			t.Errorf("Gradient modified input %d", i)
		}
	}
	if !slices.Equal(g1.X0, g2.X0) || !slices.Equal(g1.Theta, g2.Theta) || !slices.Equal(g1.Phi, g2.Phi) {
		t.Errorf("two calls gave different gradients")
	}
	one, err := ilqr.NewSolver(p, &gradTight)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < b; i++ {
		ini := ilqr.Inputs{X0: in.X0[i*3 : i*3+3], Theta: in.Theta[i*3 : i*3+3], Phi: in.Phi[i*8 : i*8+8]}
		var ri ilqr.Result
		if err := one.Solve(&ri, ini); err != nil {
			t.Fatal(err)
		}
		var gi ilqr.Grads
		if err := one.Gradient(&gi, &ri, ini, wx[i*p.T*3:(i+1)*p.T*3], wu[i*p.T:(i+1)*p.T], ilqr.GradOptions{}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(gi.X0, g1.X0[i*3:i*3+3]) || !slices.Equal(gi.Theta, g1.Theta[i*3:i*3+3]) ||
			!slices.Equal(gi.Phi, g1.Phi[i*8:i*8+8]) || gi.Status[0] != g1.Status[i] {
			t.Errorf("example %d: batch gradient differs from the single-example one", i)
		}
	}
}

// fdSetup returns the case's seeded loss weights and a copy of in whose
// X0, Theta, Phi and Psi finite differences may move.
func fdSetup(name string, t int, r *ilqr.Result, in ilqr.Inputs) (wx, wu []float64, moved ilqr.Inputs) {
	wx, wu = gradWeights(nameSeed(name), t, r.N, r.M)
	moved = in
	moved.X0 = slices.Clone(in.X0)
	moved.Theta = slices.Clone(in.Theta)
	moved.Phi = slices.Clone(in.Phi)
	moved.Psi = slices.Clone(in.Psi)
	return wx, wu, moved
}

// gradWeights returns seeded loss weights for t·n states and t·m controls.
func gradWeights(seed uint64, t, n, m int) (wx, wu []float64) {
	w := fdtest.Normals(seed, t*(n+m))
	return w[:t*n], w[t*n:]
}
