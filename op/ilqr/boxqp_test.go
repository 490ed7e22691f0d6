package ilqr

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// The tests in this file check boxQP.solve on seeded random problems
// min ½ xᵀHx + gᵀx, lo ≤ x ≤ hi, with H symmetric positive definite
// (laSPD, condition number below about 5) and g standard normal, against
// the optimality conditions of the box QP and against gonum mat solves.

// qpKKTTol bounds the violation of the optimality conditions, relative to
// the problem's scale 1 + ‖g‖∞ + ‖H‖∞‖x‖∞. The solver stops when the free
// gradient's norm falls below qpTolGrad = 1e-13 of 1 + ‖x‖, so 1e-10 leaves
// room for round-off in the gradient recomputed here while an unconverged
// or wrongly clamped variable (an error of order one) still fails.
const qpKKTTol = 1e-10

// qpCase is one random box QP.
type qpCase struct {
	m              int
	h, g, lo, hi   []float64
	x0             []float64 // start (warm start), possibly outside the box
	wantActive     bool      // some bound must be active at the solution
	wantNoneActive bool      // no bound may be active at the solution
}

// qpCases returns the random problems: for each size m = 1…10, the bounds
// far outside the unconstrained minimizer (none active), tight bounds
// around zero (some active), one-sided and mixed infinite bounds, and a
// box degenerate in some components (lo = hi).
func qpCases(t *testing.T, rng *rand.Rand) map[string]qpCase {
	out := map[string]qpCase{}
	for m := 1; m <= laMaxN; m++ {
		h, g := laSPD(rng, m), laNormals(rng, m)
		xu := qpUnconstrained(t, h, g, m)
		wide := qpCase{m: m, h: h, g: g, lo: make([]float64, m), hi: make([]float64, m), x0: laNormals(rng, m), wantNoneActive: true}
		for i := range xu {
			wide.lo[i] = xu[i] - 1 - rng.Float64()
			wide.hi[i] = xu[i] + 1 + rng.Float64()
		}
		out[fmt.Sprintf("m=%d/inactive", m)] = wide

		// Tight bounds: a box around zero of half-width between a quarter
		// and a half of ‖x_u‖∞ excludes the unconstrained minimizer x_u, so
		// some bound is active at the solution (a minimizer inside the box
		// would be a local, hence the global, unconstrained one).
		h, g = laSPD(rng, m), laNormals(rng, m)
		var s float64
		for _, v := range qpUnconstrained(t, h, g, m) {
			s = math.Max(s, 0.5*math.Abs(v))
		}
		tight := qpCase{m: m, h: h, g: g, lo: make([]float64, m), hi: make([]float64, m), x0: laNormals(rng, m), wantActive: true}
		for i := range tight.lo {
			tight.lo[i] = -s * (0.5 + 0.5*rng.Float64())
			tight.hi[i] = s * (0.5 + 0.5*rng.Float64())
		}
		out[fmt.Sprintf("m=%d/active", m)] = tight

		// Mixed: each component unbounded, bounded below at 0 or above at
		// 0 (a third each); g scaled by m so that the bounds bind often.
		h, g = laSPD(rng, m), laNormals(rng, m)
		mixed := qpCase{m: m, h: h, g: g, lo: make([]float64, m), hi: make([]float64, m), x0: make([]float64, m)}
		for i := range mixed.g {
			mixed.g[i] *= float64(m)
			mixed.lo[i], mixed.hi[i] = math.Inf(-1), math.Inf(1)
			switch rng.IntN(3) {
			case 0:
				mixed.lo[i] = 0
			case 1:
				mixed.hi[i] = 0
			}
		}
		out[fmt.Sprintf("m=%d/mixed", m)] = mixed

		// Degenerate: every other component has lo = hi = 0.5.
		h, g = laSPD(rng, m), laNormals(rng, m)
		deg := qpCase{m: m, h: h, g: g, lo: make([]float64, m), hi: make([]float64, m), x0: laNormals(rng, m)}
		for i := range deg.lo {
			deg.lo[i], deg.hi[i] = -1, 1
			if i%2 == 0 {
				deg.lo[i], deg.hi[i] = 0.5, 0.5
			}
		}
		out[fmt.Sprintf("m=%d/fixed", m)] = deg
	}
	return out
}

// qpUnconstrained returns the minimizer −H⁻¹g of ½ xᵀHx + gᵀx for an
// SPD H, by gonum.
func qpUnconstrained(t *testing.T, h, g []float64, m int) []float64 {
	t.Helper()
	var x mat.VecDense
	if err := x.SolveVec(mat.NewDense(m, m, slices.Clone(h)), mat.NewVecDense(m, slices.Clone(g))); err != nil {
		t.Fatal(err)
	}
	x.ScaleVec(-1, &x)
	return x.RawVector().Data
}

// qpGrad returns Hx + g, summed in the order boxQP sums it, so that its signs
// at a bound agree with the solver's bit for bit.
func qpGrad(h, g, x []float64, m int) []float64 {
	r := make([]float64, m)
	for i := 0; i < m; i++ {
		s := g[i]
		for j := 0; j < m; j++ {
			s += h[i*m+j] * x[j]
		}
		r[i] = s
	}
	return r
}

