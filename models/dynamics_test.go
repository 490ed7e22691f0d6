package models

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
	"gonum.org/v1/gonum/diff/fd"
)

// seed makes every random test reproducible.
const seed = 20240611

// dynCase is a model with a sampler of test points (x, u, θ).
type dynCase struct {
	name   string
	dyn    Dynamics
	sample func(rng *rand.Rand, i int) (x, u, theta []float64)
	points int
}

func pendulumSample(rng *rand.Rand, i int) (x, u, theta []float64) {
	c, s := anglePoint(rng, i, 0.8, 1.2)
	x = []float64{c, s, uniform(rng, -5, 5)}
	u = []float64{controlPoint(rng, PendulumMaxTorque)}
	return x, u, scaled(rng, []float64{10, 1, 1})
}

func cartpoleSample(rng *rand.Rand, i int) (x, u, theta []float64) {
	c, s := anglePoint(rng, i, 0.8, 1.2)
	x = []float64{uniform(rng, -2, 2), uniform(rng, -3, 3), c, s, uniform(rng, -5, 5)}
	u = []float64{controlPoint(rng, CartpoleMaxForce)}
	return x, u, scaled(rng, []float64{9.8, 1.0, 0.1, 0.5})
}

func doublePendulumSample(rng *rand.Rand, i int) (x, u, theta []float64) {
	// Radii within 5% of one keep the mass matrix well conditioned (see
	// NewDoublePendulum); the second angle cycles through the quadrants at
	// a different rate from the first.
	c1, s1 := anglePoint(rng, i, 0.95, 1.05)
	c2, s2 := anglePoint(rng, i/4+i, 0.95, 1.05)
	x = []float64{uniform(rng, -2, 2), uniform(rng, -3, 3), c1, s1, uniform(rng, -3, 3), c2, s2, uniform(rng, -3, 3)}
	u = []float64{controlPoint(rng, DoublePendulumMaxForce)}
	return x, u, scaled(rng, []float64{9.8, 1.5, 0.5, 0.75, 0.5, 0.75})
}

func linearSample(n, m int) func(rng *rand.Rand, i int) (x, u, theta []float64) {
	return func(rng *rand.Rand, i int) (x, u, theta []float64) {
		return fdtest.NormalsFrom(rng, n), fdtest.NormalsFrom(rng, m), fdtest.NormalsFrom(rng, n*n+n*m)
	}
}

func mustLinear(n, m int, seed uint64) Dynamics {
	rng := rand.New(rand.NewPCG(seed, 1))
	d, err := NewLinear(n, m, fdtest.NormalsFrom(rng, n*n), fdtest.NormalsFrom(rng, n*m))
	if err != nil {
		panic(err)
	}
	return d
}

func dynCases() []dynCase {
	return []dynCase{
		{"pendulum", NewPendulum(), pendulumSample, 80},
		{"cartpole", NewCartpole(), cartpoleSample, 80},
		{"doublependulum", NewDoublePendulum(), doublePendulumSample, 60},
		{"linear4x2", mustLinear(4, 2, 1), linearSample(4, 2), 50},
		{"linear1x1", mustLinear(1, 1, 2), linearSample(1, 1), 50},
	}
}

// eachDynCase runs f as a subtest for every case of dynCases, each with its
// own generator seeded (seed, stream) and the model's sizes.
func eachDynCase(t *testing.T, stream uint64, f func(t *testing.T, tc dynCase, rng *rand.Rand, d Dims)) {
	for _, tc := range dynCases() {
		t.Run(tc.name, func(t *testing.T) {
			f(t, tc, rand.New(rand.NewPCG(seed, stream)), tc.dyn.Dims())
		})
	}
}

// evaluators returns the model's evaluators by name: "fast" (hand-written)
// and "auto" for a FastDynamics, "auto" alone otherwise. The first is the
// generic definition's, used as the reference step.
func evaluators(d Dynamics) (names []string, evs []DynamicsEvaluator) {
	if f, ok := d.(FastDynamics); ok {
		return []string{"auto", "fast"}, []DynamicsEvaluator{f.AutoEvaluator(), f.NewEvaluator()}
	}
	return []string{"auto"}, []DynamicsEvaluator{d.NewEvaluator()}
}

