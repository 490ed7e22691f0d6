package models

import "fmt"

// CostDims are the sizes of a per-step cost: N state entries, M controls and
// Q learnable parameters.
type CostDims struct {
	N, M, Q int
}

// Cost is a per-step cost g(x, u; φ) with learnable parameters φ. The
// trajectory cost sums g over all T steps. Implementations are immutable and
// safe for concurrent use.
type Cost interface {
	// Name identifies the cost's form and fixed constants.
	Name() string
	// Dims returns the state, control and parameter sizes.
	Dims() CostDims
	// DefaultParams returns a fresh copy of the nominal φ.
	DefaultParams() []float64
	// NewEvaluator returns an evaluator with its own scratch space, for use by
	// one goroutine at a time.
	NewEvaluator() CostEvaluator
}

// CostEvaluator computes g and its exact derivatives with respect to
// τ = (x, u) and φ. Matrices are dense and row-major; no method allocates or
// modifies its inputs.
type CostEvaluator interface {
	// Value returns g(x, u; φ).
	Value(x, u, phi []float64) float64
	// Quadratize writes ∇_τ g into grad (N+M) and ∇²_ττ g into hess
	// ((N+M)×(N+M)), and returns g.
	Quadratize(grad, hess, x, u, phi []float64) float64
	// Mixed writes ∂²g/∂τ∂φ into dst ((N+M)×Q).
	Mixed(dst, x, u, phi []float64)
}

// QuadCost is g(τ) = ½ τᵀ diag(q) τ + pᵀ τ with τ = (x, u) and learnable
// φ = (q, p), each of length N+M (mpc.pytorch's QuadCost with a diagonal C).
// Its derivatives are written by hand: ∇g = q⊙τ + p, ∇²g = diag(q),
// ∂²g/∂τ_i∂q_j = δ_ij τ_i and ∂²g/∂τ_i∂p_j = δ_ij.
type QuadCost struct{ costParams }

// NewQuadCost returns the quadratic cost for n states and m controls with
// default parameters q and p (each of length n+m, copied).
func NewQuadCost(n, m int, q, p []float64) (*QuadCost, error) {
	c, err := newCostParams("quadratic cost", "q", "p", n, m, q, p, n+m, n+m)
	if err != nil {
		return nil, err
	}
	return &QuadCost{c}, nil
}

// costParams holds the sizes of a cost with hand-written derivatives and
// its default parameters φ = (a, b), two vectors.
type costParams struct {
	n, m int
	phi  []float64
}

// newCostParams checks the sizes n, m ≥ 1 and that a and b have lengths
// la and lb, and returns them with φ = (a, b), copied. cost, aName and
// bName name the cost and the vectors in errors.
func newCostParams(cost, aName, bName string, n, m int, a, b []float64, la, lb int) (costParams, error) {
	if n < 1 || m < 1 {
		return costParams{}, fmt.Errorf("models: %s: invalid sizes n=%d m=%d", cost, n, m)
	}
	if len(a) != la || len(b) != lb {
		return costParams{}, fmt.Errorf("models: %s: %s needs length %d and %s %d, have %d and %d", cost, aName, la, bName, lb, len(a), len(b))
	}
	return costParams{n: n, m: m, phi: append(append([]float64(nil), a...), b...)}, nil
}

// Dims implements Cost: Q is the length of φ.
func (c costParams) Dims() CostDims { return CostDims{N: c.n, M: c.m, Q: len(c.phi)} }

// DefaultParams implements Cost.
func (c costParams) DefaultParams() []float64 { return append([]float64(nil), c.phi...) }

// Name implements Cost.
func (c *QuadCost) Name() string { return fmt.Sprintf("quad(n=%d,m=%d)", c.n, c.m) }

// NewEvaluator implements Cost. The quadratic cost needs no scratch.
func (c *QuadCost) NewEvaluator() CostEvaluator { return quadEval{k: c.n + c.m, n: c.n} }

type quadEval struct{ k, n int }

