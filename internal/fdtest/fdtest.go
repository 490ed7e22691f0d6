// Package fdtest holds the helpers that the module's tests share to check
// derivatives against finite differences: seeded test data, central
// differences with Richardson extrapolation, and scaled error measures. It
// is imported by tests only.
package fdtest

import (
	"math"
	"math/rand/v2"
)

// Finite-difference steps. Entry j of an input v is perturbed by
//
//	h_j = Rel · max(|v_j|, Floor),
//
// a step relative to the entry's own scale, since the entries span four
// decades (q_u = 0.001 to g = 10): a step suited to g would swamp q_u. The
// floor serves the zero entries (p, ω, cart position): they get 1e-5. So
// does q_u, a 1% step, where plain central differences left a 5.6e-6
// relative error on dL/dq_u (truncation); hence the quotients are
// Richardson-extrapolated central differences, (4·D(h/2) − D(h))/3, with
// truncation error O(h⁴). Smaller steps lose to round-off instead: with a
// floor of 1e-3 and Rel 1e-5, 1e-8 steps divided the ~1e-10 round-off
// of a re-solved L into errors of 1e-5.
//
// Measured over the cases, on a grid of Rel 1e-6…1e-3 and floors
// 1e-3…1: plain central differences came at best within 1.3e-6 of the
// implicit gradient, the extrapolated ones within 1.7e-7 with these
// constants (3.5e-7 on the cases added later, see the table in op/ilqr/grad_test.go); a
// floor of 0.1 crossed an active-set change.
const (
	Rel   = 1e-3
	Floor = 1e-2
)

// Tol is the relative tolerance of the implicit gradient against the
// difference quotients: |g − fd| ≤ Tol · max(|fd|, scale), scale being
// the largest |fd| of the same input (x0, θ or φ), so entries far below an
// input's typical size are compared absolutely at that size.
const Tol = 1e-6

// Normals returns k standard normal numbers drawn from a PCG seeded with
// (seed, 99): the same seed gives the same numbers.
func Normals(seed uint64, k int) []float64 {
	rng := rand.New(rand.NewPCG(seed, 99))
	v := make([]float64, k)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

// AngleState is the pendulum state (cos θ, sin θ, ω).
func AngleState(th, om float64) []float64 { return []float64{math.Cos(th), math.Sin(th), om} }

// CentralDiff returns the derivative of loss with respect to every entry of
// v by central differences with Richardson extrapolation, (4 D(h/2) − D(h))/3,
// with step h = rel·max(|v_j|, floor); loss reads v, which is restored
// after each entry. The quotients divide by the steps actually taken
// (v_j ± h rounds).
func CentralDiff(v []float64, rel, floor float64, loss func() float64) []float64 {
	out := make([]float64, len(v))
	for j := range v {
		o := v[j]
		quot := func(h float64) float64 {
			v[j] = o + h
			hp := v[j] - o
			lp := loss()
			v[j] = o - h
			hm := o - v[j]
			lm := loss()
			v[j] = o
			return (lp - lm) / (hp + hm)
		}
		h := rel * math.Max(math.Abs(o), floor)
		out[j] = (4*quot(h/2) - quot(h)) / 3
	}
	return out
}

// RelErr returns the largest error |a_j − b_j| relative to
// max(|b_j|, max_k |b_k|) (so entries much smaller than the largest are
// judged on its scale) and the index where it occurs (−1 when a and b are
// equal). A NaN counts as the largest error.
func RelErr(a, b []float64) (float64, int) {
	var scale float64
	for _, v := range b {
		scale = math.Max(scale, math.Abs(v))
	}
	worst, at := 0.0, -1
	for j := range a {
		d := math.Max(math.Abs(b[j]), scale)
		if d == 0 {
			d = 1
		}
		e := math.Abs(a[j]-b[j]) / d
		if e > worst || math.IsNaN(e) {
			worst, at = e, j
		}
	}
	return worst, at
}

// Dot returns aᵀb.
func Dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}