// derivs holds every output of a DynamicsEvaluator at one point.
type derivs struct {
	step, next, fx, fu, ft, h []float64
}

func evalAll(ev DynamicsEvaluator, d Dims, x, u, theta, lambda []float64) derivs {
	n, m, p := d.N, d.M, d.P
	r := derivs{
		step: make([]float64, n), next: make([]float64, n),
		fx: make([]float64, n*n), fu: make([]float64, n*m), ft: make([]float64, n*p),
		h: make([]float64, (n+m)*(n+m+p)),
	}
	// Fill outputs with garbage to catch entries an evaluator fails to write.
	for _, s := range [][]float64{r.step, r.next, r.fx, r.fu, r.ft, r.h} {
		for i := range s {
			s[i] = math.NaN()
		}
	}
	ev.Step(r.step, x, u, theta)
	ev.Linearize(r.next, r.fx, r.fu, x, u, theta)
	ev.ParamJacobian(r.ft, x, u, theta)
	ev.LagrangianHessian(r.h, lambda, x, u, theta)
	return r
}

// jacobianZ returns [fx fu ft] (N × (N+M+P)) from r.
func (r derivs) jacobianZ(d Dims) []float64 {
	n, m, p := d.N, d.M, d.P
	nz := n + m + p
	out := make([]float64, n*nz)
	for i := 0; i < n; i++ {
		copy(out[i*nz:], r.fx[i*n:(i+1)*n])
		copy(out[i*nz+n:], r.fu[i*m:(i+1)*m])
		copy(out[i*nz+n+m:], r.ft[i*p:(i+1)*p])
	}
	return out
}

// splitZ cuts z = (x, u, θ) into its parts (aliasing z).
func splitZ(z []float64, d Dims) (x, u, theta []float64) {
	return z[:d.N], z[d.N : d.N+d.M], z[d.N+d.M:]
}

// TestDynamicsFiniteDifferences checks every derivative of every model,
// from both its hand-written and its automatic evaluator, against central
// finite differences at many random points away from the clamp's kinks
// and from atan2's branch cut:
//   - ∂f/∂x, ∂f/∂u and ∂f/∂θ against differences of the reference (generic
//     Float) step;
//   - the Lagrangian Hessian rows of τ = (x, u) against differences, over τ,
//     of the exact gradient λᵀ[∂f/∂x ∂f/∂u ∂f/∂θ] (itself checked by the
//     first item), with a random λ.
func TestDynamicsFiniteDifferences(t *testing.T) {
	eachDynCase(t, 2, func(t *testing.T, tc dynCase, rng *rand.Rand, d Dims) {
		n, m, p := d.N, d.M, d.P
		nt, nz := n+m, n+m+p
		names, evs := evaluators(tc.dyn)
		ref := evs[0]
		errs := newErrLog(t)
		for pt := 0; pt < tc.points; pt++ {
			x, u, theta := tc.sample(rng, pt)
			errs.at = fmt.Sprintf("point %d (x=%v u=%v θ=%v)", pt, x, u, theta)
			lambda := fdtest.NormalsFrom(rng, n)
			z := slices.Concat(x, u, theta)
			stepZ := func(y, zz []float64) {
				xx, uu, tt := splitZ(zz, d)
				ref.Step(y, xx, uu, tt)
			}
			fdJ := fdtest.CentralJacobian(stepZ, n, z, fdtest.Span(0, nz), fdStep)
			for k, ev := range evs {
				r := evalAll(ev, d, x, u, theta, lambda)
				check := func(what string, got, want []float64, tol float64) {
					t.Helper()
					errs.check(names[k]+" "+what, got, want, tol)
				}
				want := make([]float64, n)
				ref.Step(want, x, u, theta)
				check("step", r.step, want, exactTol)
				check("Linearize next", r.next, want, exactTol)
				check("[fx fu ft]", r.jacobianZ(d), fdJ, fdTol)

				// Gradient of λᵀf over z from this evaluator's exact
				// first derivatives, differenced over τ: entry (j, i)
				// approximates ∂²(λᵀf)/∂τ_i∂z_j = h[i][j].
				gradL := func(g, zz []float64) {
					xx, uu, tt := splitZ(zz, d)
					rr := derivs{next: make([]float64, n), fx: make([]float64, n*n),
						fu: make([]float64, n*m), ft: make([]float64, n*p)}
					ev.Linearize(rr.next, rr.fx, rr.fu, xx, uu, tt)
					ev.ParamJacobian(rr.ft, xx, uu, tt)
					jz := rr.jacobianZ(d)
					for j := range g {
						g[j] = 0
						for i := 0; i < n; i++ {
							g[j] += lambda[i] * jz[i*nz+j]
						}
					}
				}
				fdH := fdtest.CentralJacobian(gradL, nz, z, fdtest.Span(0, nt), fdStep) // nz × nt
				wantH := make([]float64, nt*nz)
				for i := 0; i < nt; i++ {
					for j := 0; j < nz; j++ {
						wantH[i*nz+j] = fdH[j*nt+i]
					}
				}
				check("LagrangianHessian", r.h, wantH, fdTol)
			}
		}
		errs.log()
	})
}

