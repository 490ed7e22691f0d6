package ilqr

import "github.com/dilqr/dilqr/models"

// GradMode selects how the gradient of a loss through the solution is
// computed.
type GradMode uint8

const (
	// Implicit is the exact derivative of the converged solution: the
	// implicit function theorem on the KKT conditions of the nonlinear
	// problem, with stage Hessians ∇²g + Σ_i λ_{t+1,i} ∇²f_i.
	Implicit GradMode = iota
	// FixedPoint treats the last linearization as constant, as mpc.pytorch
	// (DiffMPC) does: the same sweep with the Gauss-Newton Hessian ∇²g,
	// ignoring how the linearization point moves with the parameters.
	FixedPoint
)

var gradModeNames = [...]string{"implicit", "fixed_point"}

// String returns the mode's name as used by the command-line tools.
func (g GradMode) String() string { return enumName(gradModeNames[:], g, "GradMode") }

// GradStatus says what the gradient sweep did for one example.
type GradStatus uint8

const (
	// GradOK: the gradient was computed.
	GradOK GradStatus = iota
	// GradSkipped: the example's solve did not converge and the policy is
	// SkipUnconverged; its gradients are zero.
	GradSkipped
	// GradIndefinite: the reduced Hessian of the sweep was not positive
	// definite (the solution is not a strict local minimum); gradients zero.
	GradIndefinite
	// GradNonFinite: the solve's rollout or the sweep produced NaN or Inf;
	// gradients zero, whatever the policy.
	GradNonFinite
	// GradRegularized: the sweep was indefinite and, with
	// RegularizeIndefinite, was damped until positive definite; the
	// gradient is that of the damped sweep.
	GradRegularized
	// GradWeaklyActive: a constraint row sits on its bound with a zero (or
	// below 1e-8) multiplier, so strict complementarity fails and the
	// solution is not differentiable there; the gradient given holds the
	// rows with positive multipliers, a one-sided derivative.
	GradWeaklyActive
	// GradDependent: the active constraint rows (with the controls held on
	// their bounds) are linearly dependent, so their multipliers are not
	// unique (LICQ fails); gradients zero.
	GradDependent
)

var gradStatusNames = [...]string{"ok", "skipped (not converged)", "indefinite Hessian", "non-finite", "regularized",
	"weakly active constraint", "dependent constraints"}

// kept reports whether the gradients of a sweep that ended with s are
// given (otherwise they are zero).
func (s GradStatus) kept() bool { return s == GradOK || s == GradRegularized || s == GradWeaklyActive }

// String returns a lower-case description of s.
func (s GradStatus) String() string { return enumName(gradStatusNames[:], s, "GradStatus") }

// UnconvergedPolicy says what the gradient does for an example whose solve
// did not converge.
type UnconvergedPolicy uint8

const (
	// SkipUnconverged gives such an example zero gradients and status
	// GradSkipped. The implicit gradient is the derivative of a converged
	// solution; at another point it is not the derivative of anything.
	SkipUnconverged UnconvergedPolicy = iota
	// GradientAnyway evaluates the same formula at the final iterate, which
	// approximates the true gradient when the iterate is close to optimal.
	GradientAnyway
)

// Grads holds the gradients of a scalar loss L with respect to every input
// of a batch solve, per example.
type Grads struct {
	// X0 holds dL/dx0: B×N.
	X0 []float64
	// Theta holds dL/dθ: B×P, per example even when θ is shared (sum the
	// rows for a shared θ).
	Theta []float64
	// Phi holds dL/dφ: B×Q, per example, or B×T×Q with
	// Inputs.PhiPerStep.
	Phi []float64
	// Psi holds dL/dψ of the constraint: B×R, or B×T×R with
	// Inputs.PsiPerStep (empty without a constraint).
	Psi []float64
	// Lower and Upper hold dL/d(lower bound) and dL/d(upper bound): B×T×M,
	// per example and step whatever the bounds' layout (sum for a shared
	// one). Only controls on a bound have nonzero entries: a control held
	// on its bound moves with it.
	Lower, Upper []float64
	// Status says what the sweep did per example.
	Status []GradStatus
}

