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
//	q_t   = h_t + [A_t B_t]ᵀ (v′_{t+1} + V″_{t+1} c_t)
//
// (c_t an optional affine term of the dynamics, zero in the solver)
//
// and the control step on (Q_uu, Q_ux, q_u) is one of two rules:
//
//   - box (the solver): k_t solves the box QP min ½kᵀ(Q_uu+μI)k + q_uᵀk
//     over lo_t ≤ k ≤ hi_t; the controls it holds on a bound get no
//     feedback.
//   - held (the gradient): the controls marked as held are fixed at 0
//     (their bound is active at the solution); the others are free:
//     k_f = −(Q_ff + μI)⁻¹ q_f, with μ = 0 unless the gradient regularizes
//     an indefinite sweep.
//
// Both give K_f = −Q_ff⁻¹ Q_ux,f on the free rows (Q_ff the free block of
// the matrix the rule factors) and zero rows on the others, and the value
// function (Tassa, Erez & Todorov, IROS 2012, eq. 11)
//
//	v′  = q_x + Kᵀ Q_uu k + Kᵀ q_u + Q_uxᵀ k
//	V″  = Q_xx + Kᵀ Q_uu K + Kᵀ Q_ux + Q_uxᵀ K,
//
// which for the held rule (no regularization, k and K solving the free
// block exactly) reduces to v′ = q_x + Q_uxᵀ k, V″ = Q_xx + Q_uxᵀ K.
//
// Rows for active equality constraints (state constraints held at their
// bound) would enter as one more rule acting on the same Q blocks.

// lqrData are the per-step arrays of one trajectory: A = fx ((T−1)×N×N),
// B = fu ((T−1)×N×M), H = hzz (T×K×K, symmetric) and h = hz (T×K),
// K = N+M.
type lqrData struct {
	fx, fu, hzz, hz []float64
	// c, when not nil, is an affine term of the dynamics ((T−1)×N):
	// δx_{t+1} = A_t δx_t + B_t δu_t + c_t.
	c []float64
}

// controlRule selects the kernel's control step.
type controlRule struct {
	// box: bounded controls with regularization mu; the step k_t keeps
	// u_t + k_t within [lower_t, upper_t] (u, lower, upper: T×M).
	box             bool
	mu              float64
	u, lower, upper []float64
	// held (box false): held[t·M+j] fixes control j of step t at zero; mu,
	// when positive, is added to the free block of Q_uu.
	held []bool
	// keep, when not nil, receives the held rule's factorizations, for
	// linearPass.
	keep *heldFactors
}

// heldFactors are the per-step Cholesky factors of Q_ff and the free
// controls of a held-rule sweep: with the gains K, all that a rerun of the
// recursion for another linear term needs.
type heldFactors struct {
	fac  []float64 // T×M×M: step t's factor in its first nf_t² entries
	free []int     // T×M: step t's free controls in its first nf_t entries
	nf   []int     // T
}

func newHeldFactors(t, m int) *heldFactors {
	return &heldFactors{fac: make([]float64, t*m*m), free: make([]int, t*m), nf: make([]int, t)}
}

// lqrKernel holds the scratch of the recursion for one worker; its
// methods allocate nothing. Q (K×K) and q (K) hold the stage's quadratic
// model in the order τ = (x, u): Q_xx is its top-left N×N block, Q_ux the
// M×N block below it, Q_uu the bottom-right M×M block.
type lqrKernel struct {
	t, n, m int

	vx, vxx   []float64 // value function of step t+1: N, N×N
	q, qq     []float64 // K, K×K: the stage's q and Q
	vf        []float64 // N×K: V″·[A B]
	quu, quuR []float64 // M×M: Q_uu and Q_uu + μI for the box QP
	tmp, rhs  []float64 // M
	z         []float64 // M×N
	qlo, qhi  []float64 // M: the step's bounds
	qp        *boxQP
	free      []int     // free controls of the held rule
	fac       []float64 // their Cholesky factor
}

func newLQRKernel(a *arena, t, n, m int) *lqrKernel {
	k := n + m
	return &lqrKernel{
		t: t, n: n, m: m,
		vx: a.take(n), vxx: a.take(n * n),
		q: a.take(k), qq: a.take(k * k), vf: a.take(n * k),
		quu: a.take(m * m), quuR: a.take(m * m),
		tmp: a.take(m), rhs: a.take(m), z: a.take(m * n),
		qlo: a.take(m), qhi: a.take(m),
		qp:   boxQPIn(a, m),
		free: paddedInts(m), fac: a.take(m * m),
	}
}

