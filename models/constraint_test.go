package models

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
)

// conCase is a constraint with a sampler of test points (x, u, ψ).
type conCase struct {
	name   string
	con    Constraint
	sample func(rng *rand.Rand) (x, u, psi []float64)
}

// testConstraint is a generic constraint of three rows on n = 3, m = 2 with
// ψ = (a, b, k) (R = 3), chosen so that every row depends on u, every
// row is nonlinear in ψ and every second-derivative block (ττ, τψ) has
// nonzero entries:
//
//	c₀ = a² x₀ x₁ + sin(b u₀) − k
//	c₁ = exp(k x₂) u₁ − a tanh(x₀ u₁)
//	c₂ = x₀² + b u₀ u₁ − a k/(1 + x₂²) + √(1 + b² x₁²)
func testConstraint[T Scalar[T]](dst, x, u, psi []T) {
	a, b, k := psi[0], psi[1], psi[2]
	dst[0] = a.Mul(a).Mul(x[0]).Mul(x[1]).Add(b.Mul(u[0]).Sin()).Sub(k)
	dst[1] = k.Mul(x[2]).Exp().Mul(u[1]).Sub(a.Mul(x[0].Mul(u[1]).Tanh()))
	bx := b.Mul(x[1])
	dst[2] = x[0].Mul(x[0]).Add(b.Mul(u[0]).Mul(u[1])).
		Sub(a.Mul(k).Div(x[2].Mul(x[2]).AddC(1))).
		Add(bx.Mul(bx).AddC(1).Sqrt())
}

func mustTestConstraint() *AutoConstraint {
	c, err := NewAutoConstraint("test(n=3,m=2)", ConstraintDims{N: 3, M: 2, C: 3, R: 3},
		[]float64{1.2, -0.7, 0.5}, ConstraintFuncs{
			Float:     testConstraint[Float],
			HyperDual: testConstraint[HyperDual],
		}, nil)
	if err != nil {
		panic(err)
	}
	return c
}

func mustCircle(n, m, i, j int, cx, cy, r float64) *AutoConstraint {
	c, err := CircleObstacle(n, m, i, j, cx, cy, r)
	if err != nil {
		panic(err)
	}
	return c
}

func mustStateBounds(n, m int, lower, upper []float64) *StateBounds {
	b, err := NewStateBounds(n, m, lower, upper)
	if err != nil {
		panic(err)
	}
	return b
}

// circleSample returns a point of a state of n entries whose planar point
// (x_i, x_j) lies between 0.3 and 3 from the centre (cx, cy) of a disc of
// radius r (both within 0.5 of the nominal ones): the distance, whose
// derivatives grow as its inverse, stays away from zero.
func circleSample(n, m, i, j int, cx, cy, r float64) func(rng *rand.Rand) (x, u, psi []float64) {
	return func(rng *rand.Rand) (x, u, psi []float64) {
		psi = []float64{cx + uniform(rng, -0.5, 0.5), cy + uniform(rng, -0.5, 0.5), r + uniform(rng, -0.5, 0.5)}
		x = fdtest.NormalsFrom(rng, n)
		a, d := uniform(rng, -math.Pi, math.Pi), uniform(rng, 0.3, 3)
		x[i], x[j] = psi[0]+d*math.Cos(a), psi[1]+d*math.Sin(a)
		return x, fdtest.NormalsFrom(rng, m), psi
	}
}

// boundsSample returns a state of n entries, the control and finite
// bounds lower ≤ upper around the state, some of them violated.
func boundsSample(n, m int) func(rng *rand.Rand) (x, u, psi []float64) {
	return func(rng *rand.Rand) (x, u, psi []float64) {
		x = fdtest.NormalsFrom(rng, n)
		psi = make([]float64, 2*n)
		for i := 0; i < n; i++ {
			psi[i] = uniform(rng, -3, 0.5)
			psi[n+i] = psi[i] + uniform(rng, 0, 3)
		}
		return x, fdtest.NormalsFrom(rng, m), psi
	}
}

// eachCon runs f as a subtest for every constraint case, with its sizes
// and a fresh evaluator.
func eachCon(t *testing.T, f func(t *testing.T, tc conCase, d ConstraintDims, ev ConstraintEvaluator)) {
	for _, tc := range conCases() {
		t.Run(tc.name, func(t *testing.T) {
			f(t, tc, tc.con.Dims(), tc.con.NewEvaluator())
		})
	}
}