func (g *Grads) resize(b, n, p, q, r, tm int) {
	g.X0 = grow(g.X0, b*n)
	g.Psi = grow(g.Psi, b*r)
	g.Theta = grow(g.Theta, b*p)
	g.Phi = grow(g.Phi, b*q)
	g.Lower = grow(g.Lower, b*tm)
	g.Upper = grow(g.Upper, b*tm)
	if cap(g.Status) < b {
		g.Status = make([]GradStatus, b)
	}
	g.Status = g.Status[:b]
}

// IndefinitePolicy says what the gradient does for an example whose sweep
// meets a reduced Hessian that is not positive definite (the solution is
// not a strict local minimum, or round-off makes a flat direction look
// indefinite).
type IndefinitePolicy uint8

const (
	// ZeroIndefinite gives such an example zero gradients and status
	// GradIndefinite: there is no derivative of a strict minimum to give.
	ZeroIndefinite IndefinitePolicy = iota
	// RegularizeIndefinite adds μI to the free block of Q_uu, with μ the
	// first value of the solver's regularization schedule (from
	// Settings.RegMin up to RegMax) that makes every step positive
	// definite, and gives the gradient of that damped sweep with status
	// GradRegularized: the derivative of a proximally regularized problem,
	// a descent-preserving substitute rather than the exact derivative.
	RegularizeIndefinite
)

// GradOptions configure a gradient computation. The zero value is the
// exact implicit gradient with unconverged examples skipped and indefinite
// ones given zero gradients.
type GradOptions struct {
	Mode        GradMode
	Unconverged UnconvergedPolicy
	Indefinite  IndefinitePolicy
}

// Gradient computes, for the solution sol of in (from Solve with the same
// inputs), the gradients of the loss L whose gradient with respect to the
// solution is dX (B×T×N) and dU (B×T×M). One sweep per example costs one
// LQR solve, O(T·(N+M)³), independent of how many iterations the solve took.
//
// Controls on a bound are held fixed (their sensitivities are zero), which
// is the derivative wherever the active set does not change. Examples that
// did not converge follow opt.Unconverged; any example whose sweep fails gets
// zero gradients and a status saying why. Bad input returns an error
// wrapping ErrBadInput.
func (sv *Solver) Gradient(dst *Grads, sol *Result, in Inputs, dX, dU []float64, opt GradOptions) error {
	bt, err := sv.checkSolved(sol, in)
	if err != nil {
		return err
	}
	d, t := sv.dims, sv.prob.T
	if len(dX) != bt.b*t*d.N || len(dU) != bt.b*t*d.M {
		return badInput("gradient: dX has length %d and dU %d, want B·T·N=%d and B·T·M=%d",
			len(dX), len(dU), bt.b*t*d.N, bt.b*t*d.M)
	}
	if !allFinite(dX) || !allFinite(dU) {
		return badInput("gradient: incoming gradient contains NaN or Inf")
	}
	if opt.Mode > FixedPoint || opt.Unconverged > GradientAnyway || opt.Indefinite > RegularizeIndefinite {
		return badInput("gradient: unknown mode %d or policy %d/%d", opt.Mode, opt.Unconverged, opt.Indefinite)
	}
	if sv.con.C > 0 && len(sol.Mult) != bt.b*t*sv.con.C {
		return badInput("gradient: the solution has %d multipliers, want B·T·C=%d", len(sol.Mult), bt.b*t*sv.con.C)
	}
	dst.resize(bt.b, d.N, d.P, bt.phiLen(sv.nq, t), bt.psiLen(sv.con.R, t), t*d.M)
	sv.ensureGradScratch()
	sv.job = job{kind: jobGradient, bt: bt, res: sol, grads: dst, dX: dX, dU: dU, opt: opt}
	return sv.parallel(bt.b)
}

// checkSolved checks the inputs in and that sol is a solution of their
// batch, which it returns.
func (sv *Solver) checkSolved(sol *Result, in Inputs) (batch, error) {
	bt, err := sv.checkInputs(in)
	if err != nil {
		return bt, err
	}
	d, t := sv.dims, sv.prob.T
	if sol == nil || sol.B != bt.b || sol.T != t || sol.N != d.N || sol.M != d.M ||
		len(sol.X) != bt.b*t*d.N || len(sol.U) != bt.b*t*d.M || len(sol.Lambda) != bt.b*t*d.N ||
		len(sol.Status) != bt.b {
		return bt, badInput("solution does not match the inputs' batch (B=%d, T=%d, N=%d, M=%d)", bt.b, t, d.N, d.M)
	}
	return bt, nil
}

