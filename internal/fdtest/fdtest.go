// Package fdtest holds the helpers that the module's tests share to check
// derivatives against finite differences: seeded test data (Normals,
// NormalsFrom, AngleState), central differences of a scalar loss with
// Richardson extrapolation (CentralDiff) or a fixed step (Central) and of a
// vector function in scaled variables (CentralJacobian, CentralJacobianT for
// Hessian blocks), and scaled error measures (RelErr, MixedErr,
// MaxMixedErr, MaxAbs).
//
// It is imported by tests only, including the tests of package models, so
// it imports nothing from this module (the standard library and gonum
// only; TestImports keeps it so): it must not pull Gorgonia or the solver
// into a package that does not link them.
package fdtest

import (
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/diff/fd"
	"gonum.org/v1/gonum/mat"
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
// constants (3.5e-7 on the cases added later, see the table in
// op/ilqr/grad_test.go); a floor of 0.1 crossed an active-set change.
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
	return NormalsFrom(rand.New(rand.NewPCG(seed, 99)), k)
}

// NormalsFrom returns k standard normal numbers drawn from rng, in order:
// for tests that draw other numbers from the same stream.
func NormalsFrom(rng *rand.Rand, k int) []float64 {
	v := make([]float64, k)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

// Span returns the indices lo, lo+1, …, hi−1 (empty when hi ≤ lo): the
// entries to difference, for CentralJacobian.
func Span(lo, hi int) []int {
	s := make([]int, 0, max(hi-lo, 0))
	for i := lo; i < hi; i++ {
		s = append(s, i)
	}
	return s
}

// AngleState returns the pendulum state (cos θ, sin θ, ω) for the angle
// θ = th from upright and the angular velocity ω = om.
func AngleState(th, om float64) []float64 { return []float64{math.Cos(th), math.Sin(th), om} }

// AngleStates returns b pendulum states, AngleState(th + i·dth, om + i·dom)
// for i = 0..b−1, one after the other.
func AngleStates(b int, th, om, dth, dom float64) []float64 {
	var x0 []float64
	for i := range b {
		x0 = append(x0, AngleState(th+float64(i)*dth, om+float64(i)*dom)...)
	}
	return x0
}

// CentralDiff returns the derivative of loss with respect to every entry of
// v by central differences with Richardson extrapolation, (4 D(h/2) − D(h))/3,
// with step h = rel·max(|v_j|, floor); loss reads v, which is restored
// after each entry. The quotients divide by the steps actually taken
// (v_j ± h rounds). It calls loss four times per entry.
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

// Central returns the derivative of loss with respect to every entry of v
// by plain central differences with the fixed step h (two calls of loss per
// entry): for losses of networks' weights, all of one scale. loss reads v,
// which is restored after each entry.
func Central(v []float64, h float64, loss func() float64) []float64 {
	out := make([]float64, len(v))
	for j, o := range v {
		v[j] = o + h
		lp := loss()
		v[j] = o - h
		lm := loss()
		v[j] = o
		out[j] = (lp - lm) / (2 * h)
	}
	return out
}

// MaxAbs returns the largest |v_j| (0 for an empty v).
func MaxAbs(v []float64) float64 {
	var m float64
	for _, x := range v {
		m = math.Max(m, math.Abs(x))
	}
	return m
}

// CentralJacobian returns the r×len(cols) row-major Jacobian of f (which
// writes r outputs y for an input z) with respect to the entries z[cols],
// by gonum's fd.Jacobian with the central formula in the scaled variables
// y_k = z_j / max(1, |z_j|), j = cols[k], with the given step: the step
// taken on z_j is step·max(1, |z_j|), absolute for entries below one and
// relative above. z is not modified; f receives a copy.
//
// The error of a central difference is about h²|f‴|/6 (truncation) plus
// ε|f|/h (round-off, ε ≈ 1.1e-16), smallest near h = ε^(1/3) ≈ 5e-6 for
// unit scales.
func CentralJacobian(f func(y, z []float64), r int, z []float64, cols []int, step float64) []float64 {
	scale := make([]float64, len(cols))
	y0 := make([]float64, len(cols))
	for k, j := range cols {
		scale[k] = math.Max(1, math.Abs(z[j]))
		y0[k] = z[j] / scale[k]
	}
	zz := make([]float64, len(z))
	g := func(out, y []float64) {
		copy(zz, z)
		for k, j := range cols {
			zz[j] = y[k] * scale[k]
		}
		f(out, zz)
	}
	dst := mat.NewDense(r, len(cols), nil)
	fd.Jacobian(dst, g, y0, &fd.JacobianSettings{Formula: fd.Central, Step: step})
	out := make([]float64, r*len(cols))
	for i := 0; i < r; i++ {
		for k := range cols {
			out[i*len(cols)+k] = dst.At(i, k) / scale[k]
		}
	}
	return out
}

// CentralJacobianT returns CentralJacobian(f, r, z, cols, step)
// transposed: len(cols) rows of length r, row k the derivative of f's
// outputs with respect to z[cols[k]]. Of the gradient g of a scalar over z
// (r = len(z)), row k is row cols[k] of its Hessian: the mixed second
// derivatives ∂²/∂z_cols[k]∂z_j, the layout of a Hessian block like
// models' LagrangianHessian.
func CentralJacobianT(f func(y, z []float64), r int, z []float64, cols []int, step float64) []float64 {
	jac := CentralJacobian(f, r, z, cols, step)
	nc := len(cols)
	out := make([]float64, nc*r)
	for k := 0; k < nc; k++ {
		for i := 0; i < r; i++ {
			out[k*r+i] = jac[i*nc+k]
		}
	}
	return out
}

// MulT sets dst = Aᵀx for A with len(x) rows of length len(dst), row-major:
// dst_j = Σ_i x_i A_ij, summed in the order of i.
func MulT(dst, a, x []float64) {
	c := len(dst)
	for j := range dst {
		dst[j] = 0
		for i, xi := range x {
			dst[j] += xi * a[i*c+j]
		}
	}
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

// MixedErr returns |a − b| / max(1, |b|), b being the reference value: a
// relative error for references larger than one, an absolute one below, so
// that an entry exactly zero in one method and round-off in the other does
// not fail.
func MixedErr(a, b float64) float64 { return math.Abs(a-b) / math.Max(1, math.Abs(b)) }

// MaxMixedErr returns the largest MixedErr(a[i], b[i]) and its index (−1
// when every error is zero); a NaN error gives +Inf at its index.
func MaxMixedErr(a, b []float64) (float64, int) {
	var worst float64
	at := -1
	for i := range b {
		if e := MixedErr(a[i], b[i]); e > worst || math.IsNaN(e) {
			worst, at = e, i
			if math.IsNaN(e) {
				return math.Inf(1), i
			}
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

// SumRows sums the rows of v (each of length k): a gradient per example
// summed into that of a parameter the examples share.
func SumRows(v []float64, k int) []float64 {
	s := make([]float64, k)
	for i, x := range v {
		s[i%k] += x
	}
	return s
}
