package models

import "fmt"

// Double pendulum constants.
const (
	DoublePendulumDt       = 0.05  // time step, seconds (as the cart-pole)
	DoublePendulumMaxForce = 100.0 // the step clamps u to ±DoublePendulumMaxForce, newtons
)

// NewDoublePendulum returns the inverted double pendulum on a cart as a
// discrete-time model with exact automatic derivatives, in the style of
// NewCartpole: explicit Euler steps of dt = 0.05, each angle carried as raw
// (cos, sin) entries and recovered with atan2, the control clamped.
//
// Equations of motion. Both links are uniform rods hinged in series on a cart
// moving along a horizontal track (no friction), with the equations of
// A. Bogdanov, "Optimal Control of a Double Inverted Pendulum on a Cart",
// Technical Report CSE-04-006, OGI School of Science & Engineering, OHSU,
// December 2004 (its Euler–Lagrange model), rederived here from the Lagrangian
// and checked in the tests by the power balance dE/dt = u ẋ. With generalized
// coordinates q = (x, θ₁, θ₂), angles from the upward vertical (θᵢ = 0
// upright, positive in the direction of +x), cart mass m₀, link masses m₁,
// m₂, link lengths L₁, L₂ (centres of mass at lᵢ = Lᵢ/2, inertias
// Iᵢ = mᵢLᵢ²/12 about them):
//
//	D(q) q̈ + C(q, q̇) q̇ + G(q) = (u, 0, 0)
//
//	    ⎡ d₁          d₂ cos θ₁         d₃ cos θ₂        ⎤
//	D = ⎢ d₂ cos θ₁   d₄                d₅ cos(θ₁ − θ₂)  ⎥
//	    ⎣ d₃ cos θ₂   d₅ cos(θ₁ − θ₂)   d₆               ⎦
//
//	C q̇ = (−d₂ sin θ₁ θ̇₁² − d₃ sin θ₂ θ̇₂²,
//	        d₅ sin(θ₁ − θ₂) θ̇₂²,
//	       −d₅ sin(θ₁ − θ₂) θ̇₁²)
//	G   = (0, −f₁ sin θ₁, −f₂ sin θ₂)
//
//	d₁ = m₀ + m₁ + m₂,   d₂ = m₁l₁ + m₂L₁,   d₃ = m₂l₂,
//	d₄ = m₁l₁² + m₂L₁² + I₁,   d₅ = m₂L₁l₂,   d₆ = m₂l₂² + I₂,
//	f₁ = (m₁l₁ + m₂L₁) g,   f₂ = m₂l₂ g.
//
// The step solves the 3×3 system for q̈ by Cramer's rule.
//
// State x = (x, ẋ, c₁, s₁, ω₁, c₂, s₂, ω₂) (N = 8), with cᵢ = cos θᵢ,
// sᵢ = sin θᵢ, ωᵢ = θ̇ᵢ; control u = (horizontal force on the cart) (M = 1);
// parameters θ_dyn = (g, m₀, m₁, m₂, L₁, L₂) (P = 6), nominal
// (9.8, 1.5, 0.5, 0.75, 0.5, 0.75) in SI units. One step:
//
//	ū  = clamp(u, ±100)
//	q̈  = D⁻¹ ((ū, 0, 0) − C q̇ − G)
//	x′ = (x + dt ẋ, ẋ + dt ẍ, cos θ₁′, sin θ₁′, ω₁ + dt θ̈₁,
//	      cos θ₂′, sin θ₂′, ω₂ + dt θ̈₂),   θᵢ′ = atan2(sᵢ, cᵢ) + dt ωᵢ
//
// As in the cart-pole, the raw entries cᵢ, sᵢ enter D, C and G (with
// cos(θ₁ − θ₂) = c₁c₂ + s₁s₂ and sin(θ₁ − θ₂) = s₁c₂ − c₁s₂), and
// derivatives are taken with respect to them as independent inputs. For
// states far from cᵢ² + sᵢ² = 1 the matrix D may lose definiteness; states
// produced by the step lie on the circle.
//
// The parameters must be finite with the masses and lengths positive; the
// model's CheckParams says which one is not, by the names g, m0, m1, m2, L1
// and L2.
func NewDoublePendulum() *Auto {
	a, err := NewAuto(fmt.Sprintf("doublependulum(dt=%g,umax=%g)", DoublePendulumDt, DoublePendulumMaxForce),
		Dims{N: 8, M: 1, P: 6}, []float64{9.8, 1.5, 0.5, 0.75, 0.5, 0.75},
		StepFuncs{Float: DoublePendulumStep[Float], Dual: DoublePendulumStep[Dual], HyperDual: DoublePendulumStep[HyperDual]})
	if err == nil {
		a, err = a.WithControlClamp([]float64{-DoublePendulumMaxForce}, []float64{DoublePendulumMaxForce})
	}
	if err != nil {
		panic(err) // constant arguments: unreachable
	}
	return a.WithParamCheck(paramRuleCheck("double pendulum", doublePendulumRules))
}

