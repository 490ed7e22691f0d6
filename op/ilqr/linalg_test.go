package ilqr

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// The tests in this file check the dense kernels of linalg.go against gonum
// mat on seeded random matrices of every size the solver meets (1…10 rows
// and columns). The entries are standard normal, so every exact result is of
// order one and the sums have at most ten terms: a correct kernel differs
// from gonum's BLAS (which may sum in another order) by a few ulps, far
// below laTol, while a wrong index or a missed term is off by order one.

// laTol bounds the largest entry-wise difference from gonum, relative to
// max(1, largest |entry| of gonum's result).
const laTol = 1e-12

// laMaxN is the largest size the tests draw.
const laMaxN = 10

// laNormals returns k standard normal numbers from rng.
func laNormals(rng *rand.Rand, k int) []float64 {
	v := make([]float64, k)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

// laSPD returns a random n×n symmetric positive definite matrix BᵀB + n·I
// (row-major) with B standard normal: its eigenvalues lie in [n, n + ‖B‖²],
// a condition number below about 5 for n ≤ 10.
func laSPD(rng *rand.Rand, n int) []float64 {
	b := mat.NewDense(n, n, laNormals(rng, n*n))
	var a mat.Dense
	a.Mul(b.T(), b)
	for i := 0; i < n; i++ {
		a.Set(i, i, a.At(i, i)+float64(n))
	}
	return slices.Clone(a.RawMatrix().Data)
}

// laIndefinite returns a random symmetric n×n matrix Q diag(d) Qᵀ, Q a
// random orthogonal matrix and d_i in [1, 2) except d_k = −neg: it has
// exactly one negative eigenvalue, −neg.
func laIndefinite(rng *rand.Rand, n, k int, neg float64) []float64 {
	var qr mat.QR
	qr.Factorize(mat.NewDense(n, n, laNormals(rng, n*n)))
	var q mat.Dense
	qr.QTo(&q)
	d := mat.NewDiagDense(n, nil)
	for i := 0; i < n; i++ {
		d.SetDiag(i, 1+rng.Float64())
	}
	d.SetDiag(k, -neg)
	var a mat.Dense
	a.Product(&q, d, q.T())
	out := slices.Clone(a.RawMatrix().Data)
	symmetrize(out, n) // exactly symmetric, as the solver's matrices are
	return out
}

// laErr returns the largest |got_i − want_i| relative to
// max(1, max_i |want_i|), or +Inf when the lengths differ or a NaN appears.
func laErr(got, want []float64) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var d, s float64
	for i := range want {
		e := math.Abs(got[i] - want[i])
		if math.IsNaN(e) {
			return math.Inf(1)
		}
		d = math.Max(d, e)
		s = math.Max(s, math.Abs(want[i]))
	}
	return d / math.Max(1, s)
}

// laLower returns the lower triangle of the n×n row-major a, row by row.
func laLower(a []float64, n int) []float64 {
	var out []float64
	for i := 0; i < n; i++ {
		out = append(out, a[i*n:i*n+i+1]...)
	}
	return out
}

// laCheck fails the test when got differs from want by more than laTol.
func laCheck(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if e := laErr(got, want); !(e <= laTol) {
		t.Errorf("%s: error %.3g > %g\ngot  %v\nwant %v", what, e, laTol, got, want)
	}
}

// TestCholeskyMatchesGonum: on SPD matrices of sizes 1…10 the factor in the
// lower triangle equals gonum's Cholesky factor, L Lᵀ gives the matrix back,
// and the strict upper triangle is neither read (NaN there changes nothing)
// nor written.
func TestCholeskyMatchesGonum(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 40))
	for n := 1; n <= laMaxN; n++ {
		a := laSPD(rng, n)
		var ch mat.Cholesky
		if !ch.Factorize(mat.NewSymDense(n, slices.Clone(a))) {
			t.Fatalf("n=%d: gonum finds the test matrix not positive definite", n)
		}
		var l mat.TriDense
		ch.LTo(&l)
		want := laLower(mat.DenseCopyOf(&l).RawMatrix().Data, n)

		f := slices.Clone(a)
		for i := 0; i < n; i++ {
			for j := i + 1; j < n; j++ {
				f[i*n+j] = math.NaN()
			}
		}
		if !cholesky(f, n) {
			t.Fatalf("n=%d: cholesky reports a positive definite matrix as not", n)
		}
		laCheck(t, "factor", laLower(f, n), want)
		for i := 0; i < n; i++ {
			for j := i + 1; j < n; j++ {
				if !math.IsNaN(f[i*n+j]) {
					t.Fatalf("n=%d: cholesky wrote %g above the diagonal at (%d, %d)", n, f[i*n+j], i, j)
				}
			}
		}
		// L Lᵀ, from the lower triangle only.
		llt := make([]float64, n*n)
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				for k := 0; k <= min(i, j); k++ {
					llt[i*n+j] += f[i*n+k] * f[j*n+k]
				}
			}
		}
		laCheck(t, "L Lᵀ", llt, a)
	}
}

