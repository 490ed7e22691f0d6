package models

import "fmt"

// FullQuadCost is g(τ) = ½ τᵀ Q τ + pᵀ τ with τ = (x, u), Q a full K×K
// matrix (cross terms between x and u allowed) and p a K-vector, K = N+M:
// mpc.pytorch's QuadCost(C, c). Its parameters are φ = (Q row-major, p),
// Q = K² + K entries, each an independent variable:
//
//	∇g = ½(Q + Qᵀ)τ + p,   ∇²g = ½(Q + Qᵀ),
//	∂g/∂Q_ij = ½ τ_i τ_j,  ∂²g/∂τ_a∂Q_ij = ½(δ_ai τ_j + δ_aj τ_i),
//	∂²g/∂τ_a∂p_j = δ_aj,
//
// so the gradient with respect to a symmetric Q is symmetric, with
// off-diagonal entries not doubled. The solver needs ½(Q + Qᵀ) positive
// semidefinite in the controls' block, as any quadratic cost does.
type FullQuadCost struct{ costParams }

// NewFullQuadCost returns the full quadratic cost for n states and m
// controls with default parameters Q (K×K row-major, K = n+m) and p (K),
// copied.
func NewFullQuadCost(n, m int, q, p []float64) (*FullQuadCost, error) {
	k := n + m
	c, err := newCostParams("full quadratic cost", "Q", "p", n, m, q, p, k*k, k)
	if err != nil {
		return nil, err
	}
	return &FullQuadCost{c}, nil
}

// FullFromQuad returns the full quadratic cost equal to c: Q = diag(q).
func FullFromQuad(c *QuadCost) *FullQuadCost {
	k := c.n + c.m
	q := make([]float64, k*k)
	for i := 0; i < k; i++ {
		q[i*k+i] = c.phi[i]
	}
	return &FullQuadCost{costParams{n: c.n, m: c.m, phi: append(q, c.phi[k:]...)}}
}

// Name implements Cost.
func (c *FullQuadCost) Name() string { return fmt.Sprintf("fullquad(n=%d,m=%d)", c.n, c.m) }

// NewEvaluator implements Cost.
func (c *FullQuadCost) NewEvaluator() CostEvaluator {
	return &fullQuadEval{n: c.n, k: c.n + c.m, tau: make([]float64, c.n+c.m)}
}

type fullQuadEval struct {
	n, k int
	tau  []float64
}

// load copies τ = (x, u) into e.tau and returns it.
func (e *fullQuadEval) load(x, u []float64) []float64 {
	copy(e.tau, x)
	copy(e.tau[e.n:], u)
	return e.tau
}

func (e *fullQuadEval) Value(x, u, phi []float64) float64 {
	k := e.k
	t := e.load(x, u)
	q, p := phi[:k*k], phi[k*k:k*k+k]
	var g float64
	for i, ti := range t {
		var s float64
		for j, tj := range t {
			s += q[i*k+j] * tj
		}
		g += ti * (0.5*s + p[i])
	}
	return g
}

func (e *fullQuadEval) Quadratize(grad, hess, x, u, phi []float64) float64 {
	k := e.k
	t := e.load(x, u)
	q, p := phi[:k*k], phi[k*k:k*k+k]
	var g float64
	for i, ti := range t {
		var s, sg float64
		for j, tj := range t {
			h := 0.5 * (q[i*k+j] + q[j*k+i])
			hess[i*k+j] = h
			s += q[i*k+j] * tj
			sg += h * tj
		}
		g += ti * (0.5*s + p[i])
		grad[i] = sg + p[i]
	}
	return g
}

func (e *fullQuadEval) Mixed(dst, x, u, phi []float64) {
	k := e.k
	nq := k*k + k
	t := e.load(x, u)
	clear(dst[:k*nq])
	for a := 0; a < k; a++ {
		row := dst[a*nq : (a+1)*nq]
		for j := 0; j < k; j++ {
			row[a*k+j] += 0.5 * t[j] // δ_ai τ_j with i = a
			row[j*k+a] += 0.5 * t[j] // δ_aj τ_i with j = a
		}
		row[k*k+a] = 1
	}
}
