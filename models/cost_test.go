package models

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
)

// goalCostFunc is GoalCost written generically:
// g = Σ_i (w_i (τ_i − goal_i))² with φ = (w, goal).
func goalCostFunc[T Scalar[T]](x, u, phi []T) T {
	k := len(x) + len(u)
	w, goal := phi[:k], phi[k:2*k]
	g := w[0].Const(0)
	for i := 0; i < k; i++ {
		t := x[0]
		if i < len(x) {
			t = x[i]
		} else {
			t = u[i-len(x)]
		}
		d := w[i].Mul(t.Sub(goal[i]))
		g = g.Add(d.Mul(d))
	}
	return g
}

// pseudoHuberFunc is a non-quadratic cost with a non-diagonal Hessian and
// nonlinear mixed derivatives: g = Σ_i δ_i² (√(1 + (r_i/δ_i)²) − 1) with
// r_i = w_i(τ_i − goal_i) + w_{i+1}(τ_{i+1} − goal_{i+1}) (cyclically) and
// φ = (w, goal, δ).
func pseudoHuberFunc[T Scalar[T]](x, u, phi []T) T {
	k := len(x) + len(u)
	w, goal, delta := phi[:k], phi[k:2*k], phi[2*k:3*k]
	tau := func(i int) T {
		if i < len(x) {
			return x[i]
		}
		return u[i-len(x)]
	}
	g := w[0].Const(0)
	for i := 0; i < k; i++ {
		j := (i + 1) % k
		r := w[i].Mul(tau(i).Sub(goal[i])).Add(w[j].Mul(tau(j).Sub(goal[j])))
		q := r.Div(delta[i])
		g = g.Add(delta[i].Mul(delta[i]).Mul(q.Mul(q).AddC(1).Sqrt().AddC(-1)))
	}
	return g
}

type costCase struct {
	name   string
	cost   Cost
	sample func(rng *rand.Rand) (x, u, phi []float64)
}

func costCases() []costCase {
	const n, m = 3, 2
	const k = n + m
	rng := rand.New(rand.NewPCG(seed, 20))
	quad, err := NewQuadCost(n, m, fdtest.NormalsFrom(rng, k), fdtest.NormalsFrom(rng, k))
	if err != nil {
		panic(err)
	}
	goal, err := NewGoalCost(n, m, fdtest.NormalsFrom(rng, k), fdtest.NormalsFrom(rng, k))
	if err != nil {
		panic(err)
	}
	autoGoal, err := NewAutoCost("autogoal", CostDims{N: n, M: m, Q: 2 * k}, goal.DefaultParams(),
		CostFuncs{Float: goalCostFunc[Float], HyperDual: goalCostFunc[HyperDual]})
	if err != nil {
		panic(err)
	}
	huber, err := NewAutoCost("pseudohuber", CostDims{N: n, M: m, Q: 3 * k},
		slices.Concat(fdtest.NormalsFrom(rng, k), fdtest.NormalsFrom(rng, k), []float64{1, 1, 1, 1, 1}),
		CostFuncs{Float: pseudoHuberFunc[Float], HyperDual: pseudoHuberFunc[HyperDual]})
	if err != nil {
		panic(err)
	}
	plain := func(q int) func(rng *rand.Rand) (x, u, phi []float64) {
		return func(rng *rand.Rand) (x, u, phi []float64) {
			return fdtest.NormalsFrom(rng, n), fdtest.NormalsFrom(rng, m), fdtest.NormalsFrom(rng, q)
		}
	}
	return []costCase{
		{"quad", quad, plain(2 * k)},
		{"goal", goal, plain(2 * k)},
		{"autogoal", autoGoal, plain(2 * k)},
		{"pseudohuber", huber, func(rng *rand.Rand) (x, u, phi []float64) {
			phi = fdtest.NormalsFrom(rng, 3*k)
			for i := 2 * k; i < 3*k; i++ {
				phi[i] = uniform(rng, 0.5, 2) // δ > 0, away from the pole at 0
			}
			return fdtest.NormalsFrom(rng, n), fdtest.NormalsFrom(rng, m), phi
		}},
	}
}

// costOut holds every output of a CostEvaluator at one point.
type costOut struct {
	value, quadValue  float64
	grad, hess, mixed []float64
}

