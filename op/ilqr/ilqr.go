package ilqr

import (
	"math"

	"github.com/dilqr/dilqr/models"
)

// workspace holds everything one worker needs to solve one example at a
// time: model evaluators and every per-step array, sized once for T.
type workspace struct {
	sv         *Solver
	dyn        models.DynamicsEvaluator
	contractor models.ParamContractor // dyn, when it contracts θ by reverse mode
	cost       models.CostEvaluator
	t, n, m    int

	x, u, xNew, uNew []float64 // T×N, T×M
	fx, fu           []float64 // (T−1)×N×N, (T−1)×N×M
	gz, gzz          []float64 // T×(N+M), T×(N+M)²
	lam              []float64 // T×N costates
	kff, kfb         []float64 // T×M feedforward, T×M×N feedback gains
	next, tmp        []float64 // N, max(N, M)
	lh               []float64 // (N+M)×(N+M+P), for Newton

	lo, hi []float64 // T×M bounds of the example in hand

	al    alState // the path constraint's augmented Lagrangian
	lqr   *lqrKernel
	gw    *gradScratch // gradient scratch, made on first use
	err   error        // a panic recovered in the current call
	errAt int          // the example it happened in

	alphas []float64
}

func newWorkspace(sv *Solver) *workspace {
	var count arena // a first pass sizes the worker's one allocation
	layoutWorkspace(&workspace{}, &count, sv)
	w := &workspace{sv: sv, dyn: sv.prob.Dynamics.NewEvaluator(), cost: sv.prob.Cost.NewEvaluator()}
	layoutWorkspace(w, newArena(count.off), sv)
	w.contractor, _ = w.dyn.(models.ParamContractor)
	if sv.prob.Constraint != nil {
		w.al.eval = sv.prob.Constraint.NewEvaluator()
	}
	s := sv.settings
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

// layoutWorkspace cuts w's per-step arrays and its kernel's scratch out of
// a (or only sizes them, when a is a counting arena).
func layoutWorkspace(w *workspace, a *arena, sv *Solver) {
	t, n, m := sv.prob.T, sv.dims.N, sv.dims.M
	k := n + m
	tm1 := max(t-1, 0)
	w.t, w.n, w.m = t, n, m
	w.x, w.u = a.take(t*n), a.take(t*m)
	w.xNew, w.uNew = a.take(t*n), a.take(t*m)
	w.fx, w.fu = a.take(tm1*n*n), a.take(tm1*n*m)
	w.gz, w.gzz = a.take(t*k), a.take(t*k*k)
	w.lam = a.take(t * n)
	w.kff, w.kfb = a.take(t*m), a.take(t*m*n)
	w.next, w.tmp = a.take(n), a.take(max(n, m))
	w.lh = a.take(k * (k + sv.dims.P))
	w.alphas = a.take(sv.settings.LineSearchSteps)
	w.lqr = newLQRKernel(a, t, n, m)
	layoutAL(&w.al, a, t, k, sv.con)
}

// cacheLine is the padding, in float64s, around a worker's allocation.
const cacheLine = 8

// arena hands out slices of one allocation padded by a cache line at each
// end, so that one worker's scratch shares no cache line with another's
// (the workers write theirs concurrently). An arena without a buffer only
// counts what is taken.
type arena struct {
	buf []float64
	off int
}

func newArena(n int) *arena { return &arena{buf: make([]float64, n+2*cacheLine), off: cacheLine} }

// take returns the next n float64s (nil when counting).
func (a *arena) take(n int) []float64 {
	a.off += n
	if a.buf == nil {
		return nil
	}
	return a.buf[a.off-n : a.off : a.off]
}

// paddedInts returns an empty slice of capacity n whose backing array is
// padded by a cache line at each end.
func paddedInts(n int) []int { return make([]int, n+2*cacheLine)[cacheLine : cacheLine : cacheLine+n] }

// example holds the data of the example being solved.
type example struct {
	i         int
	x0, theta []float64
	phi       phiRows
}

// iterate is the state of one solve between iterations.
type iterate struct {
	cost, pg float64 // cost and projected-gradient norm of the iterate
	tol      float64 // the projected-gradient tolerance of this solve
	mu, dmu  float64 // regularization and its multiplier
	iters    int
	status   Status
}

// solve runs iLQR on example i of bt and writes its solution into dst.
//
// From zero controls (or the warm start) projected onto the bounds, each
// iteration linearizes the dynamics and quadratizes the cost along the
// current trajectory (linearize), computes the costates and the projected
// gradient (costates), tests for convergence (stop), solves the
// box-constrained LQR for a new policy, raising μ until it succeeds
// (backwardPass), and searches along the policy for a lower cost
// (lineSearch). The stop rules are listed in the package documentation.
func (w *workspace) solve(dst *Result, bt *batch, i int) {
	n, m, t := w.n, w.m, w.t
	if bt.bad[i] {
		w.isolate(dst, bt, i)
		return
	}
	ex := example{i: i, x0: bt.x0[i*n : (i+1)*n],
		theta: row(bt.theta, bt.thetaStride, i, w.sv.dims.P),
		phi:   bt.phiRows(i, w.sv.nq, t)}
	w.lo, w.hi = bt.bounds(i, t*m)
	if bt.u0 != nil {
		copy(w.u, bt.u0[i*t*m:(i+1)*t*m])
	} else {
		clear(w.u)
	}
	for j := range w.u {
		w.u[j] = clampf(w.u[j], w.lo[j], w.hi[j])
	}
	clear(w.kff)
	w.al.begin(bt, i, t, &w.sv.settings)

	it := iterate{status: IterationLimit, mu: w.sv.settings.RegInit, dmu: 1}
	var finite bool
	var viol float64
	it.cost, finite = w.rollout(w.x, w.u, ex.x0, ex.theta, ex.phi)
	if finite {
		viol = w.outer(&ex, &it)
	} else {
		it.status = NonFinite
		it.pg = math.Inf(1)
		clear(w.lam) // no costates for a non-finite rollout
		clear(w.al.nuHat)
	}

	copy(dst.X[i*t*n:(i+1)*t*n], w.x)
	copy(dst.U[i*t*m:(i+1)*t*m], w.u)
	copy(dst.Lambda[i*t*n:(i+1)*t*n], w.lam)
	c := w.al.c
	copy(dst.Mult[i*t*c:(i+1)*t*c], w.al.nuHat)
	dst.Violation[i] = viol
	if c > 0 && finite {
		it.cost = w.pathCost(ex.phi)
	}
	dst.Cost[i] = it.cost
	dst.Status[i] = it.status
	dst.Iterations[i] = it.iters
	dst.GradNorm[i] = it.pg
	dst.Reg[i] = it.mu
}

// isolate writes the outcome of example i, whose inputs are not usable
// (Settings.IsolateNonFinite): states held at x0, zero controls and
// costates, status NonFinite.
func (w *workspace) isolate(dst *Result, bt *batch, i int) {
	n, m, t := w.n, w.m, w.t
	for s := 0; s < t; s++ {
		copy(dst.X[(i*t+s)*n:(i*t+s+1)*n], bt.x0[i*n:(i+1)*n])
	}
	clear(dst.U[i*t*m : (i+1)*t*m])
	clear(dst.Lambda[i*t*n : (i+1)*t*n])
	dst.Cost[i] = math.NaN()
	clear(dst.Mult[i*t*w.al.c : (i+1)*t*w.al.c])
	dst.Violation[i] = 0
	dst.Status[i] = NonFinite
	dst.Iterations[i] = 0
	dst.GradNorm[i] = math.Inf(1)
	dst.Reg[i] = 0
}

// iterate runs iLQR iterations from the finite trajectory in w.x, w.u
// until a stop rule ends them, and leaves the final iterate, its
// costates and its status.
func (w *workspace) iterate(ex *example, it *iterate) {
	s := &w.sv.settings
	smallChange := false
	for {
		w.linearize(ex.theta, ex.phi)
		it.pg = w.costates()
		if st, stop := w.stop(it, smallChange); stop {
			it.status = st
			return
		}
		if it.iters == s.MaxIter {
			break
		}
		if s.Newton || w.al.c > 0 { // see Settings.Newton
			w.addDynamicsCurvature(ex.theta)
		}
		it.iters++
		dv, ok := w.backwardPass(it)
		if !ok {
			if !s.ExactIter {
				it.status = RegularizationFailed
				return
			}
			it.mu = s.RegMax
			continue
		}
		// The quadratic model predicts no progress: stalled.
		if !s.ExactIter && -dv <= s.TolCost*(1+math.Abs(it.cost)) && it.pg <= w.looseTol() {
			it.status = Stalled
			return
		}
		newCost, alpha, accepted := w.lineSearch(ex, it.cost, dv)
		if s.Trace != nil {
			tc := it.cost
			if accepted {
				tc = newCost
			}
			s.Trace(TraceEvent{Example: ex.i, Iter: it.iters, Cost: tc, GradNorm: it.pg,
				Accepted: accepted, Step: alpha, Reg: it.mu})
		}
		if accepted {
			smallChange = it.cost-newCost <= s.TolCost*(1+math.Abs(newCost))
			it.cost = newCost
			w.x, w.xNew = w.xNew, w.x
			w.u, w.uNew = w.uNew, w.u
			it.mu, it.dmu = decreaseReg(it.mu, it.dmu, s)
			continue
		}
		smallChange = false
		it.mu, it.dmu = increaseReg(it.mu, it.dmu, s)
		if it.mu > s.RegMax {
			if !s.ExactIter {
				it.status = LineSearchFailed
				return // costates of the final iterate (unchanged)
			}
			it.mu = s.RegMax
		}
	}
	// MaxIter reached; the final iterate decides (ExactIter skips the
	// tests in the loop).
	if it.pg <= it.tol {
		it.status = Converged
	}
}

// stop applies the convergence tests to the iterate just linearized:
// Converged when the projected gradient is within TolGrad, Stalled when
// the last accepted step changed the cost by less than TolCost with the
// gradient within TolGradLoose. ExactIter disables both.
func (w *workspace) stop(it *iterate, smallChange bool) (Status, bool) {
	s := &w.sv.settings
	switch {
	case s.ExactIter:
		return 0, false
	case it.pg <= it.tol:
		return Converged, true
	case smallChange && it.pg <= w.looseTol():
		return Stalled, true
	}
	return 0, false
}

// backwardPass solves the box-constrained LQR of the current
// linearization for new gains, raising the regularization until every
// box QP succeeds, and returns the predicted cost change of a full step
// (ok false when μ passed RegMax).
func (w *workspace) backwardPass(it *iterate) (dv float64, ok bool) {
	s := &w.sv.settings
	d := lqrData{fx: w.fx, fu: w.fu, hzz: w.gzz, hz: w.gz}
	for {
		r := controlRule{box: true, mu: it.mu, u: w.u, lower: w.lo, upper: w.hi}
		if dv1, dv2, ok := w.lqr.backward(&d, &r, w.kfb, w.kff); ok {
			return dv1 + dv2, true
		}
		it.mu, it.dmu = increaseReg(it.mu, it.dmu, s)
		if it.mu > s.RegMax {
			return 0, false
		}
	}
}

// lineSearch rolls out the new policy with step lengths from 1 down to
// LineSearchMin and returns the first whose cost is lower than cost. When
// the predicted decrease dv is itself below round-off, cost differences
// are noise: a step that keeps the cost within round-off is taken, so the
// projected gradient can still be driven down.
func (w *workspace) lineSearch(ex *example, cost, dv float64) (newCost, alpha float64, accepted bool) {
	roundOff := costRoundOff * (1 + math.Abs(cost))
	tiny := -dv <= roundOff
	for _, a := range w.alphas {
		c, fin := w.forward(a, ex.x0, ex.theta, ex.phi)
		if fin && (c < cost || tiny && c <= cost+roundOff) {
			return c, a, true
		}
	}
	return cost, 0, false
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
func (w *workspace) rollout(x, u, x0, theta []float64, phi phiRows) (float64, bool) {
	n, m := w.n, w.m
	copy(x[:n], x0)
	var cost float64
	for t := 0; t < w.t; t++ {
		xt, ut := x[t*n:(t+1)*n], u[t*m:(t+1)*m]
		cost += w.cost.Value(xt, ut, phi.at(t)) + w.al.value(t, xt, ut)
		if t < w.t-1 {
			w.dyn.Step(x[(t+1)*n:(t+2)*n], xt, ut, theta)
		}
	}
	return cost, allFinite(x) && !math.IsNaN(cost) && !math.IsInf(cost, 0)
}

// linearize computes the dynamics Jacobians and the cost's gradient and
// Hessian along the current trajectory.
func (w *workspace) linearize(theta []float64, phi phiRows) {
	n, m := w.n, w.m
	k := n + m
	for t := 0; t < w.t; t++ {
		xt, ut := w.x[t*n:(t+1)*n], w.u[t*m:(t+1)*m]
		w.cost.Quadratize(w.gz[t*k:(t+1)*k], w.gzz[t*k*k:(t+1)*k*k], xt, ut, phi.at(t))
		w.al.quadratize(t, w.gz[t*k:(t+1)*k], w.gzz[t*k*k:(t+1)*k*k], xt, ut)
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
		lam, xt, ut := w.lam[(t+1)*n:(t+2)*n], w.x[t*n:(t+1)*n], w.u[t*m:(t+1)*m]
		h := w.gzz[t*k*k : (t+1)*k*k]
		if w.contractor != nil { // the τ block only
			w.contractor.LinearizeHessianTau(w.next, w.fx[t*n*n:(t+1)*n*n], w.fu[t*n*m:(t+1)*n*m], w.lh[:k*k], lam, xt, ut, theta)
			for i, v := range w.lh[:k*k] {
				h[i] += v
			}
			continue
		}
		w.dyn.LagrangianHessian(w.lh, lam, xt, ut, theta)
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
			d := math.Abs(u - clampf(u-r[j], w.lo[t*m+j], w.hi[t*m+j]))
			if d > pg || math.IsNaN(d) {
				pg = d
			}
		}
	}
	return pg
}

// forward rolls out u + α k + K (x̂ − x), projected onto the bounds, into
// xNew, uNew and returns its cost and whether it is finite.
func (w *workspace) forward(alpha float64, x0, theta []float64, phi phiRows) (float64, bool) {
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
			uh[j] = clampf(v, w.lo[t*m+j], w.hi[t*m+j])
		}
		cost += w.cost.Value(xh, uh, phi.at(t)) + w.al.value(t, xh, uh)
		if t < w.t-1 {
			w.dyn.Step(w.xNew[(t+1)*n:(t+2)*n], xh, uh, theta)
		}
	}
	return cost, allFinite(w.xNew) && !math.IsNaN(cost) && !math.IsInf(cost, 0)
}

// pathCost returns the cost of the trajectory in w.x, w.u without the
// constraint's terms.
func (w *workspace) pathCost(phi phiRows) float64 {
	n, m := w.n, w.m
	var c float64
	for t := 0; t < w.t; t++ {
		c += w.cost.Value(w.x[t*n:(t+1)*n], w.u[t*m:(t+1)*m], phi.at(t))
	}
	return c
}
