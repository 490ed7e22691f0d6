package models

// Helpers for the tests: the tolerances and step of the finite-difference
// checks, and samplers of test points. The generic pieces (central
// differences, error measures, seeded normals) are in internal/fdtest.

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
)

// Tolerances. Every comparison uses the mixed error |a − b| / max(1, |b|)
// with b the reference value (fdtest.MixedErr, fdtest.MaxMixedErr):
// relative for entries larger than one, absolute below, so that entries
// that are exactly zero in one method and round-off in the other do not
// fail.
const (
	// fdTol bounds the error of an exact derivative against central finite
	// differences.
	fdTol = 1e-7
	// exactTol bounds the disagreement of two exact methods (hand-written
	// against automatic derivatives), which differ only by round-off.
	exactTol = 1e-12
)

// fdStep is the central-difference step of fdtest.CentralJacobian, taken in
// the scaled variable z_j / max(1, |z_j|), so the actual step on z_j is
// fdStep·max(1, |z_j|).
// The central-difference error is about h²|f‴|/6 (truncation) plus
// ε|f|/h (round-off, ε ≈ 1.1e-16), smallest near h = ε^(1/3) ≈ 5e-6 for
// unit scales. Measured largest errors over the model tests: h = 1e-4 gives
// 2e-6 (truncation, double pendulum Hessian), 1e-5 gives 2e-8, 3e-6 gives
// 3e-9, 1e-6 gives 9e-9 (round-off growing); 3e-6 leaves a factor 30 below
// fdTol.
const fdStep = 3e-6

// uniform returns a number drawn uniformly from [lo, hi).
func uniform(r *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }

// anglePoint returns raw (cos, sin) entries r(cos a, sin a) for an angle a
// in quadrant q%4 (counted counter-clockwise from the positive c axis),
// kept 0.05 rad from the negative c axis where atan2 wraps, and a radius r
// in [rlo, rhi) (the raw entries need not lie on the unit circle).
func anglePoint(rng *rand.Rand, q int, rlo, rhi float64) (c, s float64) {
	const margin = 0.05
	lo := float64(q%4) * math.Pi / 2
	hi := lo + math.Pi/2
	switch q % 4 {
	case 1:
		hi -= margin
	case 2:
		lo += margin
	}
	a := uniform(rng, lo, hi)
	rad := uniform(rng, rlo, rhi)
	return rad * math.Cos(a), rad * math.Sin(a)
}

// controlPoint returns a control at least 5% of limit away from the clamp's
// kinks at ±limit: inside the clamp four times in five, outside it (where
// its derivative is zero) otherwise.
func controlPoint(rng *rand.Rand, limit float64) float64 {
	sign := 1.0
	if rng.IntN(2) == 0 {
		sign = -1
	}
	if rng.IntN(5) == 0 {
		return sign * uniform(rng, 1.05*limit, 1.5*limit)
	}
	return sign * uniform(rng, 0, 0.95*limit)
}

// scaled returns p with each entry multiplied by a factor in [0.7, 1.3).
func scaled(rng *rand.Rand, p []float64) []float64 {
	out := make([]float64, len(p))
	for i, v := range p {
		out[i] = v * uniform(rng, 0.7, 1.3)
	}
	return out
}

// checkAutoFiniteDifferences checks a model's derivatives at 80 points
// drawn by sample against central finite differences of its step: [∂f/∂x
// ∂f/∂u ∂f/∂θ] against differences of Step (and Step against Linearize's
// next state), and the Lagrangian Hessian rows of τ = (x, u) against
// differences, over τ, of the exact λᵀ[fx fu ft].
func checkAutoFiniteDifferences(t *testing.T, dyn Dynamics, seed2 uint64, sample func(rng *rand.Rand, pt int) (x, u, theta []float64)) {
	t.Helper()
	d := dyn.Dims()
	n, m, p := d.N, d.M, d.P
	nt, nz := n+m, n+m+p
	ev := dyn.NewEvaluator()
	rng := rand.New(rand.NewPCG(seed, seed2))
	var worstJ, worstH float64
	for pt := 0; pt < 80; pt++ {
		x, u, theta := sample(rng, pt)
		lambda := fdtest.NormalsFrom(rng, n)
		z := slices.Concat(x, u, theta)
		stepZ := func(y, zz []float64) {
			xx, uu, tt := splitZ(zz, d)
			ev.Step(y, xx, uu, tt)
		}
		r := evalAll(ev, d, x, u, theta, lambda)
		if !slices.Equal(r.step, r.next) {
			t.Errorf("point %d: Step %v and Linearize %v disagree", pt, r.step, r.next)
		}
		fdJ := fdtest.CentralJacobian(stepZ, n, z, fdtest.Span(0, nz), fdStep)
		e, at := fdtest.MaxMixedErr(r.jacobianZ(d), fdJ)
		worstJ = math.Max(worstJ, e)
		if e > fdTol {
			t.Errorf("[fx fu ft] at point %d (x=%v u=%v θ=%v): entry %d err %.3g", pt, x, u, theta, at, e)
		}
		// The gradient of λᵀf over z, differenced over τ: row i of the
		// result approximates ∂²(λᵀf)/∂τ_i∂z, the Hessian's row.
		gradL := func(g, zz []float64) {
			xx, uu, tt := splitZ(zz, d)
			fdtest.MulT(g, evalAll(ev, d, xx, uu, tt, lambda).jacobianZ(d), lambda)
		}
		wantH := fdtest.CentralJacobianT(gradL, nz, z, fdtest.Span(0, nt), fdStep)
		e, at = fdtest.MaxMixedErr(r.h, wantH)
		worstH = math.Max(worstH, e)
		if e > fdTol {
			t.Errorf("LagrangianHessian at point %d: entry %d: got %g, want %g (err %.3g)", pt, at, r.h[at], wantH[at], e)
		}
	}
	t.Logf("largest errors: Jacobian %.2e, Lagrangian Hessian %.2e", worstJ, worstH)
}
