package ilqr

// The time-varying LQR kernel: one Riccati recursion, shared by the
// solver's backward pass and the gradient's sensitivity sweep (trajax's
// tvlqr serves its iLQR and its implicit backward pass the same way). It
// solves
//
//	minimize   Σ_t ½ δτ_tᵀ H_t δτ_t + h_tᵀ δτ_t,   δτ_t = (δx_t, δu_t)
//	subject to δx_{t+1} = A_t δx_t + B_t δu_t,      t = 0..T−2,
//
// for the affine policy δu_t = K_t δx_t + k_t, with H_t a full symmetric
// (N+M)×(N+M) matrix per step (the cost Hessian, or the Lagrangian
// Hessian) and h_t its linear term. Going backward from V_T = 0,
//
//	Q_t   = H_t + [A_t B_t]ᵀ V″_{t+1} [A_t B_t]
//	q_t   = h_t + [A_t B_t]ᵀ v′_{t+1}
//
// and the control step on (Q_uu, Q_ux, q_u) is one of two rules:
//
//   - box (the solver): k_t solves the box QP min ½kᵀ(Q_uu+μI)k + q_uᵀk
//     over lo_t ≤ k ≤ hi_t; the controls it holds on a bound get no
//     feedback.
//   - held (the gradient): the controls marked as held are fixed at 0
//     (their bound is active at the solution); the others are free, with no
//     regularization: k_f = −Q_ff⁻¹ q_f.
//
// Both give K_f = −Q_ff⁻¹ Q_ux,f on the free rows (Q_ff the free block of
// the matrix the rule factors) and zero rows on the others, and the value
// function (Tassa, Erez & Todorov, IROS 2012, eq. 11)
//
//	v′  = q_x + Kᵀ Q_uu k + Kᵀ q_u + Q_uxᵀ k
//	V″  = Q_xx + Kᵀ Q_uu K + Kᵀ Q_ux + Q_uxᵀ K.
//
// Rows for active equality constraints (state constraints held at their
// bound) would enter as one more rule acting on the same Q blocks.

// lqrData are the per-step arrays of one trajectory: A = fx ((T−1)×N×N),
// B = fu ((T−1)×N×M), H = hzz (T×K×K) and h = hz (T×K), K = N+M.
type lqrData struct {
	fx, fu, hzz, hz []float64
}

// controlRule selects the kernel's control step.
type controlRule struct {
	// box: bounded controls with regularization mu; the step k_t keeps
	// u_t + k_t within [lower_t, upper_t] (u, lower, upper: T×M).
	box             bool
	mu              float64
	u, lower, upper []float64
	// held (box false): held[t·M+j] fixes control j of step t at zero.
	held []bool
}

// lqrKernel holds the scratch of the recursion for one worker; its
// methods allocate nothing.
type lqrKernel struct {
	t, n, m int

	vx, vxx             []float64 // value function of step t+1: N, N×N
	qx, qu              []float64 // N, M
	qxx, quu, quuR, qux []float64 // N×N, M×M, M×M, M×N
	w, y, z, tmp, rhs   []float64
	qlo, qhi            []float64 // M: the step's bounds
	qp                  *boxQP
	free                []int     // free controls of the held rule
	fac                 []float64 // their Cholesky factor
}

func newLQRKernel(t, n, m int) *lqrKernel {
	return &lqrKernel{
		t: t, n: n, m: m,
		vx: make([]float64, n), vxx: make([]float64, n*n),
		qx: make([]float64, n), qu: make([]float64, m),
		qxx: make([]float64, n*n), quu: make([]float64, m*m), quuR: make([]float64, m*m),
		qux: make([]float64, m*n),
		w:   make([]float64, n*n), y: make([]float64, n*m), z: make([]float64, m*n),
		tmp: make([]float64, max(n, m)), rhs: make([]float64, m),
		qlo: make([]float64, m), qhi: make([]float64, m),
		qp:   newBoxQP(m),
		free: make([]int, 0, m), fac: make([]float64, m*m),
	}
}

// backward runs the recursion on d with the control rule r and writes the
// gains into kfb (T×M×N) and kff (T×M; for the box rule its entries on
// entry warm-start the QPs). It returns the expected change of the
// quadratic model along the policy with step length α, ΔV = α·dv1 +
// α²·dv2, and ok = false when a Q_uu block was not positive definite
// (or a box QP found no descent).
func (k *lqrKernel) backward(d *lqrData, r *controlRule, kfb, kff []float64) (dv1, dv2 float64, ok bool) {
	n, m := k.n, k.m
	clear(k.vx)
	clear(k.vxx)
	for t := k.t - 1; t >= 0; t-- {
		k.assemble(d, t)
		kt := kff[t*m : (t+1)*m]
		var free []int
		var fac []float64
		if r.box {
			free, fac, ok = k.boxStep(r, t, kt)
		} else {
			free, fac, ok = k.heldStep(r, t, kt)
		}
		if !ok {
			return 0, 0, false
		}
		// Feedback on the free controls: K_f = −Q_ff⁻¹ Q_ux,f.
		kt2 := kfb[t*m*n : (t+1)*m*n]
		clear(kt2)
		nf := len(free)
		for c := 0; c < n; c++ {
			for a, j := range free {
				k.rhs[a] = k.qux[j*n+c]
			}
			cholSolve(fac, nf, k.rhs[:nf])
			for a, j := range free {
				kt2[j*n+c] = -k.rhs[a]
			}
		}
		d1, d2 := k.value(kt, kt2)
		dv1 += d1
		dv2 += d2
	}
	return dv1, dv2, true
}

