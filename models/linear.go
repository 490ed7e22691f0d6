package models

import (
	"fmt"
	"math"
)

// NewLinear returns the discrete-time linear model x′ = A x + B u with
// learnable parameters θ = (A, B): A is n×n and B is n×m, both row-major,
// so P = n² + nm and θ = (A₀₀, A₀₁, …, A_{n−1,n−1}, B₀₀, …, B_{n−1,m−1}).
// The default parameters are the given A and B (copied).
//
// The returned model also implements FastDynamics: its NewEvaluator uses
// the trivial hand-written derivatives (∂f/∂x = A, ∂f/∂u = B,
// ∂f_i/∂A_ij = x_j, ∂f_i/∂B_ij = u_j, and a Lagrangian Hessian whose only
// nonzero entries are ∂²(λᵀf)/∂x_j∂A_ij = ∂²(λᵀf)/∂u_j∂B_ij = λ_i), and
// AutoEvaluator those of automatic differentiation.
//
// It returns an error when n or m is below 1, when A or B has the wrong
// length, or when an entry is NaN or infinite.
func NewLinear(n, m int, A, B []float64) (Dynamics, error) {
	switch {
	case n < 1 || m < 1:
		return nil, fmt.Errorf("models: linear: invalid sizes n=%d m=%d", n, m)
	case len(A) != n*n:
		return nil, fmt.Errorf("models: linear: A has length %d, want n×n = %d", len(A), n*n)
	case len(B) != n*m:
		return nil, fmt.Errorf("models: linear: B has length %d, want n×m = %d", len(B), n*m)
	}
	for i, v := range A {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("models: linear: A[%d] is %v", i, v)
		}
	}
	for i, v := range B {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("models: linear: B[%d] is %v", i, v)
		}
	}
	params := append(append(make([]float64, 0, n*n+n*m), A...), B...)
	auto, err := NewAuto(fmt.Sprintf("linear(n=%d,m=%d)", n, m), Dims{N: n, M: m, P: n*n + n*m}, params,
		StepFuncs{Float: linearStep[Float](n, m), Dual: linearStep[Dual](n, m), HyperDual: linearStep[HyperDual](n, m)})
	if err != nil {
		return nil, err
	}
	return &linear{n: n, m: m, auto: auto}, nil
}

// linear is the model made by NewLinear.
type linear struct {
	n, m int
	auto *Auto
}

var _ FastDynamics = (*linear)(nil)

// The methods of linear implement FastDynamics.

func (l *linear) Name() string                     { return l.auto.Name() }
func (l *linear) Dims() Dims                       { return l.auto.Dims() }
func (l *linear) DefaultParams() []float64         { return l.auto.DefaultParams() }
func (l *linear) NewEvaluator() DynamicsEvaluator  { return linearEval{n: l.n, m: l.m} }
func (l *linear) AutoEvaluator() DynamicsEvaluator { return l.auto.NewEvaluator() }

// linearStep returns the generic step of x′ = A x + B u for n states and m
// controls, the definition linearEval is tested against.
func linearStep[T Scalar[T]](n, m int) Step[T] {
	return func(next, x, u, th []T) {
		a, b := th[:n*n], th[n*n:]
		for i := 0; i < n; i++ {
			acc := a[i*n].Mul(x[0])
			for j := 1; j < n; j++ {
				acc = acc.Add(a[i*n+j].Mul(x[j]))
			}
			for j := 0; j < m; j++ {
				acc = acc.Add(b[i*m+j].Mul(u[j]))
			}
			next[i] = acc
		}
	}
}

// linearEval is the hand-written evaluator of linearStep.
type linearEval struct{ n, m int }

// Step implements DynamicsEvaluator.
func (e linearEval) Step(next, x, u, theta []float64) {
	n, m := e.n, e.m
	a, b := theta[:n*n], theta[n*n:n*n+n*m]
	for i := 0; i < n; i++ {
		acc := a[i*n] * x[0]
		for j := 1; j < n; j++ {
			acc += a[i*n+j] * x[j]
		}
		for j := 0; j < m; j++ {
			acc += b[i*m+j] * u[j]
		}
		next[i] = acc
	}
}

// Linearize implements DynamicsEvaluator.
func (e linearEval) Linearize(next, fx, fu, x, u, theta []float64) {
	n, m := e.n, e.m
	e.Step(next, x, u, theta)
	copy(fx[:n*n], theta[:n*n])
	copy(fu[:n*m], theta[n*n:n*n+n*m])
}

// ParamJacobian implements DynamicsEvaluator.
func (e linearEval) ParamJacobian(ft, x, u, theta []float64) {
	n, m := e.n, e.m
	p := n*n + n*m
	clear(ft[:n*p])
	for i := 0; i < n; i++ {
		copy(ft[i*p+i*n:i*p+i*n+n], x[:n])         // ∂f_i/∂A_ij = x_j
		copy(ft[i*p+n*n+i*m:i*p+n*n+i*m+m], u[:m]) // ∂f_i/∂B_ij = u_j
	}
}

// LagrangianHessian implements DynamicsEvaluator.
func (e linearEval) LagrangianHessian(h, lambda, x, u, theta []float64) {
	n, m := e.n, e.m
	nt, nz := n+m, n+m+n*n+n*m
	clear(h[:nt*nz])
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			h[j*nz+nt+i*n+j] = lambda[i] // ∂²(λᵀf)/∂x_j∂A_ij
		}
		for j := 0; j < m; j++ {
			h[(n+j)*nz+nt+n*n+i*m+j] = lambda[i] // ∂²(λᵀf)/∂u_j∂B_ij
		}
	}
}