// tau returns τ_i, reading x or u.
func (e quadEval) tau(x, u []float64, i int) float64 {
	if i < e.n {
		return x[i]
	}
	return u[i-e.n]
}

func (e quadEval) Value(x, u, phi []float64) float64 {
	q, p := phi[:e.k], phi[e.k:2*e.k]
	var g float64
	for i := 0; i < e.k; i++ {
		t := e.tau(x, u, i)
		g += 0.5*q[i]*t*t + p[i]*t
	}
	return g
}

func (e quadEval) Quadratize(grad, hess, x, u, phi []float64) float64 {
	q, p := phi[:e.k], phi[e.k:2*e.k]
	clear(hess[:e.k*e.k])
	var g float64
	for i := 0; i < e.k; i++ {
		t := e.tau(x, u, i)
		g += 0.5*q[i]*t*t + p[i]*t
		grad[i] = q[i]*t + p[i]
		hess[i*e.k+i] = q[i]
	}
	return g
}

func (e quadEval) Mixed(dst, x, u, phi []float64) {
	nq := 2 * e.k
	clear(dst[:e.k*nq])
	for i := 0; i < e.k; i++ {
		dst[i*nq+i] = e.tau(x, u, i)
		dst[i*nq+e.k+i] = 1
	}
}

// GoalCost is the goal-weighted cost g(τ) = ‖w ⊙ (τ − τ_goal)‖² with learnable
// φ = (w, τ_goal), each of length N+M. It equals the quadratic cost with
// q = 2w², p = −2w²⊙τ_goal plus the constant Σ w²τ_goal² (see ToQuad).
type GoalCost struct{ costParams }

// NewGoalCost returns the goal-weighted cost for n states and m controls with
// default weights w and goal (each of length n+m, copied).
func NewGoalCost(n, m int, w, goal []float64) (*GoalCost, error) {
	c, err := newCostParams("goal cost", "w", "goal", n, m, w, goal, n+m, n+m)
	if err != nil {
		return nil, err
	}
	return &GoalCost{c}, nil
}

// Name implements Cost.
func (c *GoalCost) Name() string { return fmt.Sprintf("goal(n=%d,m=%d)", c.n, c.m) }

// ToQuad writes the quadratic-cost parameters (q, p) equivalent to the goal
// parameters phi = (w, τ_goal) into dst (length 2(N+M)) and returns the
// constant that the quadratic form omits.
func (c *GoalCost) ToQuad(dst, phi []float64) float64 {
	k := c.n + c.m
	w, goal := phi[:k], phi[k:2*k]
	var c0 float64
	for i := 0; i < k; i++ {
		w2 := w[i] * w[i]
		dst[i] = 2 * w2
		dst[k+i] = -2 * w2 * goal[i]
		c0 += w2 * goal[i] * goal[i]
	}
	return c0
}

// NewEvaluator implements Cost.
func (c *GoalCost) NewEvaluator() CostEvaluator { return goalEval{quadEval{k: c.n + c.m, n: c.n}} }

type goalEval struct{ quadEval }

func (e goalEval) Value(x, u, phi []float64) float64 {
	w, goal := phi[:e.k], phi[e.k:2*e.k]
	var g float64
	for i := 0; i < e.k; i++ {
		d := w[i] * (e.tau(x, u, i) - goal[i])
		g += d * d
	}
	return g
}

func (e goalEval) Quadratize(grad, hess, x, u, phi []float64) float64 {
	w, goal := phi[:e.k], phi[e.k:2*e.k]
	clear(hess[:e.k*e.k])
	var g float64
	for i := 0; i < e.k; i++ {
		w2 := w[i] * w[i]
		d := e.tau(x, u, i) - goal[i]
		wd := w[i] * d // as in Value, so both return the same g
		g += wd * wd
		grad[i] = 2 * w2 * d
		hess[i*e.k+i] = 2 * w2
	}
	return g
}

