package models

import (
	"bytes"
	"unsafe"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/floats"
)

// This file holds NeuralDynamics' ParamContractor: the τ block of the
// Lagrangian Hessian fused with the linearization, and the reverse-mode
// contraction over the weights, sharing one primal pass per point through
// the evaluator's cache of points.

// netPoint is the network at one point τ = (x, u): activations with σ′ and
// σ″, the Jacobians of every layer, and the adjoint of every hidden layer
// for λᵀN.
type netPoint struct {
	// epoch is the θ epoch of the cache the point was computed in; 0 for a
	// point not (or no longer) in the cache.
	epoch uint64
	// a[l] holds layer l's output: a[0] = τ (the point's key), a[L] = N.
	a [][]float64
	// d1[l], d2[l]: σ′ and σ″ at hidden layer l's pre-activation.
	d1, d2 [][]float64
	// jt[l] holds J_lᵀ = (∂h_l/∂τ)ᵀ, K × sizes[l], l = 1…L; J_L = ∂N/∂τ.
	// J_1ᵀ = W_1ᵀ is the cache's, or the point's own jt1.
	jt  [][]float64
	jt1 []float64
	// bar[l] holds ā_l, the adjoint of a_l for λᵀN, for hidden layers l,
	// and blh the base model's Lagrangian Hessian (Residual), both for
	// lam; valid with hasBar.
	bar    [][]float64
	blh    []float64
	lam    []float64
	hasBar bool
}

// newPoint makes a point for e's network in one allocation.
func (e *neuralEval) newPoint() *netPoint {
	buf := make([]float64, e.pointSize())
	take := func(n int) []float64 {
		s := buf[:n:n]
		buf = buf[n:]
		return s
	}
	sz, k := e.d.sizes, e.k
	L := len(sz) - 1
	p := &netPoint{lam: take(e.d.dims.N),
		a: make([][]float64, L+1), d1: make([][]float64, L+1), d2: make([][]float64, L+1),
		jt: make([][]float64, L+1), bar: make([][]float64, L+1)}
	for l, s := range sz {
		p.a[l] = take(s)
		if l > 0 {
			p.jt[l] = take(k * s)
		}
		if l == 1 {
			p.jt1 = p.jt[1]
		}
		if l > 0 && l < L {
			p.d1[l], p.d2[l], p.bar[l] = take(s), take(s), take(s)
		}
	}
	if e.d.form == Residual {
		p.blh = take(k * (k + e.d.pb))
	}
	return p
}

// pointSize is the number of float64s a netPoint holds.
func (e *neuralEval) pointSize() int {
	sz, k := e.d.sizes, e.k
	L := len(sz) - 1
	n := e.d.dims.N + sz[0]
	for l := 1; l <= L; l++ {
		n += sz[l] * (1 + k)
		if l < L {
			n += 3 * sz[l]
		}
	}
	if e.d.form == Residual {
		n += k * (k + e.d.pb)
	}
	return n
}

// cacheFloats bounds the memory of an evaluator's cache of points: 8 MiB
// of float64s (about 500 points at hidden [128, 128], 1960 at [64]).
const cacheFloats = 8 << 20 / 8

// pointCache holds the points LinearizeHessianTau visited, in a ring, so
// that ContractParams at the same (x, u, λ) and the same values of θ (the
// gradient's second pass over the steps) reuses the activations,
// Jacobians and adjoints instead of recomputing them. It keeps a copy of
// the θ its points were computed with and drops them all when θ changes,
// so a caller that changes θ in place, or calls ContractParams at a point
// LinearizeHessianTau never saw, gets the recomputed result. The ring
// starts with 8 points and doubles, up to max, when ContractParams misses
// after LinearizeHessianTau overwrote points (the ring wrapped), so that it
// comes to hold one gradient sweep's steps; misses at points never
// linearized do not grow it.
type pointCache struct {
	pts     []*netPoint
	wrapped bool      // points were overwritten since the ring last grew
	next    int       // the slot LinearizeHessianTau fills next
	hit     int       // the last slot ContractParams found
	theta   []float64 // the θ of the valid points
	w1t     []float64 // its W_1ᵀ, shared by the points
	epoch   uint64    // counts the values θ took; 0 before the first
	max     int       // most points
}

