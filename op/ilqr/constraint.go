package ilqr

import (
	"math"

	"github.com/dilqr/dilqr/models"
)

// The augmented Lagrangian of a path constraint c(x_t, u_t; ψ) ≤ 0,
// t = 1..T−1 (Howell, Jackson & Manchester, "ALTRO", IROS 2019, with the
// Powell–Hestenes–Rockafellar term for inequalities, Nocedal & Wright
// §17.4): the inner iLQR minimizes
//
//	J(U) + Σ_{t,i} φ(c_{t,i}, ν_{t,i}, ρ),   φ(c, ν, ρ) = (max(0, ν+ρc)² − ν²) / 2ρ,
//
// whose gradient in c is ν̂ = max(0, ν + ρc), the multiplier estimate; the
// quadratic model gets the terms' exact Hessian ρ∇cᵢ∇cᵢᵀ + ν̂ᵢ∇²cᵢ on the
// rows with ν + ρc > 0. ALTRO keeps only the first, Gauss–Newton, part;
// the inner solves here take Newton steps, and without the constraint's
// curvature they slowed or stalled on a curved constraint: on the vehicle
// task (a disc obstacle, T = 30) 115 iterations instead of 49, and of 36
// pendulum problems with a quadratic limit on ω and u, 6 ended at the
// iteration limit (none with it). The curvature of a concave row, like the
// obstacle's r² − ‖p − c‖², is negative; the regularization of the
// backward pass handles it as it does the dynamics'. After each inner
// solve ν ← ν̂, and ρ grows by PenaltyFactor when the violation fell by
// less than 4.
//
// Why an augmented Lagrangian rather than interior-point DDP (Pavlov,
// Shames & Manzie 2021): its iterates need not be feasible, so any
// initial controls and any x0 can be planned from (the interior-point
// method needs a strictly feasible start or a feasibility phase); the
// control bounds stay exact in the box QP, the inner solver is the
// unconstrained one unchanged; and its limit is a KKT point with exact
// multipliers ν̂ and no barrier parameter to drive to zero, which is what
// the implicit gradient needs. The price is a linear rate in the outer
// iterations, which warm-started multipliers (Inputs.Mult0) cut.

// checkPsi sets bt's view of the constraint parameters and the multiplier
// warm start, laid out like Phi.
func (sv *Solver) checkPsi(bt *batch, in Inputs) error {
	if sv.con.C == 0 {
		if in.Psi != nil || in.Mult0 != nil {
			return badInput("Psi or Mult0 given for a problem without a constraint")
		}
		return nil
	}
	t := sv.prob.T
	var err error
	bt.psi, bt.psiStride, bt.psiStep, err = stepParams("Psi", in.Psi, sv.psi0, in.PsiPerStep, bt.b, sv.con.R, t)
	if err != nil {
		return err
	}
	if in.Mult0 != nil {
		if len(in.Mult0) != bt.b*t*sv.con.C {
			return badInput("Mult0 has length %d, want B·T·C=%d", len(in.Mult0), bt.b*t*sv.con.C)
		}
		for j, v := range in.Mult0 {
			if !(v >= 0) || math.IsInf(v, 1) {
				return badInput("Mult0[%d] = %g: multipliers must be finite and non-negative", j, v)
			}
		}
		bt.mult0 = in.Mult0
	}
	return nil
}

// psiLen is the length of one example's constraint parameters.
func (bt *batch) psiLen(r, t int) int { return stepLen(bt.psiStep, r, t) }

// psiRows returns example i's constraint parameters.
func (bt *batch) psiRows(i, r, t int) phiRows {
	return stepRows(bt.psi, bt.psiStride, bt.psiStep, i, r, t)
}