// TestFastMatchesAuto checks that the hand-written evaluators compute the
// same values and derivatives as the automatic ones, to round-off, at many
// random points, including points outside the clamp and, for the angle
// models, points anywhere on the circle.
func TestFastMatchesAuto(t *testing.T) {
	for _, tc := range dynCases() {
		fast, ok := tc.dyn.(FastDynamics)
		if !ok {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 3))
			d := tc.dyn.Dims()
			auto, hand := fast.AutoEvaluator(), fast.NewEvaluator()
			var worst float64
			for pt := 0; pt < 500; pt++ {
				x, u, theta := tc.sample(rng, pt)
				lambda := fdtest.NormalsFrom(rng, d.N)
				a := evalAll(auto, d, x, u, theta, lambda)
				h := evalAll(hand, d, x, u, theta, lambda)
				for _, c := range []struct {
					what      string
					got, want []float64
				}{
					{"Step", h.step, a.step}, {"Linearize next", h.next, a.next},
					{"fx", h.fx, a.fx}, {"fu", h.fu, a.fu}, {"ft", h.ft, a.ft},
					{"LagrangianHessian", h.h, a.h},
				} {
					e, at := fdtest.MaxMixedErr(c.got, c.want)
					worst = math.Max(worst, e)
					if e > exactTol {
						t.Errorf("%s at point %d (x=%v u=%v θ=%v): entry %d: fast %.17g, auto %.17g (err %.3g)",
							c.what, pt, x, u, theta, at, c.got[at], c.want[at], e)
					}
				}
			}
			t.Logf("largest fast-vs-auto error %.2e", worst)
		})
	}
}

// TestClampKink checks the derivative of the clamp in the models: at
// u = ±limit (inside the closed interval) ∂f/∂u is the one-sided derivative
// from inside, nonzero; just beyond, it is zero.
func TestClampKink(t *testing.T) {
	// Second-order one-sided differences, looking back into the interval
	// from +limit (f′(x) ≈ (3f(x) − 4f(x−h) + f(x−2h))/(2h)) and forward
	// from −limit; error O(h²) ≈ 1e-10 with h = 1e-5·limit.
	backward := fd.Formula{Stencil: []fd.Point{{Loc: 0, Coeff: 1.5}, {Loc: -1, Coeff: -2}, {Loc: -2, Coeff: 0.5}}, Derivative: 1, Step: 1e-5}
	forward := fd.Formula{Stencil: []fd.Point{{Loc: 0, Coeff: -1.5}, {Loc: 1, Coeff: 2}, {Loc: 2, Coeff: -0.5}}, Derivative: 1, Step: 1e-5}
	for _, tc := range []struct {
		name  string
		dyn   FastDynamics
		limit float64
	}{
		{"pendulum", NewPendulum(), PendulumMaxTorque},
		{"cartpole", NewCartpole(), CartpoleMaxForce},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.dyn.Dims()
			x := make([]float64, d.N)
			x[d.N-3], x[d.N-2], x[d.N-1] = 0.8, 0.6, 0.3 // c, s, ω
			theta := tc.dyn.DefaultParams()
			for _, name := range []string{"auto", "fast"} {
				ev := tc.dyn.NewEvaluator()
				if name == "auto" {
					ev = tc.dyn.AutoEvaluator()
				}
				next, fx, fu := make([]float64, d.N), make([]float64, d.N*d.N), make([]float64, d.N)
				fuAt := func(u float64) []float64 {
					ev.Linearize(next, fx, fu, x, []float64{u}, theta)
					return slices.Clone(fu)
				}
				for _, c := range []struct {
					u       float64
					formula fd.Formula
				}{{tc.limit, backward}, {-tc.limit, forward}} {
					got := fuAt(c.u)
					for i := range got {
						want := fd.Derivative(func(v float64) float64 {
							ev.Step(next, x, []float64{v}, theta)
							return next[i]
						}, c.u, &fd.Settings{Formula: c.formula, Step: 1e-5 * tc.limit})
						if fdtest.MixedErr(got[i], want) > fdTol {
							t.Errorf("%s: ∂f_%d/∂u at u=%g is %g, want the one-sided %g", name, i, c.u, got[i], want)
						}
					}
					if !slices.ContainsFunc(got, func(v float64) bool { return v != 0 }) {
						t.Errorf("%s: fu at u=%g is zero, want the derivative from inside", name, c.u)
					}
				}
				for _, u := range []float64{math.Nextafter(tc.limit, math.Inf(1)), -2 * tc.limit} {
					if fu := fuAt(u); slices.ContainsFunc(fu, func(v float64) bool { return v != 0 }) {
						t.Errorf("%s: fu at u=%g is %v, want zero outside the clamp", name, u, fu)
					}
				}
			}
		})
	}
}