// backward runs the recursion on d with the control rule r and writes the
// gains into kfb (T×M×N) and kff (T×M; for the box rule its entries on
// entry warm-start the QPs). It returns the expected change of the
// quadratic model along the policy with step length α, ΔV = α·dv1 +
// α²·dv2 (box rule only), and ok = false when a Q_uu block was not
// positive definite (or a box QP found no descent).
func (k *lqrKernel) backward(d *lqrData, r *controlRule, kfb, kff []float64) (dv1, dv2 float64, ok bool) {
	n, m := k.n, k.m
	kk := n + m
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
				k.rhs[a] = k.qq[(n+j)*kk+c]
			}
			cholSolve(fac, nf, k.rhs[:nf])
			for a, j := range free {
				kt2[j*n+c] = -k.rhs[a]
			}
		}
		if r.box || r.mu > 0 {
			d1, d2 := k.value(kt, kt2)
			dv1 += d1
			dv2 += d2
		} else {
			k.valueHeld(kt, kt2)
		}
	}
	return dv1, dv2, true
}

// assemble forms the stage model of step t, Q = H_t + Fᵀ V″ F and
// q = h_t + Fᵀ v′ with F = [A_t B_t] and the value function of step t+1
// (F is zero at the last step). Q is symmetric: its upper triangle is
// computed and mirrored, so only the upper triangle of H_t is read.
func (k *lqrKernel) assemble(d *lqrData, t int) {
	n, m := k.n, k.m
	kk := n + m
	copy(k.q, d.hz[t*kk:(t+1)*kk])
	copy(k.qq, d.hzz[t*kk*kk:(t+1)*kk*kk])
	if t == k.t-1 {
		return
	}
	fx, fu := d.fx[t*n*n:(t+1)*n*n], d.fu[t*n*m:(t+1)*n*m]
	// vf = V″·F, row by row; q += Fᵀ v′.
	for r := 0; r < n; r++ {
		vr := k.vf[r*kk : (r+1)*kk]
		clear(vr)
		for s, v := range k.vxx[r*n : (r+1)*n] {
			if v == 0 {
				continue
			}
			for j, a := range fx[s*n : (s+1)*n] {
				vr[j] += v * a
			}
			for j, b := range fu[s*m : (s+1)*m] {
				vr[n+j] += v * b
			}
		}
		g := k.vx[r]
		if d.c != nil { // v′ + V″c_t
			g += dot(k.vxx[r*n:(r+1)*n], d.c[t*n:(t+1)*n])
		}
		if g != 0 {
			for j, a := range fx[r*n : (r+1)*n] {
				k.q[j] += a * g
			}
			for j, b := range fu[r*m : (r+1)*m] {
				k.q[n+j] += b * g
			}
		}
	}
	// Q += Fᵀ·vf: entry (i, j) is Σ_s F[s][i] vf[s][j]; F's column i is
	// column i of A (i < N) or column i−N of B.
	for i := 0; i < kk; i++ {
		col, stride := fx[i:], n
		if i >= n {
			col, stride = fu[i-n:], m
		}
		qi := k.qq[i*kk : (i+1)*kk]
		for s := 0; s < n; s++ {
			fi := col[s*stride]
			if fi == 0 {
				continue
			}
			vs := k.vf[s*kk : (s+1)*kk]
			for j := i; j < kk; j++ {
				qi[j] += fi * vs[j]
			}
		}
		for j := i + 1; j < kk; j++ { // mirror the upper triangle
			k.qq[j*kk+i] = qi[j]
		}
	}
}

// boxStep solves the box QP of step t into kt (warm-started by its
// contents) and returns the free controls and the Cholesky factor of
// their block of Q_uu + μI.
func (k *lqrKernel) boxStep(r *controlRule, t int, kt []float64) ([]int, []float64, bool) {
	n, m := k.n, k.m
	kk := n + m
	for i := 0; i < m; i++ {
		copy(k.quu[i*m:(i+1)*m], k.qq[(n+i)*kk+n:(n+i+1)*kk])
	}
	copy(k.quuR, k.quu)
	for i := 0; i < m; i++ {
		k.quuR[i*m+i] += r.mu
	}
	for j := 0; j < m; j++ {
		i := t*m + j
		k.qlo[j] = r.lower[i] - r.u[i]
		k.qhi[j] = r.upper[i] - r.u[i]
	}
	if k.qp.solve(kt, k.quuR, k.q[n:], k.qlo, k.qhi) != qpOK {
		return nil, nil, false
	}
	return k.qp.free, k.qp.factor, true
}

// heldStep fixes the held controls of step t at zero and solves for the
// free ones, k_f = −Q_ff⁻¹ q_f.
func (k *lqrKernel) heldStep(r *controlRule, t int, kt []float64) ([]int, []float64, bool) {
	n, m := k.n, k.m
	kk := n + m
	k.free = k.free[:0]
	for j := 0; j < m; j++ {
		if !r.held[t*m+j] {
			k.free = append(k.free, j)
		}
	}
	nf := len(k.free)
	for a, i := range k.free {
		for b, j := range k.free {
			k.fac[a*nf+b] = k.qq[(n+i)*kk+n+j]
		}
		k.fac[a*nf+a] += r.mu
	}
	if r.mu > 0 { // value needs Q_uu
		for i := 0; i < m; i++ {
			copy(k.quu[i*m:(i+1)*m], k.qq[(n+i)*kk+n:(n+i+1)*kk])
		}
	}
	if !cholesky(k.fac[:nf*nf], nf) {
		return nil, nil, false
	}
	if f := r.keep; f != nil {
		copy(f.fac[t*m*m:], k.fac[:nf*nf])
		copy(f.free[t*m:], k.free)
		f.nf[t] = nf
	}
	clear(kt)
	for a, j := range k.free {
		k.rhs[a] = k.q[n+j]
	}
	cholSolve(k.fac, nf, k.rhs[:nf])
	for a, j := range k.free {
		kt[j] = -k.rhs[a]
	}
	return k.free, k.fac, true
}