// TestCholeskyNotPositiveDefinite: cholesky reports false, as gonum does,
// for symmetric matrices with one negative eigenvalue (n random ones of
// each size n), for the singular zero matrix, and for a NaN or +Inf on the
// diagonal.
func TestCholeskyNotPositiveDefinite(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 40))
	for n := 1; n <= laMaxN; n++ {
		for k := 0; k < n; k++ {
			a := laIndefinite(rng, n, k, 0.5)
			var ch mat.Cholesky
			if ch.Factorize(mat.NewSymDense(n, slices.Clone(a))) {
				t.Fatalf("n=%d: gonum factors the indefinite test matrix", n)
			}
			if cholesky(a, n) {
				t.Errorf("n=%d, negative eigenvalue %d: cholesky reports positive definite", n, k)
			}
		}
		if cholesky(make([]float64, n*n), n) {
			t.Errorf("n=%d: cholesky factors the zero matrix", n)
		}
		for _, bad := range []float64{math.NaN(), math.Inf(1)} {
			a := laSPD(rng, n)
			a[(n-1)*n+n-1] = bad
			if cholesky(a, n) {
				t.Errorf("n=%d: cholesky factors a matrix with %g on the diagonal", n, bad)
			}
		}
	}
}

// TestCholSolveMatchesGonum: cholSolve on the factor of cholesky solves
// A x = b as gonum's Cholesky.SolveVecTo does, and the residual A x − b is
// at round-off level.
func TestCholSolveMatchesGonum(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 40))
	for n := 1; n <= laMaxN; n++ {
		a := laSPD(rng, n)
		b := laNormals(rng, n)
		var ch mat.Cholesky
		if !ch.Factorize(mat.NewSymDense(n, slices.Clone(a))) {
			t.Fatalf("n=%d: gonum finds the test matrix not positive definite", n)
		}
		var want mat.VecDense
		if err := ch.SolveVecTo(&want, mat.NewVecDense(n, slices.Clone(b))); err != nil {
			t.Fatal(err)
		}
		l := slices.Clone(a)
		if !cholesky(l, n) {
			t.Fatalf("n=%d: cholesky failed", n)
		}
		x := slices.Clone(b)
		cholSolve(l, n, x)
		laCheck(t, "solution", x, want.RawVector().Data)
		res := slices.Clone(b)
		for i := range res {
			res[i] = -res[i]
		}
		addAv(res, a, x, n, n)
		laCheck(t, "residual", res, make([]float64, n))
	}
}

// laShapes returns the (r, s, q) triples the product tests run: every size
// 1…10 on the diagonal and a seeded sample of rectangular ones.
func laShapes(rng *rand.Rand) [][3]int {
	var out [][3]int
	for n := 1; n <= laMaxN; n++ {
		out = append(out, [3]int{n, n, n})
	}
	for range 40 {
		out = append(out, [3]int{1 + rng.IntN(laMaxN), 1 + rng.IntN(laMaxN), 1 + rng.IntN(laMaxN)})
	}
	return out
}

// laSparse returns k standard normal numbers of which about a third are
// zeroed: the kernels skip zero multipliers, so zeros must be exercised.
func laSparse(rng *rand.Rand, k int) []float64 {
	v := laNormals(rng, k)
	for i := range v {
		if rng.IntN(3) == 0 {
			v[i] = 0
		}
	}
	return v
}

