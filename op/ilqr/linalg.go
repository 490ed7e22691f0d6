package ilqr

import "math"

// Small dense kernels for the per-step matrices of the Riccati recursions.
// The matrices are a few rows wide (n, m ≤ ~10), where hand loops beat the
// call and check overhead of general BLAS; all are row-major and write into
// caller-owned storage.

// cholesky overwrites the lower triangle of the n×n symmetric matrix a with
// its Cholesky factor L (a = L Lᵀ), reading only the lower triangle. It
// reports false if a is not numerically positive definite.
func cholesky(a []float64, n int) bool {
	for j := 0; j < n; j++ {
		d := a[j*n+j]
		for k := 0; k < j; k++ {
			d -= a[j*n+k] * a[j*n+k]
		}
		if !(d > 0) || math.IsInf(d, 0) {
			return false
		}
		d = math.Sqrt(d)
		a[j*n+j] = d
		for i := j + 1; i < n; i++ {
			s := a[i*n+j]
			for k := 0; k < j; k++ {
				s -= a[i*n+k] * a[j*n+k]
			}
			a[i*n+j] = s / d
		}
	}
	return true
}

// cholSolve solves L Lᵀ x = b in place (b becomes x) for the factor in the
// lower triangle of l (n×n).
func cholSolve(l []float64, n int, b []float64) {
	for i := 0; i < n; i++ {
		s := b[i]
		for k := 0; k < i; k++ {
			s -= l[i*n+k] * b[k]
		}
		b[i] = s / l[i*n+i]
	}
	for i := n - 1; i >= 0; i-- {
		s := b[i]
		for k := i + 1; k < n; k++ {
			s -= l[k*n+i] * b[k]
		}
		b[i] = s / l[i*n+i]
	}
}

// mulAB writes c = a·b for a (r×s) and b (s×q).
func mulAB(c, a, b []float64, r, s, q int) {
	for i := 0; i < r; i++ {
		ci := c[i*q : i*q+q]
		clear(ci)
		for k := 0; k < s; k++ {
			aik := a[i*s+k]
			if aik == 0 {
				continue
			}
			bk := b[k*q : k*q+q]
			for j := range ci {
				ci[j] += aik * bk[j]
			}
		}
	}
}

// addAtB adds aᵀ·b to c (q×p) for a (r×q) and b (r×p).
func addAtB(c, a, b []float64, r, q, p int) {
	for k := 0; k < r; k++ {
		ak := a[k*q : k*q+q]
		bk := b[k*p : k*p+p]
		for i, aki := range ak {
			if aki == 0 {
				continue
			}
			ci := c[i*p : i*p+p]
			for j, bkj := range bk {
				ci[j] += aki * bkj
			}
		}
	}
}

// addAtv adds aᵀ·v to y for a (r×q), v (r) and y (q).
func addAtv(y, a, v []float64, r, q int) {
	for k := 0; k < r; k++ {
		vk := v[k]
		if vk == 0 {
			continue
		}
		ak := a[k*q : k*q+q]
		for i, aki := range ak {
			y[i] += aki * vk
		}
	}
}

// addAv adds a·v to y for a (r×q), v (q) and y (r).
func addAv(y, a, v []float64, r, q int) {
	for i := 0; i < r; i++ {
		var s float64
		ai := a[i*q : i*q+q]
		for j, aij := range ai {
			s += aij * v[j]
		}
		y[i] += s
	}
}

// symmetrize replaces the n×n matrix a by (a + aᵀ)/2.
func symmetrize(a []float64, n int) {
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			s := 0.5 * (a[i*n+j] + a[j*n+i])
			a[i*n+j], a[j*n+i] = s, s
		}
	}
}

// dot returns aᵀb.
func dot(a, b []float64) float64 {
	var s float64
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// allFinite reports whether no entry of v is NaN or ±Inf.
func allFinite(v []float64) bool {
	for _, x := range v {
		if x-x != 0 { // NaN − NaN and Inf − Inf are NaN, never 0
			return false
		}
	}
	return true
}
