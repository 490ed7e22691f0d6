package ilqr

import (
	"math"

	"github.com/dilqr/dilqr/models"
)

// workspace holds everything one worker needs to solve one example at a
// time: model evaluators and every per-step array, sized once for T.
type workspace struct {
	sv      *Solver
	dyn     models.DynamicsEvaluator
	cost    models.CostEvaluator
	t, n, m int

	x, u, xNew, uNew []float64 // T×N, T×M
	fx, fu           []float64 // (T−1)×N×N, (T−1)×N×M
	gz, gzz          []float64 // T×(N+M), T×(N+M)²
	lam              []float64 // T×N costates
	kff, kfb         []float64 // T×M feedforward, T×M×N feedback gains
	next             []float64 // N

	// Backward-pass scratch.
	vx, vxx, qx, qu, qxx, quu, quuR, qux []float64
	w, y, z, tmp, qlo, qhi, rhs          []float64
	qp                                   *boxQP
	lh                                   []float64 // (N+M)×(N+M+P), for Newton

	gw *gradScratch // gradient scratch, made on first use

	alphas []float64
}

func newWorkspace(sv *Solver) *workspace {
	t, n, m := sv.prob.T, sv.dims.N, sv.dims.M
	k := n + m
	tm1 := max(t-1, 0)
	w := &workspace{
		sv: sv, dyn: sv.prob.Dynamics.NewEvaluator(), cost: sv.prob.Cost.NewEvaluator(),
		t: t, n: n, m: m,
		x: make([]float64, t*n), u: make([]float64, t*m),
		xNew: make([]float64, t*n), uNew: make([]float64, t*m),
		fx: make([]float64, tm1*n*n), fu: make([]float64, tm1*n*m),
		gz: make([]float64, t*k), gzz: make([]float64, t*k*k),
		lam: make([]float64, t*n),
		kff: make([]float64, t*m), kfb: make([]float64, t*m*n),
		next: make([]float64, n),
		vx:   make([]float64, n), vxx: make([]float64, n*n),
		qx: make([]float64, n), qu: make([]float64, m),
		qxx: make([]float64, n*n), quu: make([]float64, m*m), quuR: make([]float64, m*m),
		qux: make([]float64, m*n),
		w:   make([]float64, n*n), y: make([]float64, n*m), z: make([]float64, m*n),
		tmp: make([]float64, max(n, m)), qlo: make([]float64, m), qhi: make([]float64, m),
		rhs: make([]float64, m),
		qp:  newBoxQP(m),
		lh:  make([]float64, k*(k+sv.dims.P)),
	}
	s := sv.settings
	w.alphas = make([]float64, s.LineSearchSteps)
	for i := range w.alphas {
		if s.LineSearchSteps == 1 {
			w.alphas[i] = 1
			break
		}
		// 10^linspace(0, log10(min), steps), as in Tassa et al.
		w.alphas[i] = math.Pow(s.LineSearchMin, float64(i)/float64(s.LineSearchSteps-1))
	}
	return w
}