func (e goalEval) Mixed(dst, x, u, phi []float64) {
	w, goal := phi[:e.k], phi[e.k:2*e.k]
	nq := 2 * e.k
	clear(dst[:e.k*nq])
	for i := 0; i < e.k; i++ {
		dst[i*nq+i] = 4 * w[i] * (e.tau(x, u, i) - goal[i])
		dst[i*nq+e.k+i] = -2 * w[i] * w[i]
	}
}

// CostFunc is a per-step cost written once for every Scalar type.
type CostFunc[T Scalar[T]] func(x, u, phi []T) T

// CostFuncs holds one generic cost function instantiated for plain values
// and hyper-dual numbers.
type CostFuncs struct {
	Float     CostFunc[Float]
	HyperDual CostFunc[HyperDual]
}

// AutoCost is a Cost whose derivatives come from hyper-dual automatic
// differentiation of its cost function: one evaluation per pair of
// directions in (τ, φ) that the derivatives need.
type AutoCost struct {
	name  string
	dims  CostDims
	phi   []float64
	funcs CostFuncs
}

// NewAutoCost returns a Cost for the functions in f. name must identify the
// function and its fixed constants; phi is the nominal φ (length dims.Q).
func NewAutoCost(name string, dims CostDims, phi []float64, f CostFuncs) (*AutoCost, error) {
	switch {
	case dims.N < 1 || dims.M < 1 || dims.Q < 0:
		return nil, fmt.Errorf("models: invalid cost dimensions %+v", dims)
	case len(phi) != dims.Q:
		return nil, fmt.Errorf("models: %d default cost parameters for Q=%d", len(phi), dims.Q)
	case f.Float == nil || f.HyperDual == nil:
		return nil, fmt.Errorf("models: %s: both cost instantiations are required", name)
	}
	return &AutoCost{name: name, dims: dims, phi: append([]float64(nil), phi...), funcs: f}, nil
}

// Name implements Cost.
func (c *AutoCost) Name() string { return c.name }

// Dims implements Cost.
func (c *AutoCost) Dims() CostDims { return c.dims }

// DefaultParams implements Cost.
func (c *AutoCost) DefaultParams() []float64 { return append([]float64(nil), c.phi...) }

// NewEvaluator implements Cost.
func (c *AutoCost) NewEvaluator() CostEvaluator {
	k := c.dims.N + c.dims.M + c.dims.Q
	return &autoCostEval{d: c.dims, f: c.funcs, fin: make([]Float, k), hin: make([]HyperDual, k)}
}

type autoCostEval struct {
	d   CostDims
	f   CostFuncs
	fin []Float
	hin []HyperDual
}

func (e *autoCostEval) Value(x, u, phi []float64) float64 {
	n, m := e.d.N, e.d.M
	loadFloats(e.fin, x, u, phi)
	return float64(e.f.Float(e.fin[:n], e.fin[n:n+m], e.fin[n+m:n+m+e.d.Q]))
}

// hyper evaluates g with unit E1 on variable i and unit E2 on variable j of
// z = (x, u, φ).
func (e *autoCostEval) hyper(x, u, phi []float64, i, j int) HyperDual {
	n, m := e.d.N, e.d.M
	z := e.hin
	loadHyper(z, i, j, x, u, phi)
	return e.f.HyperDual(z[:n], z[n:n+m], z[n+m:n+m+e.d.Q])
}

func (e *autoCostEval) Quadratize(grad, hess, x, u, phi []float64) float64 {
	k := e.d.N + e.d.M
	var g float64
	for i := 0; i < k; i++ {
		for j := i; j < k; j++ {
			r := e.hyper(x, u, phi, i, j)
			if i == j {
				grad[i] = r.E1mag
				g = r.Real
			}
			hess[i*k+j] = r.E1E2mag
			hess[j*k+i] = r.E1E2mag
		}
	}
	return g
}

func (e *autoCostEval) Mixed(dst, x, u, phi []float64) {
	k, q := e.d.N+e.d.M, e.d.Q
	for i := 0; i < k; i++ {
		for j := 0; j < q; j++ {
			dst[i*q+j] = e.hyper(x, u, phi, i, k+j).E1E2mag
		}
	}
}
