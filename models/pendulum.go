package models

import (
	"fmt"
	"math"
)

// Pendulum constants, as in mpc.pytorch's PendulumDx.
const (
	PendulumDt        = 0.05 // time step, seconds
	PendulumMaxTorque = 2.0  // the step clamps u to ±PendulumMaxTorque
)

// Pendulum is the torque-controlled pendulum of mpc.pytorch's PendulumDx, a
// discrete-time model (it returns the next state). Its NewEvaluator uses
// hand-written derivatives; AutoEvaluator gives the automatic ones of the
// same generic step, which remains the definition. A Pendulum is immutable
// and safe for concurrent use; make one with NewPendulum.
type Pendulum struct{ autoBacked }

var (
	_ FastDynamics = (*Pendulum)(nil)
	_ ParamChecker = (*Pendulum)(nil)
)

// pendulumRules is the pendulum's parameter domain: g finite, m, l > 0.
var pendulumRules = []paramRule{{"g", false}, {"m", true}, {"l", true}}

// NewPendulum returns the torque-controlled pendulum of mpc.pytorch's
// PendulumDx as a discrete-time model with exact derivatives.
//
// State x = (c, s, ω) with c = cos θ, s = sin θ (θ = 0 upright); control
// u = (torque); parameters θ_dyn = (g, m, l), nominal (10, 1, 1). One step of
// length dt = 0.05:
//
//	ū  = clamp(u, ±2)
//	ω′ = ω + dt·(3g/(2l)·s + 3ū/(m l²))
//	θ′ = atan2(s, c) + dt·ω′
//	x′ = (cos θ′, sin θ′, ω′)
//
// The raw entry s is used, not sin(atan2(s, c)), and derivatives are taken
// with respect to c, s and ω as independent inputs, as autodiff of these
// formulas gives them. The derivative of the clamp is 1 for u in the closed
// interval [−2, 2] and 0 outside. The parameters must be finite with m, l > 0
// (CheckParams).
func NewPendulum() *Pendulum {
	a, err := NewAuto(fmt.Sprintf("pendulum(dt=%g,umax=%g)", PendulumDt, PendulumMaxTorque),
		Dims{N: 3, M: 1, P: 3}, []float64{10, 1, 1},
		StepFuncs{Float: PendulumStep[Float], Dual: PendulumStep[Dual], HyperDual: PendulumStep[HyperDual]})
	if err != nil {
		panic(err) // constant arguments: unreachable
	}
	return &Pendulum{autoBacked{a.WithParamCheck(paramRuleCheck("pendulum", pendulumRules))}}
}

// NewEvaluator implements Dynamics with hand-written derivatives: straight
// float64 code, no scratch, no allocation.
func (p *Pendulum) NewEvaluator() DynamicsEvaluator { return pendulumEval{} }

// ControlClamp returns the limits the step clamps the control to, ±PendulumMaxTorque.
func (p *Pendulum) ControlClamp() (lo, hi []float64) {
	return []float64{-PendulumMaxTorque}, []float64{PendulumMaxTorque}
}

// PendulumStep is the pendulum's step, generic over the scalar type (see
// NewPendulum); it is the definition, and the hand-written
// evaluator in pendulumEval must compute the same function.
func PendulumStep[T Scalar[T]](next, x, u, th []T) {
	c, s, w := x[0], x[1], x[2]
	g, m, l := th[0], th[1], th[2]
	ub := u[0].Clamp(-PendulumMaxTorque, PendulumMaxTorque)
	// 3g/(2l)·s + 3ū/(m l²)
	acc := g.MulC(3).Div(l.MulC(2)).Mul(s).Add(ub.MulC(3).Div(m.Mul(l).Mul(l)))
	w1 := w.Add(acc.MulC(PendulumDt))
	a1 := s.Atan2(c).Add(w1.MulC(PendulumDt))
	next[0] = a1.Cos()
	next[1] = a1.Sin()
	next[2] = w1
}

