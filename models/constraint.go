package models

import (
	"fmt"
	"math"
)

// ConstraintDims are the sizes of a per-step constraint: N state entries,
// M controls, C rows and R learnable parameters ψ.
type ConstraintDims struct {
	N, M, C, R int
}

// Constraint is a per-step vector constraint c(x, u; ψ) ≤ 0 (every row) with
// learnable parameters ψ: a state limit, an obstacle, a glide slope. A
// planner imposes it on the states x_1..x_{T−1} (x_0 is given) and the
// controls of the same steps. A row may be −Inf to switch it off (an
// unbounded entry of StateBounds). Implementations are immutable and safe
// for concurrent use.
type Constraint interface {
	// Name identifies the constraint's form and fixed constants.
	Name() string
	// Dims returns the state, control, row and parameter sizes.
	Dims() ConstraintDims
	// DefaultParams returns a fresh copy of the nominal ψ.
	DefaultParams() []float64
	// NewEvaluator returns an evaluator with its own scratch space, for
	// use by one goroutine at a time.
	NewEvaluator() ConstraintEvaluator
}

// ConstraintEvaluator computes c and its exact derivatives with respect to
// τ = (x, u) and ψ. Matrices are dense and row-major; no method allocates
// or modifies its inputs.
type ConstraintEvaluator interface {
	// Value writes c(x, u; ψ) into dst (C).
	Value(dst, x, u, psi []float64)
	// Linearize writes c into dst (C) and ∂c/∂τ into jac (C×(N+M)).
	Linearize(dst, jac, x, u, psi []float64)
	// Curvature adds Σ_i w_i ∇²_ττ c_i to hess ((N+M)×(N+M)); rows with
	// w_i = 0 cost nothing.
	Curvature(hess, w, x, u, psi []float64)
	// ParamDerivatives writes ∂c/∂ψ into cpsi (C×R) and
	// Σ_i w_i ∂²c_i/∂τ∂ψ into mixed ((N+M)×R).
	ParamDerivatives(cpsi, mixed, w, x, u, psi []float64)
}

// ConstraintFunc is a constraint written once for every Scalar type: it
// writes the C rows of c(x, u; ψ) into dst.
type ConstraintFunc[T Scalar[T]] func(dst, x, u, psi []T)

// ConstraintFuncs holds one generic constraint function instantiated for
// plain values and hyper-dual numbers.
type ConstraintFuncs struct {
	Float     ConstraintFunc[Float]
	HyperDual ConstraintFunc[HyperDual]
}

// AutoConstraint is a Constraint whose derivatives come from hyper-dual
// automatic differentiation of its function, as AutoCost's do: one
// evaluation (of all C rows) per direction or pair of directions in (τ, ψ).
type AutoConstraint struct {
	name  string
	dims  ConstraintDims
	psi   []float64
	funcs ConstraintFuncs
	check func(psi []float64) error
}

// NewAutoConstraint returns a Constraint for the functions in f. name must
// identify the function and its fixed constants; psi is the nominal ψ
// (length dims.R), copied. check, when not nil, is the parameter domain
// (see CheckParams); without it ψ must be finite.
func NewAutoConstraint(name string, dims ConstraintDims, psi []float64, f ConstraintFuncs, check func(psi []float64) error) (*AutoConstraint, error) {
	switch {
	case dims.N < 1 || dims.M < 1 || dims.C < 1 || dims.R < 0:
		return nil, fmt.Errorf("models: invalid constraint dimensions %+v", dims)
	case len(psi) != dims.R:
		return nil, fmt.Errorf("models: %d default constraint parameters for R=%d", len(psi), dims.R)
	case f.Float == nil || f.HyperDual == nil:
		return nil, fmt.Errorf("models: %s: both constraint instantiations are required", name)
	}
	c := &AutoConstraint{name: name, dims: dims, psi: append([]float64(nil), psi...), funcs: f, check: check}
	if err := c.CheckParams(c.psi); err != nil {
		return nil, err
	}
	return c, nil
}

// Name implements Constraint.
func (c *AutoConstraint) Name() string { return c.name }

// Dims implements Constraint.
func (c *AutoConstraint) Dims() ConstraintDims { return c.dims }

// DefaultParams implements Constraint.
func (c *AutoConstraint) DefaultParams() []float64 { return append([]float64(nil), c.psi...) }

// CheckParams implements ParamChecker for ψ: the length, then the check
// given to NewAutoConstraint, or finiteness without one.
func (c *AutoConstraint) CheckParams(psi []float64) error {
	if len(psi) != c.dims.R {
		return fmt.Errorf("models: %s: %d parameters, want %d", c.name, len(psi), c.dims.R)
	}
	if c.check != nil {
		return c.check(psi)
	}
	for i, v := range psi {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("models: %s: parameter %d = %g is not finite", c.name, i, v)
		}
	}
	return nil
}

