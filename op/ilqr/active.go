package ilqr

import "math"

// The gradient through active path constraints. At a KKT point of the
// constrained problem with multipliers ν̂ (Result.Mult), the rows with
// ν̂ > 0 are held as equalities c = 0 (strict complementarity assumed;
// GradWeaklyActive says when a row sits on its bound with ν̂ = 0). The
// sensitivity problem becomes the LQR of the unconstrained gradient with
// the linearized active rows C d = 0 added (Xu, Molloy & Gould, NeurIPS
// 2023, derive the same KKT structure). It is solved by a Schur complement
// on the active rows with the held-rule kernel as the inner solver: the
// sweep's solution is affine in the rows' multipliers η, d(η) = d₀ + S η,
// where column j of S is the kernel's response to the linear term C_jᵀ;
// C S is −C H̃⁻¹ Cᵀ, negative definite when the rows are independent on
// the free variables, so η solves the a×a system (−C S) η = C d₀ by
// Cholesky, and one more sweep with the linear term −ḡ + Cᵀη gives d and
// the costates. The cost is O((a+2)·T·(N+M)³ + a³) for a active rows in
// the horizon; the common case of a few active rows stays within a small
// multiple of the unconstrained sweep (a constraint-propagating Riccati
// recursion, Laine & Tomlin 2019, reaches O(T·(N+M+a)³) for many rows at
// the price of a much more intricate kernel).
//
// The gradient of the constraint parameters follows as for θ:
//
//	dL/dψ = −Σ_t (d_tᵀ Σ_i ν̂_{t,i} ∂²c_{t,i}/∂τ∂ψ + η_tᵀ ∂c_t/∂ψ).

// The sweep needs H̃, the Hessian on the free variables, positive
// definite; at a constrained minimum it need only be so on the null space
// of the active rows. Adding ρ CᵀC for the active rows changes neither the
// solution nor η of the KKT system (C d = 0 there), and for ρ large enough
// makes H̃ positive definite (Debreu's lemma), so an indefinite sweep is
// retried with ρ from augmentSchedule before the IndefinitePolicy applies.
var augmentSchedule = [...]float64{1, 1e2, 1e4, 1e6}

// augmentedSweep runs the held-rule sweep on d, adding ρ CᵀC of the active
// rows to the stage Hessians while it is indefinite (see augmentSchedule),
// then falls back to heldSweep's policy. With rows held at C d = e
// (e nil: zero) the augmented problem keeps the solution when −ρ Cᵀe is
// added to the linear term too, which it does.
func (w *workspace) augmentedSweep(d *lqrData, policy IndefinitePolicy, e []float64) GradStatus {
	g := w.gw
	r := controlRule{held: g.held, keep: g.con.factors}
	if _, _, ok := w.lqr.backward(d, &r, g.kfb, g.kff); ok || len(g.con.active) == 0 {
		if ok {
			g.mu = 0
			return GradOK
		}
		return w.heldSweep(d, policy)
	}
	prev := 0.0
	for _, rho := range augmentSchedule {
		w.augmentActive(rho-prev, d.hz, e)
		prev = rho
		if _, _, ok := w.lqr.backward(d, &r, g.kfb, g.kff); ok {
			g.mu = 0
			return GradOK
		}
	}
	return w.heldSweep(d, policy)
}

// augmentActive adds ρ c_iᵀc_i (c_i the row's Jacobian) of every active
// row to its step's Hessian, and −ρ e_i c_i to its linear term in hz.
func (w *workspace) augmentActive(rho float64, hz, e []float64) {
	g, cs := w.gw, w.gw.con
	k, c := w.n+w.m, w.al.c
	for j, ri := range cs.active {
		s := ri / c
		h, ji := g.h[s*k*k:(s+1)*k*k], cs.jac[ri*k:(ri+1)*k]
		if e != nil {
			addRank1(hz[s*k:(s+1)*k], ji, -rho*e[j])
		}
		for a, ja := range ji {
			if ja != 0 {
				addRank1(h[a*k:(a+1)*k], ji, rho*ja)
			}
		}
	}
}