// solve runs iLQR on example i of bt and writes its solution into dst.
func (w *workspace) solve(dst *Result, bt *batch, i int) {
	n, m, t := w.n, w.m, w.t
	s := &w.sv.settings
	x0 := bt.x0[i*n : (i+1)*n]
	theta := row(bt.theta, bt.thetaStride, i, w.sv.dims.P)
	phi := row(bt.phi, bt.phiStride, i, w.sv.nq)

	if bt.u0 != nil {
		copy(w.u, bt.u0[i*t*m:(i+1)*t*m])
	} else {
		clear(w.u)
	}
	for j := range w.u {
		w.u[j] = clampf(w.u[j], w.sv.lower[j], w.sv.upper[j])
	}
	clear(w.kff)

	status := IterationLimit
	iters := 0
	mu, dmu := s.RegInit, 1.0
	cost, finite := w.rollout(w.x, w.u, x0, theta, phi)
	var pg float64
	if !finite {
		status = NonFinite
		pg = math.Inf(1)
		clear(w.lam) // no costates for a non-finite rollout
	} else {
		smallChange := false
		for {
			w.linearize(theta, phi)
			pg = w.costates()
			if !s.ExactIter && (pg <= s.TolGrad || smallChange && pg <= s.TolGradLoose) {
				status = Converged
				break
			}
			if iters == s.MaxIter {
				break
			}
			if s.Newton {
				w.addDynamicsCurvature(theta)
			}
			iters++
			// Backward pass, raising μ until Q_uu is positive definite.
			var dv1, dv2 float64
			ok := false
			for {
				if dv1, dv2, ok = w.backward(mu); ok {
					break
				}
				mu, dmu = increaseReg(mu, dmu, s)
				if mu > s.RegMax {
					break
				}
			}
			if !ok {
				if !s.ExactIter {
					status = RegularizationFailed
					break
				}
				mu = s.RegMax
				continue
			}
			// Expected reduction negligible and gradient small: converged.
			if !s.ExactIter && -(dv1+dv2) <= s.TolCost*(1+math.Abs(cost)) && pg <= s.TolGradLoose {
				status = Converged
				break
			}
			// Backtracking line search on the actual cost. When the model's
			// predicted decrease is itself below round-off, cost differences
			// are noise: a step that keeps the cost within round-off is
			// taken, so the projected gradient can still be driven down.
			roundOff := costRoundOff * (1 + math.Abs(cost))
			tiny := -(dv1 + dv2) <= roundOff
			accepted := false
			var newCost float64
			for _, a := range w.alphas {
				c, fin := w.forward(a, x0, theta, phi)
				if fin && (c < cost || tiny && c <= cost+roundOff) {
					newCost, accepted = c, true
					break
				}
			}
			if s.Trace != nil {
				tc := cost
				if accepted {
					tc = newCost
				}
				s.Trace(i, iters, tc, pg, accepted)
			}
			if accepted {
				smallChange = cost-newCost <= s.TolCost*(1+math.Abs(newCost))
				cost = newCost
				w.x, w.xNew = w.xNew, w.x
				w.u, w.uNew = w.uNew, w.u
				mu, dmu = decreaseReg(mu, dmu, s)
				continue
			}
			smallChange = false
			mu, dmu = increaseReg(mu, dmu, s)
			if mu > s.RegMax {
				if !s.ExactIter {
					status = LineSearchFailed
					// Report costates of the final iterate (unchanged).
					break
				}
				mu = s.RegMax
			}
		}
		if status == IterationLimit && pg <= s.TolGrad {
			status = Converged
		}
	}

	copy(dst.X[i*t*n:(i+1)*t*n], w.x)
	copy(dst.U[i*t*m:(i+1)*t*m], w.u)
	copy(dst.Lambda[i*t*n:(i+1)*t*n], w.lam)
	dst.Cost[i] = cost
	dst.Status[i] = status
	dst.Iterations[i] = iters
	dst.GradNorm[i] = pg
	dst.Reg[i] = mu
}

// costRoundOff is the relative size below which two costs of a rollout are
// not told apart: about 500 ulps, for sums of T stage costs.
const costRoundOff = 1e-13

// increaseReg and decreaseReg follow the schedule of Tassa, Erez & Todorov
// (IROS 2012, Sec. II-F): the multiplier δ grows geometrically so repeated
// failures raise μ quickly, and successes lower it the same way.
func increaseReg(mu, dmu float64, s *Settings) (float64, float64) {
	dmu = max(dmu*s.RegFactor, s.RegFactor)
	return max(mu*dmu, s.RegMin), dmu
}

func decreaseReg(mu, dmu float64, s *Settings) (float64, float64) {
	dmu = min(dmu/s.RegFactor, 1/s.RegFactor)
	mu *= dmu
	if mu < s.RegMin {
		mu = 0
	}
	return mu, dmu
}

// rollout simulates u from x0 into x and returns the total cost and whether
// every state and the cost are finite.
func (w *workspace) rollout(x, u, x0, theta, phi []float64) (float64, bool) {
	n, m := w.n, w.m
	copy(x[:n], x0)
	var cost float64
	for t := 0; t < w.t; t++ {
		xt, ut := x[t*n:(t+1)*n], u[t*m:(t+1)*m]
		cost += w.cost.Value(xt, ut, phi)
		if t < w.t-1 {
			w.dyn.Step(x[(t+1)*n:(t+2)*n], xt, ut, theta)
		}
	}
	return cost, allFinite(x) && !math.IsNaN(cost) && !math.IsInf(cost, 0)
}