func conCases() []conCase {
	return []conCase{
		{"circle(4,2,x=0,y=1)", mustCircle(4, 2, 0, 1, 2.5, 0.05, 1), circleSample(4, 2, 0, 1, 2.5, 0.05, 1)},
		// Position entries out of order and far apart, a single control.
		{"circle(5,1,x=3,y=1)", mustCircle(5, 1, 3, 1, -1, 2, 0.5), circleSample(5, 1, 3, 1, -1, 2, 0.5)},
		{"generic(3,2)", mustTestConstraint(), func(rng *rand.Rand) (x, u, psi []float64) {
			return fdtest.NormalsFrom(rng, 3), fdtest.NormalsFrom(rng, 2), scaled(rng, []float64{1.2, -0.7, 0.5})
		}},
		{"bounds(3,1)", mustStateBounds(3, 1, []float64{-1, -2, -3}, []float64{1, 2, 3}), boundsSample(3, 1)},
		{"bounds(1,2)", mustStateBounds(1, 2, []float64{0}, []float64{1}), boundsSample(1, 2)},
	}
}

// conOut holds every output of a ConstraintEvaluator at one point: hess is
// what Curvature added to the matrix h0 it was given.
type conOut struct {
	value, dst, jac, h0, hess, cpsi, mixed []float64
}

// conEvalAll calls every method of ev at (x, u, ψ) with weights w, on
// outputs filled with NaN (to catch entries a method does not write)
// except the matrix Curvature adds to, which starts as h0.
func conEvalAll(ev ConstraintEvaluator, d ConstraintDims, x, u, psi, w, h0 []float64) conOut {
	k := d.N + d.M
	nan := func(l int) []float64 {
		s := make([]float64, l)
		for i := range s {
			s[i] = math.NaN()
		}
		return s
	}
	r := conOut{value: nan(d.C), dst: nan(d.C), jac: nan(d.C * k), h0: h0,
		hess: slices.Clone(h0), cpsi: nan(d.C * d.R), mixed: nan(k * d.R)}
	ev.Value(r.value, x, u, psi)
	ev.Linearize(r.dst, r.jac, x, u, psi)
	ev.Curvature(r.hess, w, x, u, psi)
	for i := range r.hess {
		r.hess[i] -= h0[i]
	}
	ev.ParamDerivatives(r.cpsi, r.mixed, w, x, u, psi)
	return r
}

// splitCon cuts z = (x, u, ψ) into its parts (aliasing z).
func splitCon(z []float64, d ConstraintDims) (x, u, psi []float64) {
	return z[:d.N], z[d.N : d.N+d.M], z[d.N+d.M:]
}