func evalCost(ev CostEvaluator, d CostDims, x, u, phi []float64) costOut {
	k := d.N + d.M
	r := costOut{grad: make([]float64, k), hess: make([]float64, k*k), mixed: make([]float64, k*d.Q)}
	for _, s := range [][]float64{r.grad, r.hess, r.mixed} {
		for i := range s {
			s[i] = math.NaN()
		}
	}
	r.value = ev.Value(x, u, phi)
	r.quadValue = ev.Quadratize(r.grad, r.hess, x, u, phi)
	ev.Mixed(r.mixed, x, u, phi)
	return r
}

// TestCostFiniteDifferences checks the gradient, Hessian and mixed
// derivatives of every cost against central finite differences: the
// gradient of Value over τ, and the Hessian and ∂²g/∂τ∂φ as differences,
// over τ and over φ, of the exact gradient (itself checked first).
func TestCostFiniteDifferences(t *testing.T) {
	for _, tc := range costCases() {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 21))
			d := tc.cost.Dims()
			n, m, q := d.N, d.M, d.Q
			k := n + m
			ev := tc.cost.NewEvaluator()
			errs := newErrLog(t)
			for pt := 0; pt < 60; pt++ {
				errs.at = fmt.Sprintf("point %d", pt)
				x, u, phi := tc.sample(rng)
				z := slices.Concat(x, u, phi)
				split := func(zz []float64) (x, u, phi []float64) { return zz[:n], zz[n:k], zz[k:] }
				r := evalCost(ev, d, x, u, phi)
				if r.value != r.quadValue {
					t.Errorf("point %d: Quadratize returns %g, Value %g", pt, r.quadValue, r.value)
				}
				value := func(y, zz []float64) {
					xx, uu, pp := split(zz)
					y[0] = ev.Value(xx, uu, pp)
				}
				errs.check("gradient", r.grad, fdtest.CentralJacobian(value, 1, z, fdtest.Span(0, k), fdStep), fdTol)
				grad := func(g, zz []float64) {
					xx, uu, pp := split(zz)
					ev.Quadratize(g, make([]float64, k*k), xx, uu, pp)
				}
				errs.check("Hessian", r.hess, fdtest.CentralJacobian(grad, k, z, fdtest.Span(0, k), fdStep), fdTol)
				errs.check("Mixed", r.mixed, fdtest.CentralJacobian(grad, k, z, fdtest.Span(k, k+q), fdStep), fdTol)
			}
			errs.log()
		})
	}
}

// TestAutoCostMatchesGoal checks that AutoCost of the generic goal cost
// agrees with the hand-written GoalCost to round-off.
func TestAutoCostMatchesGoal(t *testing.T) {
	cases := costCases()
	goal, auto := cases[1], cases[2]
	rng := rand.New(rand.NewPCG(seed, 22))
	d := goal.cost.Dims()
	for pt := 0; pt < 100; pt++ {
		x, u, phi := goal.sample(rng)
		a := evalCost(auto.cost.NewEvaluator(), d, x, u, phi)
		g := evalCost(goal.cost.NewEvaluator(), d, x, u, phi)
		for _, c := range []struct {
			what      string
			got, want []float64
		}{
			{"value", []float64{a.value}, []float64{g.value}},
			{"gradient", a.grad, g.grad}, {"Hessian", a.hess, g.hess}, {"Mixed", a.mixed, g.mixed},
		} {
			if e, at := fdtest.MaxMixedErr(c.got, c.want); e > exactTol {
				t.Errorf("%s at point %d: entry %d: auto %.17g, goal %.17g", c.what, pt, at, c.got[at], c.want[at])
			}
		}
	}
}

