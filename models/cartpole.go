package models

import (
	"fmt"
	"math"
)

// Cartpole constants, as in mpc.pytorch's CartpoleDx.
const (
	CartpoleDt       = 0.05  // time step, seconds
	CartpoleMaxForce = 100.0 // the step clamps u to ±CartpoleMaxForce
)

// Cartpole is the force-controlled cart-pole of mpc.pytorch's CartpoleDx, a
// discrete-time model (it returns the next state). Its NewEvaluator uses
// hand-written derivatives; AutoEvaluator gives the automatic ones of the
// same generic step, which remains the definition. A Cartpole is immutable
// and safe for concurrent use; make one with NewCartpole.
type Cartpole struct{ autoBacked }

var (
	_ FastDynamics = (*Cartpole)(nil)
	_ ParamChecker = (*Cartpole)(nil)
)

// cartpoleRules is the cart-pole's parameter domain: g finite, m_c, m_p,
// l > 0.
var cartpoleRules = []paramRule{{"g", false}, {"m_c", true}, {"m_p", true}, {"l", true}}

// NewCartpole returns the cart-pole of mpc.pytorch's CartpoleDx as a
// discrete-time model with exact derivatives.
//
// State x = (x, ẋ, c, s, ω) with c = cos θ, s = sin θ (θ = 0 upright) and
// ω = θ̇; control u = (force on the cart); parameters θ_dyn = (g, m_c, m_p, l)
// (gravity, cart mass, pole mass, pole length as in CartpoleDx), nominal
// (9.8, 1.0, 0.1, 0.5). With M = m_c + m_p, one explicit Euler step of
// length dt = 0.05 is
//
//	ū  = clamp(u, ±100)
//	θ  = atan2(s, c)
//	a  = (ū + m_p l ω² s)/M
//	θ̈  = (g s − c a)/(l (4/3 − m_p c²/M))
//	ẍ  = a − m_p l θ̈ c/M
//	x′ = (x + dt ẋ, ẋ + dt ẍ, cos(θ + dt ω), sin(θ + dt ω), ω + dt θ̈)
//
// The raw entries c and s enter the accelerations, not cos θ and sin θ, and
// derivatives are taken with respect to c and s as independent inputs, as
// autodiff of these formulas gives them. The derivative of the clamp is 1
// for u in the closed interval [−100, 100] and 0 outside. The parameters
// must be finite with m_c, m_p, l > 0 (CheckParams), which keeps the
// denominator l (4/3 − m_p c²/M) positive on the circle c² + s² = 1.
func NewCartpole() *Cartpole {
	a, err := NewAuto(fmt.Sprintf("cartpole(dt=%g,umax=%g)", CartpoleDt, CartpoleMaxForce),
		Dims{N: 5, M: 1, P: 4}, []float64{9.8, 1.0, 0.1, 0.5},
		StepFuncs{Float: CartpoleStep[Float], Dual: CartpoleStep[Dual], HyperDual: CartpoleStep[HyperDual]})
	if err != nil {
		panic(err) // constant arguments: unreachable
	}
	return &Cartpole{autoBacked{a.WithParamCheck(paramRuleCheck("cartpole", cartpoleRules))}}
}

// NewEvaluator implements Dynamics with hand-written derivatives: straight
// float64 code on fixed-size arrays, no scratch, no allocation.
func (c *Cartpole) NewEvaluator() DynamicsEvaluator { return cartpoleEval{} }

// ControlClamp returns the limits the step clamps the control to, ±CartpoleMaxForce.
func (c *Cartpole) ControlClamp() (lo, hi []float64) {
	return []float64{-CartpoleMaxForce}, []float64{CartpoleMaxForce}
}

// CartpoleStep is the definition of the cart-pole; the hand-written
// evaluator in cartpoleEval must compute the same function. The order of
// operations follows CartpoleDx.forward.
func CartpoleStep[T Scalar[T]](next, x, u, th []T) {
	const dt = CartpoleDt
	px, v, c, s, w := x[0], x[1], x[2], x[3], x[4]
	g, mc, mp, l := th[0], th[1], th[2], th[3]
	ub := u[0].Clamp(-CartpoleMaxForce, CartpoleMaxForce)
	mt := mc.Add(mp) // total mass M
	pml := mp.Mul(l) // pole mass × length
	a := ub.Add(pml.Mul(w.Mul(w)).Mul(s)).Div(mt)
	den := l.Mul(mp.Mul(c).Mul(c).Div(mt).Neg().AddC(4.0 / 3))
	tdd := g.Mul(s).Sub(c.Mul(a)).Div(den)
	xdd := a.Sub(pml.Mul(tdd).Mul(c).Div(mt))
	a1 := s.Atan2(c).Add(w.MulC(dt))
	next[0] = px.Add(v.MulC(dt))
	next[1] = v.Add(xdd.MulC(dt))
	next[2] = a1.Cos()
	next[3] = a1.Sin()
	next[4] = w.Add(tdd.MulC(dt))
}