// TestConstraintFiniteDifferences checks every method of every constraint's
// evaluator at random points against central finite differences:
//   - Linearize's dst against Value (the same function, to round-off);
//   - Linearize's jac (∂c/∂τ) and ParamDerivatives' cpsi (∂c/∂ψ) against
//     differences of Value over τ and over ψ;
//   - Curvature (Σ w_i ∇²_ττ c_i, added to a random matrix) against
//     differences over τ of the exact wᵀ∂c/∂τ;
//   - ParamDerivatives' mixed (Σ w_i ∂²c_i/∂τ∂ψ) against differences over
//     ψ of wᵀ∂c/∂τ, and over τ of wᵀ∂c/∂ψ (the two orders of the mixed
//     partials);
//
// and that no method modifies its inputs.
func TestConstraintFiniteDifferences(t *testing.T) {
	eachCon(t, func(t *testing.T, tc conCase, d ConstraintDims, ev ConstraintEvaluator) {
		k, nz := d.N+d.M, d.N+d.M+d.R
		rng := rand.New(rand.NewPCG(seed, 60))
		errs := newErrLog(t)
		for pt := 0; pt < 60; pt++ {
			errs.at = fmt.Sprintf("point %d", pt)
			x, u, psi := tc.sample(rng)
			w := fdtest.NormalsFrom(rng, d.C)
			h0 := fdtest.NormalsFrom(rng, k*k)
			z := slices.Concat(x, u, psi)
			in := slices.Concat(z, w)
			r := conEvalAll(ev, d, x, u, psi, w, h0)
			if got := slices.Concat(x, u, psi, w); !slices.Equal(got, in) {
				t.Fatalf("point %d: inputs modified: %v, were %v", pt, got, in)
			}
			errs.check("Linearize dst", r.dst, r.value, exactTol)

			value := func(y, zz []float64) {
				xx, uu, pp := splitCon(zz, d)
				ev.Value(y, xx, uu, pp)
			}
			errs.check("jac", r.jac, fdtest.CentralJacobian(value, d.C, z, fdtest.Span(0, k), fdStep), fdTol)
			errs.check("cpsi", r.cpsi, fdtest.CentralJacobian(value, d.C, z, fdtest.Span(k, nz), fdStep), fdTol)

			// wᵀ∂c/∂τ and wᵀ∂c/∂ψ from the exact first derivatives.
			jac, cpsi := make([]float64, d.C*k), make([]float64, d.C*d.R)
			scratch, mixed := make([]float64, d.C), make([]float64, k*d.R)
			gradTau := func(g, zz []float64) {
				xx, uu, pp := splitCon(zz, d)
				ev.Linearize(scratch, jac, xx, uu, pp)
				fdtest.MulT(g, jac, w)
			}
			gradPsi := func(g, zz []float64) {
				xx, uu, pp := splitCon(zz, d)
				ev.ParamDerivatives(cpsi, mixed, w, xx, uu, pp)
				fdtest.MulT(g, cpsi, w)
			}
			// Row a of each is the derivative with respect to τ_a.
			errs.check("Curvature", r.hess, fdtest.CentralJacobianT(gradTau, k, z, fdtest.Span(0, k), fdStep), fdTol)
			errs.check("mixed (∂ψ of wᵀc_τ)", r.mixed, fdtest.CentralJacobian(gradTau, k, z, fdtest.Span(k, nz), fdStep), fdTol)
			if d.R > 0 {
				errs.check("mixed (∂τ of wᵀc_ψ)", r.mixed, fdtest.CentralJacobianT(gradPsi, d.R, z, fdtest.Span(0, k), fdStep), fdTol)
			}
		}
		errs.log()
	})
}

// TestConstraintZeroWeights: with w = 0, Curvature leaves the matrix as it
// was and ParamDerivatives writes zeros into mixed (and cpsi as usual);
// with one nonzero weight, the curvature is that row's Hessian alone.
func TestConstraintZeroWeights(t *testing.T) {
	eachCon(t, func(t *testing.T, tc conCase, d ConstraintDims, ev ConstraintEvaluator) {
		k := d.N + d.M
		rng := rand.New(rand.NewPCG(seed, 61))
		x, u, psi := tc.sample(rng)
		h0 := fdtest.NormalsFrom(rng, k*k)
		zero := make([]float64, d.C)
		r := conEvalAll(ev, d, x, u, psi, zero, h0)
		for i, v := range r.hess {
			if v != 0 {
				t.Errorf("Curvature with w = 0 changed entry %d by %g", i, v)
			}
		}
		for i, v := range r.mixed {
			if v != 0 {
				t.Errorf("mixed with w = 0: entry %d = %g", i, v)
			}
		}
		// The sum over rows is linear in w: the weights (w₀, 0, …) and
		// (0, w₁, …) add up to w.
		w := fdtest.NormalsFrom(rng, d.C)
		full := conEvalAll(ev, d, x, u, psi, w, h0)
		sumH, sumM := make([]float64, k*k), make([]float64, k*d.R)
		for i := 0; i < d.C; i++ {
			wi := make([]float64, d.C)
			wi[i] = w[i]
			ri := conEvalAll(ev, d, x, u, psi, wi, h0)
			for j := range sumH {
				sumH[j] += ri.hess[j]
			}
			for j := range sumM {
				sumM[j] += ri.mixed[j]
			}
		}
		if e, at := fdtest.MaxMixedErr(sumH, full.hess); e > exactTol {
			t.Errorf("Curvature: sum over rows differs at %d by %.3g", at, e)
		}
		if e, at := fdtest.MaxMixedErr(sumM, full.mixed); e > exactTol {
			t.Errorf("mixed: sum over rows differs at %d by %.3g", at, e)
		}
	})
}

