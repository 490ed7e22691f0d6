package ilqr

// Forward-mode sensitivities: the derivative of the solution along a
// direction in the inputs, from the same linearization and LQR kernel as
// the gradient.

// Direction is a direction in the inputs of a batch. Each field is laid
// out like the corresponding field of Inputs (X0: B×N; Theta: P or B×P;
// Phi: as Inputs.Phi with the same PhiPerStep; Lower, Upper: M, T·M or
// B·T·M; Psi: as Inputs.Psi with the same PsiPerStep); a nil field is
// zero.
type Direction struct {
	X0, Theta, Phi, Lower, Upper, Psi []float64
}

// Tangent holds a Jacobian-vector product: the derivative of the solution
// (X, U) along a Direction.
type Tangent struct {
	// X holds dX: B×T×N; U holds dU: B×T×M.
	X, U []float64
	// Status says what the sweep did per example (as for Gradient; the
	// tangent of an example without GradOK, GradRegularized or
	// GradWeaklyActive is zero).
	Status []GradStatus
}

func (tg *Tangent) resize(b, tn, tm int) {
	tg.X = grow(tg.X, b*tn)
	tg.U = grow(tg.U, b*tm)
	if cap(tg.Status) < b {
		tg.Status = make([]GradStatus, b)
	}
	tg.Status = tg.Status[:b]
}

// JVP computes, for the solution sol of in (from Solve with the same
// inputs), the derivative of the solution along the direction dir: the
// Jacobian-vector product whose transpose Gradient computes. One sweep per
// example solves the linearized KKT system
//
//	min  Σ_t ½ δτ_tᵀ H_t δτ_t + (∂²(g + λᵀf)/∂τ∂θ δθ + ∂²g/∂τ∂φ δφ_t)ᵀ δτ_t
//	s.t. δx_{t+1} = A_t δx_t + B_t δu_t + ∂f/∂θ δθ,  δx_0 = δx0,
//	     δu = δb on the controls held on a bound b,
//
// the same LQR as the gradient's with a different linear term, affine
// dynamics term and initial state. opt selects the mode and the policies
// as for Gradient. With a path constraint the active rows are held as
// Gradient holds them, moving with ψ: c_ψ δψ + C δτ = 0 (see active.go).
func (sv *Solver) JVP(dst *Tangent, sol *Result, in Inputs, dir Direction, opt GradOptions) error {
	bt, err := sv.checkSolved(sol, in)
	if err != nil {
		return err
	}
	d, t := sv.dims, sv.prob.T
	dv, err := sv.checkDirection(dir, &bt)
	if err != nil {
		return err
	}
	if opt.Mode > FixedPoint || opt.Unconverged > GradientAnyway || opt.Indefinite > RegularizeIndefinite {
		return badInput("jvp: unknown mode %d or policy %d/%d", opt.Mode, opt.Unconverged, opt.Indefinite)
	}
	if sv.con.C > 0 && len(sol.Mult) != bt.b*t*sv.con.C {
		return badInput("jvp: the solution has %d multipliers, want B·T·C=%d", len(sol.Mult), bt.b*t*sv.con.C)
	}
	dst.resize(bt.b, t*d.N, t*d.M)
	sv.ensureGradScratch()
	sv.job = job{kind: jobJVP, bt: bt, res: sol, tangent: dst, dir: dv, opt: opt}
	return sv.parallel(bt.b)
}

// direction is a checked Direction with the strides of its fields.
type direction struct {
	x0, theta, phi, lower, upper, psi []float64
	thetaStride, phiStride, psiStride int
	boundStride                       int
	boundShared                       bool // M or T·M: expanded to T·M in lower, upper
}