// PendulumTask returns the pendulum swing-up task of mpc.pytorch's pendulum
// example: cost ½τᵀdiag(q)τ + pᵀτ with q = (1, 1, 0.1, 0.001),
// p = (−1, 0, 0, 0) (goal upright, c = 1), and bounds u ∈ [−2, 2].
func PendulumTask() Task {
	cost, err := NewQuadCost(3, 1, []float64{1, 1, 0.1, 0.001}, []float64{-1, 0, 0, 0})
	if err != nil {
		panic(err) // constant arguments: unreachable
	}
	return Task{Dynamics: NewPendulum(), Cost: cost, Lower: []float64{-2}, Upper: []float64{2}}
}

// Task bundles a model with its default cost, control bounds and, when
// not nil, a path constraint c(x_t, u_t; ψ) ≤ 0 on the steps t ≥ 1.
type Task struct {
	Dynamics Dynamics
	Cost     Cost
	// Lower and Upper bound each control component: length M, the same
	// bounds at every step, or T·M, per step (see ilqr.Problem).
	Lower, Upper []float64
	// Constraint, when not nil, constrains the states (and controls) of
	// the steps after the first; see Constraint.
	Constraint Constraint
}

// pendulumEval is the hand-written evaluator of PendulumStep.
//
// With z = (c, s, ω, u, g, m, l) (which is also the order of the rows and
// columns of the Lagrangian Hessian), α = 3g/(2l), β = 3/(m l²), k the
// clamp's derivative and φ = atan2(s, c):
//
//	ω′ = ω + dt(α s + β ū),  θ′ = φ + dt ω′
//	∇ω′ = (0, dt α, 1, dt β k, 3 dt s/(2l), −dt β ū/m, −dt(α s + 2βū)/l)
//	∇θ′ = ∇φ + dt ∇ω′
//	∇ cos θ′ = −sin θ′ ∇θ′,  ∇ sin θ′ = cos θ′ ∇θ′
//
// and for L = λ₀ cos θ′ + λ₁ sin θ′ + λ₂ ω′, with h₁ = −λ₀ sin θ′ + λ₁ cos θ′
// and h₂ = −λ₀ cos θ′ − λ₁ sin θ′,
//
//	∇²L = h₂ ∇θ′∇θ′ᵀ + h₁ ∇²φ + (h₁ dt + λ₂) ∇²ω′,
//
// where the only nonzero entries of ∇²ω′ in the rows of τ are
// ω′_sg = 3dt/(2l), ω′_sl = −dt α/l, ω′_um = −dt β k/m, ω′_ul = −2dt β k/l.
type pendulumEval struct{}

// pendulumPoint holds the quantities of one pendulum step that the value
// and the derivatives share.
type pendulumPoint struct {
	c, s, g, m, l  float64
	ub, k          float64 // clamped torque and the clamp's derivative
	alpha, beta    float64 // 3g/(2l) and 3/(m l²)
	w1, sin1, cos1 float64 // ω′, sin θ′, cos θ′
}

// pendulumAt evaluates one step, with the operations in the order of
// PendulumStep.
func pendulumAt(x, u, th []float64) pendulumPoint {
	var p pendulumPoint
	p.c, p.s = x[0], x[1]
	p.g, p.m, p.l = th[0], th[1], th[2]
	p.ub, p.k = clampDeriv(u[0], -PendulumMaxTorque, PendulumMaxTorque)
	p.alpha = p.g * 3 / (p.l * 2)
	ml2 := p.m * p.l * p.l
	p.beta = 3 / ml2
	acc := p.alpha*p.s + p.ub*3/ml2
	p.w1 = x[2] + acc*PendulumDt
	a1 := math.Atan2(p.s, p.c) + p.w1*PendulumDt
	p.sin1, p.cos1 = math.Sin(a1), math.Cos(a1)
	return p
}

// gradW returns ∇ω′ with respect to z = (c, s, ω, u, g, m, l).
func (p *pendulumPoint) gradW() [7]float64 {
	const dt = PendulumDt
	return [7]float64{
		0,
		dt * p.alpha,
		1,
		dt * p.beta * p.k,
		dt * 3 * p.s / (2 * p.l),
		-dt * p.beta * p.ub / p.m,
		-dt * (p.alpha*p.s + 2*p.beta*p.ub) / p.l,
	}
}