// qpScale returns 1 + ‖g‖∞ + ‖H‖∞‖x‖∞, the scale of the gradient.
func qpScale(h, g, x []float64, m int) float64 {
	var gn, hn, xn float64
	for i := 0; i < m; i++ {
		gn = math.Max(gn, math.Abs(g[i]))
		xn = math.Max(xn, math.Abs(x[i]))
		var row float64
		for j := 0; j < m; j++ {
			row += math.Abs(h[i*m+j])
		}
		hn = math.Max(hn, row)
	}
	return 1 + gn + hn*xn
}

// checkQPKKT checks the optimality conditions of the box QP at x: x inside
// the box; the gradient r = Hx + g zero on variables strictly inside it,
// r ≥ 0 at a lower bound and r ≤ 0 at an upper one; hence the projected
// gradient x − clamp(x − r) zero. It returns the number of variables at a
// bound.
func checkQPKKT(t *testing.T, c qpCase, x []float64) int {
	t.Helper()
	m := c.m
	r := qpGrad(c.h, c.g, x, m)
	tol := qpKKTTol * qpScale(c.h, c.g, x, m)
	active := 0
	for i := 0; i < m; i++ {
		if !(x[i] >= c.lo[i] && x[i] <= c.hi[i]) {
			t.Errorf("x[%d] = %g outside [%g, %g]", i, x[i], c.lo[i], c.hi[i])
			continue
		}
		switch {
		case c.lo[i] == c.hi[i]:
			active++ // fixed: any gradient sign is optimal
		case x[i] == c.lo[i]:
			active++
			if r[i] < -tol {
				t.Errorf("x[%d] at its lower bound %g with gradient %g < 0: moving up decreases the cost", i, x[i], r[i])
			}
		case x[i] == c.hi[i]:
			active++
			if r[i] > tol {
				t.Errorf("x[%d] at its upper bound %g with gradient %g > 0: moving down decreases the cost", i, x[i], r[i])
			}
		default:
			if math.Abs(r[i]) > tol {
				t.Errorf("x[%d] = %g inside (%g, %g) with gradient %g", i, x[i], c.lo[i], c.hi[i], r[i])
			}
		}
		if pg := x[i] - clampf(x[i]-r[i], c.lo[i], c.hi[i]); math.Abs(pg) > tol {
			t.Errorf("projected gradient %d is %g", i, pg)
		}
	}
	return active
}

// checkQPFree checks the free set and factor the solver leaves behind: the
// free set is the variables not held at a bound by the gradient (setFree's
// rule, recomputed here), in increasing order; the factor's lower
// triangle is gonum's Cholesky factor of H restricted to it; and x on the
// free set solves H_ff x_f = −(g_f + H_fc x_c) as gonum solves it.
func checkQPFree(t *testing.T, q *boxQP, c qpCase, x []float64) {
	t.Helper()
	m := c.m
	r := qpGrad(c.h, c.g, x, m)
	var free []int
	for i := 0; i < m; i++ {
		if !(x[i] <= c.lo[i] && r[i] > 0) && !(x[i] >= c.hi[i] && r[i] < 0) {
			free = append(free, i)
		}
	}
	if !slices.Equal(q.free, free) {
		t.Fatalf("free set %v, want %v (x %v, gradient %v)", q.free, free, x, r)
	}
	nf := len(free)
	if nf == 0 {
		return
	}
	hff := mat.NewSymDense(nf, nil)
	rhs := mat.NewVecDense(nf, nil)
	for a, i := range free {
		s := -c.g[i]
		for j := 0; j < m; j++ {
			if !slices.Contains(free, j) {
				s -= c.h[i*m+j] * x[j]
			}
		}
		rhs.SetVec(a, s)
		for b, j := range free {
			hff.SetSym(a, b, c.h[i*m+j])
		}
	}
	var ch mat.Cholesky
	if !ch.Factorize(hff) {
		t.Fatal("gonum finds H_ff not positive definite")
	}
	var l mat.TriDense
	ch.LTo(&l)
	laCheck(t, "factor of H_ff", laLower(q.factor[:nf*nf], nf), laLower(mat.DenseCopyOf(&l).RawMatrix().Data, nf))
	var xf mat.VecDense
	if err := ch.SolveVecTo(&xf, rhs); err != nil {
		t.Fatal(err)
	}
	got := make([]float64, nf)
	for a, i := range free {
		got[a] = x[i]
	}
	if e := laErr(got, xf.RawVector().Data); e > qpKKTTol {
		t.Errorf("free variables %v, gonum's solve of the reduced system %v (error %.3g)", got, xf.RawVector().Data, e)
	}
}