// doublePendulumRules is the double pendulum's parameter domain
// (CheckParams): θ_dyn = (g, m₀, m₁, m₂, L₁, L₂) finite, the masses and
// lengths positive, so that the mass matrix D is positive definite.
var doublePendulumRules = []paramRule{
	{"g", false}, {"m0", true}, {"m1", true}, {"m2", true}, {"L1", true}, {"L2", true},
}

// DoublePendulumStep is the definition of the double pendulum on a cart
// (see NewDoublePendulum).
func DoublePendulumStep[T Scalar[T]](next, x, u, th []T) {
	const dt = DoublePendulumDt
	px, v := x[0], x[1]
	c1, s1, w1 := x[2], x[3], x[4]
	c2, s2, w2 := x[5], x[6], x[7]
	g, m0, m1, m2, len1, len2 := th[0], th[1], th[2], th[3], th[4], th[5]
	ub := u[0].Clamp(-DoublePendulumMaxForce, DoublePendulumMaxForce)

	// Bogdanov's coefficients for uniform rods: lᵢ = Lᵢ/2,
	// Iᵢ = mᵢLᵢ²/12, so d₂ = (m₁/2 + m₂)L₁, d₄ = (m₁/3 + m₂)L₁², d₆ = m₂L₂²/3.
	d1 := m0.Add(m1).Add(m2)
	d2 := m1.MulC(0.5).Add(m2).Mul(len1)
	d3 := m2.Mul(len2).MulC(0.5)
	d4 := m1.MulC(1.0 / 3).Add(m2).Mul(len1).Mul(len1)
	d5 := m2.Mul(len1).Mul(len2).MulC(0.5)
	d6 := m2.Mul(len2).Mul(len2).MulC(1.0 / 3)
	f1 := d2.Mul(g)
	f2 := d3.Mul(g)

	c12 := c1.Mul(c2).Add(s1.Mul(s2)) // cos(θ₁ − θ₂)
	s12 := s1.Mul(c2).Sub(c1.Mul(s2)) // sin(θ₁ − θ₂)
	w1s, w2s := w1.Mul(w1), w2.Mul(w2)

	// Symmetric D = [[a, b, e], [b, d, f], [e, f, k]].
	a, b, e := d1, d2.Mul(c1), d3.Mul(c2)
	d, f, k := d4, d5.Mul(c12), d6
	// Right-hand side (ū, 0, 0) − C q̇ − G.
	r0 := ub.Add(d2.Mul(s1).Mul(w1s)).Add(d3.Mul(s2).Mul(w2s))
	r1 := f1.Mul(s1).Sub(d5.Mul(s12).Mul(w2s))
	r2 := f2.Mul(s2).Add(d5.Mul(s12).Mul(w1s))

	// Cramer's rule through the adjugate of the symmetric D.
	a00 := d.Mul(k).Sub(f.Mul(f))
	a01 := e.Mul(f).Sub(b.Mul(k))
	a02 := b.Mul(f).Sub(d.Mul(e))
	a11 := a.Mul(k).Sub(e.Mul(e))
	a12 := b.Mul(e).Sub(a.Mul(f))
	a22 := a.Mul(d).Sub(b.Mul(b))
	det := a.Mul(a00).Add(b.Mul(a01)).Add(e.Mul(a02))
	xdd := a00.Mul(r0).Add(a01.Mul(r1)).Add(a02.Mul(r2)).Div(det)
	t1dd := a01.Mul(r0).Add(a11.Mul(r1)).Add(a12.Mul(r2)).Div(det)
	t2dd := a02.Mul(r0).Add(a12.Mul(r1)).Add(a22.Mul(r2)).Div(det)

	th1 := s1.Atan2(c1).Add(w1.MulC(dt))
	th2 := s2.Atan2(c2).Add(w2.MulC(dt))
	next[0] = px.Add(v.MulC(dt))
	next[1] = v.Add(xdd.MulC(dt))
	next[2] = th1.Cos()
	next[3] = th1.Sin()
	next[4] = w1.Add(t1dd.MulC(dt))
	next[5] = th2.Cos()
	next[6] = th2.Sin()
	next[7] = w2.Add(t2dd.MulC(dt))
}

// DoublePendulumTask returns a swing-up task for NewDoublePendulum in the
// style of CartpoleTask: cost ½τᵀdiag(q)τ + pᵀτ with
// q = (0.1, 0.1, 1, 1, 0.1, 1, 1, 0.1, 0.001) and
// p = (0, 0, −1, 0, 0, −1, 0, 0, 0) (goal: cart at rest at 0, both links
// upright, c₁ = c₂ = 1; control penalty 0.001), and bounds u ∈ [−100, 100],
// equal to the model's clamp.
func DoublePendulumTask() Task {
	cost, err := NewQuadCost(8, 1,
		[]float64{0.1, 0.1, 1, 1, 0.1, 1, 1, 0.1, 0.001},
		[]float64{0, 0, -1, 0, 0, -1, 0, 0, 0})
	if err != nil {
		panic(err) // constant arguments: unreachable
	}
	return Task{Dynamics: NewDoublePendulum(), Cost: cost,
		Lower: []float64{-DoublePendulumMaxForce}, Upper: []float64{DoublePendulumMaxForce}}
}