// linearize computes the dynamics Jacobians and the cost's gradient and
// Hessian along the current trajectory.
func (w *workspace) linearize(theta, phi []float64) {
	n, m := w.n, w.m
	k := n + m
	for t := 0; t < w.t; t++ {
		xt, ut := w.x[t*n:(t+1)*n], w.u[t*m:(t+1)*m]
		w.cost.Quadratize(w.gz[t*k:(t+1)*k], w.gzz[t*k*k:(t+1)*k*k], xt, ut, phi)
		if t < w.t-1 {
			w.dyn.Linearize(w.next, w.fx[t*n*n:(t+1)*n*n], w.fu[t*n*m:(t+1)*n*m], xt, ut, theta)
		}
	}
}

// addDynamicsCurvature adds Σ_i λ_{t+1,i} ∇²_ττ f_i to the cost Hessians of
// the current linearization, turning the Gauss-Newton model into the exact
// second-order one (Newton's method on J(U), with the costates of the
// current trajectory; Dunn & Bertsekas, JOTA 1989).
func (w *workspace) addDynamicsCurvature(theta []float64) {
	n, m := w.n, w.m
	k, p := n+m, w.sv.dims.P
	for t := 0; t < w.t-1; t++ {
		w.dyn.LagrangianHessian(w.lh, w.lam[(t+1)*n:(t+2)*n], w.x[t*n:(t+1)*n], w.u[t*m:(t+1)*m], theta)
		h := w.gzz[t*k*k : (t+1)*k*k]
		for r := 0; r < k; r++ {
			hr, lr := h[r*k:(r+1)*k], w.lh[r*(k+p):r*(k+p)+k]
			for c := range hr {
				hr[c] += lr[c]
			}
		}
	}
}

// costates runs the adjoint sweep λ_{T-1} = ∇_x g, λ_t = ∇_x g_t + f_xᵀλ_{t+1}
// and returns the ∞-norm of the projected gradient u − Π(u − ∇_U J), where
// ∇_{u_t} J = ∇_u g_t + f_uᵀλ_{t+1}.
func (w *workspace) costates() float64 {
	n, m := w.n, w.m
	k := n + m
	var pg float64
	for t := w.t - 1; t >= 0; t-- {
		lt := w.lam[t*n : (t+1)*n]
		copy(lt, w.gz[t*k:t*k+n])
		r := w.tmp[:m]
		copy(r, w.gz[t*k+n:(t+1)*k])
		if t < w.t-1 {
			ln := w.lam[(t+1)*n : (t+2)*n]
			addAtv(lt, w.fx[t*n*n:(t+1)*n*n], ln, n, n)
			addAtv(r, w.fu[t*n*m:(t+1)*n*m], ln, n, m)
		}
		for j := 0; j < m; j++ {
			u := w.u[t*m+j]
			d := math.Abs(u - clampf(u-r[j], w.sv.lower[t*m+j], w.sv.upper[t*m+j]))
			if d > pg || math.IsNaN(d) {
				pg = d
			}
		}
	}
	return pg
}