// linearPass reruns the held rule's recursion (μ = 0) for the linear term
// d.hz, which must be zero after step last, with the gains kfb and the
// factors f of a backward run on the same matrices, and writes the
// feedforward gains into kff: O(last·(N+M)·N) per run instead of
// backward's O(T·(N+M)³). With K_f = −Q_ff⁻¹Q_ux,f the value gradient is
// v′ = q_x + Q_uxᵀk = q_x + Kᵀq_u; after step last it and k are zero.
func (k *lqrKernel) linearPass(d *lqrData, f *heldFactors, kfb, kff []float64, last int) {
	n, m := k.n, k.m
	kk := n + m
	clear(k.vx)
	clear(kff[(last+1)*m:])
	for t := last; t >= 0; t-- {
		copy(k.q, d.hz[t*kk:(t+1)*kk])
		if t < k.t-1 {
			fx, fu := d.fx[t*n*n:(t+1)*n*n], d.fu[t*n*m:(t+1)*n*m]
			addAtv(k.q[:n], fx, k.vx, n, n)
			addAtv(k.q[n:], fu, k.vx, n, m)
		}
		kt := kff[t*m : (t+1)*m]
		clear(kt)
		nf := f.nf[t]
		free := f.free[t*m : t*m+nf]
		for a, j := range free {
			k.rhs[a] = k.q[n+j]
		}
		cholSolve(f.fac[t*m*m:], nf, k.rhs[:nf])
		for a, j := range free {
			kt[j] = -k.rhs[a]
		}
		copy(k.vx, k.q[:n])
		addAtv(k.vx, kfb[t*m*n:(t+1)*m*n], k.q[n:], m, n)
	}
}

// value updates the value function to step t's for the gains kt (M) and
// kt2 (M×N) and returns step t's terms of the expected change (box rule;
// k.quu holds Q_uu).
func (k *lqrKernel) value(kt, kt2 []float64) (dv1, dv2 float64) {
	n, m := k.n, k.m
	kk := n + m
	qu := k.q[n:]
	tmp := k.tmp[:m]
	copy(tmp, qu)
	addAv(tmp, k.quu, kt, m, m) // Q_uu k + q_u
	dv1 = dot(kt, qu)
	dv2 = 0.5 * (dot(kt, tmp) - dv1)
	copy(k.vx, k.q[:n])
	addAtv(k.vx, kt2, tmp, m, n)
	mulAB(k.z, k.quu, kt2, m, m, n) // Q_uu K
	for i := 0; i < n; i++ {
		copy(k.vxx[i*n:(i+1)*n], k.qq[i*kk:i*kk+n])
	}
	addAtB(k.vxx, kt2, k.z, m, n, n)
	for j := 0; j < m; j++ {
		qux := k.qq[(n+j)*kk : (n+j)*kk+n]
		addRank1(k.vx, qux, kt[j])
		kr := kt2[j*n : (j+1)*n]
		for a := 0; a < n; a++ { // Kᵀ Q_ux + Q_uxᵀ K
			va := k.vxx[a*n : (a+1)*n]
			for b := 0; b < n; b++ {
				va[b] += kr[a]*qux[b] + qux[a]*kr[b]
			}
		}
	}
	symmetrize(k.vxx, n)
	return dv1, dv2
}

// valueHeld is value for the held rule, which needs no expected change and
// no regularization: with K and k zero on the held rows and
// Q_ff K_f = −Q_ux,f, Q_ff k_f = −q_f on the free ones, the value function
// reduces to v′ = q_x + Q_uxᵀ k and V″ = Q_xx + Q_uxᵀ K.
func (k *lqrKernel) valueHeld(kt, kt2 []float64) {
	n, m := k.n, k.m
	kk := n + m
	copy(k.vx, k.q[:n])
	for i := 0; i < n; i++ {
		copy(k.vxx[i*n:(i+1)*n], k.qq[i*kk:i*kk+n])
	}
	for j := 0; j < m; j++ {
		qux := k.qq[(n+j)*kk : (n+j)*kk+n]
		addRank1(k.vx, qux, kt[j])
		kr := kt2[j*n : (j+1)*n]
		for a, qa := range qux {
			if qa == 0 {
				continue
			}
			addRank1(k.vxx[a*n:(a+1)*n], kr, qa)
		}
	}
	symmetrize(k.vxx, n)
}

// addRank1 adds s·v to y.
func addRank1(y, v []float64, s float64) {
	for i, vi := range v {
		y[i] += s * vi
	}
}