// NewEvaluator implements Constraint.
func (c *AutoConstraint) NewEvaluator() ConstraintEvaluator {
	d := c.dims
	k := d.N + d.M + d.R
	return &autoConstraintEval{d: d, f: c.funcs, fin: make([]Float, k+d.C), hin: make([]HyperDual, k+d.C)}
}

type autoConstraintEval struct {
	d   ConstraintDims
	f   ConstraintFuncs
	fin []Float     // x, u, ψ, then the C outputs
	hin []HyperDual // the same for hyper-duals
}

func (e *autoConstraintEval) Value(dst, x, u, psi []float64) {
	n, m, r := e.d.N, e.d.M, e.d.R
	z := e.fin
	loadFloats(z, x, u, psi)
	out := z[n+m+r:]
	e.f.Float(out, z[:n], z[n:n+m], z[n+m:n+m+r])
	for i, v := range out {
		dst[i] = float64(v)
	}
}

// hyper evaluates c with unit E1 on variable i and unit E2 on variable j of
// z = (x, u, ψ) (a negative index seeds nothing) and returns the outputs.
func (e *autoConstraintEval) hyper(x, u, psi []float64, i, j int) []HyperDual {
	n, m, r := e.d.N, e.d.M, e.d.R
	z := e.hin
	loadHyper(z, i, j, x, u, psi)
	out := z[n+m+r:]
	e.f.HyperDual(out, z[:n], z[n:n+m], z[n+m:n+m+r])
	return out
}

func (e *autoConstraintEval) Linearize(dst, jac, x, u, psi []float64) {
	k := e.d.N + e.d.M
	for j := 0; j < k; j++ {
		out := e.hyper(x, u, psi, j, -1)
		for i, v := range out {
			jac[i*k+j] = v.E1mag
			if j == 0 {
				dst[i] = v.Real
			}
		}
	}
}

func (e *autoConstraintEval) Curvature(hess, w, x, u, psi []float64) {
	if allZero(w) {
		return
	}
	k := e.d.N + e.d.M
	for a := 0; a < k; a++ {
		for b := a; b < k; b++ {
			var s float64
			for i, v := range e.hyper(x, u, psi, a, b) {
				s += w[i] * v.E1E2mag
			}
			hess[a*k+b] += s
			if b != a {
				hess[b*k+a] += s
			}
		}
	}
}

func (e *autoConstraintEval) ParamDerivatives(cpsi, mixed, w, x, u, psi []float64) {
	k, r := e.d.N+e.d.M, e.d.R
	for j := 0; j < r; j++ {
		for i, v := range e.hyper(x, u, psi, k+j, -1) {
			cpsi[i*r+j] = v.E1mag
		}
	}
	clear(mixed[:k*r])
	if allZero(w) {
		return
	}
	for a := 0; a < k; a++ {
		for j := 0; j < r; j++ {
			var s float64
			for i, v := range e.hyper(x, u, psi, a, k+j) {
				s += w[i] * v.E1E2mag
			}
			mixed[a*r+j] = s
		}
	}
}

func allZero(v []float64) bool {
	for _, x := range v {
		if x != 0 {
			return false
		}
	}
	return true
}

// StateBounds is the constraint lower ≤ x ≤ upper on every state entry, with
// ψ = (lower, upper) (2N entries; ±Inf leaves an entry unbounded). Its 2N
// rows are lower_i − x_i (rows 0..N−1) and x_i − upper_i (rows N..2N−1);
// the derivatives are written by hand (the constraint is linear). Bounds
// that vary along the horizon are per-step ψ (ilqr.Inputs.PsiPerStep).
type StateBounds struct {
	n, m  int
	bound []float64
}

// NewStateBounds returns the state bounds for n states and m controls with
// nominal lower and upper limits (length n each; ±Inf for no bound).
func NewStateBounds(n, m int, lower, upper []float64) (*StateBounds, error) {
	if n < 1 || m < 1 {
		return nil, fmt.Errorf("models: state bounds: invalid sizes n=%d m=%d", n, m)
	}
	if len(lower) != n || len(upper) != n {
		return nil, fmt.Errorf("models: state bounds: %d lower and %d upper limits, want %d", len(lower), len(upper), n)
	}
	b := &StateBounds{n: n, m: m, bound: append(append([]float64(nil), lower...), upper...)}
	if err := b.CheckParams(b.bound); err != nil {
		return nil, err
	}
	return b, nil
}

