package models

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

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

// neuralBenchHidden are the hidden widths of the network benchmarks: the
// peers' NNDynamics sizes in DESIGN.md, P = 515 and 17539 weights with
// the pendulum's n = 3, m = 1.
var neuralBenchHidden = [][]int{{64}, {128, 128}}

// BenchmarkNeuralEvaluator times the network evaluator per point
// (passthrough MLP, sigmoid, the pendulum's sizes): Linearize (the forward
// solve), LinearizeHessianTau (the gradient's first pass over the steps)
// and ContractParams (its second pass) over the same 9 points (T = 10),
// once after LinearizeHessianTau saw them ("cached") and once by an
// evaluator that did not ("fresh"); ns/point is per point.
func BenchmarkNeuralEvaluator(b *testing.B) {
	const steps = 9
	for _, hidden := range neuralBenchHidden {
		nd, err := NewMLPDynamics(3, 1, hidden, Sigmoid, true, 1)
		if err != nil {
			b.Fatal(err)
		}
		d := nd.Dims()
		n, m, p, k := d.N, d.M, d.P, d.N+d.M
		rng := rand.New(rand.NewPCG(seed, 41))
		theta := nd.DefaultParams()
		xs, us := fdtest.NormalsFrom(rng, steps*n), fdtest.NormalsFrom(rng, steps*m)
		lams, nus, ds := fdtest.NormalsFrom(rng, steps*n), fdtest.NormalsFrom(rng, steps*n), fdtest.NormalsFrom(rng, steps*k)
		next, fx, fu, h := make([]float64, n), make([]float64, n*n), make([]float64, n*m), make([]float64, k*k)
		dst := make([]float64, p)
		e := nd.NewEvaluator()
		pc := e.(ParamContractor)
		pass := func(f func(x, u, lam, nu, dd []float64)) {
			for s := range steps {
				f(xs[s*n:(s+1)*n], us[s*m:(s+1)*m], lams[s*n:(s+1)*n], nus[s*n:(s+1)*n], ds[s*k:(s+1)*k])
			}
		}
		linearize := func(x, u, lam, _, _ []float64) { pc.LinearizeHessianTau(next, fx, fu, h, lam, x, u, theta) }
		contract := func(x, u, lam, nu, dd []float64) { pc.ContractParams(dst, nu, lam, dd, x, u, theta) }
		fresh := nd.NewEvaluator().(ParamContractor) // an evaluator that never linearizes
		contractFresh := func(x, u, lam, nu, dd []float64) { fresh.ContractParams(dst, nu, lam, dd, x, u, theta) }
		prefix := fmt.Sprintf("hidden=%v/P=%d", hidden, p)
		for _, bc := range []struct {
			name string
			run  func()
		}{
			{"Linearize", func() { pass(func(x, u, _, _, _ []float64) { e.Linearize(next, fx, fu, x, u, theta) }) }},
			{"LinearizeHessianTau", func() { pass(linearize) }},
			{"ContractParams/cached", func() { pass(contract) }},
			{"ContractParams/fresh", func() { pass(contractFresh) }},
		} {
			pass(linearize)
			pass(contract) // the cache has grown to hold the points
			b.Run(prefix+"/"+bc.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					bc.run()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*steps), "ns/point")
			})
		}
	}
}

// BenchmarkNeuralBatchJacobian asks whether the gradient would gain from
// evaluating the network for the whole batch at once: it times the
// costliest product of a point's derivatives, J_lᵀ = G W_lᵀ with G the
// K×h tangents of the layer below (K = 4, h = 64, 96 or 128), for B = 20
// points: point by point with gonum's assembly dot per entry (what the
// evaluator did) and with gonum's Dgemv per tangent (what it does), and
// as one matrix-matrix product of 80 rows by gonum's Dgemm, once as one
// call (which gonum spreads over goroutines when the product has four
// blocks of 64 or more, allocating) and once in two calls of 40 rows
// (which stay on the calling goroutine). ns/op is for the batch.
//
// Measured on 2 cores (run with -cpu 1 for the single-core figures): gonum's
// Dgemm is built from its dot and axpy kernels, without a register-blocked
// kernel, so on one core the batch's product is no faster than point by
// point with the dot (0.92–0.95× the time at width 64, 1.05–1.2× at 96
// and 128); its gain on idle cores comes from the goroutines, and the
// gradient's workers already occupy every core. Dgemv's kernel, which
// takes four rows at a time, is 1.45–1.9× faster than the dot.
func BenchmarkNeuralBatchJacobian(b *testing.B) {
	const batch, k = 20, 4
	for _, h := range []int{64, 96, 128} {
		rng := rand.New(rand.NewPCG(seed, 42))
		w, g := fdtest.NormalsFrom(rng, h*h), fdtest.NormalsFrom(rng, batch*k*h)
		c := make([]float64, batch*k*h)
		W := blas64.General{Rows: h, Cols: h, Stride: h, Data: w}
		b.Run(fmt.Sprintf("h=%d/per-point/dot", h), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for pt := range batch {
					gp, cp := g[pt*k*h:(pt+1)*k*h], c[pt*k*h:(pt+1)*k*h]
					for i := 0; i < h; i++ {
						wr := w[i*h : (i+1)*h]
						for r := 0; r < k; r++ {
							cp[r*h+i] = dot64(wr, gp[r*h:(r+1)*h])
						}
					}
				}
			}
		})
		b.Run(fmt.Sprintf("h=%d/per-point/dgemv", h), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for r := range batch * k {
					matVec(c[r*h:(r+1)*h], w, g[r*h:(r+1)*h], 0)
				}
			}
		})
		for _, rows := range []int{batch * k, batch * k / 2} {
			name := "dgemm"
			if rows < batch*k {
				name = "dgemm-serial"
			}
			b.Run(fmt.Sprintf("h=%d/batch/%s", h, name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					for r := 0; r < batch*k; r += rows {
						G := blas64.General{Rows: rows, Cols: h, Stride: h, Data: g[r*h : (r+rows)*h]}
						C := blas64.General{Rows: rows, Cols: h, Stride: h, Data: c[r*h : (r+rows)*h]}
						blas64.Gemm(blas.NoTrans, blas.Trans, 1, G, W, 0, C)
					}
				}
			})
		}
	}
}
