package models

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestDerivativesMatchMethods checks that Derivatives gives bit for bit
// what Linearize, ParamJacobian and LagrangianHessian give, for the
// joint evaluators (pendulum, cart-pole) and the fallback (double
// pendulum), at random points.
func TestDerivativesMatchMethods(t *testing.T) {
	for _, task := range []Task{PendulumTask(), CartpoleTask(), DoublePendulumTask()} {
		d := task.Dynamics.Dims()
		n, m, p := d.N, d.M, d.P
		k := n + m
		e := task.Dynamics.NewEvaluator()
		rng := rand.New(rand.NewPCG(7, uint64(n)))
		for trial := 0; trial < 20; trial++ {
			x, u, lam := make([]float64, n), make([]float64, m), make([]float64, n)
			for i := range x {
				x[i] = rng.NormFloat64()
				lam[i] = rng.NormFloat64()
			}
			for i := range u {
				u[i] = rng.NormFloat64()
			}
			th := task.Dynamics.DefaultParams()
			next1, fx1, fu1 := make([]float64, n), make([]float64, n*n), make([]float64, n*m)
			ft1, h1 := make([]float64, n*p), make([]float64, k*(k+p))
			e.Linearize(next1, fx1, fu1, x, u, th)
			e.ParamJacobian(ft1, x, u, th)
			e.LagrangianHessian(h1, lam, x, u, th)
			next2, fx2, fu2 := make([]float64, n), make([]float64, n*n), make([]float64, n*m)
			ft2, h2 := make([]float64, n*p), make([]float64, k*(k+p))
			Derivatives(e, next2, fx2, fu2, ft2, h2, lam, x, u, th)
			for _, c := range []struct {
				name string
				a, b []float64
			}{{"next", next1, next2}, {"fx", fx1, fx2}, {"fu", fu1, fu2}, {"ft", ft1, ft2}, {"h", h1, h2}} {
				if !slices.Equal(c.a, c.b) {
					t.Fatalf("%s: %s differs: methods %v, Derivatives %v", task.Dynamics.Name(), c.name, c.a, c.b)
				}
			}
		}
	}
}
