package ilqr_test

// Gradients with respect to the general inputs, against central finite
// differences of the re-solved problem: cost parameters per step and per
// example (a time-varying cost), and control bounds per step and per
// example, with some controls on their bounds.

import (
	"math"
	"slices"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
)

// generalCase is a batch of two examples with per-step, per-example cost
// parameters and bounds.
type generalCase struct {
	name string
	prob ilqr.Problem
	in   ilqr.Inputs
}

// generalCases builds, for each task, two starts, a cost whose parameters
// vary by ±15% per step and example around the task's, and bounds per
// step and example tight enough that some controls sit on them.
func generalCases() []generalCase {
	type spec struct {
		task  models.Task
		t     int
		x0    []float64
		bound float64
	}
	specs := []spec{
		{models.PendulumTask(), 10, slices.Concat(fdtest.AngleState(0.5, 0.2), fdtest.AngleState(-0.4, 0)), 1},
		{models.CartpoleTask(), 10, []float64{0.1, -0.2, math.Cos(0.4), math.Sin(0.4), 0.3, 0, 0.1, math.Cos(-0.3), math.Sin(-0.3), 0}, 3},
		{models.DoublePendulumTask(), 8, nil, 0},
	}
	var out []generalCase
	for k, sp := range specs {
		task := sp.task
		d := task.Dynamics.Dims()
		if sp.x0 == nil { // double pendulum: near upright, two starts
			var x0 []float64
			for _, e := range [][2]float64{{0.15, -0.1}, {-0.1, 0.12}} {
				x0 = append(x0, 0, 0, math.Cos(e[0]), math.Sin(e[0]), 0, math.Cos(e[1]), math.Sin(e[1]), 0)
			}
			sp.x0 = x0
		}
		const b = 2
		phi0 := task.Cost.DefaultParams()
		q := len(phi0)
		noise := fdtest.Normals(uint64(20+k), b*sp.t*(q+2*d.M))
		phi := make([]float64, b*sp.t*q)
		for i := range phi {
			phi[i] = phi0[i%q] * (1 + 0.15*noise[i])
			if i%q < d.N+d.M && phi[i] < 0 {
				phi[i] = -phi[i] // weights stay non-negative
			}
		}
		lim := sp.bound
		if lim == 0 {
			lim = task.Upper[0] / 4
		}
		lo, hi := make([]float64, b*sp.t*d.M), make([]float64, b*sp.t*d.M)
		for i := range lo {
			lo[i] = -lim * (1 + 0.2*math.Abs(noise[b*sp.t*q+i]))
			hi[i] = lim * (1 + 0.2*math.Abs(noise[b*sp.t*q+len(lo)+i]))
			lo[i] = max(lo[i], task.Lower[0])
			hi[i] = min(hi[i], task.Upper[0])
		}
		out = append(out, generalCase{
			name: task.Dynamics.Name(),
			prob: ilqr.Problem{Task: task, T: sp.t},
			in: ilqr.Inputs{X0: sp.x0, Theta: task.Dynamics.DefaultParams(),
				Phi: phi, PhiPerStep: true, Lower: lo, Upper: hi},
		})
	}
	return out
}

// onBounds returns the indices of the controls on a bound.
func onBounds(in ilqr.Inputs, u []float64) []int {
	var a []int
	for i, v := range u {
		if v <= in.Lower[i] || v >= in.Upper[i] {
			a = append(a, i)
		}
	}
	return a
}

// resolve solves in warm-started from the controls u0 and fails the test
// unless every example converges with the controls that active(in, U)
// finds on a bound equal to want.
func resolve(t *testing.T, sv *ilqr.Solver, in ilqr.Inputs, u0 []float64, want []int, active func(ilqr.Inputs, []float64) []int) *ilqr.Result {
	t.Helper()
	in.U0 = u0
	var r ilqr.Result
	if err := sv.Solve(&r, in); err != nil {
		t.Fatal(err)
	}
	if got := active(in, r.U); !r.AllConverged() || !slices.Equal(got, want) {
		t.Fatalf("re-solve: %v; controls on a bound %v, want %v", r.Status, got, want)
	}
	return &r
}