// weakTol is how close to its bound a row with zero multiplier, and how
// small a positive multiplier, must be for GradWeaklyActive.
const weakTol = 1e-8

// conScratch is a worker's storage for the constrained sweep.
type conScratch struct {
	val, jac   []float64 // T×C, T×C×K at the solution
	nuHat      []float64 // T×C: the solution's multipliers
	eta        []float64 // T×C: the sweep's multipliers of the active rows
	cpsi, cmix []float64 // C×R and K×R scratch for the ψ contraction
	hz0        []float64 // T×K: −ḡ
	active     []int     // t·C+i of the active rows
	schur, rhs []float64 // a×a, a (grown as needed)
	e          []float64 // a: the rows' targets of a tangent (grown as needed)
	factors    *heldFactors
}

func newConScratch(t, n, m, c, r int) *conScratch {
	k := n + m
	return &conScratch{
		val: make([]float64, t*c), jac: make([]float64, t*c*k),
		nuHat: make([]float64, t*c), eta: make([]float64, t*c),
		cpsi: make([]float64, c*r), cmix: make([]float64, k*r),
		hz0: make([]float64, t*k), factors: newHeldFactors(t, m),
	}
}

// constraintDerivatives evaluates the constraint at the solution of the
// example in hand (steps 1..T−1): values and Jacobians, and in Implicit
// mode adds Σ_i ν̂_i ∇²c_i to the stage Hessians h (T×K×K). It returns
// whether a row is weakly active.
func (w *workspace) constraintDerivatives(sol *solution, mult []float64, implicit bool) (weak bool) {
	g, cs, al := w.gw, w.gw.con, &w.al
	n, m, t, c := w.n, w.m, w.t, al.c
	k := n + m
	copy(cs.nuHat, mult)
	clear(cs.nuHat[:c])
	cs.active = cs.active[:0]
	for s := 1; s < t; s++ {
		xt, ut, psi := sol.x[s*n:(s+1)*n], sol.u[s*m:(s+1)*m], al.psi.at(s)
		val, nh := cs.val[s*c:(s+1)*c], cs.nuHat[s*c:(s+1)*c]
		al.eval.Linearize(val, cs.jac[s*c*k:(s+1)*c*k], xt, ut, psi)
		if implicit {
			al.eval.Curvature(g.h[s*k*k:(s+1)*k*k], nh, xt, ut, psi)
		}
		for i, v := range val {
			switch {
			case math.IsInf(v, -1):
				nh[i] = 0
			case nh[i] > 0:
				cs.active = append(cs.active, s*c+i)
				weak = weak || nh[i] < weakTol
			case v >= -weakTol:
				weak = true
			}
		}
	}
	return weak
}