// Name implements Constraint.
func (b *StateBounds) Name() string { return fmt.Sprintf("state_bounds(n=%d,m=%d)", b.n, b.m) }

// Dims implements Constraint.
func (b *StateBounds) Dims() ConstraintDims {
	return ConstraintDims{N: b.n, M: b.m, C: 2 * b.n, R: 2 * b.n}
}

// DefaultParams implements Constraint.
func (b *StateBounds) DefaultParams() []float64 { return append([]float64(nil), b.bound...) }

// CheckParams rejects a ψ of the wrong length, NaN, lower > upper, and a
// bound that admits no finite state (lower = +Inf or upper = −Inf).
func (b *StateBounds) CheckParams(psi []float64) error {
	if len(psi) != 2*b.n {
		return fmt.Errorf("models: state bounds: %d parameters, want 2N=%d", len(psi), 2*b.n)
	}
	for i := 0; i < b.n; i++ {
		lo, hi := psi[i], psi[b.n+i]
		switch {
		case math.IsNaN(lo) || math.IsNaN(hi):
			return fmt.Errorf("models: state bounds: NaN bound on state %d", i)
		case lo > hi:
			return fmt.Errorf("models: state bounds: lower %g > upper %g on state %d", lo, hi, i)
		case math.IsInf(lo, 1) || math.IsInf(hi, -1):
			return fmt.Errorf("models: state bounds: [%g, %g] on state %d admits no finite state", lo, hi, i)
		}
	}
	return nil
}

// NewEvaluator implements Constraint.
func (b *StateBounds) NewEvaluator() ConstraintEvaluator { return stateBoundsEval{n: b.n, m: b.m} }

type stateBoundsEval struct{ n, m int }

func (e stateBoundsEval) Value(dst, x, _, psi []float64) {
	n := e.n
	for i, v := range x {
		dst[i] = psi[i] - v
		dst[n+i] = v - psi[n+i]
	}
}

func (e stateBoundsEval) Linearize(dst, jac, x, u, psi []float64) {
	n, k := e.n, e.n+e.m
	e.Value(dst, x, u, psi)
	clear(jac[:2*n*k])
	for i := 0; i < n; i++ {
		jac[i*k+i] = -1
		jac[(n+i)*k+i] = 1
	}
}

func (stateBoundsEval) Curvature(_, _, _, _, _ []float64) {}

func (e stateBoundsEval) ParamDerivatives(cpsi, mixed, _, _, _, _ []float64) {
	n, r := e.n, 2*e.n
	clear(cpsi[:2*n*r])
	clear(mixed[:(e.n+e.m)*r])
	for i := 0; i < n; i++ {
		cpsi[i*r+i] = 1
		cpsi[(n+i)*r+n+i] = -1
	}
}

// CircleObstacle is the constraint that a planar point of the state stays
// outside a disc, ‖(x_i, x_j) − (c_x, c_y)‖ ≥ r, with ψ = (c_x, c_y, r). Its
// one row is r² − ‖(x_i, x_j) − (c_x, c_y)‖² ≤ 0, the same set as
// r − ‖·‖ ≤ 0 for r ≥ 0 but smooth everywhere (the distance is not
// differentiable at the centre), written once generically
// (AutoConstraint). A solution and its gradient do not depend on which
// of the two is used; the row's value and the multipliers do.
func CircleObstacle(n, m, i, j int, cx, cy, r float64) (*AutoConstraint, error) {
	if i < 0 || j < 0 || i >= n || j >= n || i == j {
		return nil, fmt.Errorf("models: circle obstacle: position entries %d, %d invalid for n=%d", i, j, n)
	}
	dims := ConstraintDims{N: n, M: m, C: 1, R: 3}
	check := func(psi []float64) error {
		for k, v := range psi {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("models: circle obstacle: parameter %d = %g is not finite", k, v)
			}
		}
		if psi[2] < 0 {
			return fmt.Errorf("models: circle obstacle: radius %g < 0", psi[2])
		}
		return nil
	}
	return NewAutoConstraint(fmt.Sprintf("circle_obstacle(n=%d,m=%d,x=%d,y=%d)", n, m, i, j), dims,
		[]float64{cx, cy, r}, ConstraintFuncs{
			Float:     circleObstacle[Float](i, j),
			HyperDual: circleObstacle[HyperDual](i, j),
		}, check)
}

func circleObstacle[T Scalar[T]](i, j int) ConstraintFunc[T] {
	return func(dst, x, _, psi []T) {
		dx, dy := x[i].Sub(psi[0]), x[j].Sub(psi[1])
		dst[0] = psi[2].Mul(psi[2]).Sub(dx.Mul(dx).Add(dy.Mul(dy)))
	}
}
