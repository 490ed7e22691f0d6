package models

// FastDynamics is a Dynamics whose NewEvaluator uses hand-written
// derivatives and which also offers the automatic-differentiation evaluator
// of the same step function, the definition the hand-written derivatives are
// tested against. Both evaluators compute the same function; they differ
// only in speed and in round-off.
type FastDynamics interface {
	Dynamics
	// AutoEvaluator returns an evaluator whose derivatives come from dual
	// and hyper-dual automatic differentiation of the model's generic step
	// function (see Auto). Like NewEvaluator, it returns fresh scratch
	// space for use by one goroutine at a time.
	AutoEvaluator() DynamicsEvaluator
}

// autoBacked is embedded in a model with hand-written derivatives: it holds
// the model's generic definition and forwards to it every method but
// NewEvaluator and ControlClamp. The model's constructor documents its
// dimensions, default parameters and parameter domain.
type autoBacked struct{ auto *Auto }

// CheckParams implements ParamChecker.
func (a autoBacked) CheckParams(theta []float64) error { return a.auto.CheckParams(theta) }

// Name implements Dynamics.
func (a autoBacked) Name() string { return a.auto.Name() }

// Dims implements Dynamics.
func (a autoBacked) Dims() Dims { return a.auto.Dims() }

// DefaultParams implements Dynamics.
func (a autoBacked) DefaultParams() []float64 { return a.auto.DefaultParams() }

// AutoEvaluator implements FastDynamics.
func (a autoBacked) AutoEvaluator() DynamicsEvaluator { return a.auto.NewEvaluator() }

// clampDeriv returns clamp(v, lo, hi) and its derivative: 1 inside the
// closed interval [lo, hi], 0 outside, exactly as the Scalar types' Clamp.
func clampDeriv(v, lo, hi float64) (c, d float64) {
	if v < lo {
		return lo, 0
	}
	if v > hi {
		return hi, 0
	}
	return v, 1
}

// atan2Derivs returns the first and second partial derivatives of
// φ = atan2(s, c) with respect to c and s: φ_c = −s/r², φ_s = c/r²,
// φ_cc = 2cs/r⁴, φ_ss = −2cs/r⁴ and φ_cs = (s² − c²)/r⁴ with r² = c² + s².
func atan2Derivs(c, s float64) (pc, ps, pcc, pss, pcs float64) {
	r2 := c*c + s*s
	r4 := r2 * r2
	pc, ps = -s/r2, c/r2
	pcc = 2 * c * s / r4
	return pc, ps, pcc, -pcc, (s*s - c*c) / r4
}
