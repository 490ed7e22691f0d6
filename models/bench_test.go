package models

import (
	"math/rand/v2"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
)

// BenchmarkEvaluators times Linearize (called by the solver in its hot
// loop) and LagrangianHessian (called by the implicit gradient) for each
// model's automatic and, where it has one, hand-written evaluator, at one
// fixed random point.
func BenchmarkEvaluators(b *testing.B) {
	for _, tc := range dynCases() {
		rng := rand.New(rand.NewPCG(seed, 40))
		d := tc.dyn.Dims()
		n, m, p := d.N, d.M, d.P
		x, u, theta := tc.sample(rng, 0)
		lambda := fdtest.NormalsFrom(rng, n)
		next, fx, fu := make([]float64, n), make([]float64, n*n), make([]float64, n*m)
		h := make([]float64, (n+m)*(n+m+p))
		names, evs := evaluators(tc.dyn)
		for k, ev := range evs {
			b.Run(tc.name+"/"+names[k]+"/Linearize", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					ev.Linearize(next, fx, fu, x, u, theta)
				}
			})
			b.Run(tc.name+"/"+names[k]+"/LagrangianHessian", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					ev.LagrangianHessian(h, lambda, x, u, theta)
				}
			})
		}
	}
}