// fullCostCases are generalCases with the full quadratic cost: per step and
// example Q_t = D½(I + 0.3·R_t)D½, D = diag(q) of the task's cost and R_t
// symmetric with zero diagonal and entries in [−1/K, 1/K] (so Q_t is
// positive definite where q is), cross terms between x and u included.
func fullCostCases() []generalCase {
	var out []generalCase
	for ci, c := range generalCases() {
		qc := c.prob.Cost.(*models.QuadCost)
		d := qc.Dims()
		k := d.N + d.M
		full := models.FullFromQuad(qc)
		// The pendulum's cross terms alone would put every control on
		// its bound: its controls are made ten times dearer.
		uw := 1.0
		if c.prob.Dynamics.Name() == models.PendulumTask().Dynamics.Name() {
			uw = 10
		}
		nq := k*k + k
		t := c.prob.T
		b := len(c.in.X0) / d.N
		phi := make([]float64, b*t*nq)
		r := fdtest.Normals(uint64(40+ci), b*t*k*k)
		for row := 0; row < b*t; row++ {
			qrow := c.in.Phi[row*2*k : row*2*k+k] // this step's diagonal q
			prow := c.in.Phi[row*2*k+k : (row+1)*2*k]
			dst := phi[row*nq : (row+1)*nq]
			for i := 0; i < k; i++ {
				for j := 0; j < k; j++ {
					switch {
					case i == j && i >= d.N:
						dst[i*k+j] = uw * qrow[i]
					case i == j:
						dst[i*k+j] = qrow[i]
					case i < j:
						v := 0.3 / float64(k) * math.Tanh(r[row*k*k+i*k+j]) * math.Sqrt(qrow[i]*qrow[j])
						dst[i*k+j], dst[j*k+i] = v, v
					}
				}
			}
			copy(dst[k*k:], prow)
		}
		c.name += "/full-cost"
		c.prob.Cost = full
		c.in.Phi = phi
		out = append(out, c)
	}
	return out
}

func TestGradientGeneralInputs(t *testing.T) {
	for _, c := range slices.Concat(generalCases(), fullCostCases()) {
		t.Run(c.name, func(t *testing.T) {
			sv, base := solveConverged(t, c.prob, &gradTight, c.in)
			active := onBounds(c.in, base.U)
			if len(active) == 0 || len(active) == len(base.U) {
				t.Fatalf("%d of %d controls on a bound: the case must have some, not all", len(active), len(base.U))
			}
			for i, u := range base.U {
				if d := min(u-c.in.Lower[i], c.in.Upper[i]-u); d > 0 && d < 1e-3 {
					t.Fatalf("control %d within %g of a bound", i, d)
				}
			}
			wx, wu := fdtest.Normals(31, len(base.X)), fdtest.Normals(32, len(base.U))
			var g ilqr.Grads
			if err := sv.Gradient(&g, base, c.in, wx, wu, ilqr.GradOptions{}); err != nil {
				t.Fatal(err)
			}
			loss := func() float64 {
				r := resolve(t, sv, c.in, base.U, active, onBounds)
				return fdtest.Dot(wx, r.X) + fdtest.Dot(wu, r.U)
			}
			for _, blk := range []struct {
				name string
				v    []float64
				got  []float64
			}{
				{"x0", c.in.X0, g.X0},
				{"phi", c.in.Phi, g.Phi},
				{"lower", c.in.Lower, g.Lower},
				{"upper", c.in.Upper, g.Upper},
			} {
				fd := fdtest.CentralDiff(blk.v, fdtest.Rel, fdtest.Floor, loss)
				e, at := fdtest.RelErr(blk.got, fd)
				t.Logf("dL/d%s (%d entries): worst relative error %.2e", blk.name, len(fd), e)
				if !(e <= fdtest.Tol) {
					t.Errorf("dL/d%s[%d] = %.10g, finite differences %.10g (error %.2e)", blk.name, at, blk.got[at], fd[at], e)
				}
			}
			// A bound's gradient is nonzero only where a control sits on it.
			for i := range g.Lower {
				if !slices.Contains(active, i) && (g.Lower[i] != 0 || g.Upper[i] != 0) {
					t.Errorf("control %d is free but its bounds have gradients %g, %g", i, g.Lower[i], g.Upper[i])
				}
			}
		})
	}
}