// TestEvaluatorsDoNotAllocate checks that Step, Linearize, ParamJacobian and
// LagrangianHessian of every evaluator allocate nothing.
func TestEvaluatorsDoNotAllocate(t *testing.T) {
	eachDynCase(t, 4, func(t *testing.T, tc dynCase, rng *rand.Rand, d Dims) {
		n, m, p := d.N, d.M, d.P
		x, u, theta := tc.sample(rng, 0)
		lambda := fdtest.NormalsFrom(rng, n)
		next, fx, fu, ft := make([]float64, n), make([]float64, n*n), make([]float64, n*m), make([]float64, n*p)
		h := make([]float64, (n+m)*(n+m+p))
		names, evs := evaluators(tc.dyn)
		for k, ev := range evs {
			for _, c := range []struct {
				what string
				f    func()
			}{
				{"Step", func() { ev.Step(next, x, u, theta) }},
				{"Linearize", func() { ev.Linearize(next, fx, fu, x, u, theta) }},
				{"ParamJacobian", func() { ev.ParamJacobian(ft, x, u, theta) }},
				{"LagrangianHessian", func() { ev.LagrangianHessian(h, lambda, x, u, theta) }},
			} {
				if a := testing.AllocsPerRun(20, c.f); a != 0 {
					t.Errorf("%s %s: %v allocations per call, want 0", names[k], c.what, a)
				}
			}
		}
	})
}

// TestEvaluatorsKeepInputs checks that no evaluator method modifies x, u,
// θ or λ.
func TestEvaluatorsKeepInputs(t *testing.T) {
	eachDynCase(t, 5, func(t *testing.T, tc dynCase, rng *rand.Rand, d Dims) {
		names, evs := evaluators(tc.dyn)
		for k, ev := range evs {
			for pt := 0; pt < 8; pt++ {
				x, u, theta := tc.sample(rng, pt)
				lambda := fdtest.NormalsFrom(rng, d.N)
				in := [][]float64{x, u, theta, lambda}
				saved := make([][]float64, len(in))
				for i, s := range in {
					saved[i] = slices.Clone(s)
				}
				evalAll(ev, d, x, u, theta, lambda)
				for i, s := range in {
					if !slices.Equal(s, saved[i]) {
						t.Errorf("%s: input %d changed from %v to %v", names[k], i, saved[i], s)
					}
				}
			}
		}
	})
}

