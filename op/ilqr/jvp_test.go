package ilqr_test

import (
	"math"
	"slices"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
	"github.com/dilqr/dilqr/op/ilqr"
)

// along returns in moved by h along dir (every field of dir set).
func along(in ilqr.Inputs, dir ilqr.Direction, h float64) ilqr.Inputs {
	axpy := func(v, d []float64) []float64 {
		out := slices.Clone(v)
		for i := range out {
			out[i] += h * d[i]
		}
		return out
	}
	in.X0 = axpy(in.X0, dir.X0)
	in.Theta = axpy(in.Theta, dir.Theta)
	in.Phi = axpy(in.Phi, dir.Phi)
	in.Lower = axpy(in.Lower, dir.Lower)
	in.Upper = axpy(in.Upper, dir.Upper)
	return in
}

// TestJVP checks the forward-mode sensitivities on the general cases
// (time-varying diagonal and full costs, bounds per step and example with
// some active, three models): the JVP against the gradient,
// ⟨v, Jᵀw⟩ = ⟨Jv, w⟩ to 1e-10, and against central differences of the
// re-solved problem along v.
func TestJVP(t *testing.T) {
	for ci, c := range slices.Concat(generalCases(), fullCostCases()) {
		t.Run(c.name, func(t *testing.T) {
			sv, base := solveConverged(t, c.prob, &gradTight, c.in)
			seed := uint64(50 + 10*ci)
			dir := ilqr.Direction{
				X0: fdtest.Normals(seed, len(c.in.X0)), Theta: fdtest.Normals(seed+1, len(c.in.Theta)),
				Phi: fdtest.Normals(seed+2, len(c.in.Phi)), Lower: fdtest.Normals(seed+3, len(c.in.Lower)),
				Upper: fdtest.Normals(seed+4, len(c.in.Upper)),
			}
			// Scale θ's and φ's directions to their entries' sizes.
			for i := range dir.Theta {
				dir.Theta[i] *= 0.1 * math.Abs(c.in.Theta[i])
			}
			for i := range dir.Phi {
				dir.Phi[i] *= 0.1 * math.Max(math.Abs(c.in.Phi[i]), 0.01)
			}
			var tg ilqr.Tangent
			if err := sv.JVP(&tg, base, c.in, dir, ilqr.GradOptions{}); err != nil {
				t.Fatal(err)
			}
			for e, st := range tg.Status {
				if st != ilqr.GradOK {
					t.Fatalf("example %d: tangent status %v", e, st)
				}
			}
			// Adjoint identity with the gradient.
			wx, wu := fdtest.Normals(seed+5, len(base.X)), fdtest.Normals(seed+6, len(base.U))
			var g ilqr.Grads
			if err := sv.Gradient(&g, base, c.in, wx, wu, ilqr.GradOptions{}); err != nil {
				t.Fatal(err)
			}
			p := len(c.in.Theta)
			thetaSum := make([]float64, p)
			for i, v := range g.Theta {
				thetaSum[i%p] += v
			}
			vjp := fdtest.Dot(dir.X0, g.X0) + fdtest.Dot(dir.Theta, thetaSum) + fdtest.Dot(dir.Phi, g.Phi) +
				fdtest.Dot(dir.Lower, g.Lower) + fdtest.Dot(dir.Upper, g.Upper)
			jvp := fdtest.Dot(wx, tg.X) + fdtest.Dot(wu, tg.U)
			rel := math.Abs(vjp-jvp) / math.Max(math.Abs(vjp), 1e-300)
			t.Logf("⟨v, Jᵀw⟩ = %.15g, ⟨Jv, w⟩ = %.15g (relative difference %.1e)", vjp, jvp, rel)
			if !(rel <= 1e-10) {
				t.Errorf("adjoint identity off by %.2e", rel)
			}
			// Central differences along the direction.
			const h = 1e-5
			active := onBounds(c.in, base.U)
			solve := func(in ilqr.Inputs) *ilqr.Result { return resolve(t, sv, in, base.U, active, onBounds) }
			rp, rm := solve(along(c.in, dir, h)), solve(along(c.in, dir, -h))
			fd := make([]float64, 0, len(base.X)+len(base.U))
			for i := range base.X {
				fd = append(fd, (rp.X[i]-rm.X[i])/(2*h))
			}
			for i := range base.U {
				fd = append(fd, (rp.U[i]-rm.U[i])/(2*h))
			}
			e, at := fdtest.RelErr(slices.Concat(tg.X, tg.U), fd)
			t.Logf("Jv against central differences: worst relative error %.2e", e)
			if !(e <= 1e-6) {
				t.Errorf("Jv[%d] = %g, central differences %g (error %.2e)", at, slices.Concat(tg.X, tg.U)[at], fd[at], e)
			}
		})
	}
}
