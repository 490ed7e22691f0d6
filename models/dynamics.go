package models

import "fmt"

// Dims are the sizes of a dynamics model: N state entries, M controls and P
// learnable parameters.
type Dims struct {
	N, M, P int
}

// Dynamics is a discrete-time model x' = f(x, u; θ): it returns the next
// state, not a derivative. Implementations are immutable and safe for
// concurrent use; per-goroutine scratch lives in the evaluators they make.
type Dynamics interface {
	// Name identifies the model and its fixed constants (time step, limits);
	// two models with equal names compute the same function.
	Name() string
	// Dims returns the state, control and parameter sizes.
	Dims() Dims
	// DefaultParams returns a fresh copy of the model's nominal θ.
	DefaultParams() []float64
	// NewEvaluator returns an evaluator with its own scratch space. An
	// evaluator must not be used by two goroutines at once.
	NewEvaluator() DynamicsEvaluator
}

// DynamicsEvaluator computes f and its exact derivatives at one point.
// Matrices are dense and row-major. Slices x, u and theta have lengths N, M
// and P and are not modified. None of the methods allocates.
type DynamicsEvaluator interface {
	// Step writes f(x, u; θ) into next (length N).
	Step(next, x, u, theta []float64)
	// Linearize writes f(x, u; θ) into next, ∂f/∂x into fx (N×N) and ∂f/∂u
	// into fu (N×M).
	Linearize(next, fx, fu, x, u, theta []float64)
	// ParamJacobian writes ∂f/∂θ into ft (N×P).
	ParamJacobian(ft, x, u, theta []float64)
	// LagrangianHessian writes the second derivatives of λᵀf(x, u; θ) into h
	// ((N+M) × (N+M+P)): row i and column j hold ∂²(λᵀf)/∂z_i∂z_j with
	// z = (x, u, θ). The rows cover the trajectory variables (x, u) only; the
	// θθ block is not needed by the gradient and is not computed. lambda has
	// length N.
	LagrangianHessian(h, lambda, x, u, theta []float64)
}

// Step is a model's discrete-time step, written once for every Scalar type:
// it writes f(x, u; θ) into next. It must not keep the slices.
type Step[T Scalar[T]] func(next, x, u, theta []T)

// StepFuncs holds one generic step function instantiated for the three
// scalar types, e.g.
//
//	StepFuncs{Float: step[Float], Dual: step[Dual], HyperDual: step[HyperDual]}
type StepFuncs struct {
	Float     Step[Float]
	Dual      Step[Dual]
	HyperDual Step[HyperDual]
}

// Auto is a Dynamics whose derivatives are computed exactly by forward-mode
// automatic differentiation of its step function: dual numbers for first
// derivatives (one evaluation per input direction) and hyper-dual numbers for
// second derivatives (one evaluation per pair of directions).
type Auto struct {
	name     string
	dims     Dims
	params   []float64
	steps    StepFuncs
	clo, chi []float64                   // internal control clamp, nil if none
	check    func(theta []float64) error // parameter domain, nil if none
}

// WithControlClamp returns a copy of a that reports, through ControlClamp,
// that its step clamps control j to [lo[j], hi[j]] (both of length M). Solvers
// use it to reject bounds wider than the clamp, where the optimum would sit
// on the clamp's kink and the model is not differentiable.
func (a *Auto) WithControlClamp(lo, hi []float64) (*Auto, error) {
	if len(lo) != a.dims.M || len(hi) != a.dims.M {
		return nil, fmt.Errorf("models: %s: clamp needs %d lower and upper limits", a.name, a.dims.M)
	}
	b := *a
	b.clo, b.chi = append([]float64(nil), lo...), append([]float64(nil), hi...)
	return &b, nil
}

// ControlClamp returns the limits the step clamps the controls to, or nil
// slices when it does not clamp. The slices are copies.
func (a *Auto) ControlClamp() (lo, hi []float64) {
	if a.clo == nil {
		return nil, nil
	}
	return append([]float64(nil), a.clo...), append([]float64(nil), a.chi...)
}

// WithParamCheck returns a copy of a whose CheckParams calls check on θ (after
// checking its length), so that solvers refuse parameters outside the
// model's domain before stepping (a zero length, a negative mass). check
// must name the parameter and the rule it breaks, must not modify or keep
// θ and must be safe for concurrent use. A nil check removes the domain.
func (a *Auto) WithParamCheck(check func(theta []float64) error) *Auto {
	b := *a
	b.check = check
	return &b
}

// CheckParams implements ParamChecker: it rejects a θ of the wrong length,
// then applies the check given to WithParamCheck, if any.
func (a *Auto) CheckParams(theta []float64) error {
	if len(theta) != a.dims.P {
		return fmt.Errorf("models: %s: %d parameters, want %d", a.name, len(theta), a.dims.P)
	}
	if a.check == nil {
		return nil
	}
	return a.check(theta)
}

// NewAuto returns a Dynamics for the step functions in steps. name must
// identify the function and its fixed constants; params is the nominal θ
// (length dims.P), copied.
func NewAuto(name string, dims Dims, params []float64, steps StepFuncs) (*Auto, error) {
	switch {
	case dims.N < 1 || dims.M < 1 || dims.P < 0:
		return nil, fmt.Errorf("models: invalid dimensions %+v", dims)
	case len(params) != dims.P:
		return nil, fmt.Errorf("models: %d default parameters for P=%d", len(params), dims.P)
	case steps.Float == nil || steps.Dual == nil || steps.HyperDual == nil:
		return nil, fmt.Errorf("models: %s: all three step instantiations are required", name)
	}
	return &Auto{name: name, dims: dims, params: append([]float64(nil), params...), steps: steps}, nil
}