// ensureGradScratch makes every worker's sweep scratch on first use.
func (sv *Solver) ensureGradScratch() {
	for _, w := range sv.work {
		if w.gw == nil {
			w.gw = newGradScratch(w)
			if c := sv.con; c.C > 0 {
				w.gw.con = newConScratch(w.t, w.n, w.m, c.C, c.R)
			}
		}
	}
}

// gradScratch is a worker's storage for the gradient sweep.
type gradScratch struct {
	h    []float64   // T×K×K stage Hessians
	hz   []float64   // T×K linear terms −(dX, dU)
	ft   []float64   // T×N×P: ∂f/∂θ
	gphi []float64   // T×K×Q: ∂²g/∂τ∂φ
	lh   []float64   // T×K×(K+P) Lagrangian Hessians (θ columns: ∂²(λᵀf)/∂τ∂θ)
	kfb  []float64   // T×M×N
	kff  []float64   // T×M
	held []bool      // T×M: controls on a bound
	d    []float64   // T×K solution
	nu   []float64   // (T+1)×N multipliers
	c    []float64   // T×N affine dynamics terms (JVP)
	db   []float64   // T×M held controls' perturbations (JVP)
	mu   float64     // the held rule's regularization of the last sweep
	con  *conScratch // the constrained sweep's, nil without a constraint
}

func newGradScratch(w *workspace) *gradScratch {
	var count arena
	layoutGradScratch(&gradScratch{}, &count, w)
	g := &gradScratch{held: make([]bool, w.t*w.m+2*8*cacheLine)[8*cacheLine : 8*cacheLine+w.t*w.m]}
	layoutGradScratch(g, newArena(count.off), w)
	return g
}

// layoutGradScratch cuts g's arrays out of a (or sizes them when a counts).
func layoutGradScratch(g *gradScratch, a *arena, w *workspace) {
	t, n, m := w.t, w.n, w.m
	k, p, q := n+m, w.sv.dims.P, w.sv.nq
	g.h, g.hz = a.take(t*k*k), a.take(t*k)
	g.ft, g.gphi, g.lh = a.take(t*n*p), a.take(t*k*q), a.take(t*k*(k+p))
	g.kfb, g.kff = a.take(t*m*n), a.take(t*m)
	g.d, g.nu = a.take(t*k), a.take((t+1)*n)
	g.c, g.db = a.take(t*n), a.take(t*m)
}

// gradient runs the sensitivity sweep for example i.
func (w *workspace) gradient(dst *Grads, sol *Result, bt *batch, i int, dX, dU []float64, opt GradOptions) {
	n, m, t := w.n, w.m, w.t
	p, q := w.sv.dims.P, bt.phiLen(w.sv.nq, t)
	r := bt.psiLen(w.al.r, t)
	out := gradRows{x0: dst.X0[i*n : (i+1)*n], theta: dst.Theta[i*p : (i+1)*p],
		phi: dst.Phi[i*q : (i+1)*q], lower: dst.Lower[i*t*m : (i+1)*t*m], upper: dst.Upper[i*t*m : (i+1)*t*m],
		psi: dst.Psi[i*r : (i+1)*r]}
	out.clear()
	if st, skip := w.sweepable(sol, bt, i, opt); skip {
		dst.Status[i] = st
		return
	}
	sol1, theta, phi := w.example(sol, bt, i)
	if w.al.c > 0 {
		sol1.mult = sol.Mult[i*t*w.al.c : (i+1)*t*w.al.c]
	}
	st := w.sensitivity(&sol1, theta, phi, dX[i*t*n:(i+1)*t*n], dU[i*t*m:(i+1)*t*m], opt.Mode, opt.Indefinite)
	if st.kept() {
		if cst := w.contract(&out, &sol1, theta, phi.step > 0); cst != GradOK {
			st = cst
		}
	}
	if !st.kept() {
		out.clear()
	}
	dst.Status[i] = st
}

// sweepable says whether example i's solution gets a sweep, and the
// status of one that does not: GradNonFinite, or GradSkipped for an
// unconverged example under SkipUnconverged.
func (w *workspace) sweepable(sol *Result, bt *batch, i int, opt GradOptions) (GradStatus, bool) {
	switch {
	case bt.bad[i] || sol.Status[i] == NonFinite:
		return GradNonFinite, true
	case !sol.Status[i].Stationary() && opt.Unconverged == SkipUnconverged:
		return GradSkipped, true
	}
	return GradOK, false
}