// TestStateBoundsValues checks the rows of StateBounds against their
// definition (lower − x, then x − upper) and its derivatives against
// their exact values: −I and I in jac, I and −I in cpsi, zero curvature
// and zero mixed derivatives.
func TestStateBoundsValues(t *testing.T) {
	b := mustStateBounds(2, 1, []float64{-1, 0}, []float64{1, 3})
	ev := b.NewEvaluator()
	d := b.Dims()
	if d != (ConstraintDims{N: 2, M: 1, C: 4, R: 4}) {
		t.Fatalf("Dims() = %+v", d)
	}
	if got := b.Name(); got != "state_bounds(n=2,m=1)" {
		t.Errorf("Name() = %q", got)
	}
	x, u, psi := []float64{0.5, 4}, []float64{7}, b.DefaultParams()
	r := conEvalAll(ev, d, x, u, psi, []float64{1, 2, 3, 4}, make([]float64, 9))
	for _, c := range []struct {
		what      string
		got, want []float64
	}{
		{"Value", r.value, []float64{-1.5, -4, -0.5, 1}},
		{"dst", r.dst, []float64{-1.5, -4, -0.5, 1}},
		{"jac", r.jac, []float64{-1, 0, 0, 0, -1, 0, 1, 0, 0, 0, 1, 0}},
		{"cpsi", r.cpsi, []float64{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, -1, 0, 0, 0, 0, -1}},
		{"Curvature", r.hess, make([]float64, 9)},
		{"mixed", r.mixed, make([]float64, 12)},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

// TestStateBoundsInfinite: an infinite bound switches its row off (the row
// is −Inf whatever the state) while the derivatives stay finite and equal
// to those of finite bounds (the constraint is linear).
func TestStateBoundsInfinite(t *testing.T) {
	inf := math.Inf(1)
	lower, upper := []float64{-inf, -1, -inf}, []float64{inf, 2, 3}
	b := mustStateBounds(3, 2, lower, upper)
	ref := mustStateBounds(3, 2, []float64{-5, -1, -5}, []float64{5, 2, 3})
	d := b.Dims()
	k := d.N + d.M
	rng := rand.New(rand.NewPCG(seed, 62))
	for pt := 0; pt < 20; pt++ {
		x, u := fdtest.NormalsFrom(rng, 3), fdtest.NormalsFrom(rng, 2)
		x[2] *= 10 // large states too
		w := fdtest.NormalsFrom(rng, d.C)
		h0 := fdtest.NormalsFrom(rng, k*k)
		r := conEvalAll(b.NewEvaluator(), d, x, u, b.DefaultParams(), w, h0)
		want := conEvalAll(ref.NewEvaluator(), d, x, u, ref.DefaultParams(), w, h0)
		offRows := []int{0, 2, 3} // −Inf lower on x₀ and x₂, +Inf upper on x₀
		for i := 0; i < d.C; i++ {
			off := slices.Contains(offRows, i)
			for _, c := range []struct {
				what string
				v    []float64
			}{{"Value", r.value}, {"dst", r.dst}} {
				switch {
				case off && !math.IsInf(c.v[i], -1):
					t.Errorf("point %d: %s row %d = %g, want -Inf", pt, c.what, i, c.v[i])
				case !off && c.v[i] != want.value[i]:
					t.Errorf("point %d: %s row %d = %g, want %g", pt, c.what, i, c.v[i], want.value[i])
				}
			}
		}
		for _, c := range []struct {
			what      string
			got, want []float64
		}{{"jac", r.jac, want.jac}, {"Curvature", r.hess, want.hess}, {"cpsi", r.cpsi, want.cpsi}, {"mixed", r.mixed, want.mixed}} {
			if !slices.Equal(c.got, c.want) {
				t.Errorf("point %d: %s = %v, want the finite bounds' %v", pt, c.what, c.got, c.want)
			}
		}
	}
}

// TestCircleObstacleValues checks the obstacle's row, r² − d², against the
// distance d computed directly, at points inside (positive, violated), on
// (zero) and outside (negative) the disc, and that it reads only x_i and
// x_j.
func TestCircleObstacleValues(t *testing.T) {
	c := mustCircle(4, 2, 2, 0, 1, -2, 1.5)
	if got := c.Name(); got != "circle_obstacle(n=4,m=2,x=2,y=0)" {
		t.Errorf("Name() = %q", got)
	}
	if d := c.Dims(); d != (ConstraintDims{N: 4, M: 2, C: 1, R: 3}) {
		t.Errorf("Dims() = %+v", d)
	}
	ev := c.NewEvaluator()
	psi := c.DefaultParams()
	if !slices.Equal(psi, []float64{1, -2, 1.5}) {
		t.Errorf("DefaultParams() = %v", psi)
	}
	dst := make([]float64, 1)
	for _, tc := range []struct {
		px, py, want float64
	}{
		{1, -2, 2.25},              // at the centre
		{1 + 0.9, -2, 2.25 - 0.81}, // inside
		{1, -2 - 1.5, 0},           // on the circle
		{1 + 3, -2 + 4, 2.25 - 25}, // distance 5
	} {
		// x₂ is the first coordinate, x₀ the second; x₁, x₃ and u are
		// not read.
		x := []float64{tc.py, 123, tc.px, -45}
		ev.Value(dst, x, []float64{9, 9}, psi)
		if math.Abs(dst[0]-tc.want) > 1e-15 {
			t.Errorf("point (%g, %g): c = %.17g, want %g", tc.px, tc.py, dst[0], tc.want)
		}
	}
}

// TestConstraintCheckParams: every constraint accepts its nominal ψ and
// refuses a ψ of the wrong length or outside its domain, saying why.
func TestConstraintCheckParams(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	type checker interface {
		Constraint
		CheckParams([]float64) error
	}
	circle := mustCircle(4, 2, 0, 1, 2.5, 0.05, 1)
	bounds := mustStateBounds(2, 1, []float64{-1, -inf}, []float64{1, inf})
	generic := mustTestConstraint()
	for _, c := range []checker{circle, bounds, generic} {
		if err := c.CheckParams(c.DefaultParams()); err != nil {
			t.Errorf("%s: nominal ψ rejected: %v", c.Name(), err)
		}
	}
	for _, tc := range []struct {
		name string
		con  checker
		psi  []float64
		want string // empty: accepted
	}{
		{"bounds lower>upper", bounds, []float64{2, 0, 1, 1}, "models: state bounds: lower 2 > upper 1 on state 0"},
		{"bounds NaN lower", bounds, []float64{-1, nan, 1, 1}, "NaN bound on state 1"},
		{"bounds NaN upper", bounds, []float64{-1, 0, nan, 1}, "NaN bound on state 0"},
		{"bounds lower +Inf", bounds, []float64{-1, inf, 1, inf}, "admits no finite state"},
		{"bounds upper -Inf", bounds, []float64{-inf, -1, -inf, 1}, "admits no finite state"},
		{"bounds short", bounds, []float64{-1, 0, 1}, "3 parameters, want 2N=4"},
		{"bounds long", bounds, []float64{-1, 0, 1, 1, 0}, "5 parameters, want 2N=4"},
		{"bounds equal", bounds, []float64{0.5, -inf, 0.5, inf}, ""},
		{"circle radius<0", circle, []float64{2.5, 0.05, -0.1}, "models: circle obstacle: radius -0.1 < 0"},
		{"circle radius 0", circle, []float64{2.5, 0.05, 0}, ""},
		{"circle NaN centre", circle, []float64{nan, 0.05, 1}, "parameter 0 = NaN is not finite"},
		{"circle Inf centre", circle, []float64{2.5, -inf, 1}, "parameter 1 = -Inf is not finite"},
		{"circle Inf radius", circle, []float64{2.5, 0.05, inf}, "parameter 2 = +Inf is not finite"},
		{"circle NaN radius", circle, []float64{2.5, 0.05, nan}, "parameter 2 = NaN is not finite"},
		{"circle short", circle, []float64{2.5, 0.05}, "2 parameters, want 3"},
		{"circle empty", circle, nil, "0 parameters, want 3"},
		{"generic NaN", generic, []float64{1, nan, 1}, "models: test(n=3,m=2): parameter 1 = NaN is not finite"},
		{"generic Inf", generic, []float64{1, 1, -inf}, "parameter 2 = -Inf is not finite"},
		{"generic long", generic, []float64{1, 1, 1, 1}, "4 parameters, want 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.psi)
			err := tc.con.CheckParams(tc.psi)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("ψ = %v rejected: %v", tc.psi, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("ψ = %v: error %v, want %q", tc.psi, err, tc.want)
			}
			if !slices.EqualFunc(tc.psi, in, func(a, b float64) bool { return a == b || a != a && b != b }) {
				t.Errorf("ψ modified: %v, was %v", tc.psi, in)
			}
		})
	}
}

// TestConstraintConstructors: the constructors refuse bad sizes, indices,
// functions and nominal parameters, and keep a copy of the nominal ψ.
func TestConstraintConstructors(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	funcs := ConstraintFuncs{Float: testConstraint[Float], HyperDual: testConstraint[HyperDual]}
	dims := ConstraintDims{N: 3, M: 2, C: 3, R: 3}
	auto := func(d ConstraintDims, psi []float64, f ConstraintFuncs) func() error {
		return func() error { _, err := NewAutoConstraint("test", d, psi, f, nil); return err }
	}
	for _, tc := range []struct {
		name string
		make func() error
		want string
	}{
		{"auto N=0", auto(ConstraintDims{N: 0, M: 2, C: 3, R: 3}, []float64{1, 1, 1}, funcs), "invalid constraint dimensions"},
		{"auto M=0", auto(ConstraintDims{N: 3, M: 0, C: 3, R: 3}, []float64{1, 1, 1}, funcs), "invalid constraint dimensions"},
		{"auto C=0", auto(ConstraintDims{N: 3, M: 2, C: 0, R: 3}, []float64{1, 1, 1}, funcs), "invalid constraint dimensions"},
		{"auto R<0", auto(ConstraintDims{N: 3, M: 2, C: 3, R: -1}, nil, funcs), "invalid constraint dimensions"},
		{"auto short ψ", auto(dims, []float64{1, 1}, funcs), "2 default constraint parameters for R=3"},
		{"auto no Float", auto(dims, []float64{1, 1, 1}, ConstraintFuncs{HyperDual: funcs.HyperDual}), "both constraint instantiations are required"},
		{"auto no HyperDual", auto(dims, []float64{1, 1, 1}, ConstraintFuncs{Float: funcs.Float}), "both constraint instantiations are required"},
		{"auto NaN ψ", auto(dims, []float64{1, nan, 1}, funcs), "parameter 1 = NaN is not finite"},
		{"auto check", func() error {
			_, err := NewAutoConstraint("test", dims, []float64{1, 1, -1}, funcs, func(psi []float64) error {
				if psi[2] < 0 {
					return errTest
				}
				return nil
			})
			return err
		}, errTest.Error()},
		{"bounds n=0", func() error { _, err := NewStateBounds(0, 1, nil, nil); return err }, "invalid sizes n=0 m=1"},
		{"bounds m=0", func() error { _, err := NewStateBounds(1, 0, []float64{0}, []float64{1}); return err }, "invalid sizes n=1 m=0"},
		{"bounds short lower", func() error { _, err := NewStateBounds(2, 1, []float64{0}, []float64{1, 1}); return err }, "1 lower and 2 upper limits, want 2"},
		{"bounds short upper", func() error { _, err := NewStateBounds(2, 1, []float64{0, 0}, nil); return err }, "2 lower and 0 upper limits, want 2"},
		{"bounds inverted", func() error { _, err := NewStateBounds(2, 1, []float64{0, 2}, []float64{1, 1}); return err }, "lower 2 > upper 1 on state 1"},
		{"bounds NaN", func() error { _, err := NewStateBounds(1, 1, []float64{nan}, []float64{1}); return err }, "NaN bound on state 0"},
		{"bounds empty interval at Inf", func() error { _, err := NewStateBounds(1, 1, []float64{inf}, []float64{inf}); return err }, "admits no finite state"},
		{"circle i=j", func() error { _, err := CircleObstacle(4, 2, 1, 1, 0, 0, 1); return err }, "position entries 1, 1 invalid for n=4"},
		{"circle i<0", func() error { _, err := CircleObstacle(4, 2, -1, 1, 0, 0, 1); return err }, "position entries -1, 1 invalid"},
		{"circle j=n", func() error { _, err := CircleObstacle(4, 2, 0, 4, 0, 0, 1); return err }, "position entries 0, 4 invalid"},
		{"circle m=0", func() error { _, err := CircleObstacle(4, 0, 0, 1, 0, 0, 1); return err }, "invalid constraint dimensions"},
		{"circle r<0", func() error { _, err := CircleObstacle(4, 2, 0, 1, 0, 0, -1); return err }, "radius -1 < 0"},
		{"circle Inf centre", func() error { _, err := CircleObstacle(4, 2, 0, 1, inf, 0, 1); return err }, "parameter 0 = +Inf is not finite"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.make(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}

	// The nominal ψ is copied in and out.
	lower, upper := []float64{-1, -2}, []float64{1, 2}
	b := mustStateBounds(2, 1, lower, upper)
	lower[0], upper[0] = 99, 99
	got := b.DefaultParams()
	if !slices.Equal(got, []float64{-1, -2, 1, 2}) {
		t.Errorf("StateBounds keeps the caller's slices: %v", got)
	}
	got[0] = 99
	if b.DefaultParams()[0] != -1 {
		t.Error("StateBounds.DefaultParams returns its own slice")
	}
	psi := []float64{1, 2, 3}
	a, err := NewAutoConstraint("test", dims, psi, funcs, nil)
	if err != nil {
		t.Fatal(err)
	}
	psi[0] = 99
	got = a.DefaultParams()
	if !slices.Equal(got, []float64{1, 2, 3}) {
		t.Errorf("AutoConstraint keeps the caller's slice: %v", got)
	}
	got[1] = 99
	if a.DefaultParams()[1] != 2 {
		t.Error("AutoConstraint.DefaultParams returns its own slice")
	}
	if a.Name() != "test" || a.Dims() != dims {
		t.Errorf("Name() = %q, Dims() = %+v", a.Name(), a.Dims())
	}
}

// errTest is the error of the parameter check in TestConstraintConstructors.
var errTest = errors.New("models: test: ψ₂ < 0")

// TestConstraintNoAlloc: no evaluator method allocates.
func TestConstraintNoAlloc(t *testing.T) {
	eachCon(t, func(t *testing.T, tc conCase, d ConstraintDims, ev ConstraintEvaluator) {
		k := d.N + d.M
		x, u, psi := tc.sample(rand.New(rand.NewPCG(seed, 63)))
		w := make([]float64, d.C)
		for i := range w {
			w[i] = 1
		}
		dst, jac, hess := make([]float64, d.C), make([]float64, d.C*k), make([]float64, k*k)
		cpsi, mixed := make([]float64, d.C*d.R), make([]float64, k*d.R)
		allocs := testing.AllocsPerRun(10, func() {
			ev.Value(dst, x, u, psi)
			ev.Linearize(dst, jac, x, u, psi)
			ev.Curvature(hess, w, x, u, psi)
			ev.ParamDerivatives(cpsi, mixed, w, x, u, psi)
		})
		if allocs != 0 {
			t.Errorf("%g allocations per run", allocs)
		}
	})
}

// TestCircleObstacleAtCentre: at the centre of the disc, where the distance
// is not differentiable, the row (r² − d², smooth) must still have finite
// derivatives, zero for the entries it does not read (the other states,
// the controls). With the row r − d, gonum's hyper-dual square root gave
// infinite parts at 0 and every derivative was infinite.
func TestCircleObstacleAtCentre(t *testing.T) {
	c := mustCircle(4, 2, 0, 1, 2.5, 0.05, 1)
	d := c.Dims()
	x, u, psi := []float64{2.5, 0.05, 0.3, 1}, []float64{0.5, -0.5}, c.DefaultParams()
	r := conEvalAll(c.NewEvaluator(), d, x, u, psi, []float64{1}, make([]float64, 36))
	if r.value[0] != 1 || r.dst[0] != 1 {
		t.Errorf("c at the centre: Value %g, Linearize %g, want the radius 1", r.value[0], r.dst[0])
	}
	for _, o := range []struct {
		what string
		v    []float64
	}{{"jac", r.jac}, {"Curvature", r.hess}, {"cpsi", r.cpsi}, {"mixed", r.mixed}} {
		for i, v := range o.v {
			if math.IsInf(v, 0) || math.IsNaN(v) {
				t.Errorf("%s entry %d = %g", o.what, i, v)
			}
		}
	}
	for j := 2; j < 6; j++ { // x₂, x₃, u₀, u₁ are not read
		if r.jac[j] != 0 {
			t.Errorf("∂c/∂τ_%d = %g, want 0", j, r.jac[j])
		}
	}
}