// CartpoleTask returns the cart-pole swing-up task of mpc.pytorch's
// CartpoleDx: cost ½τᵀdiag(q)τ + pᵀτ with q = (0.1, 0.1, 1, 1, 0.1, 0.001)
// and p = (0, 0, −1, 0, 0, 0) (goal: cart at rest at 0, pole upright,
// c = 1), and bounds u ∈ [−100, 100], equal to the model's clamp.
func CartpoleTask() Task {
	cost, err := NewQuadCost(5, 1, []float64{0.1, 0.1, 1, 1, 0.1, 0.001}, []float64{0, 0, -1, 0, 0, 0})
	if err != nil {
		panic(err) // constant arguments: unreachable
	}
	return Task{Dynamics: NewCartpole(), Cost: cost,
		Lower: []float64{-CartpoleMaxForce}, Upper: []float64{CartpoleMaxForce}}
}

// cartpoleEval is the hand-written evaluator of CartpoleStep.
//
// The accelerations are rational functions of the eight variables
// v = (c, s, ω, ū, g, m_c, m_p, l) (in this order; v_i sits at z_{i+2} in
// z = (x, ẋ, c, s, ω, u, θ_dyn)). Clearing the denominators of CartpoleDx's
// formulas gives, with M = m_c + m_p and P = m_p l,
//
//	K = (4/3) M − m_p c²
//	ẍ = B/K,    B = (4/3)(ū + P ω² s) − m_p g c s
//	θ̈ = A/(lK), A = g s M − c ū − P c s ω²
//
// whose first and second derivatives are polynomials written out in
// cartpoleGrads and cartpoleHess, combined by the quotient rule: for
// r = N/D, ∇r = (∇N − r∇D)/D and ∇²r = (∇²N − ∇r∇Dᵀ − ∇D∇rᵀ − r∇²D)/D.
// The rest of the step is linear except cos θ′ and sin θ′ with
// θ′ = atan2(s, c) + dt ω, handled as in pendulumEval. The derivatives with
// respect to u are those with respect to ū times the clamp's derivative k.
type cartpoleEval struct{}

// cartpolePoint holds the quantities of one cart-pole step that the value
// and the derivatives share.
type cartpolePoint struct {
	c, s, w, g, mc, mp, l float64
	ub, k                 float64 // clamped force and the clamp's derivative
	mt, pml               float64 // M and P
	xdd, tdd              float64 // ẍ and θ̈
	sin1, cos1            float64 // sin θ′ and cos θ′
}

// cartpoleAt evaluates one step, with the operations in the order of
// CartpoleStep, and writes the next state into next when it is not nil.
func cartpoleAt(next, x, u, th []float64) cartpolePoint {
	const dt = CartpoleDt
	var p cartpolePoint
	p.c, p.s, p.w = x[2], x[3], x[4]
	p.g, p.mc, p.mp, p.l = th[0], th[1], th[2], th[3]
	p.ub, p.k = clampDeriv(u[0], -CartpoleMaxForce, CartpoleMaxForce)
	p.mt = p.mc + p.mp
	p.pml = p.mp * p.l
	a := (p.ub + p.pml*(p.w*p.w)*p.s) / p.mt
	den := p.l * (4.0/3 - p.mp*p.c*p.c/p.mt)
	p.tdd = (p.g*p.s - p.c*a) / den
	p.xdd = a - p.pml*p.tdd*p.c/p.mt
	a1 := math.Atan2(p.s, p.c) + p.w*dt
	p.sin1, p.cos1 = math.Sin(a1), math.Cos(a1)
	if next != nil {
		next[0] = x[0] + x[1]*dt
		next[1] = x[1] + p.xdd*dt
		next[2] = p.cos1
		next[3] = p.sin1
		next[4] = p.w + p.tdd*dt
	}
	return p
}