// sync makes θ the cache's, dropping every point when its values changed.
func (c *pointCache) sync(e *neuralEval, theta []float64) {
	if c.epoch > 0 && sameBits(c.theta, theta) {
		return
	}
	c.theta = append(c.theta[:0], theta...)
	if c.w1t == nil {
		c.w1t = make([]float64, e.k*e.d.sizes[1])
	}
	e.transposeW1(c.w1t, theta)
	c.epoch++
}

// slot returns the point to fill next, for θ, marked empty.
func (c *pointCache) slot(e *neuralEval, theta []float64) *netPoint {
	c.sync(e, theta)
	if len(c.pts) == 0 {
		c.grow(e, min(8, c.max))
	}
	p := c.pts[c.next]
	c.next = (c.next + 1) % len(c.pts)
	c.wrapped = c.wrapped || p.epoch == c.epoch
	p.epoch = 0
	return p
}

// lookup returns the cached point (x, u) for θ, or nil (and then grows a
// ring that wrapped, up to max). It searches from the slot after the last
// one found: the gradient asks in the order the points were filled.
func (c *pointCache) lookup(e *neuralEval, theta, x, u []float64) *netPoint {
	c.sync(e, theta)
	np, n := len(c.pts), len(x)
	for i := 1; i <= np; i++ {
		j := (c.hit + i) % np
		p := c.pts[j]
		if p.epoch == c.epoch && sameBits(p.a[0][:n], x) && sameBits(p.a[0][n:], u) {
			c.hit = j
			return p
		}
	}
	if c.wrapped && np < c.max {
		c.grow(e, min(np, c.max-np))
	}
	return nil
}

// grow adds k empty points, to be filled next.
func (c *pointCache) grow(e *neuralEval, k int) {
	c.next, c.wrapped = len(c.pts), false
	for range k {
		c.pts = append(c.pts, e.newPoint())
	}
}

// sameBits reports whether a and b hold the same float64 bit patterns (so
// the same point, +0 and −0 apart, NaN equal to itself), by the runtime's
// vectorized memory comparison.
func sameBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 {
		return true
	}
	return bytes.Equal(unsafe.Slice((*byte)(unsafe.Pointer(&a[0])), 8*len(a)),
		unsafe.Slice((*byte)(unsafe.Pointer(&b[0])), 8*len(b)))
}

// pointAt evaluates the network and its layer Jacobians at τ = (x, u)
// into p, whose adjoint it marks stale; w1t is W_1ᵀ of θ, or nil.
func (e *neuralEval) pointAt(p *netPoint, x, u, theta, w1t []float64) {
	e.forwardPoint(p, x, u, theta)
	e.jacobians(p, theta, w1t)
	p.hasBar = false
}

// transposeW1 writes W_1ᵀ (K × sizes[1]) of θ into dst.
func (e *neuralEval) transposeW1(dst, theta []float64) {
	k, h1 := e.k, e.d.sizes[1]
	w1, _ := e.layer(theta, 1)
	for c := 0; c < k; c++ {
		dc := dst[c*h1 : (c+1)*h1]
		for i := range dc {
			dc[i] = w1[i*k+c]
		}
	}
}

// jacobians computes J_lᵀ = (∂h_l/∂τ)ᵀ for every layer of p (whose forward
// pass must have run): J_1 = W_1, J_l = W_l diag(σ′(h_{l−1})) J_{l−1}.
// J_1ᵀ is w1t when not nil (then p holds a view of it), else p's own copy.
func (e *neuralEval) jacobians(p *netPoint, theta, w1t []float64) {
	sz, k := e.d.sizes, e.k
	if w1t == nil {
		w1t = p.jt1
		e.transposeW1(w1t, theta)
	}
	p.jt[1] = w1t
	for l := 2; l < len(sz); l++ {
		in, out := sz[l-1], sz[l]
		w, _ := e.layer(theta, l)
		prev, d1 := p.jt[l-1], p.d1[l-1]
		g := e.gs[:k*in] // (diag(σ′) J_{l−1})ᵀ
		for c := 0; c < k; c++ {
			gc, pc := g[c*in:(c+1)*in], prev[c*in:(c+1)*in]
			gc, pc = gc[:len(d1)], pc[:len(d1)] // one bounds check, not one per entry
			for j, v := range d1 {
				gc[j] = v * pc[j]
			}
		}
		jt := p.jt[l]
		for c := 0; c < k; c++ { // row c of J_lᵀ is W_l times row c of G
			matVec(jt[c*out:(c+1)*out], w, g[c*in:(c+1)*in], 0)
		}
	}
}