// backward runs the control-limited Riccati recursion with regularization
// μ on Q_uu. It fills the gains kff, kfb and returns the expected cost
// change terms ΔV = α·dv1 + α²·dv2, or ok=false when a box QP met an
// indefinite Q_uu.
func (w *workspace) backward(mu float64) (dv1, dv2 float64, ok bool) {
	n, m := w.n, w.m
	k := n + m
	clear(w.vx)
	clear(w.vxx)
	for t := w.t - 1; t >= 0; t-- {
		gz, gzz := w.gz[t*k:(t+1)*k], w.gzz[t*k*k:(t+1)*k*k]
		copy(w.qx, gz[:n])
		copy(w.qu, gz[n:])
		for i := 0; i < n; i++ {
			copy(w.qxx[i*n:(i+1)*n], gzz[i*k:i*k+n])
		}
		for i := 0; i < m; i++ {
			copy(w.quu[i*m:(i+1)*m], gzz[(n+i)*k+n:(n+i+1)*k])
			copy(w.qux[i*n:(i+1)*n], gzz[(n+i)*k:(n+i)*k+n])
		}
		if t < w.t-1 {
			fx, fu := w.fx[t*n*n:(t+1)*n*n], w.fu[t*n*m:(t+1)*n*m]
			addAtv(w.qx, fx, w.vx, n, n)
			addAtv(w.qu, fu, w.vx, n, m)
			mulAB(w.w, w.vxx, fx, n, n, n) // Vxx·fx
			mulAB(w.y, w.vxx, fu, n, n, m) // Vxx·fu
			addAtB(w.qxx, fx, w.w, n, n, n)
			addAtB(w.quu, fu, w.y, n, m, m)
			addAtB(w.qux, fu, w.w, n, m, n)
		}
		copy(w.quuR, w.quu)
		for i := 0; i < m; i++ {
			w.quuR[i*m+i] += mu
		}
		ut := w.u[t*m : (t+1)*m]
		for j := 0; j < m; j++ {
			w.qlo[j] = w.sv.lower[t*m+j] - ut[j]
			w.qhi[j] = w.sv.upper[t*m+j] - ut[j]
		}
		kt := w.kff[t*m : (t+1)*m]
		if w.qp.solve(kt, w.quuR, w.qu, w.qlo, w.qhi) != qpOK {
			return 0, 0, false
		}
		// Feedback on the free controls: K_f = −(Q_uu,ff)⁻¹ Q_ux,f.
		kt2 := w.kfb[t*m*n : (t+1)*m*n]
		clear(kt2)
		nf := len(w.qp.free)
		for c := 0; c < n; c++ {
			for a, j := range w.qp.free {
				w.rhs[a] = w.qux[j*n+c]
			}
			cholSolve(w.qp.factor, nf, w.rhs[:nf])
			for a, j := range w.qp.free {
				kt2[j*n+c] = -w.rhs[a]
			}
		}
		// Expected change and value function (Tassa et al. 2012, eq. 11).
		tmp := w.tmp[:m]
		copy(tmp, w.qu)
		addAv(tmp, w.quu, kt, m, m) // Q_uu k + Q_u
		dv1 += dot(kt, w.qu)
		dv2 += 0.5 * (dot(kt, tmp) - dot(kt, w.qu))
		copy(w.vx, w.qx)
		addAtv(w.vx, kt2, tmp, m, n)
		addAtv(w.vx, w.qux, kt, m, n)
		mulAB(w.z, w.quu, kt2, m, m, n) // Q_uu K
		copy(w.vxx, w.qxx)
		addAtB(w.vxx, kt2, w.z, m, n, n)
		addAtB(w.vxx, kt2, w.qux, m, n, n)
		addAtB(w.vxx, w.qux, kt2, m, n, n)
		symmetrize(w.vxx, n)
	}
	return dv1, dv2, true
}

// forward rolls out u + α k + K (x̂ − x), projected onto the bounds, into
// xNew, uNew and returns its cost and whether it is finite.
func (w *workspace) forward(alpha float64, x0, theta, phi []float64) (float64, bool) {
	n, m := w.n, w.m
	copy(w.xNew[:n], x0)
	var cost float64
	for t := 0; t < w.t; t++ {
		xt, xh := w.x[t*n:(t+1)*n], w.xNew[t*n:(t+1)*n]
		kfb := w.kfb[t*m*n : (t+1)*m*n]
		uh := w.uNew[t*m : (t+1)*m]
		for j := 0; j < m; j++ {
			v := w.u[t*m+j] + alpha*w.kff[t*m+j]
			row := kfb[j*n : (j+1)*n]
			for l, kl := range row {
				v += kl * (xh[l] - xt[l])
			}
			uh[j] = clampf(v, w.sv.lower[t*m+j], w.sv.upper[t*m+j])
		}
		cost += w.cost.Value(xh, uh, phi)
		if t < w.t-1 {
			w.dyn.Step(w.xNew[(t+1)*n:(t+2)*n], xh, uh, theta)
		}
	}
	return cost, allFinite(w.xNew) && !math.IsNaN(cost) && !math.IsInf(cost, 0)
}