// cartpoleGrads holds gradients with respect to v = (c, s, ω, ū, g, m_c,
// m_p, l) of the pieces of cartpoleEval's rational form.
type cartpoleGrads struct {
	k, b, a, e [8]float64 // ∇K, ∇B, ∇A and ∇E with E = lK
	bigK, bigE float64    // K and E
	x, t       [8]float64 // ∇ẍ and ∇θ̈
}

func (p *cartpolePoint) grads() cartpoleGrads {
	c, s, w, g, mp, l, ub := p.c, p.s, p.w, p.g, p.mp, p.l, p.ub
	mt, pml := p.mt, p.pml
	w2 := w * w
	var d cartpoleGrads
	d.bigK = 4.0/3*mt - mp*c*c
	d.bigE = l * d.bigK

	d.k[0] = -2 * mp * c
	d.k[5] = 4.0 / 3
	d.k[6] = 4.0/3 - c*c

	d.b[0] = -mp * g * s
	d.b[1] = 4.0/3*pml*w2 - mp*g*c
	d.b[2] = 8.0 / 3 * pml * w * s
	d.b[3] = 4.0 / 3
	d.b[4] = -mp * c * s
	d.b[6] = 4.0/3*l*w2*s - g*c*s
	d.b[7] = 4.0 / 3 * mp * w2 * s

	d.a[0] = -ub - pml*s*w2
	d.a[1] = g*mt - pml*c*w2
	d.a[2] = -2 * pml * c * s * w
	d.a[3] = -c
	d.a[4] = s * mt
	d.a[5] = g * s
	d.a[6] = g*s - l*c*s*w2
	d.a[7] = -mp * c * s * w2

	for i := range d.e {
		d.e[i] = l * d.k[i]
	}
	d.e[7] += d.bigK

	for i := range d.x {
		d.x[i] = (d.b[i] - p.xdd*d.k[i]) / d.bigK
		d.t[i] = (d.a[i] - p.tdd*d.e[i]) / d.bigE
	}
	return d
}

// hess returns the rows of ∇²ẍ and ∇²θ̈ for the trajectory variables
// (c, s, ω, ū) against all of v.
func (p *cartpolePoint) hess(d *cartpoleGrads) (hx, ht [4][8]float64) {
	c, s, w, g, mp, l := p.c, p.s, p.w, p.g, p.mp, p.l
	mt, pml := p.mt, p.pml
	w2 := w * w
	var hK, hB, hA, hE [4][8]float64

	hK[0][0] = -2 * mp
	hK[0][6] = -2 * c

	hB[0][1] = -mp * g
	hB[0][4] = -mp * s
	hB[0][6] = -g * s
	hB[1][0] = -mp * g
	hB[1][2] = 8.0 / 3 * pml * w
	hB[1][4] = -mp * c
	hB[1][6] = 4.0/3*l*w2 - g*c
	hB[1][7] = 4.0 / 3 * mp * w2
	hB[2][1] = 8.0 / 3 * pml * w
	hB[2][2] = 8.0 / 3 * pml * s
	hB[2][6] = 8.0 / 3 * l * w * s
	hB[2][7] = 8.0 / 3 * mp * w * s

	hA[0][1] = -pml * w2
	hA[0][2] = -2 * pml * s * w
	hA[0][3] = -1
	hA[0][6] = -l * s * w2
	hA[0][7] = -mp * s * w2
	hA[1][0] = -pml * w2
	hA[1][2] = -2 * pml * c * w
	hA[1][4] = mt
	hA[1][5] = g
	hA[1][6] = g - l*c*w2
	hA[1][7] = -mp * c * w2
	hA[2][0] = -2 * pml * s * w
	hA[2][1] = -2 * pml * c * w
	hA[2][2] = -2 * pml * c * s
	hA[2][6] = -2 * l * c * s * w
	hA[2][7] = -2 * mp * c * s * w
	hA[3][0] = -1

	// ∇²E = l∇²K + e_l∇Kᵀ + ∇Ke_lᵀ; in rows (c, s, ω, ū) only row c has ∇K ≠ 0.
	for i := range hE {
		for j := range hE[i] {
			hE[i][j] = l * hK[i][j]
		}
	}
	hE[0][7] += d.k[0]

	for i := range hx {
		for j := range hx[i] {
			hx[i][j] = (hB[i][j] - d.x[i]*d.k[j] - d.k[i]*d.x[j] - p.xdd*hK[i][j]) / d.bigK
			ht[i][j] = (hA[i][j] - d.t[i]*d.e[j] - d.e[i]*d.t[j] - p.tdd*hE[i][j]) / d.bigE
		}
	}
	return hx, ht
}