// adjoint computes the adjoints ā_l of the hidden layers of p for λᵀN (the
// reverse pass ā_{L−1} = W_Lᵀλ, ā_{l−1} = W_lᵀ(σ′(h_l) ⊙ ā_l)) and, for
// Residual, the base model's Lagrangian Hessian, and records λ.
func (e *neuralEval) adjoint(p *netPoint, lambda, x, u, theta []float64) {
	sz := e.d.sizes
	L := len(sz) - 1
	g := lambda
	for l := L; l >= 2; l-- {
		in, out := sz[l-1], sz[l]
		w, _ := e.layer(theta, l)
		bar := p.bar[l-1]
		matTVec(bar, w[:in*out], g[:out])
		if l > 2 {
			gg := e.atb[l-1]
			floats.MulTo(gg, p.d1[l-1], bar)
			g = gg
		}
	}
	if e.d.form == Residual {
		e.base.LagrangianHessian(p.blh, lambda, x, u, theta[:e.d.pb])
	}
	copy(p.lam, lambda)
	p.hasBar = true
}

// hessianTau adds the network's τ block of the Hessian of λᵀN at p (whose
// adjoint must be for λ) to the upper triangle of h (K×K):
// Σ_l J_lᵀ diag(σ″(h_l) ⊙ ā_l) J_l over the hidden layers.
func (e *neuralEval) hessianTau(h []float64, p *netPoint) {
	sz, k := e.d.sizes, e.k
	for l := 1; l < len(sz)-1; l++ {
		hl := sz[l]
		c, cj := e.gs[:hl], e.gs[hl:2*hl]
		floats.MulTo(c, p.d2[l], p.bar[l])
		jt := p.jt[l]
		for a := 0; a < k; a++ {
			floats.MulTo(cj, c, jt[a*hl:(a+1)*hl])
			for b := a; b < k; b++ {
				h[a*k+b] += dot64(cj, jt[b*hl:(b+1)*hl])
			}
		}
	}
}

// LinearizeHessianTau implements ParamContractor: it writes what Linearize
// writes and the τ block (K×K) of the Hessian of λᵀf into h, sharing the
// network's passes: with J_l = ∂h_l/∂τ (the layer Jacobians Linearize
// computes) and ā_l the adjoint of layer l's output for λᵀN (one reverse
// pass), the network's part is
//
//	∇²_ττ(λᵀN) = Σ_l J_lᵀ diag(σ″(h_l) ⊙ ā_l) J_l,
//
// exact for a perceptron, whose affine maps have no curvature. The point
// stays in the evaluator's cache for ContractParams.
func (e *neuralEval) LinearizeHessianTau(next, fx, fu, h, lambda, x, u, theta []float64) {
	k, pb := e.k, e.d.pb
	p := e.cache.slot(e, theta)
	e.linearizeAt(p, next, fx, fu, x, u, theta, e.cache.w1t)
	e.adjoint(p, lambda, x, u, theta)
	p.epoch = e.cache.epoch
	clear(h[:k*k])
	if e.d.form == Residual {
		for r := 0; r < k; r++ {
			copy(h[r*k:(r+1)*k], p.blh[r*(k+pb):r*(k+pb)+k])
		}
	}
	e.hessianTau(h, p)
	for a := 0; a < k; a++ {
		for b := a + 1; b < k; b++ {
			h[b*k+a] = h[a*k+b]
		}
	}
}

// ContractParams implements ParamContractor: dst += ∂/∂θ_all [νᵀf +
// λᵀ(∂f/∂τ d)], the network's part by one reverse pass over the cached
// point of the last LinearizeHessianTau at (x, u) with θ, or over a fresh
// one.
func (e *neuralEval) ContractParams(dst, nu, lambda, d, x, u, theta []float64) {
	n, pb, k := e.d.dims.N, e.d.pb, e.k
	p := e.cache.lookup(e, theta, x, u)
	if p == nil {
		p = e.scr
		e.pointAt(p, x, u, theta, e.cache.w1t)
	}
	if !p.hasBar || !sameBits(p.lam, lambda) {
		e.adjoint(p, lambda, x, u, theta)
	}
	if e.d.form == Residual && pb > 0 {
		e.base.ParamJacobian(e.bft, x, u, theta[:pb])
		for j := 0; j < pb; j++ {
			var s float64
			for i := 0; i < n; i++ {
				s += nu[i] * e.bft[i*pb+j]
			}
			for r := 0; r < k; r++ {
				s += d[r] * p.blh[r*(k+pb)+k+j]
			}
			dst[j] += s
		}
	}
	e.contractNet(dst[pb:], p, nu, lambda, d, theta)
}