// TestGoalToQuad checks that the goal cost equals the quadratic cost with
// the parameters ToQuad gives plus the constant it returns: same value,
// gradient and Hessian.
func TestGoalToQuad(t *testing.T) {
	rng := rand.New(rand.NewPCG(seed, 23))
	const n, m = 4, 2
	gc, err := NewGoalCost(n, m, fdtest.NormalsFrom(rng, n+m), fdtest.NormalsFrom(rng, n+m))
	if err != nil {
		t.Fatal(err)
	}
	qc, err := NewQuadCost(n, m, make([]float64, n+m), make([]float64, n+m))
	if err != nil {
		t.Fatal(err)
	}
	d := gc.Dims()
	for pt := 0; pt < 50; pt++ {
		x, u, phi := fdtest.NormalsFrom(rng, n), fdtest.NormalsFrom(rng, m), fdtest.NormalsFrom(rng, d.Q)
		saved := slices.Clone(phi)
		qphi := make([]float64, d.Q)
		c0 := gc.ToQuad(qphi, phi)
		if !slices.Equal(phi, saved) {
			t.Fatalf("ToQuad modified phi")
		}
		g := evalCost(gc.NewEvaluator(), d, x, u, phi)
		q := evalCost(qc.NewEvaluator(), qc.Dims(), x, u, qphi)
		if e := fdtest.MixedErr(q.value+c0, g.value); e > exactTol {
			t.Errorf("point %d: quad value + constant %.17g, goal value %.17g", pt, q.value+c0, g.value)
		}
		if e, at := fdtest.MaxMixedErr(q.grad, g.grad); e > exactTol {
			t.Errorf("point %d: gradient entry %d: quad %.17g, goal %.17g", pt, at, q.grad[at], g.grad[at])
		}
		if e, at := fdtest.MaxMixedErr(q.hess, g.hess); e > exactTol {
			t.Errorf("point %d: Hessian entry %d: quad %.17g, goal %.17g", pt, at, q.hess[at], g.hess[at])
		}
	}
}

// TestCostEvaluatorsDoNotAllocate checks that Value, Quadratize and Mixed
// allocate nothing.
func TestCostEvaluatorsDoNotAllocate(t *testing.T) {
	for _, tc := range costCases() {
		rng := rand.New(rand.NewPCG(seed, 24))
		d := tc.cost.Dims()
		k := d.N + d.M
		x, u, phi := tc.sample(rng)
		grad, hess, mixed := make([]float64, k), make([]float64, k*k), make([]float64, k*d.Q)
		ev := tc.cost.NewEvaluator()
		for _, c := range []struct {
			what string
			f    func()
		}{
			{"Value", func() { ev.Value(x, u, phi) }},
			{"Quadratize", func() { ev.Quadratize(grad, hess, x, u, phi) }},
			{"Mixed", func() { ev.Mixed(mixed, x, u, phi) }},
		} {
			if a := testing.AllocsPerRun(20, c.f); a != 0 {
				t.Errorf("%s %s: %v allocations per call, want 0", tc.name, c.what, a)
			}
		}
	}
}

// TestCostEvaluatorsKeepInputs checks that no cost evaluator method
// modifies x, u or φ.
func TestCostEvaluatorsKeepInputs(t *testing.T) {
	for _, tc := range costCases() {
		rng := rand.New(rand.NewPCG(seed, 25))
		x, u, phi := tc.sample(rng)
		in := [][]float64{x, u, phi}
		saved := [][]float64{slices.Clone(x), slices.Clone(u), slices.Clone(phi)}
		evalCost(tc.cost.NewEvaluator(), tc.cost.Dims(), x, u, phi)
		for i := range in {
			if !slices.Equal(in[i], saved[i]) {
				t.Errorf("%s: input %d changed from %v to %v", tc.name, i, saved[i], in[i])
			}
		}
	}
}

// TestCostConstructorErrors checks that bad sizes give errors.
func TestCostConstructorErrors(t *testing.T) {
	one := []float64{1}
	two := []float64{1, 2}
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"quad n=0", second(NewQuadCost(0, 1, one, one))},
		{"quad short q", second(NewQuadCost(1, 1, one, two))},
		{"goal m=0", second(NewGoalCost(1, 0, one, one))},
		{"goal short w", second(NewGoalCost(1, 1, one, two))},
		{"auto short phi", second(NewAutoCost("x", CostDims{1, 1, 2}, one,
			CostFuncs{Float: goalCostFunc[Float], HyperDual: goalCostFunc[HyperDual]}))},
		{"auto nil func", second(NewAutoCost("x", CostDims{1, 1, 1}, one, CostFuncs{}))},
	} {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func second[T any](_ T, err error) error { return err }