// gradTheta returns ∇θ′ with respect to (c, s, ω) for θ′ = atan2(s, c) + dt ω.
func (p *cartpolePoint) gradTheta() [3]float64 {
	pc, ps, _, _, _ := atan2Derivs(p.c, p.s)
	return [3]float64{pc, ps, CartpoleDt}
}

// Step implements DynamicsEvaluator.
func (cartpoleEval) Step(next, x, u, theta []float64) { cartpoleAt(next, x, u, theta) }

// Linearize implements DynamicsEvaluator.
func (cartpoleEval) Linearize(next, fx, fu, x, u, theta []float64) {
	p := cartpoleAt(next, x, u, theta)
	p.linearize(fx, fu)
}

// linearize is Linearize at the point p.
func (p *cartpolePoint) linearize(fx, fu []float64) {
	const dt = CartpoleDt
	const n = 5
	d := p.grads()
	gt := p.gradTheta()
	clear(fx[:n*n])
	fx[0], fx[1] = 1, dt
	fx[n+1] = 1
	for j := 0; j < 3; j++ {
		fx[n+2+j] = dt * d.x[j]
		fx[2*n+2+j] = -p.sin1 * gt[j]
		fx[3*n+2+j] = p.cos1 * gt[j]
		fx[4*n+2+j] = dt * d.t[j]
	}
	fx[4*n+4]++
	fu[0] = 0
	fu[1] = dt * d.x[3] * p.k
	fu[2] = 0
	fu[3] = 0
	fu[4] = dt * d.t[3] * p.k
}

// ParamJacobian implements DynamicsEvaluator.
func (cartpoleEval) ParamJacobian(ft, x, u, theta []float64) {
	p := cartpoleAt(nil, x, u, theta)
	p.paramJacobian(ft)
}

// paramJacobian is ParamJacobian at the point p.
func (p *cartpolePoint) paramJacobian(ft []float64) {
	const dt = CartpoleDt
	const np = 4
	d := p.grads()
	clear(ft[:5*np])
	for j := 0; j < np; j++ {
		ft[np+j] = dt * d.x[4+j]
		ft[4*np+j] = dt * d.t[4+j]
	}
}

// LagrangianHessian implements DynamicsEvaluator.
func (cartpoleEval) LagrangianHessian(h, lambda, x, u, theta []float64) {
	p := cartpoleAt(nil, x, u, theta)
	p.lagrangianHessian(h, lambda)
}

// lagrangianHessian is LagrangianHessian at the point p.
func (p *cartpolePoint) lagrangianHessian(h, lambda []float64) {
	const dt = CartpoleDt
	const nt, nz = 6, 10
	d := p.grads()
	hx, ht := p.hess(&d)
	clear(h[:nt*nz])
	// dt(λ₁∇²ẍ + λ₄∇²θ̈): row i and column j of v sit at z index i+2, j+2;
	// the ū row and column (v index 3) carry the clamp's derivative k.
	for i := 0; i < 4; i++ {
		ri := 1.0
		if i == 3 {
			ri = p.k
		}
		for j := 0; j < 8; j++ {
			r := ri
			if j == 3 {
				r *= p.k
			}
			h[(i+2)*nz+j+2] = r * dt * (lambda[1]*hx[i][j] + lambda[4]*ht[i][j])
		}
	}
	// λ₂ cos θ′ + λ₃ sin θ′: h₂∇θ′∇θ′ᵀ + h₁∇²φ over (c, s, ω).
	h1 := -lambda[2]*p.sin1 + lambda[3]*p.cos1
	h2 := -lambda[2]*p.cos1 - lambda[3]*p.sin1
	gt := p.gradTheta()
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			h[(i+2)*nz+j+2] += h2 * gt[i] * gt[j]
		}
	}
	_, _, pcc, pss, pcs := atan2Derivs(p.c, p.s)
	h[2*nz+2] += h1 * pcc
	h[2*nz+3] += h1 * pcs
	h[3*nz+2] += h1 * pcs
	h[3*nz+3] += h1 * pss
}