// checkExamplePsi returns what is wrong with example i's ψ, or "": the
// constraint's own domain (models.ParamChecker) at every step, or
// finiteness for a constraint without one.
func (sv *Solver) checkExamplePsi(bt *batch, i int) string {
	if sv.con.C == 0 {
		return ""
	}
	t := sv.prob.T
	rows := bt.psiRows(i, sv.con.R, t)
	pc, ok := sv.prob.Constraint.(models.ParamChecker)
	steps := 1
	if rows.step > 0 {
		steps = t
	}
	for s := 0; s < steps; s++ {
		psi := rows.at(s)
		if ok {
			if err := pc.CheckParams(psi); err != nil {
				return "Psi: " + err.Error()
			}
		} else if !allFinite(psi) {
			return "Psi contains NaN or Inf"
		}
	}
	return ""
}

// alState is a worker's augmented-Lagrangian state for the example in
// hand.
type alState struct {
	eval       models.ConstraintEvaluator
	c, r       int       // rows, parameters
	psi        phiRows   // the example's ψ
	val, jac   []float64 // T×C values, T×C×K Jacobians at the last linearization
	nu, nuHat  []float64 // T×C multipliers and their estimates ν̂ = max(0, ν+ρc)
	buf        []float64 // C
	rho        float64
	lagrangian bool // ρ = 0: the terms are νᵀc (Refresh)
}

func layoutAL(al *alState, a *arena, t, k int, con models.ConstraintDims) {
	al.c, al.r = con.C, con.R
	al.val, al.jac = a.take(t*con.C), a.take(t*con.C*k)
	al.nu, al.nuHat = a.take(t*con.C), a.take(t*con.C)
	al.buf = a.take(con.C)
}

// term returns the augmented Lagrangian's term for a row with value c and
// multiplier nu, and its derivative ν̂ in c.
func (al *alState) term(c, nu float64) (phi, nuHat float64) {
	if math.IsInf(c, -1) { // a switched-off row
		return 0, 0
	}
	if al.lagrangian {
		return nu * c, nu
	}
	p := max(nu+al.rho*c, 0)
	return (p*p - nu*nu) / (2 * al.rho), p
}

// value returns the terms of step t at (x, u).
func (al *alState) value(t int, x, u []float64) float64 {
	if al.c == 0 || t == 0 {
		return 0
	}
	al.eval.Value(al.buf, x, u, al.psi.at(t))
	var v float64
	for i, c := range al.buf {
		phi, _ := al.term(c, al.nu[t*al.c+i])
		v += phi
	}
	return v
}

// quadratize linearizes the constraint at step t, stores its value and
// Jacobian and the multiplier estimates, and adds the terms' gradient
// Σ ν̂ᵢ∇cᵢ to grad (K) and, unless the state is the Lagrangian's, their
// Hessian Σ ρ∇cᵢ∇cᵢᵀ + ν̂ᵢ∇²cᵢ to hess (K×K).
func (al *alState) quadratize(t int, grad, hess, x, u []float64) {
	if al.c == 0 || t == 0 {
		return
	}
	k := len(grad)
	val, jac := al.val[t*al.c:(t+1)*al.c], al.jac[t*al.c*k:(t+1)*al.c*k]
	nuHat := al.nuHat[t*al.c : (t+1)*al.c]
	psi := al.psi.at(t)
	al.eval.Linearize(val, jac, x, u, psi)
	active := false
	for i, c := range val {
		_, nh := al.term(c, al.nu[t*al.c+i])
		nuHat[i] = nh
		if nh == 0 {
			continue
		}
		active = true
		ji := jac[i*k : (i+1)*k]
		addRank1(grad, ji, nh)
		if al.lagrangian {
			continue
		}
		for a, ja := range ji {
			if ja != 0 {
				addRank1(hess[a*k:(a+1)*k], ji, al.rho*ja)
			}
		}
	}
	if active && !al.lagrangian {
		al.eval.Curvature(hess, nuHat, x, u, psi)
	}
}

// violation returns max_{t,i} max(0, c_{t,i}) at the last linearization.
func (al *alState) violation() float64 {
	var v float64
	for _, c := range al.val[al.c:] {
		if c > v || math.IsNaN(c) {
			v = c
		}
	}
	return v
}