// gradTheta returns ∇θ′ = ∇φ + dt ∇ω′ given ∇ω′.
func (p *pendulumPoint) gradTheta(gw *[7]float64) [7]float64 {
	pc, ps, _, _, _ := atan2Derivs(p.c, p.s)
	var gt [7]float64
	for j, v := range gw {
		gt[j] = PendulumDt * v
	}
	gt[0] += pc
	gt[1] += ps
	return gt
}

// Step implements DynamicsEvaluator.
func (pendulumEval) Step(next, x, u, theta []float64) {
	p := pendulumAt(x, u, theta)
	next[0], next[1], next[2] = p.cos1, p.sin1, p.w1
}

// Linearize implements DynamicsEvaluator.
func (pendulumEval) Linearize(next, fx, fu, x, u, theta []float64) {
	p := pendulumAt(x, u, theta)
	gw := p.gradW()
	gt := p.gradTheta(&gw)
	p.linearize(next, fx, fu, &gw, &gt)
}

// linearize is Linearize at the point p, with gw = ∇ω′ and gt = ∇θ′.
func (p *pendulumPoint) linearize(next, fx, fu []float64, gw, gt *[7]float64) {
	next[0], next[1], next[2] = p.cos1, p.sin1, p.w1
	for j := 0; j < 3; j++ {
		fx[j] = -p.sin1 * gt[j]
		fx[3+j] = p.cos1 * gt[j]
		fx[6+j] = gw[j]
	}
	fu[0] = -p.sin1 * gt[3]
	fu[1] = p.cos1 * gt[3]
	fu[2] = gw[3]
}

// ParamJacobian implements DynamicsEvaluator.
func (pendulumEval) ParamJacobian(ft, x, u, theta []float64) {
	p := pendulumAt(x, u, theta)
	gw := p.gradW()
	p.paramJacobian(ft, &gw)
}

// paramJacobian is ParamJacobian at the point p, with gw = ∇ω′.
func (p *pendulumPoint) paramJacobian(ft []float64, gw *[7]float64) {
	for j := 0; j < 3; j++ {
		d := gw[4+j] // ∂ω′/∂θ_j; ∂θ′/∂θ_j = dt·d
		ft[j] = -p.sin1 * PendulumDt * d
		ft[3+j] = p.cos1 * PendulumDt * d
		ft[6+j] = d
	}
}

// LagrangianHessian implements DynamicsEvaluator.
func (pendulumEval) LagrangianHessian(h, lambda, x, u, theta []float64) {
	p := pendulumAt(x, u, theta)
	gw := p.gradW()
	gt := p.gradTheta(&gw)
	p.lagrangianHessian(h, lambda, &gt)
}

// lagrangianHessian is LagrangianHessian at the point p, with gt = ∇θ′.
func (p *pendulumPoint) lagrangianHessian(h, lambda []float64, gt *[7]float64) {
	const dt = PendulumDt
	const nz = 7
	h1 := -lambda[0]*p.sin1 + lambda[1]*p.cos1
	h2 := -lambda[0]*p.cos1 - lambda[1]*p.sin1
	for i := 0; i < 4; i++ {
		for j := 0; j < nz; j++ {
			h[i*nz+j] = h2 * gt[i] * gt[j]
		}
	}
	_, _, pcc, pss, pcs := atan2Derivs(p.c, p.s)
	h[0] += h1 * pcc
	h[1] += h1 * pcs
	h[nz] += h1 * pcs
	h[nz+1] += h1 * pss
	// (h₁ dt + λ₂) ∇²ω′ on its four nonzero τθ entries.
	cw := h1*dt + lambda[2]
	h[1*nz+4] += cw * 3 * dt / (2 * p.l)
	h[1*nz+6] -= cw * dt * p.alpha / p.l
	h[3*nz+5] -= cw * dt * p.beta * p.k / p.m
	h[3*nz+6] -= cw * 2 * dt * p.beta * p.k / p.l
}