// checkDirection checks dir's lengths against the batch bt.
func (sv *Solver) checkDirection(dir Direction, bt *batch) (direction, error) {
	n, m, p, t := sv.dims.N, sv.dims.M, sv.dims.P, sv.prob.T
	var dv direction
	var err error
	if dir.X0 != nil && len(dir.X0) != bt.b*n {
		return dv, badInput("jvp: direction X0 has length %d, want B·N=%d", len(dir.X0), bt.b*n)
	}
	dv.x0 = dir.X0
	if dir.Theta != nil {
		if dv.theta, dv.thetaStride, err = perExample("direction Theta", dir.Theta, nil, bt.b, p); err != nil {
			return dv, err
		}
	}
	if dir.Phi != nil {
		q := bt.phiLen(sv.nq, t)
		if dv.phi, dv.phiStride, err = perExample("direction Phi", dir.Phi, nil, bt.b, q); err != nil {
			return dv, err
		}
	}
	if dir.Psi != nil {
		if sv.con.C == 0 {
			return dv, badInput("jvp: direction Psi for a problem without a constraint")
		}
		if dv.psi, dv.psiStride, err = perExample("direction Psi", dir.Psi, nil, bt.b, bt.psiLen(sv.con.R, t)); err != nil {
			return dv, err
		}
	}
	for k, b := range []*[]float64{&dir.Lower, &dir.Upper} {
		v := *b
		switch len(v) {
		case 0:
		case m, t * m:
			e, err := expandBoundsInto(sv.expandedBuf(2+k), "direction bound", v, t, m)
			if err != nil {
				return dv, err
			}
			*b = e
		case bt.b * t * m:
			dv.boundStride = t * m
		default:
			return dv, badInput("jvp: direction bound has length %d, want M, T·M or B·T·M", len(v))
		}
	}
	if dv.boundStride != 0 && (len(dir.Lower) == t*m || len(dir.Upper) == t*m) {
		return dv, badInput("jvp: direction Lower and Upper must have the same layout")
	}
	dv.lower, dv.upper = dir.Lower, dir.Upper
	for _, v := range [][]float64{dv.x0, dv.theta, dv.phi, dv.lower, dv.upper, dv.psi} {
		if !allFinite(v) {
			return dv, badInput("jvp: direction contains NaN or Inf")
		}
	}
	return dv, nil
}

// jvp runs the tangent sweep for example i.
func (w *workspace) jvp(dst *Tangent, sol *Result, bt *batch, i int, dv *direction, opt GradOptions) {
	g := w.gw
	n, m, t := w.n, w.m, w.t
	k := n + m
	dX, dU := dst.X[i*t*n:(i+1)*t*n], dst.U[i*t*m:(i+1)*t*m]
	clear(dX)
	clear(dU)
	if st, skip := w.sweepable(sol, bt, i, opt); skip {
		dst.Status[i] = st
		return
	}
	sol1, theta, phi := w.example(sol, bt, i)
	w.stageDerivatives(&sol1, theta, phi, opt.Mode, true)
	weak := false
	if c := w.al.c; c > 0 {
		sol1.mult = sol.Mult[i*t*c : (i+1)*t*c]
		weak = w.constraintDerivatives(&sol1, sol1.mult, opt.Mode == Implicit)
	}
	w.holdBounds(sol1.u)
	w.tangentTerms(&sol1, dv, i, phi.step > 0)
	var x0 []float64 // δx0, nil for zero
	if dv.x0 != nil {
		x0 = dv.x0[i*n : (i+1)*n]
	}
	st := w.tangentSweep(&sol1, dv, i, x0, opt.Indefinite)
	if st != GradOK && st != GradRegularized {
		dst.Status[i] = st
		return
	}
	if weak && st == GradOK {
		st = GradWeaklyActive
	}
	for s := 0; s < t; s++ {
		copy(dX[s*n:(s+1)*n], g.d[s*k:s*k+n])
		copy(dU[s*m:(s+1)*m], g.d[s*k+n:(s+1)*k])
		for j := 0; j < m; j++ {
			if g.held[s*m+j] {
				dU[s*m+j] = g.db[s*m+j]
			}
		}
	}
	if !allFinite(dX) || !allFinite(dU) {
		clear(dX)
		clear(dU)
		st = GradNonFinite
	}
	dst.Status[i] = st
}