// residual returns the KKT residual of the constraint at the last
// linearization: the violation, and on the satisfied rows the
// complementarity min(−c, ν̂), so that a row with a positive multiplier
// must sit on its bound.
func (al *alState) residual() float64 {
	v := al.violation()
	for i, c := range al.val[al.c:] {
		if c < 0 {
			v = max(v, min(-c, al.nuHat[al.c+i]))
		}
	}
	return v
}

// begin readies the state for example i: ψ, the multipliers from the warm
// start or zero, ρ at its initial value.
func (al *alState) begin(bt *batch, i, t int, s *Settings) {
	if al.c == 0 {
		return
	}
	al.psi = bt.psiRows(i, al.r, t)
	if bt.mult0 != nil {
		copy(al.nu, bt.mult0[i*t*al.c:(i+1)*t*al.c])
	} else {
		clear(al.nu)
	}
	clear(al.nu[:al.c]) // step 0 is not constrained
	clear(al.val)
	clear(al.nuHat)
	al.rho = s.PenaltyInit
	al.lagrangian = false
}

// looseTol is the projected-gradient bound of a Stalled stop:
// TolGradLoose, raised for an inner solve of the augmented Lagrangian to
// the round-off of its gradient, 1e-12·(1 + max ν̂): with a large penalty
// on an infeasible constraint the multiplier terms reach 1e8 and more, and
// the gradient cannot be driven below what their round-off allows. The
// outer loop calls a solve Converged only within TolGrad, and Stalled
// within this bound: a KKT point as far as round-off lets it tell, where
// another outer iteration would stall again at once.
func (w *workspace) looseTol() float64 {
	s := &w.sv.settings
	if w.al.c == 0 {
		return s.TolGradLoose
	}
	var nu float64
	for _, v := range w.al.nuHat {
		nu = max(nu, v)
	}
	return max(s.TolGradLoose, 1e-12*(1+nu))
}

// outer runs the augmented Lagrangian's outer iterations around iterate:
// an inner solve to a tolerance that tightens with the outer iterations
// (TolGrad at the end), then the multiplier update and the penalty rule.
// It ends Converged when an inner solve met TolGrad (Stalled when it
// stopped within looseTol) and the KKT residual is within TolViolation; Infeasible when
// the violation stops falling with ρ at PenaltyMax; IterationLimit after
// MaxOuter outer iterations (or MaxIter iLQR iterations in all); or with
// the inner solve's failure status.
func (w *workspace) outer(ex *example, it *iterate) float64 {
	s := &w.sv.settings
	al := &w.al
	if al.c == 0 {
		it.tol = s.TolGrad
		w.iterate(ex, it)
		return 0
	}
	prev := math.Inf(1)
	it.tol = max(s.TolGrad, 1e-4)
	for range s.MaxOuter {
		w.iterate(ex, it)
		viol, res := al.violation(), al.residual()
		if debugAL {
			println("outer", it.iters, it.status, al.rho, viol, res, it.pg, it.tol)
		}
		if !it.status.Stationary() {
			return viol
		}
		copy(al.nu, al.nuHat) // ν ← max(0, ν + ρc): the multipliers of the iterate
		if res <= s.TolViolation && it.tol <= s.TolGrad && it.pg <= w.looseTol() {
			if it.pg > s.TolGrad {
				it.status = Stalled
			}
			return viol
		}
		if res > s.TolViolation && res > 0.25*prev {
			if al.rho >= s.PenaltyMax {
				it.status = Infeasible
				return viol
			}
			al.rho = min(al.rho*s.PenaltyFactor, s.PenaltyMax)
		}
		prev = res
		it.tol = max(s.TolGrad, it.tol*0.01)
		if res <= s.TolViolation {
			it.tol = s.TolGrad
		}
		it.cost, _ = w.rollout(w.x, w.u, ex.x0, ex.theta, ex.phi)
		it.status = IterationLimit
		if it.iters >= s.MaxIter {
			return viol
		}
	}
	it.status = IterationLimit
	return al.violation()
}

var debugAL = false