// example returns what both sweeps linearize at for example i: views of
// its solution, its rows of θ and φ; and it sets w.lo, w.hi to its bounds.
func (w *workspace) example(sol *Result, bt *batch, i int) (solution, []float64, phiRows) {
	n, m, t := w.n, w.m, w.t
	w.lo, w.hi = bt.bounds(i, t*m)
	if w.al.c > 0 {
		w.al.psi = bt.psiRows(i, w.al.r, t)
	}
	sol1 := solution{x: sol.X[i*t*n : (i+1)*t*n], u: sol.U[i*t*m : (i+1)*t*m],
		lam: sol.Lambda[i*t*n : (i+1)*t*n]}
	return sol1, row(bt.theta, bt.thetaStride, i, w.sv.dims.P), bt.phiRows(i, w.sv.nq, t)
}

// gradRows are one example's rows of Grads.
type gradRows struct{ x0, theta, phi, lower, upper, psi []float64 }

func (g *gradRows) clear() {
	clear(g.x0)
	clear(g.psi)
	clear(g.theta)
	clear(g.phi)
	clear(g.lower)
	clear(g.upper)
}

// solution holds views of one example's solution: states, controls,
// costates and (with a constraint) multipliers.
type solution struct{ x, u, lam, mult []float64 }

// sensitivity solves the LQR
//
//	min Σ_t ½ d_tᵀ H_t d_t − ḡ_tᵀ d_t
//	s.t. d_{x,t+1} = A_t d_{x,t} + B_t d_{u,t}, d_{x,0} = 0, d_u = 0 on bounds,
//
// with H_t the stage Hessian of the mode, ḡ = (dX, dU), and leaves its
// solution d and multipliers ν (ν_t for the constraint defining x_t) in the
// scratch. It also stores the mixed derivatives for contract.
func (w *workspace) sensitivity(sol *solution, theta []float64, phi phiRows, dX, dU []float64, mode GradMode, indefinite IndefinitePolicy) GradStatus {
	g := w.gw
	n, m, t := w.n, w.m, w.t
	k := n + m
	w.stageDerivatives(sol, theta, phi, mode, false)
	for s := 0; s < t; s++ {
		hz := g.hz[s*k : (s+1)*k]
		for r := 0; r < n; r++ {
			hz[r] = -dX[s*n+r]
		}
		for r := 0; r < m; r++ {
			hz[n+r] = -dU[s*m+r]
		}
	}
	weak := w.al.c > 0 && w.constraintDerivatives(sol, sol.mult, mode == Implicit)
	w.holdBounds(sol.u)
	var st GradStatus
	if w.al.c > 0 {
		st = w.augmentedSweep(&lqrData{fx: w.fx, fu: w.fu, hzz: g.h, hz: g.hz}, indefinite, nil)
	} else {
		st = w.heldSweep(&lqrData{fx: w.fx, fu: w.fu, hzz: g.h, hz: g.hz}, indefinite)
	}
	if st != GradOK && st != GradRegularized {
		return st
	}
	if w.al.c > 0 {
		if cst := w.constrainedSweep(&controlRule{held: g.held, mu: g.mu}, nil, nil, nil); cst != GradOK {
			return cst
		}
	} else {
		clear(g.d[:n])
		w.sweepForward(nil)
	}
	w.multipliers()
	if weak && st == GradOK {
		st = GradWeaklyActive
	}
	return st // NaN or Inf in d or ν reaches the gradients, which contract checks
}

// holdBounds marks the controls on a bound, which the sweep holds fixed.
func (w *workspace) holdBounds(u []float64) {
	for j, v := range u {
		w.gw.held[j] = !(v > w.lo[j] && v < w.hi[j])
	}
}