// contractNet adds ∂/∂W [νᵀN + λᵀ(J_L d)] at p (whose adjoint must be for
// λ) to dW, the network's part of θ_all. The tangent along d is J_l d per
// hidden layer; the reverse pass carries h̄_l, the adjoint of h_l for the
// whole expression, and ḣ̄_l = σ′(h_l) ⊙ ā_l (ḣ̄_L = λ), that of the
// tangent:
//
//	∂/∂W_l = h̄_l a_{l−1}ᵀ + ḣ̄_l ȧ_{l−1}ᵀ,  ∂/∂b_l = h̄_l,
//	h̄_{l−1} = σ′(h_{l−1}) ⊙ W_lᵀ h̄_l + σ″(h_{l−1}) ⊙ ḣ_{l−1} ⊙ ā_{l−1}.
func (e *neuralEval) contractNet(dW []float64, p *netPoint, nu, lambda, d, theta []float64) {
	sz, k := e.d.sizes, e.k
	L := len(sz) - 1
	for l := 1; l < L; l++ { // ḣ_l = J_l d, ȧ_l = σ′ ⊙ ḣ_l
		hl := sz[l]
		ht := e.ht[l]
		matTVec(ht, p.jt[l][:k*hl], d[:k])
		floats.MulTo(e.at[l], p.d1[l], ht)
	}
	hb := e.ab[L]
	copy(hb, nu)
	for l := L; l >= 1; l-- {
		out := sz[l]
		htb := lambda
		if l < L {
			htb = e.atb[l]
			floats.MulTo(htb, p.d1[l], p.bar[l])
		}
		ap, atp := p.a[l-1], d[:k]
		if l > 1 {
			atp = e.at[l-1]
		}
		wo, bo := e.paramOffset(l)
		addOuter2(dW[wo:bo], hb, ap, htb, atp)
		floats.Add(dW[bo:bo+out], hb)
		if l == 1 {
			break
		}
		w, _ := e.layer(theta, l)
		pa := e.abA[l-1]
		matTVec(pa, w, hb[:out])
		hb = e.ab[l-1]
		pa = pa[:len(hb)]
		d1, d2, ht, bar := p.d1[l-1][:len(pa)], p.d2[l-1][:len(pa)], e.ht[l-1][:len(pa)], p.bar[l-1][:len(pa)]
		for j, pj := range pa {
			hb[j] = d1[j]*pj + d2[j]*ht[j]*bar[j]
		}
	}
}

// addOuter2 adds s tᵀ + u vᵀ to g (len(s) × len(t), row-major): rows of a
// few entries in one loop; many long rows by gonum's BLAS (two Dger, whose
// assembly kernel updates four rows at a time: ContractParams is 1.15×
// faster with it at hidden [128, 128]), a few long ones by its axpy (Dger
// costs more there: 1.05× at [64], whose output layer has N rows).
func addOuter2(g, s, t, u, v []float64) {
	in := len(t)
	switch {
	case in < 16:
		v = v[:in]
		u = u[:len(s)]
		for i, si := range s {
			ui := u[i]
			gr := g[i*in:][:in]
			for j, tj := range t {
				gr[j] += si*tj + ui*v[j]
			}
		}
	case len(s) >= 16:
		a := blas64.General{Rows: len(s), Cols: in, Stride: in, Data: g}
		blas64.Ger(1, blas64.Vector{N: len(s), Inc: 1, Data: s}, blas64.Vector{N: in, Inc: 1, Data: t}, a)
		blas64.Ger(1, blas64.Vector{N: len(s), Inc: 1, Data: u}, blas64.Vector{N: in, Inc: 1, Data: v}, a)
	default:
		for i, si := range s {
			gr := g[i*in : (i+1)*in]
			if si != 0 {
				floats.AddScaled(gr, si, t)
			}
			if ui := u[i]; ui != 0 {
				floats.AddScaled(gr, ui, v)
			}
		}
	}
}