// TestBoxQPOptimal: on every random problem solve returns qpOK with x
// satisfying the optimality conditions, leaves the right free set and
// factor, and leaves H, g and the bounds unmodified. Bounds are active
// where the case requires it and nowhere when they lie far from the
// unconstrained minimizer, where x equals gonum's solution of H x = −g.
// A second solve started from the solution returns the same x.
func TestBoxQPOptimal(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 40))
	cases := qpCases(t, rng)
	names := make([]string, 0, len(cases))
	for name := range cases {
		names = append(names, name)
	}
	slices.Sort(names)
	anyActive := 0
	for _, name := range names {
		c := cases[name]
		t.Run(name, func(t *testing.T) {
			m := c.m
			h, g, lo, hi := slices.Clone(c.h), slices.Clone(c.g), slices.Clone(c.lo), slices.Clone(c.hi)
			q := newBoxQP(m)
			x := slices.Clone(c.x0)
			if res := q.solve(x, h, g, lo, hi); res != qpOK {
				t.Fatalf("solve returned %d, want qpOK", res)
			}
			if !slices.Equal(h, c.h) || !slices.Equal(g, c.g) || !slices.Equal(lo, c.lo) || !slices.Equal(hi, c.hi) {
				t.Fatal("solve modified its inputs")
			}
			active := checkQPKKT(t, c, x)
			checkQPFree(t, q, c, x)
			anyActive += active
			if c.wantActive && active == 0 {
				t.Errorf("no bound active; the case is meant to clamp")
			}
			if c.wantNoneActive {
				if active > 0 {
					t.Fatalf("%d bounds active; the case is meant to clamp none", active)
				}
				want := qpUnconstrained(t, c.h, c.g, m)
				if e := laErr(x, want); e > qpKKTTol {
					t.Errorf("x = %v, gonum's solution of H x = −g %v (error %.3g)", x, want, e)
				}
			}

			again := slices.Clone(x)
			if res := newBoxQP(m).solve(again, h, g, lo, hi); res != qpOK {
				t.Fatalf("warm-started solve returned %d", res)
			}
			if e := laErr(again, x); e > qpKKTTol {
				t.Errorf("started at the solution %v it moved to %v", x, again)
			}
		})
	}
	if anyActive == 0 {
		t.Error("no case had an active bound")
	}
}

// TestBoxQPAllClamped: when the gradient at the lower bounds pushes every
// variable down (g large and positive, the start below the box), solve
// returns qpOK with x = lo and an empty free set.
func TestBoxQPAllClamped(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 40))
	for m := 1; m <= laMaxN; m++ {
		h := laSPD(rng, m)
		g := make([]float64, m)
		lo, hi := make([]float64, m), make([]float64, m)
		for i := range g {
			g[i] = 1e3
			lo[i], hi[i] = -1, 1
		}
		x := make([]float64, m)
		for i := range x {
			x[i] = -5
		}
		q := newBoxQP(m)
		if res := q.solve(x, h, g, lo, hi); res != qpOK {
			t.Fatalf("m=%d: solve returned %d, want qpOK", m, res)
		}
		if !slices.Equal(x, lo) {
			t.Errorf("m=%d: x = %v, want the lower bounds", m, x)
		}
		if len(q.free) != 0 {
			t.Errorf("m=%d: free set %v, want empty", m, q.free)
		}
	}
}

// TestBoxQPIndefinite: an H with one negative eigenvalue is reported as
// qpNotPD when the start lies inside the box (every variable free at
// once); negative curvature confined to a variable held at its bound is
// not (only H_ff must be positive definite there), and solve then
// returns qpOK.
func TestBoxQPIndefinite(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 40))
	for m := 1; m <= laMaxN; m++ {
		for k := 0; k < m; k++ {
			h := laIndefinite(rng, m, k, 0.5)
			g := laNormals(rng, m)
			lo, hi := make([]float64, m), make([]float64, m)
			for i := range lo {
				lo[i], hi[i] = -1, 1
			}
			if res := newBoxQP(m).solve(make([]float64, m), h, g, lo, hi); res != qpNotPD {
				t.Errorf("m=%d, negative eigenvalue %d: solve returned %d, want qpNotPD", m, k, res)
			}
		}

		// H = diag(−1, SPD block): variable 0 starts at its lower bound −1
		// with gradient g_0 + h_00·x_0 = 5 + 1 = 6 > 0 pushing it out, so it
		// stays clamped, and the free block is the SPD one.
		h := make([]float64, m*m)
		h[0] = -1
		if m > 1 {
			b := laSPD(rng, m-1)
			for i := 1; i < m; i++ {
				copy(h[i*m+1:i*m+m], b[(i-1)*(m-1):i*(m-1)])
			}
		}
		c := qpCase{m: m, h: h, g: laNormals(rng, m), lo: make([]float64, m), hi: make([]float64, m)}
		c.g[0] = 5
		for i := range c.lo {
			c.lo[i], c.hi[i] = -1, 1
		}
		x := make([]float64, m)
		x[0] = -1
		q := newBoxQP(m)
		if res := q.solve(x, c.h, c.g, c.lo, c.hi); res != qpOK {
			t.Fatalf("m=%d, negative curvature on a clamped variable: solve returned %d, want qpOK", m, res)
		}
		if x[0] != -1 {
			t.Errorf("m=%d: x_0 = %g, want its lower bound −1", m, x[0])
		}
		checkQPKKT(t, c, x)
		checkQPFree(t, q, c, x)
	}
}