// TestModelIdentity checks names, sizes and default parameters, and that
// DefaultParams returns a fresh copy.
func TestModelIdentity(t *testing.T) {
	for _, tc := range []struct {
		dyn    Dynamics
		name   string
		dims   Dims
		params []float64
	}{
		{NewPendulum(), "pendulum(dt=0.05,umax=2)", Dims{3, 1, 3}, []float64{10, 1, 1}},
		{NewCartpole(), "cartpole(dt=0.05,umax=100)", Dims{5, 1, 4}, []float64{9.8, 1.0, 0.1, 0.5}},
		{NewDoublePendulum(), "doublependulum(dt=0.05,umax=100)", Dims{8, 1, 6}, []float64{9.8, 1.5, 0.5, 0.75, 0.5, 0.75}},
		{mustLinear(2, 1, 7), "linear(n=2,m=1)", Dims{2, 1, 6}, nil},
	} {
		if got := tc.dyn.Name(); got != tc.name {
			t.Errorf("Name() = %q, want %q", got, tc.name)
		}
		if got := tc.dyn.Dims(); got != tc.dims {
			t.Errorf("%s: Dims() = %+v, want %+v", tc.name, got, tc.dims)
		}
		p := tc.dyn.DefaultParams()
		if tc.params != nil && !slices.Equal(p, tc.params) {
			t.Errorf("%s: DefaultParams() = %v, want %v", tc.name, p, tc.params)
		}
		p[0] = math.NaN()
		if q := tc.dyn.DefaultParams(); math.IsNaN(q[0]) {
			t.Errorf("%s: DefaultParams returned shared storage", tc.name)
		}
	}
}

// TestTasks checks the default tasks: sizes agree, bounds equal the clamp,
// and the upright goal at rest is a stationary point of the cost in x.
func TestTasks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		task  Task
		limit float64
		goal  []float64 // state at the goal
	}{
		{"pendulum", PendulumTask(), PendulumMaxTorque, []float64{1, 0, 0}},
		{"cartpole", CartpoleTask(), CartpoleMaxForce, []float64{0, 0, 1, 0, 0}},
		{"doublependulum", DoublePendulumTask(), DoublePendulumMaxForce, []float64{0, 0, 1, 0, 0, 1, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, cd := tc.task.Dynamics.Dims(), tc.task.Cost.Dims()
			if d.N != cd.N || d.M != cd.M {
				t.Fatalf("dynamics %+v and cost %+v disagree", d, cd)
			}
			if len(tc.task.Lower) != d.M || len(tc.task.Upper) != d.M {
				t.Fatalf("bounds have lengths %d, %d, want %d", len(tc.task.Lower), len(tc.task.Upper), d.M)
			}
			if tc.task.Lower[0] != -tc.limit || tc.task.Upper[0] != tc.limit {
				t.Errorf("bounds [%g, %g], want ±%g", tc.task.Lower[0], tc.task.Upper[0], tc.limit)
			}
			k := d.N + d.M
			grad, hess := make([]float64, k), make([]float64, k*k)
			tc.task.Cost.NewEvaluator().Quadratize(grad, hess, tc.goal, make([]float64, d.M), tc.task.Cost.DefaultParams())
			// The gradient in the cosine entries is q−1 = 0 at c = 1, and
			// zero elsewhere at the goal.
			for i, g := range grad {
				if g != 0 {
					t.Errorf("cost gradient at the goal: entry %d is %g, want 0", i, g)
				}
			}
			// The goal is a fixed point of the dynamics.
			next := make([]float64, d.N)
			tc.task.Dynamics.NewEvaluator().Step(next, tc.goal, make([]float64, d.M), tc.task.Dynamics.DefaultParams())
			if e, at := fdtest.MaxMixedErr(next, tc.goal); e > 1e-15 {
				t.Errorf("goal is not a fixed point: entry %d moved to %g", at, next[at])
			}
		})
	}
}

// TestNewLinearErrors checks that bad arguments give errors, not panics.
func TestNewLinearErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		n, m int
		a, b []float64
	}{
		{"n=0", 0, 1, nil, nil},
		{"m=0", 1, 0, []float64{1}, nil},
		{"short A", 2, 1, []float64{1, 2, 3}, []float64{1, 2}},
		{"long B", 1, 1, []float64{1}, []float64{1, 2}},
		{"NaN in A", 1, 1, []float64{math.NaN()}, []float64{1}},
		{"Inf in B", 1, 1, []float64{1}, []float64{math.Inf(-1)}},
	} {
		if _, err := NewLinear(tc.n, tc.m, tc.a, tc.b); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}
