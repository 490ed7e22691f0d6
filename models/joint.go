package models

// JointEvaluator is implemented by dynamics evaluators that compute, at one
// point, everything the gradient's sweep needs in one evaluation, sharing
// the work (trigonometry, the model's intermediate quantities) that
// Linearize, ParamJacobian and LagrangianHessian would each repeat.
type JointEvaluator interface {
	// Derivatives writes what Linearize (next, fx, fu), ParamJacobian (ft)
	// and LagrangianHessian (h, for the costate lambda) write.
	Derivatives(next, fx, fu, ft, h, lambda, x, u, theta []float64)
}

// Derivatives evaluates f, ∂f/∂x, ∂f/∂u, ∂f/∂θ and the Hessian of λᵀf at
// one point with e: in one evaluation when e is a JointEvaluator, else by
// its three methods.
func Derivatives(e DynamicsEvaluator, next, fx, fu, ft, h, lambda, x, u, theta []float64) {
	if j, ok := e.(JointEvaluator); ok {
		j.Derivatives(next, fx, fu, ft, h, lambda, x, u, theta)
		return
	}
	e.Linearize(next, fx, fu, x, u, theta)
	e.ParamJacobian(ft, x, u, theta)
	e.LagrangianHessian(h, lambda, x, u, theta)
}

// Derivatives implements JointEvaluator.
func (pendulumEval) Derivatives(next, fx, fu, ft, h, lambda, x, u, theta []float64) {
	p := pendulumAt(x, u, theta)
	gw := p.gradW()
	gt := p.gradTheta(&gw)
	p.linearize(next, fx, fu, &gw, &gt)
	p.paramJacobian(ft, &gw)
	p.lagrangianHessian(h, lambda, &gt)
}

// Derivatives implements JointEvaluator.
func (cartpoleEval) Derivatives(next, fx, fu, ft, h, lambda, x, u, theta []float64) {
	p := cartpoleAt(next, x, u, theta)
	p.linearize(fx, fu)
	p.paramJacobian(ft)
	p.lagrangianHessian(h, lambda)
}

// ParamContractor is implemented by evaluators of models with many
// parameters (neural networks), for which the θ columns of the Lagrangian
// Hessian and ∂f/∂θ are too large to form: the gradient then asks only
// for the τ block of the Hessian and for the contraction of the parameter
// derivatives with the sweep's vectors, which reverse mode gives at the
// cost of a few evaluations, whatever P.
type ParamContractor interface {
	// LinearizeHessianTau writes what Linearize writes (next, fx, fu) and
	// the τ block ((N+M)×(N+M)) of the Hessian of λᵀf into h.
	LinearizeHessianTau(next, fx, fu, h, lambda, x, u, theta []float64)
	// ContractParams adds to dst (P) the gradient with respect to θ of
	// νᵀf(x, u; θ) + λᵀ(∂f/∂τ d), d of length N+M.
	ContractParams(dst, nu, lambda, d, x, u, theta []float64)
}
