package ilqr

// boxQP solves min ½ xᵀHx + gᵀx subject to lo ≤ x ≤ hi by projected Newton
// (Tassa, Mansard & Todorov, "Control-limited differential dynamic
// programming", ICRA 2014, Algorithm 1): at each step the variables on a
// bound whose gradient pushes outward are clamped, a Newton step is taken on
// the free ones, and a projected Armijo line search keeps the step feasible.
//
// The struct holds the scratch for one m; its methods allocate nothing.
type boxQP struct {
	m      int
	grad   []float64
	dir    []float64
	cand   []float64
	free   []int     // indices of the free variables at the solution
	factor []float64 // Cholesky factor of H restricted to free (len(free)² used)
	rhs    []float64
}

func newBoxQP(m int) *boxQP { return boxQPIn(newArena(4*m+m*m), m) }

// boxQPIn is newBoxQP with the scratch taken from a.
func boxQPIn(a *arena, m int) *boxQP {
	return &boxQP{
		m:      m,
		grad:   a.take(m),
		dir:    a.take(m),
		cand:   a.take(m),
		free:   paddedInts(m),
		factor: a.take(m * m),
		rhs:    a.take(m),
	}
}

// qpResult says how a box QP ended.
type qpResult int

const (
	qpOK        qpResult = iota // converged: projected gradient small or all clamped
	qpNotPD                     // the free block of H is not positive definite
	qpNoDescent                 // the line search found no decrease
)

const (
	qpMaxIter  = 100   // projected Newton iterations
	qpTolGrad  = 1e-13 // stop when the free gradient norm is below this (relative)
	qpArmijo   = 0.1   // sufficient decrease fraction
	qpMinStep  = 1e-22 // smallest line-search step
	qpStepDecr = 0.6   // line-search step factor
)

// solve overwrites x (warm start on entry) with the QP solution and leaves
// the free set in q.free and the Cholesky factor of H_ff in q.factor.
func (q *boxQP) solve(x, h, g, lo, hi []float64) qpResult {
	m := q.m
	for i := range x[:m] {
		x[i] = clampf(x[i], lo[i], hi[i])
	}
	val := q.value(x, h, g)
	for it := 0; it < qpMaxIter; it++ {
		// Gradient and the free set at x.
		q.gradient(x, h, g)
		q.setFree(x, lo, hi)
		if len(q.free) == 0 {
			return qpOK
		}
		if !q.factorFree(h) {
			return qpNotPD
		}
		var gn, xn float64
		for _, i := range q.free {
			gn += q.grad[i] * q.grad[i]
			xn += x[i] * x[i]
		}
		if gn <= qpTolGrad*qpTolGrad*(1+xn) {
			return qpOK
		}
		// Newton direction on the free variables, zero on the clamped ones.
		nf := len(q.free)
		for a, i := range q.free {
			q.rhs[a] = q.grad[i]
		}
		cholSolve(q.factor, nf, q.rhs[:nf])
		clear(q.dir)
		var slope float64
		for a, i := range q.free {
			q.dir[i] = -q.rhs[a]
			slope += q.dir[i] * q.grad[i]
		}
		// Projected Armijo line search.
		step := 1.0
		accepted := false
		for step > qpMinStep {
			for i := 0; i < m; i++ {
				q.cand[i] = clampf(x[i]+step*q.dir[i], lo[i], hi[i])
			}
			cv := q.value(q.cand, h, g)
			if cv-val <= qpArmijo*step*slope {
				copy(x, q.cand)
				val = cv
				accepted = true
				break
			}
			step *= qpStepDecr
		}
		if !accepted {
			// No decrease: x is optimal to working precision when the
			// slope is negligible; otherwise report it.
			if -slope <= 1e-14*(1+abs(val)) {
				q.finish(x, h, g, lo, hi)
				return qpOK
			}
			return qpNoDescent
		}
	}
	q.finish(x, h, g, lo, hi)
	return qpOK
}

// finish recomputes the free set and its factor at the final x.
func (q *boxQP) finish(x, h, g, lo, hi []float64) {
	q.gradient(x, h, g)
	q.setFree(x, lo, hi)
	q.factorFree(h)
}

// gradient sets q.grad to the objective's gradient g + H·x at x.
func (q *boxQP) gradient(x, h, g []float64) {
	m := q.m
	for i := 0; i < m; i++ {
		s := g[i]
		for j := 0; j < m; j++ {
			s += h[i*m+j] * x[j]
		}
		q.grad[i] = s
	}
}

// setFree collects the variables not held at a bound by the gradient.
func (q *boxQP) setFree(x, lo, hi []float64) {
	q.free = q.free[:0]
	for i := 0; i < q.m; i++ {
		atLo := x[i] <= lo[i] && q.grad[i] > 0
		atHi := x[i] >= hi[i] && q.grad[i] < 0
		if !atLo && !atHi {
			q.free = append(q.free, i)
		}
	}
}

// factorFree Cholesky-factors H restricted to the free set.
func (q *boxQP) factorFree(h []float64) bool {
	nf := len(q.free)
	for a, i := range q.free {
		for b, j := range q.free {
			q.factor[a*nf+b] = h[i*q.m+j]
		}
	}
	return cholesky(q.factor[:nf*nf], nf)
}

func (q *boxQP) value(x, h, g []float64) float64 {
	m := q.m
	var v float64
	for i := 0; i < m; i++ {
		var s float64
		for j := 0; j < m; j++ {
			s += h[i*m+j] * x[j]
		}
		v += x[i] * (0.5*s + g[i])
	}
	return v
}

func clampf(v, lo, hi float64) float64 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}