// Name implements Dynamics.
func (a *Auto) Name() string { return a.name }

// Dims implements Dynamics.
func (a *Auto) Dims() Dims { return a.dims }

// DefaultParams implements Dynamics.
func (a *Auto) DefaultParams() []float64 { return append([]float64(nil), a.params...) }

// NewEvaluator implements Dynamics.
func (a *Auto) NewEvaluator() DynamicsEvaluator { return newAutoEval(a.dims, a.steps) }

// autoEval evaluates the step functions of an Auto model on scratch buffers.
type autoEval struct {
	dims  Dims
	steps StepFuncs
	fin   []Float // x, u, θ then next
	din   []Dual
	hin   []HyperDual
}

func newAutoEval(d Dims, steps StepFuncs) *autoEval {
	k := d.N + d.M + d.P + d.N
	return &autoEval{
		dims:  d,
		steps: steps,
		fin:   make([]Float, k),
		din:   make([]Dual, k),
		hin:   make([]HyperDual, k),
	}
}

// split cuts an input buffer laid out as (x, u, θ, next) into its parts.
func split[T any](buf []T, d Dims) (x, u, th, next []T) {
	n, m, p := d.N, d.M, d.P
	return buf[:n], buf[n : n+m], buf[n+m : n+m+p], buf[n+m+p : n+m+p+n]
}

// loadFloats writes the concatenation of parts, e.g. (x, u, θ), into z.
func loadFloats(z []Float, parts ...[]float64) {
	k := 0
	for _, p := range parts {
		for _, v := range p {
			z[k] = Float(v)
			k++
		}
	}
}

// loadHyper writes the concatenation of parts into z as hyper-dual
// constants, then puts a unit E1 part on entry i and a unit E2 part on
// entry j (a negative index seeds nothing).
func loadHyper(z []HyperDual, i, j int, parts ...[]float64) {
	k := 0
	for _, p := range parts {
		for _, v := range p {
			z[k] = HyperDual{Real: v}
			k++
		}
	}
	if i >= 0 {
		z[i].E1mag = 1
	}
	if j >= 0 {
		z[j].E2mag = 1
	}
}

func (e *autoEval) Step(next, x, u, theta []float64) {
	xs, us, ts, ns := split(e.fin, e.dims)
	loadFloats(e.fin, x, u, theta)
	e.steps.Float(ns, xs, us, ts)
	for i, v := range ns {
		next[i] = float64(v)
	}
}

// loadDual sets the dual inputs to the point (x, u, θ) with unit
// infinitesimal part on input variable dir (x first, then u, then θ), or on
// none when dir < 0.
func (e *autoEval) loadDual(x, u, theta []float64, dir int) {
	n := e.dims.N + e.dims.M + e.dims.P
	z := e.din[:n]
	for i := range z {
		var v float64
		switch {
		case i < len(x):
			v = x[i]
		case i < len(x)+len(u):
			v = u[i-len(x)]
		default:
			v = theta[i-len(x)-len(u)]
		}
		z[i] = Dual{Real: v}
	}
	if dir >= 0 {
		z[dir].Emag = 1
	}
}

// dualColumn evaluates the step with unit direction dir and writes the
// derivative of next into column col of dst (row stride ld). It also writes
// the value into next when next is not nil.
func (e *autoEval) dualColumn(dst []float64, ld, col int, next, x, u, theta []float64, dir int) {
	e.loadDual(x, u, theta, dir)
	xs, us, ts, ns := split(e.din, e.dims)
	e.steps.Dual(ns, xs, us, ts)
	for i, v := range ns {
		dst[i*ld+col] = v.Emag
		if next != nil {
			next[i] = v.Real
		}
	}
}

func (e *autoEval) Linearize(next, fx, fu, x, u, theta []float64) {
	n, m := e.dims.N, e.dims.M
	for j := 0; j < n; j++ {
		out := next
		if j > 0 {
			out = nil
		}
		e.dualColumn(fx, n, j, out, x, u, theta, j)
	}
	for j := 0; j < m; j++ {
		e.dualColumn(fu, m, j, nil, x, u, theta, n+j)
	}
}

func (e *autoEval) ParamJacobian(ft, x, u, theta []float64) {
	n, m, p := e.dims.N, e.dims.M, e.dims.P
	for j := 0; j < p; j++ {
		e.dualColumn(ft, p, j, nil, x, u, theta, n+m+j)
	}
}

func (e *autoEval) LagrangianHessian(h, lambda, x, u, theta []float64) {
	n, m, p := e.dims.N, e.dims.M, e.dims.P
	nt, nz := n+m, n+m+p
	z := e.hin[:nz]
	xs, us, ts, ns := split(e.hin, e.dims)
	for i := 0; i < nt; i++ {
		for j := i; j < nz; j++ {
			loadHyper(z, i, j, x, u, theta)
			e.steps.HyperDual(ns, xs, us, ts)
			var s float64
			for k, v := range ns {
				s += lambda[k] * v.E1E2mag
			}
			h[i*nz+j] = s
			if j < nt {
				h[j*nz+i] = s
			}
		}
	}
}