// tangentTerms fills the sweep's linear terms hz and affine dynamics
// terms c for the direction dv of example i, and g.db with the
// perturbations of the held controls (their bound's direction), whose
// effect it folds into hz and c.
func (w *workspace) tangentTerms(sol *solution, dv *direction, i int, perStep bool) {
	g := w.gw
	n, m, t := w.n, w.m, w.t
	k, p, q := n+m, w.sv.dims.P, w.sv.nq
	var dth, dph []float64
	if dv.theta != nil {
		dth = row(dv.theta, dv.thetaStride, i, p)
	}
	if dv.phi != nil {
		ql := q
		if perStep {
			ql = t * q
		}
		dph = row(dv.phi, dv.phiStride, i, ql)
	}
	var dlo, dhi []float64
	if dv.lower != nil {
		dlo = row(dv.lower, dv.boundStride, i, t*m)
	}
	if dv.upper != nil {
		dhi = row(dv.upper, dv.boundStride, i, t*m)
	}
	clear(g.hz)
	clear(g.c)
	for s := 0; s < t; s++ {
		hz := g.hz[s*k : (s+1)*k]
		if dph != nil {
			ph := dph
			if perStep {
				ph = dph[s*q : (s+1)*q]
			}
			addAv(hz, g.gphi[s*k*q:(s+1)*k*q], ph, k, q)
		}
		if dth != nil && s < t-1 {
			lh := g.lh[s*k*(k+p) : (s+1)*k*(k+p)]
			for r := 0; r < k; r++ {
				hz[r] += dot(lh[r*(k+p)+k:(r+1)*(k+p)], dth)
			}
			addAv(g.c[s*n:(s+1)*n], g.ft[s*n*p:(s+1)*n*p], dth, n, p)
		}
		// Held controls move with their bound: δu_h = δb_h.
		hs := g.h[s*k*k : (s+1)*k*k]
		for j := 0; j < m; j++ {
			idx := s*m + j
			g.db[idx] = 0
			if !g.held[idx] {
				continue
			}
			switch {
			case sol.u[idx] <= w.lo[idx] && dlo != nil:
				g.db[idx] = dlo[idx]
			case sol.u[idx] >= w.hi[idx] && dhi != nil:
				g.db[idx] = dhi[idx]
			}
			if db := g.db[idx]; db != 0 {
				for r := 0; r < k; r++ {
					hz[r] += hs[r*k+n+j] * db
				}
				if s < t-1 {
					fu := w.fu[s*n*m : (s+1)*n*m]
					for a := 0; a < n; a++ {
						g.c[s*n+a] += fu[a*m+j] * db
					}
				}
			}
		}
	}
}

// tangentSweep solves the tangent's LQR on the terms tangentTerms left in
// g.hz, g.c and g.db, from δx0 = x0 (nil: zero), and leaves the solution
// in g.d. With a constraint, the active rows are held at
// C δτ = −c_ψ δψ − C_h δb (C_h their columns of the held controls, which
// d leaves at zero) and the ψ direction adds Σ_i ν_i ∂²c_i/∂τ∂ψ δψ to the
// linear term.
func (w *workspace) tangentSweep(sol *solution, dv *direction, i int, x0 []float64, policy IndefinitePolicy) GradStatus {
	g := w.gw
	d := lqrData{fx: w.fx, fu: w.fu, hzz: g.h, hz: g.hz, c: g.c}
	if w.al.c == 0 {
		st := w.heldSweep(&d, policy)
		if st == GradOK || st == GradRegularized {
			clear(g.d[:w.n])
			if x0 != nil {
				copy(g.d[:w.n], x0)
			}
			w.sweepForward(g.c)
		}
		return st
	}
	e := w.tangentRows(sol, dv, i)
	st := w.augmentedSweep(&d, policy, e)
	if st != GradOK && st != GradRegularized {
		return st
	}
	if cst := w.constrainedSweep(&controlRule{held: g.held, mu: g.mu, keep: g.con.factors}, x0, g.c, e); cst != GradOK {
		return cst
	}
	return st
}

// tangentRows adds the ψ direction's terms to g.hz and returns the
// active rows' targets e = −c_ψ δψ − C_h δb (in the scratch).
func (w *workspace) tangentRows(sol *solution, dv *direction, i int) []float64 {
	g, cs, al := w.gw, w.gw.con, &w.al
	n, m, t, c, r := w.n, w.m, w.t, al.c, al.r
	k := n + m
	a := len(cs.active)
	if cap(cs.e) < a {
		cs.e = make([]float64, a)
	}
	e := cs.e[:a]
	clear(e)
	var dpsi []float64
	if dv.psi != nil {
		dpsi = row(dv.psi, dv.psiStride, i, len(al.psi.phi))
	}
	j := 0 // the first active row of step s (rows are listed by step)
	for s := 1; s < t && dpsi != nil; s++ {
		ds := dpsi
		if al.psi.step > 0 {
			ds = dpsi[s*r : (s+1)*r]
		}
		al.eval.ParamDerivatives(cs.cpsi, cs.cmix, cs.nuHat[s*c:(s+1)*c], sol.x[s*n:(s+1)*n], sol.u[s*m:(s+1)*m], al.psi.at(s))
		addAv(g.hz[s*k:(s+1)*k], cs.cmix, ds, k, r)
		for ; j < a && cs.active[j]/c == s; j++ {
			row := cs.active[j] % c
			e[j] = -dot(cs.cpsi[row*r:(row+1)*r], ds)
		}
	}
	for j, ri := range cs.active {
		s := ri / c
		jac := cs.jac[ri*k : (ri+1)*k]
		for q := 0; q < m; q++ {
			if g.held[s*m+q] {
				e[j] -= jac[n+q] * g.db[s*m+q]
			}
		}
	}
	return e
}
