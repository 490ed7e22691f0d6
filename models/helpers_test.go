package models

// Helpers for the tests: the tolerances and step of the finite-difference
// checks, and samplers of test points. The generic pieces (central
// differences, error measures, seeded normals) are in internal/fdtest.

import (
	"math"
	"math/rand/v2"
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
