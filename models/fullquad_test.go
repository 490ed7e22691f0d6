package models

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
)

// TestFullQuadCostDerivatives checks the full quadratic cost's gradient,
// Hessian and mixed derivatives against central differences, with an
// asymmetric Q (the derivative with respect to each entry is independent),
// and its agreement with QuadCost for a diagonal Q.
func TestFullQuadCostDerivatives(t *testing.T) {
	const n, m = 3, 2
	k := n + m
	rng := rand.New(rand.NewPCG(5, 5))
	q := fdtest.NormalsFrom(rng, k*k)
	p := fdtest.NormalsFrom(rng, k)
	c, err := NewFullQuadCost(n, m, q, p)
	if err != nil {
		t.Fatal(err)
	}
	e := c.NewEvaluator()
	phi := c.DefaultParams()
	z := fdtest.NormalsFrom(rng, k)
	x, u := z[:n], z[n:]
	grad, hess := make([]float64, k), make([]float64, k*k)
	g := e.Quadratize(grad, hess, x, u, phi)
	if v := e.Value(x, u, phi); math.Abs(v-g) > 1e-14*math.Max(1, math.Abs(g)) {
		t.Errorf("Quadratize returns %g, Value %g", g, v)
	}
	valueAt := func(zz, ph []float64) float64 { return e.Value(zz[:n], zz[n:], ph) }
	gradAt := func(dst, zz []float64) {
		h := make([]float64, k*k)
		e.Quadratize(dst, h, zz[:n], zz[n:], phi)
	}
	fdGrad := fdtest.CentralDiff(z, 1e-4, 1, func() float64 { return valueAt(z, phi) })
	if err, at := fdtest.RelErr(grad, fdGrad); err > 1e-9 {
		t.Errorf("gradient[%d] %g, finite differences %g", at, grad[at], fdGrad[at])
	}
	fdHess := fdtest.CentralJacobian(gradAt, k, z, fdtest.Span(0, k), 5e-6)
	if err, at := fdtest.RelErr(hess, fdHess); err > 1e-8 {
		t.Errorf("Hessian[%d] %g, finite differences %g", at, hess[at], fdHess[at])
	}
	// Mixed: the Jacobian of ∇_τ g with respect to φ.
	nq := k*k + k
	mixed := make([]float64, k*nq)
	e.Mixed(mixed, x, u, phi)
	ph := append([]float64(nil), phi...)
	fdMixed := fdtest.CentralJacobian(func(dst, pp []float64) {
		h := make([]float64, k*k)
		e.Quadratize(dst, h, x, u, pp)
	}, k, ph, fdtest.Span(0, nq), 5e-6)
	if err, at := fdtest.RelErr(mixed, fdMixed); err > 1e-8 {
		t.Errorf("mixed[%d] %g, finite differences %g", at, mixed[at], fdMixed[at])
	}
	// ∂g/∂Q_ij = ½ τ_i τ_j for every entry independently.
	fdQ := fdtest.CentralDiff(ph[:k*k], 1e-4, 1, func() float64 { return valueAt(z, ph) })
	for i := 0; i < k; i++ {
		for j := 0; j < k; j++ {
			if d := math.Abs(fdQ[i*k+j] - 0.5*z[i]*z[j]); d > 1e-9 {
				t.Errorf("dg/dQ[%d,%d] = %g, want ½τ_iτ_j = %g", i, j, fdQ[i*k+j], 0.5*z[i]*z[j])
			}
		}
	}
	// Diagonal Q: the same cost as QuadCost.
	qc, _ := NewQuadCost(n, m, []float64{1, 2, 3, 4, 5}, p)
	fc := FullFromQuad(qc)
	if a, b := qc.NewEvaluator().Value(x, u, qc.DefaultParams()), fc.NewEvaluator().Value(x, u, fc.DefaultParams()); math.Abs(a-b) > 1e-14 {
		t.Errorf("FullFromQuad: %g, QuadCost %g", b, a)
	}
}