// heldSweep runs the kernel's held rule on d; an indefinite step is
// GradIndefinite, or with RegularizeIndefinite the sweep is rerun with μ
// growing by the solver's schedule until it succeeds (GradRegularized).
func (w *workspace) heldSweep(d *lqrData, policy IndefinitePolicy) GradStatus {
	g := w.gw
	s := &w.sv.settings
	r := controlRule{held: g.held}
	if g.con != nil {
		r.keep = g.con.factors // for the constrained sweep's reruns
	}
	g.mu = 0
	if _, _, ok := w.lqr.backward(d, &r, g.kfb, g.kff); ok {
		return GradOK
	}
	if policy != RegularizeIndefinite {
		return GradIndefinite
	}
	mu, dmu := 0.0, 1.0
	for {
		mu, dmu = increaseReg(mu, dmu, s)
		if mu > s.RegMax {
			return GradIndefinite
		}
		r.mu = mu
		if _, _, ok := w.lqr.backward(d, &r, g.kfb, g.kff); ok {
			g.mu = mu
			return GradRegularized
		}
	}
}

// stageDerivatives evaluates, along the solution in w.x, w.u, the stage
// Hessians H_t of the mode, the dynamics' Jacobians and the mixed
// derivatives that contract needs.
func (w *workspace) stageDerivatives(sol *solution, theta []float64, phi phiRows, mode GradMode, full bool) {
	g := w.gw
	n, m, t := w.n, w.m, w.t
	k, p, q := n+m, w.sv.dims.P, w.sv.nq
	contract := w.contractor != nil && !full
	for s := 0; s < t; s++ {
		xt, ut := sol.x[s*n:(s+1)*n], sol.u[s*m:(s+1)*m]
		hs := g.h[s*k*k : (s+1)*k*k]
		w.cost.Quadratize(w.gz[s*k:(s+1)*k], hs, xt, ut, phi.at(s))
		w.cost.Mixed(g.gphi[s*k*q:(s+1)*k*q], xt, ut, phi.at(s))
		if s == t-1 {
			continue
		}
		lam := sol.lam[(s+1)*n : (s+2)*n]
		fx, fu := w.fx[s*n*n:(s+1)*n*n], w.fu[s*n*m:(s+1)*n*m]
		if contract { // the τ block only; contract takes the θ part by reverse mode
			w.contractor.LinearizeHessianTau(w.next, fx, fu, w.lh[:k*k], lam, xt, ut, theta)
			if mode == Implicit {
				for i, v := range w.lh[:k*k] {
					hs[i] += v
				}
			}
			continue
		}
		lh := g.lh[s*k*(k+p) : (s+1)*k*(k+p)]
		models.Derivatives(w.dyn, w.next, fx, fu, g.ft[s*n*p:(s+1)*n*p], lh, lam, xt, ut, theta)
		if mode == Implicit {
			for r := 0; r < k; r++ {
				hr := hs[r*k : (r+1)*k]
				for c, v := range lh[r*(k+p) : r*(k+p)+k] {
					hr[c] += v
				}
			}
		}
	}
}

// sweepForward rolls the sweep's policy out of the initial state in
// g.d[:N]: d_u = K d_x + k, d_x' = A d_x + B d_u (+ c_t when c is not nil).
func (w *workspace) sweepForward(c []float64) { w.sweepForwardTo(c, w.t-1) }

// sweepForwardTo is sweepForward stopped after step last (the columns of
// the constrained sweep's Schur complement need d only up to the last
// active row).
func (w *workspace) sweepForwardTo(c []float64, last int) {
	g := w.gw
	n, m := w.n, w.m
	k := n + m
	for s := 0; s <= last; s++ {
		ds := g.d[s*k : (s+1)*k]
		dx, du := ds[:n], ds[n:]
		copy(du, g.kff[s*m:(s+1)*m])
		addAv(du, g.kfb[s*m*n:(s+1)*m*n], dx, m, n)
		if s < last {
			nx := g.d[(s+1)*k : (s+1)*k+n]
			clear(nx)
			if c != nil {
				copy(nx, c[s*n:(s+1)*n])
			}
			addAv(nx, w.fx[s*n*n:(s+1)*n*n], dx, n, n)
			addAv(nx, w.fu[s*n*m:(s+1)*n*m], du, n, m)
		}
	}
}