// assemble forms q_x, q_u, Q_xx, Q_uu and Q_ux of step t from H_t, h_t and
// the value function of step t+1.
func (k *lqrKernel) assemble(d *lqrData, t int) {
	n, m := k.n, k.m
	kk := n + m
	hz, hzz := d.hz[t*kk:(t+1)*kk], d.hzz[t*kk*kk:(t+1)*kk*kk]
	copy(k.qx, hz[:n])
	copy(k.qu, hz[n:])
	for i := 0; i < n; i++ {
		copy(k.qxx[i*n:(i+1)*n], hzz[i*kk:i*kk+n])
	}
	for i := 0; i < m; i++ {
		copy(k.quu[i*m:(i+1)*m], hzz[(n+i)*kk+n:(n+i+1)*kk])
		copy(k.qux[i*n:(i+1)*n], hzz[(n+i)*kk:(n+i)*kk+n])
	}
	if t == k.t-1 {
		return
	}
	fx, fu := d.fx[t*n*n:(t+1)*n*n], d.fu[t*n*m:(t+1)*n*m]
	addAtv(k.qx, fx, k.vx, n, n)
	addAtv(k.qu, fu, k.vx, n, m)
	mulAB(k.w, k.vxx, fx, n, n, n) // V″·A
	mulAB(k.y, k.vxx, fu, n, n, m) // V″·B
	addAtB(k.qxx, fx, k.w, n, n, n)
	addAtB(k.quu, fu, k.y, n, m, m)
	addAtB(k.qux, fu, k.w, n, m, n)
}

// boxStep solves the box QP of step t into kt (warm-started by its
// contents) and returns the free controls and the Cholesky factor of
// their block of Q_uu + μI.
func (k *lqrKernel) boxStep(r *controlRule, t int, kt []float64) ([]int, []float64, bool) {
	m := k.m
	copy(k.quuR, k.quu)
	for i := 0; i < m; i++ {
		k.quuR[i*m+i] += r.mu
	}
	for j := 0; j < m; j++ {
		i := t*m + j
		k.qlo[j] = r.lower[i] - r.u[i]
		k.qhi[j] = r.upper[i] - r.u[i]
	}
	if k.qp.solve(kt, k.quuR, k.qu, k.qlo, k.qhi) != qpOK {
		return nil, nil, false
	}
	return k.qp.free, k.qp.factor, true
}

// heldStep fixes the held controls of step t at zero and solves for the
// free ones, k_f = −Q_ff⁻¹ q_f.
func (k *lqrKernel) heldStep(r *controlRule, t int, kt []float64) ([]int, []float64, bool) {
	m := k.m
	k.free = k.free[:0]
	for j := 0; j < m; j++ {
		if !r.held[t*m+j] {
			k.free = append(k.free, j)
		}
	}
	nf := len(k.free)
	for a, i := range k.free {
		for b, j := range k.free {
			k.fac[a*nf+b] = k.quu[i*m+j]
		}
	}
	if !cholesky(k.fac[:nf*nf], nf) {
		return nil, nil, false
	}
	clear(kt)
	for a, j := range k.free {
		k.rhs[a] = k.qu[j]
	}
	cholSolve(k.fac, nf, k.rhs[:nf])
	for a, j := range k.free {
		kt[j] = -k.rhs[a]
	}
	return k.free, k.fac, true
}

// value updates the value function to step t's for the gains kt (M) and
// kt2 (M×N) and returns step t's terms of the expected change.
func (k *lqrKernel) value(kt, kt2 []float64) (dv1, dv2 float64) {
	n, m := k.n, k.m
	tmp := k.tmp[:m]
	copy(tmp, k.qu)
	addAv(tmp, k.quu, kt, m, m) // Q_uu k + q_u
	dv1 = dot(kt, k.qu)
	dv2 = 0.5 * (dot(kt, tmp) - dv1)
	copy(k.vx, k.qx)
	addAtv(k.vx, kt2, tmp, m, n)
	addAtv(k.vx, k.qux, kt, m, n)
	mulAB(k.z, k.quu, kt2, m, m, n) // Q_uu K
	copy(k.vxx, k.qxx)
	addAtB(k.vxx, kt2, k.z, m, n, n)
	addAtB(k.vxx, kt2, k.qux, m, n, n)
	addAtB(k.vxx, k.qux, kt2, m, n, n)
	symmetrize(k.vxx, n)
	return dv1, dv2
}