// constrainedSweep solves the sensitivity LQR with the active rows held,
// C d = e (see the top of this file), given the held-rule kernel's first
// sweep with rule r on the linear term in g.hz and the affine dynamics
// term aff (nil: none), from the initial state x0 (nil: zero); e nil is
// zero. It leaves the solution in g.d, the linear term plus Cᵀη in g.hz
// and η in the scratch; GradDependent when the active rows are dependent
// on the free variables.
func (w *workspace) constrainedSweep(r *controlRule, x0, aff, e []float64) GradStatus {
	g, cs := w.gw, w.gw.con
	n, m, c := w.n, w.m, w.al.c
	k := n + m
	a := len(cs.active)
	clear(cs.eta)
	start := func() { // d's initial state
		clear(g.d[:n])
		if x0 != nil {
			copy(g.d[:n], x0)
		}
	}
	if a == 0 {
		start()
		w.sweepForward(aff)
		return GradOK
	}
	if cap(cs.schur) < a*a {
		cs.schur, cs.rhs = make([]float64, a*a), make([]float64, a)
	}
	cs.schur, cs.rhs = cs.schur[:a*a], cs.rhs[:a]
	copy(cs.hz0, g.hz)
	lastStep := cs.active[a-1] / c // rows are listed by step
	start()
	w.sweepForwardTo(aff, lastStep)
	w.activeRows(cs.rhs) // C d₀, then C d₀ − e
	if e != nil {
		for i := range cs.rhs {
			cs.rhs[i] -= e[i]
		}
	}
	d := lqrData{fx: w.fx, fu: w.fu, hzz: g.h, hz: g.hz}
	for j, rj := range cs.active {
		clear(g.hz)
		s := rj / c
		copy(g.hz[s*k:(s+1)*k], cs.jac[rj*k:(rj+1)*k])
		if !w.rerun(&d, r, s) {
			return GradIndefinite // the first sweep succeeded with the same matrices
		}
		clear(g.d[:n])
		w.sweepForwardTo(nil, lastStep)
		w.activeRowsInto(cs.schur, j, a)
	}
	// (−C S) η = C d₀, with −C S symmetric positive definite.
	for i := range cs.schur {
		cs.schur[i] = -cs.schur[i]
	}
	symmetrize(cs.schur, a)
	if !cholesky(cs.schur, a) {
		return GradDependent
	}
	cholSolve(cs.schur, a, cs.rhs)
	copy(g.hz, cs.hz0)
	for j, rj := range cs.active {
		s := rj / c
		cs.eta[rj] = cs.rhs[j]
		addRank1(g.hz[s*k:(s+1)*k], cs.jac[rj*k:(rj+1)*k], cs.rhs[j])
	}
	d.c = aff
	if !w.rerun(&d, r, w.t-1) {
		return GradIndefinite
	}
	start()
	w.sweepForward(aff)
	return GradOK
}

// rerun solves the sweep again for the linear term in d.hz, zero after
// step last, with the matrices of the last successful sweep: by the
// kernel's linearPass when that sweep was unregularized and there is no
// affine term, else by a full backward run.
func (w *workspace) rerun(d *lqrData, r *controlRule, last int) bool {
	g := w.gw
	if r.mu == 0 && d.c == nil { // linearPass has no affine term
		w.lqr.linearPass(d, g.con.factors, g.kfb, g.kff, last)
		return true
	}
	_, _, ok := w.lqr.backward(d, r, g.kfb, g.kff)
	return ok
}

// activeRows writes C d for the sweep's solution in g.d into dst (a).
func (w *workspace) activeRows(dst []float64) {
	cs := w.gw.con
	k, c := w.n+w.m, w.al.c
	for i, ri := range cs.active {
		s := ri / c
		dst[i] = dot(cs.jac[ri*k:(ri+1)*k], w.gw.d[s*k:(s+1)*k])
	}
}

// activeRowsInto writes C d into column j of the a×a matrix dst.
func (w *workspace) activeRowsInto(dst []float64, j, a int) {
	cs := w.gw.con
	k, c := w.n+w.m, w.al.c
	for i, ri := range cs.active {
		s := ri / c
		dst[i*a+j] = dot(cs.jac[ri*k:(ri+1)*k], w.gw.d[s*k:(s+1)*k])
	}
}

// contractPsi writes dL/dψ into psi (R, or T×R per step) from the
// sweep's solution and multipliers.
func (w *workspace) contractPsi(psi []float64, sol *solution) {
	cs, al := w.gw.con, &w.al
	n, m, t, c, r := w.n, w.m, w.t, al.c, al.r
	k := n + m
	for s := 1; s < t; s++ {
		nh, eta := cs.nuHat[s*c:(s+1)*c], cs.eta[s*c:(s+1)*c]
		if allZeroF(nh) && allZeroF(eta) {
			continue
		}
		dst := psi
		if al.psi.step > 0 {
			dst = psi[s*r : (s+1)*r]
		}
		xt, ut := sol.x[s*n:(s+1)*n], sol.u[s*m:(s+1)*m]
		al.eval.ParamDerivatives(cs.cpsi, cs.cmix, nh, xt, ut, al.psi.at(s))
		addAtv(dst, cs.cmix, w.gw.d[s*k:(s+1)*k], k, r)
		addAtv(dst, cs.cpsi, eta, c, r)
	}
	for i, v := range psi {
		psi[i] = 0 - v // 0 − v: no −0 for an untouched entry
	}
}

func allZeroF(v []float64) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}