// TestProductsMatchGonum: mulAB, addAtB, addAtv and addAv against gonum's
// Mul and MulVec, on rectangular shapes with zero entries. mulAB must
// overwrite its destination (filled with NaN first); the add kernels must
// add to theirs (filled with random values first).
func TestProductsMatchGonum(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 40))
	for _, sh := range laShapes(rng) {
		r, s, q := sh[0], sh[1], sh[2]

		// mulAB: C (r×q) = A (r×s) · B (s×q).
		a, b := laSparse(rng, r*s), laSparse(rng, s*q)
		c := make([]float64, r*q)
		for i := range c {
			c[i] = math.NaN()
		}
		mulAB(c, a, b, r, s, q)
		var want mat.Dense
		want.Mul(mat.NewDense(r, s, slices.Clone(a)), mat.NewDense(s, q, slices.Clone(b)))
		laCheck(t, "mulAB", c, want.RawMatrix().Data)

		// addAtB: C (s×q) += Aᵀ B for A (r×s), B (r×q).
		a, b = laSparse(rng, r*s), laSparse(rng, r*q)
		c0 := laNormals(rng, s*q)
		c = slices.Clone(c0)
		addAtB(c, a, b, r, s, q)
		want.Reset()
		want.Mul(mat.NewDense(r, s, slices.Clone(a)).T(), mat.NewDense(r, q, slices.Clone(b)))
		want.Add(&want, mat.NewDense(s, q, slices.Clone(c0)))
		laCheck(t, "addAtB", c, want.RawMatrix().Data)

		// addAtv: y (s) += Aᵀ v for A (r×s), v (r).
		a, v := laSparse(rng, r*s), laSparse(rng, r)
		y0 := laNormals(rng, s)
		y := slices.Clone(y0)
		addAtv(y, a, v, r, s)
		var wv mat.VecDense
		wv.MulVec(mat.NewDense(r, s, slices.Clone(a)).T(), mat.NewVecDense(r, slices.Clone(v)))
		wv.AddVec(&wv, mat.NewVecDense(s, slices.Clone(y0)))
		laCheck(t, "addAtv", y, wv.RawVector().Data)

		// addAv: y (r) += A v for A (r×s), v (s).
		a, v = laSparse(rng, r*s), laSparse(rng, s)
		y0 = laNormals(rng, r)
		y = slices.Clone(y0)
		addAv(y, a, v, r, s)
		wv.Reset()
		wv.MulVec(mat.NewDense(r, s, slices.Clone(a)), mat.NewVecDense(s, slices.Clone(v)))
		wv.AddVec(&wv, mat.NewVecDense(r, slices.Clone(y0)))
		laCheck(t, "addAv", y, wv.RawVector().Data)
	}
}

// TestSymmetrize: the result is (A + Aᵀ)/2 as gonum computes it, and
// exactly symmetric.
func TestSymmetrize(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 40))
	for n := 1; n <= laMaxN; n++ {
		a := laNormals(rng, n*n)
		var want mat.Dense
		want.Add(mat.NewDense(n, n, slices.Clone(a)), mat.NewDense(n, n, slices.Clone(a)).T())
		want.Scale(0.5, &want)
		symmetrize(a, n)
		laCheck(t, "symmetrize", a, want.RawMatrix().Data)
		for i := 0; i < n; i++ {
			for j := 0; j < i; j++ {
				if a[i*n+j] != a[j*n+i] {
					t.Fatalf("n=%d: a[%d,%d] = %g ≠ a[%d,%d] = %g", n, i, j, a[i*n+j], j, i, a[j*n+i])
				}
			}
		}
	}
}

// TestDot: dot against mat.Dot for lengths 0…10.
func TestDot(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 40))
	for n := 0; n <= laMaxN; n++ {
		a, b := laNormals(rng, n), laNormals(rng, n)
		want := 0.0
		if n > 0 {
			want = mat.Dot(mat.NewVecDense(n, slices.Clone(a)), mat.NewVecDense(n, slices.Clone(b)))
		}
		laCheck(t, "dot", []float64{dot(a, b)}, []float64{want})
	}
}

// TestAllFinite: false exactly when some entry, at any position, is NaN or
// ±Inf; true for the empty slice and for the largest and smallest floats.
func TestAllFinite(t *testing.T) {
	if !allFinite(nil) {
		t.Error("allFinite(nil) = false")
	}
	ok := []float64{0, -1, math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64}
	if !allFinite(ok) {
		t.Errorf("allFinite(%v) = false", ok)
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		for at := range ok {
			v := slices.Clone(ok)
			v[at] = bad
			if allFinite(v) {
				t.Errorf("allFinite(%v) = true", v)
			}
		}
	}
}
