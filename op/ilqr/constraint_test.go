package ilqr_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
)

// constrainedCase is a problem whose path constraint is active at the
// solution, with the ψ entries to differentiate.
type constrainedCase struct {
	name    string
	prob    ilqr.Problem
	in      ilqr.Inputs
	psiCols []int // the finite entries of ψ
}

func pendulumSpeedCase(t *testing.T, steps int, th, om, wmax float64) constrainedCase {
	task := models.PendulumTask()
	inf := math.Inf(1)
	sb, err := models.NewStateBounds(3, 1, []float64{-inf, -inf, -wmax}, []float64{inf, inf, wmax})
	if err != nil {
		t.Fatal(err)
	}
	task.Constraint = sb
	return constrainedCase{
		name: fmt.Sprintf("pendulum/T=%d/speed%g", steps, wmax), prob: ilqr.Problem{Task: task, T: steps},
		in: ilqr.Inputs{X0: fdtest.AngleState(th, om), Theta: task.Dynamics.DefaultParams(),
			Phi: task.Cost.DefaultParams(), Psi: sb.DefaultParams()},
		psiCols: []int{2, 5},
	}
}

func cartpoleTrackCase(t *testing.T, steps int, xmax float64) constrainedCase {
	task := models.CartpoleTask()
	inf := math.Inf(1)
	sb, err := models.NewStateBounds(5, 1, []float64{-xmax, -inf, -inf, -inf, -inf}, []float64{xmax, inf, inf, inf, inf})
	if err != nil {
		t.Fatal(err)
	}
	task.Constraint = sb
	x0 := []float64{0, 0, math.Cos(0.6), math.Sin(0.6), 0}
	return constrainedCase{
		name: fmt.Sprintf("cartpole/T=%d/track%g", steps, xmax), prob: ilqr.Problem{Task: task, T: steps},
		in: ilqr.Inputs{X0: x0, Theta: task.Dynamics.DefaultParams(),
			Phi: task.Cost.DefaultParams(), Psi: sb.DefaultParams()},
		psiCols: []int{0, 5},
	}
}

func vehicleObstacleCase(steps int) constrainedCase {
	task := models.VehicleTask()
	return constrainedCase{
		name: fmt.Sprintf("vehicle/T=%d/obstacle", steps), prob: ilqr.Problem{Task: task, T: steps},
		// θ = (k_a, k_ω, c_d) with some drag: the nominal c_d = 0 sits on
		// the edge of its domain, where a central difference cannot go.
		in: ilqr.Inputs{X0: []float64{0, 0, 0, 0}, Theta: []float64{1, 1, 0.05},
			Phi: task.Cost.DefaultParams(), Psi: task.Constraint.DefaultParams()},
		psiCols: []int{0, 1, 2},
	}
}

// conTight are the settings of the constrained solves that are
// differentiated or finite-differenced: projected gradient, violation and
// complementarity within 1e-12 (1e-13, gradTight's, is below the round-off
// of the multiplier terms).
var conTight = ilqr.Settings{MaxIter: 3000, TolGrad: 1e-12, TolGradLoose: 1e-12, TolViolation: 1e-12}

// solveConstrained solves c with conTight and fails unless it converged
// with some constraint row active.
func solveConstrained(t *testing.T, c constrainedCase) (*ilqr.Solver, *ilqr.Result) {
	t.Helper()
	sv, r := solveConverged(t, c.prob, &conTight, c.in)
	if r.Violation[0] > 1e-12 {
		t.Fatalf("violation %.2g > 1e-12", r.Violation[0])
	}
	if countActive(r.Mult) == 0 {
		t.Fatal("no constraint row is active: the case tests nothing")
	}
	return sv, r
}

func countActive(mult []float64) int {
	k := 0
	for _, v := range mult {
		if v > 0 {
			k++
		}
	}
	return k
}

// activeRows returns the indices of the rows with positive multipliers.
func activeRows(mult []float64) []int {
	var a []int
	for i, v := range mult {
		if v > 0 {
			a = append(a, i)
		}
	}
	return a
}

// TestConstrainedGradientFiniteDifferences checks the implicit gradient
// through active path constraints (x0, θ, φ and the constraint's ψ)
// against central differences of re-solved problems.
func TestConstrainedGradientFiniteDifferences(t *testing.T) {
	cases := []constrainedCase{
		pendulumSpeedCase(t, 20, 3.0, 0.3, 0.6),
		pendulumSpeedCase(t, 12, 3.0, 0.3, 0.5),
		cartpoleTrackCase(t, 15, 0.4),
		vehicleObstacleCase(30),
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sv, r := solveConstrained(t, c)
			n, m := r.N, r.M
			wx, wu := gradWeights(nameSeed(c.name), c.prob.T, n, m)
			in := c.in
			in.X0 = slices.Clone(c.in.X0)
			in.Theta = slices.Clone(c.in.Theta)
			in.Phi = slices.Clone(c.in.Phi)
			in.Psi = slices.Clone(c.in.Psi)
			base := activeRows(r.Mult)
			loss := func() float64 {
				in.Mult0 = r.Mult
				in.U0 = r.U
				var r2 ilqr.Result
				if err := sv.Solve(&r2, in); err != nil {
					t.Fatal(err)
				}
				if r2.Status[0] != ilqr.Converged || r2.Violation[0] > 1e-12 {
					t.Fatalf("re-solve: %v, violation %.2g", r2.Status[0], r2.Violation[0])
				}
				if !slices.Equal(activeRows(r2.Mult), base) {
					t.Fatalf("re-solve changed the active constraint rows")
				}
				return fdtest.Dot(wx, r2.X) + fdtest.Dot(wu, r2.U)
			}
			// x0 and ψ take a floor of 0.1 (steps ≥ 1e-4): the re-solves
			// carry round-off of ~1e-11 from the multiplier terms, which a
			// step of 1e-5 (fdtest.Floor's, on the zero entries of x0)
			// turns into 1e-6.
			const floor = 0.1
			psiFD := make([]float64, len(in.Psi))
			for _, j := range c.psiCols {
				v := in.Psi[j : j+1]
				psiFD[j] = fdtest.CentralDiff(v, fdtest.Rel, floor, loss)[0]
			}
			fd := map[string][]float64{
				"x0":    fdtest.CentralDiff(in.X0, fdtest.Rel, floor, loss),
				"theta": fdtest.CentralDiff(in.Theta, fdtest.Rel, fdtest.Floor, loss),
				"phi":   fdtest.CentralDiff(in.Phi, fdtest.Rel, fdtest.Floor, loss),
				"psi":   psiFD,
			}
			var g ilqr.Grads
			if err := sv.Gradient(&g, r, c.in, wx, wu, ilqr.GradOptions{}); err != nil {
				t.Fatal(err)
			}
			if g.Status[0] != ilqr.GradOK {
				t.Fatalf("gradient status %v", g.Status[0])
			}
			got := map[string][]float64{"x0": g.X0, "theta": g.Theta, "phi": g.Phi, "psi": g.Psi}
			for _, part := range []string{"x0", "theta", "phi", "psi"} {
				e, j := fdtest.RelErr(got[part], fd[part])
				t.Logf("%-5s rel. error %.2e", part, e)
				if !(e <= fdtest.Tol) {
					t.Errorf("d/d%s[%d] = %.12g, finite differences %.12g: relative error %.2g > %g",
						part, j, got[part][j], fd[part][j], e, fdtest.Tol)
				}
			}
			t.Logf("%d active rows, psi grad %v", countActive(r.Mult), g.Psi)
		})
	}
}