// multipliers computes the sweep's costates ν_t = (H_t d_t)_x + h_{x,t} +
// A_tᵀ ν_{t+1}, ν_T = 0, with h = g.hz the sweep's linear term (−ḡ, plus
// Cᵀη for active constraint rows).
func (w *workspace) multipliers() {
	g := w.gw
	n, t := w.n, w.t
	k := n + w.m
	clear(g.nu[t*n:])
	for s := t - 1; s >= 0; s-- {
		nu := g.nu[s*n : (s+1)*n]
		hs := g.h[s*k*k : (s+1)*k*k]
		ds := g.d[s*k : (s+1)*k]
		for r := 0; r < n; r++ {
			nu[r] = dot(hs[r*k:(r+1)*k], ds) + g.hz[s*k+r]
		}
		if s < t-1 {
			addAtv(nu, w.fx[s*n*n:(s+1)*n*n], g.nu[(s+1)*n:(s+2)*n], n, n)
		}
	}
}

// contract turns the sweep's solution into input gradients:
//
//	dL/dθ  = −Σ_t (d_tᵀ ∂²(λ_{t+1}ᵀf_t)/∂τ∂θ + ν_{t+1}ᵀ ∂f_t/∂θ)
//	dL/dφ  = −Σ_t d_tᵀ ∂²g_t/∂τ∂φ   (per step with perStep)
//	dL/dx0 = −ν_0
//	dL/db_t,j = −h_u − (H_t d_t)_u − (B_tᵀ ν_{t+1})_u for a control u_t,j
//	            held on its bound b (the multiplier of d_u = δb), h = g.hz,
//
// and dL/dψ by contractPsi.
func (w *workspace) contract(out *gradRows, sol *solution, theta []float64, perStep bool) GradStatus {
	g := w.gw
	n, m, t := w.n, w.m, w.t
	k, p, q := n+m, w.sv.dims.P, w.sv.nq
	for s := 0; s < t; s++ {
		ds := g.d[s*k : (s+1)*k]
		gph := out.phi
		if perStep {
			gph = out.phi[s*q : (s+1)*q]
		}
		addAtv(gph, g.gphi[s*k*q:(s+1)*k*q], ds, k, q)
		switch {
		case s == t-1:
		case w.contractor != nil: // reverse mode over θ
			w.contractor.ContractParams(out.theta, g.nu[(s+1)*n:(s+2)*n], sol.lam[(s+1)*n:(s+2)*n],
				ds, sol.x[s*n:(s+1)*n], sol.u[s*m:(s+1)*m], theta)
		default:
			lh := g.lh[s*k*(k+p) : (s+1)*k*(k+p)]
			for r, dr := range ds { // ∂²(λᵀf)/∂τ∂θ, the θ columns of lh
				if dr != 0 {
					addRank1(out.theta, lh[r*(k+p)+k:(r+1)*(k+p)], dr)
				}
			}
			addAtv(out.theta, g.ft[s*n*p:(s+1)*n*p], g.nu[(s+1)*n:(s+2)*n], n, p)
		}
		w.boundGradients(out, sol, s)
	}
	if w.al.c > 0 {
		w.contractPsi(out.psi, sol)
	}
	for r := range out.theta {
		out.theta[r] = -out.theta[r]
	}
	for r := range out.phi {
		out.phi[r] = -out.phi[r]
	}
	for r := range out.x0 {
		out.x0[r] = -g.nu[r]
	}
	if !allFinite(out.x0) || !allFinite(out.theta) || !allFinite(out.phi) ||
		!allFinite(out.lower) || !allFinite(out.upper) || !allFinite(out.psi) {
		return GradNonFinite
	}
	return GradOK
}

// boundGradients writes the gradients of the bounds on the controls of step
// s that the sweep held: the stationarity residual of d_u there, negated.
func (w *workspace) boundGradients(out *gradRows, sol *solution, s int) {
	g := w.gw
	n, m, t := w.n, w.m, w.t
	k := n + m
	hs := g.h[s*k*k : (s+1)*k*k]
	ds := g.d[s*k : (s+1)*k]
	for j := 0; j < m; j++ {
		i := s*m + j
		if !g.held[i] {
			continue
		}
		r := -g.hz[s*k+n+j] - dot(hs[(n+j)*k:(n+j+1)*k], ds)
		if s < t-1 {
			fu := w.fu[s*n*m : (s+1)*n*m]
			nu := g.nu[(s+1)*n : (s+2)*n]
			for a := 0; a < n; a++ {
				r -= fu[a*m+j] * nu[a]
			}
		}
		if sol.u[i] <= w.lo[i] {
			out.lower[i] = r
		} else {
			out.upper[i] = r
		}
	}
}
