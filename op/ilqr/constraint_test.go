package ilqr_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
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

// speedEffortRows is the pendulum's limit on speed and effort,
// c = (ω + ψ₁u − ψ₀, ω² + ψ₂u² − ψ₃) ≤ 0: a row mixing state and control,
// and a curved one.
func speedEffortRows[T models.Scalar[T]](dst, x, u, psi []T) {
	dst[0] = x[2].Add(psi[1].Mul(u[0])).Sub(psi[0])
	dst[1] = x[2].Mul(x[2]).Add(psi[2].Mul(u[0]).Mul(u[0])).Sub(psi[3])
}

// speedEffortCase plans the pendulum from (3 rad, om) under
// speedEffortRows with ψ. From (3, 0.3), ψ = (1, 0.05, 0.1, 0.5) holds the
// curved row at 20 steps (without its curvature in the inner solves' model
// this ran to the iteration limit), ψ = (0.6, 0.05, 0.1, 0.5) the first
// row at 16 steps and the curved one at 8.
func speedEffortCase(t *testing.T, steps int, om float64, psi []float64) constrainedCase {
	task := models.PendulumTask()
	con, err := models.NewAutoConstraint("speed-effort", models.ConstraintDims{N: 3, M: 1, C: 2, R: 4}, psi,
		models.ConstraintFuncs{Float: speedEffortRows[models.Float], HyperDual: speedEffortRows[models.HyperDual]}, nil)
	if err != nil {
		t.Fatal(err)
	}
	task.Constraint = con
	return constrainedCase{
		name: fmt.Sprintf("pendulum/T=%d/speed-effort%v", steps, psi), prob: ilqr.Problem{Task: task, T: steps},
		in: ilqr.Inputs{X0: fdtest.AngleState(3, om), Theta: task.Dynamics.DefaultParams(),
			Phi: task.Cost.DefaultParams(), Psi: psi},
		psiCols: []int{0, 1, 2, 3},
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
		speedEffortCase(t, 30, 0.3, []float64{1, 0.05, 0.1, 0.5}),
		speedEffortCase(t, 30, 0.3, []float64{0.6, 0.05, 0.1, 0.5}),
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sv, r := solveConstrained(t, c)
			wx, wu, in := fdSetup(c.name, c.prob.T, r, c.in)
			base := activeRows(r.Mult)
			loss := func() float64 {
				in.Mult0 = r.Mult
				in.U0 = r.U
				var r2 ilqr.Result
				if err := sv.Solve(&r2, in); err != nil {
					t.Fatal(err)
				}
				if !r2.Status[0].Stationary() || r2.Violation[0] > 1e-12 {
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

// TestConstrainedFeasibility solves each constrained case with the default
// settings (TolViolation 1e-9) and checks the KKT point: converged, the
// violation within 1e-9, multipliers non-negative and zero on rows
// satisfied with slack.
func TestConstrainedFeasibility(t *testing.T) {
	for _, c := range []constrainedCase{
		pendulumSpeedCase(t, 20, 3.0, 0.3, 0.6),
		cartpoleTrackCase(t, 15, 0.4),
		vehicleObstacleCase(30),
		speedEffortCase(t, 30, 0.3, []float64{1, 0.05, 0.1, 0.5}),
	} {
		t.Run(c.name, func(t *testing.T) {
			sv, r := solveConverged(t, c.prob, nil, c.in)
			if r.Violation[0] > 1e-9 {
				t.Errorf("violation %.2g > 1e-9", r.Violation[0])
			}
			if countActive(r.Mult) == 0 {
				t.Fatal("no active row")
			}
			// The violation recomputed from the trajectory.
			ev := c.prob.Constraint.NewEvaluator()
			nc := c.prob.Constraint.Dims().C
			val := make([]float64, nc)
			n, m := r.N, r.M
			for s := 1; s < c.prob.T; s++ {
				ev.Value(val, r.X[s*n:(s+1)*n], r.U[s*m:(s+1)*m], c.in.Psi)
				for i, v := range val {
					nu := r.Mult[s*nc+i]
					switch {
					case v > 1e-9:
						t.Errorf("step %d row %d: c = %.3g > 1e-9", s, i, v)
					case nu < 0:
						t.Errorf("step %d row %d: multiplier %g < 0", s, i, nu)
					case nu > 0 && v < -1e-6:
						t.Errorf("step %d row %d: multiplier %g on a row with slack %g", s, i, nu, -v)
					}
				}
			}
			t.Logf("%d iterations, violation %.2g, %d active rows", r.Iterations[0], r.Violation[0], countActive(r.Mult))
			_ = sv
		})
	}
}

// TestConstrainedBatch solves a batch with per-example ψ on one and on two
// workers: the results must be bit-identical to each other and to the
// examples solved alone, and a warm start from the multipliers of the
// solution must converge in fewer iterations.
func TestConstrainedBatch(t *testing.T) {
	c := pendulumSpeedCase(t, 20, 3.0, 0.3, 0.6)
	const b = 4
	in := ilqr.Inputs{Theta: c.in.Theta, Phi: c.in.Phi}
	for i := range b {
		in.X0 = append(in.X0, fdtest.AngleState(2.9+0.05*float64(i), 0.3)...)
		psi := slices.Clone(c.in.Psi)
		psi[2], psi[5] = -0.5-0.05*float64(i), 0.5+0.05*float64(i)
		in.Psi = append(in.Psi, psi...)
	}
	var res [2]ilqr.Result
	for k, workers := range []int{1, 2} {
		set := ilqr.Settings{Workers: workers}
		sv, err := ilqr.NewSolver(c.prob, &set)
		if err != nil {
			t.Fatal(err)
		}
		if err := sv.Solve(&res[k], in); err != nil {
			t.Fatal(err)
		}
		if !res[k].AllConverged() {
			t.Fatalf("workers %d: %v", workers, res[k].Status)
		}
	}
	if !slices.Equal(res[0].U, res[1].U) || !slices.Equal(res[0].Mult, res[1].Mult) {
		t.Error("results depend on the number of workers")
	}
	for i := range b {
		one := ilqr.Inputs{X0: in.X0[i*3 : (i+1)*3], Theta: in.Theta, Phi: in.Phi, Psi: in.Psi[i*6 : (i+1)*6]}
		r, err := ilqr.Solve(c.prob, one, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(r.U, res[0].U[i*20:(i+1)*20]) {
			t.Errorf("example %d solved in the batch differs from alone", i)
		}
	}
	warm := in
	warm.U0, warm.Mult0 = res[0].U, res[0].Mult
	warm.X0 = slices.Clone(in.X0)
	for i := range b {
		warm.X0[i*3+2] += 1e-3 // a nearby problem
	}
	cold := warm
	cold.U0, cold.Mult0 = nil, nil
	rw, err := ilqr.Solve(c.prob, warm, nil)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := ilqr.Solve(c.prob, cold, nil)
	if err != nil {
		t.Fatal(err)
	}
	var iw, ic int
	for i := range b {
		iw += rw.Iterations[i]
		ic += rc.Iterations[i]
	}
	t.Logf("iterations: warm %d, cold %d", iw, ic)
	if !rw.AllConverged() || iw >= ic {
		t.Errorf("warm start: %v in %d iterations, cold %d", rw.Status, iw, ic)
	}
}

// TestConstrainedBadInput checks the errors for bad constraint input and
// the Infeasible status for a start from which the limit cannot be kept.
func TestConstrainedBadInput(t *testing.T) {
	c := pendulumSpeedCase(t, 20, 3.0, 0.3, 0.6)
	inf := math.Inf(1)
	vc := vehicleObstacleCase(30)
	for _, bad := range []struct {
		name string
		prob ilqr.Problem
		mod  func(in *ilqr.Inputs)
		want string
		set  *ilqr.Settings
	}{
		{"lower>upper", c.prob, func(in *ilqr.Inputs) { in.Psi = []float64{-inf, -inf, 1, inf, inf, 0.5} }, "lower 1 > upper 0.5", nil},
		{"psi NaN", c.prob, func(in *ilqr.Inputs) { in.Psi = []float64{-inf, -inf, math.NaN(), inf, inf, 0.5} }, "NaN", nil},
		{"psi length", c.prob, func(in *ilqr.Inputs) { in.Psi = []float64{1, 2, 3} }, "Psi has length 3", nil},
		{"obstacle Inf", vc.prob, func(in *ilqr.Inputs) { in.Psi = []float64{inf, 0, 1} }, "not finite", nil},
		{"obstacle radius", vc.prob, func(in *ilqr.Inputs) { in.Psi = []float64{2, 0, -1} }, "radius", nil},
		{"mult0 negative", c.prob, func(in *ilqr.Inputs) { in.Mult0 = make([]float64, 20*6); in.Mult0[8] = -1 }, "non-negative", nil},
		{"mult0 length", c.prob, func(in *ilqr.Inputs) { in.Mult0 = make([]float64, 5) }, "Mult0 has length", nil},
		{"psi without constraint", ilqr.Problem{Task: models.PendulumTask(), T: 20},
			func(in *ilqr.Inputs) { in.Psi = []float64{1} }, "without a constraint", nil},
		{"exact iterations", c.prob, func(*ilqr.Inputs) {}, "ExactIter with a path constraint", &ilqr.Settings{MaxIter: 50, ExactIter: true}},
	} {
		t.Run(bad.name, func(t *testing.T) {
			in := c.in
			if bad.prob.Constraint == vc.prob.Constraint {
				in = vc.in
			}
			bad.mod(&in)
			_, err := ilqr.Solve(bad.prob, in, bad.set)
			if err == nil || !errors.Is(err, ilqr.ErrBadInput) || !strings.Contains(err.Error(), bad.want) {
				t.Fatalf("error %v, want ErrBadInput containing %q", err, bad.want)
			}
		})
	}
	// From 2.5 rad the pendulum falls toward the bottom faster than 0.7
	// rad/s with the torque bound: no control keeps the speed limit.
	inf1 := pendulumSpeedCase(t, 20, 2.5, 0, 0.7)
	r, err := ilqr.Solve(inf1.prob, inf1.in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status[0] != ilqr.Infeasible || !(r.Violation[0] > 0.1) {
		t.Errorf("status %v, violation %.3g: want infeasible with a violation above 0.1", r.Status[0], r.Violation[0])
	}
	// Moving at 1 rad/s, no torque within the bounds brings ω below 0.85
	// at the first constrained step. With a tight TolGrad the inner solves
	// at large penalties cannot reach it (round-off of the multiplier
	// terms); they must still end, and the outer loop say Infeasible.
	inf2 := pendulumSpeedCase(t, 20, 2.94, 1.0, 0.6)
	r, err = ilqr.Solve(inf2.prob, inf2.in, &ilqr.Settings{TolGrad: 1e-12, MaxIter: 2000})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status[0] != ilqr.Infeasible || !(r.Violation[0] > 0.2) || r.Iterations[0] > 500 {
		t.Errorf("tight TolGrad: status %v after %d iterations, violation %.3g: want infeasible early with a violation above 0.2",
			r.Status[0], r.Iterations[0], r.Violation[0])
	}
}

// TestConstrainedScan solves, with the default settings, the vehicle
// around discs placed on, beside and across its path (T = 30 and 50) and
// the pendulum under 36 speed-effort limits (speedEffortRows): every solve
// must end stationary with the violation within TolViolation. Before the
// inner solves' model had the constraint's curvature, 2 of the 14 vehicle
// problems and 6 of the 36 pendulum ones ended at the iteration limit
// (1605 and 2386 iterations in all; 980 and 1267 with it).
func TestConstrainedScan(t *testing.T) {
	var cases []constrainedCase
	for _, steps := range []int{30, 50} {
		for _, psi := range [][]float64{nil, {2.5, 0.05, 2.0}, {2.5, 0.05, 2.4}, {2.5, 0.5, 2.4}, {5, 0.3, 1.5}, {4, 1.5, 1.45}, {3, -0.4, 1}} {
			c := vehicleObstacleCase(steps)
			if psi != nil {
				c.in.Psi = psi
			}
			cases = append(cases, c)
		}
	}
	for _, om := range []float64{0.3, -0.5} {
		for _, p0 := range []float64{0.3, 0.6, 1.0} {
			for _, p1 := range []float64{0.05, 0.2} {
				for _, p3 := range []float64{0.5, 1, 100} {
					cases = append(cases, speedEffortCase(t, 30, om, []float64{p0, p1, 0.1, p3}))
				}
			}
		}
	}
	iters := 0
	for _, c := range cases {
		r, err := ilqr.Solve(c.prob, c.in, nil)
		if err != nil {
			t.Fatal(err)
		}
		iters += r.Iterations[0]
		if !r.Status[0].Stationary() || r.Violation[0] > 1e-9 {
			t.Errorf("%s ψ %v from x0 %.3v: %v after %d iterations, violation %.2g",
				c.name, c.in.Psi, c.in.X0, r.Status[0], r.Iterations[0], r.Violation[0])
		}
	}
	t.Logf("%d problems, %d iterations in all", len(cases), iters)
}

// TestConstrainedRoundOffStop: at TolGrad 1e-12 the vehicle's inner solves
// around a disc of radius 2.4 stall at projected gradients of 1–3e-11,
// within the round-off of the multiplier terms, with the KKT residual met:
// the solve must end there, Stalled. (The outer loop used to go on until
// it reported the iteration limit.)
func TestConstrainedRoundOffStop(t *testing.T) {
	c := vehicleObstacleCase(30)
	c.in.Psi = []float64{2.5, 0.05, 2.4}
	r, err := ilqr.Solve(c.prob, c.in, &conTight)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Status[0].Stationary() || r.Violation[0] > 1e-12 || r.Iterations[0] > 150 {
		t.Errorf("%v after %d iterations, violation %.2g, projected gradient %.2g: want stationary within 150",
			r.Status[0], r.Iterations[0], r.Violation[0], r.GradNorm[0])
	}
}

// TestConstrainedNoAllocation checks that a repeated constrained solve and
// gradient allocate nothing once the solver and results exist.
func TestConstrainedNoAllocation(t *testing.T) {
	c := pendulumSpeedCase(t, 20, 3.0, 0.3, 0.6)
	set := ilqr.Settings{Workers: 1}
	sv, err := ilqr.NewSolver(c.prob, &set)
	if err != nil {
		t.Fatal(err)
	}
	var r ilqr.Result
	var g ilqr.Grads
	wx, wu := gradWeights(1, 20, 3, 1)
	run := func() {
		if err := sv.Solve(&r, c.in); err != nil {
			t.Fatal(err)
		}
		if err := sv.Gradient(&g, &r, c.in, wx, wu, ilqr.GradOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if a := testing.AllocsPerRun(5, run); a != 0 {
		t.Errorf("%.0f allocations per solve and gradient", a)
	}
}

// TestConstrainedWeaklyActive sets the speed limit to the largest speed of
// the unconstrained solution: the limit is then met with equality at a
// zero multiplier, strict complementarity fails, and the gradient says
// so (GradWeaklyActive) while giving the one-sided derivative that holds
// no row, here the unconstrained problem's.
func TestConstrainedWeaklyActive(t *testing.T) {
	free := ilqr.Problem{Task: models.PendulumTask(), T: 20}
	x0 := fdtest.AngleState(3.0, 0.3)
	_, rf := solveConverged(t, free, &conTight, ilqr.Inputs{X0: x0})
	var wmax float64
	for s := 1; s < 20; s++ {
		wmax = max(wmax, math.Abs(rf.X[s*3+2]))
	}
	c := pendulumSpeedCase(t, 20, 3.0, 0.3, wmax)
	sv, r := solveConverged(t, c.prob, &conTight, c.in)
	if countActive(r.Mult) != 0 {
		t.Fatalf("%d rows with positive multipliers; want none", countActive(r.Mult))
	}
	wx, wu := gradWeights(7, 20, 3, 1)
	var g, gf ilqr.Grads
	if err := sv.Gradient(&g, r, c.in, wx, wu, ilqr.GradOptions{}); err != nil {
		t.Fatal(err)
	}
	svf, err := ilqr.NewSolver(free, &conTight)
	if err != nil {
		t.Fatal(err)
	}
	if err := svf.Gradient(&gf, rf, ilqr.Inputs{X0: x0}, wx, wu, ilqr.GradOptions{}); err != nil {
		t.Fatal(err)
	}
	if g.Status[0] != ilqr.GradWeaklyActive {
		t.Errorf("gradient status %v, want %v", g.Status[0], ilqr.GradWeaklyActive)
	}
	if e, j := fdtest.RelErr(g.X0, gf.X0); e > 1e-9 {
		t.Errorf("dL/dx0[%d] = %g, unconstrained %g (relative error %.2g)", j, g.X0[j], gf.X0[j], e)
	}
}

// TestConstrainedJVP checks the tangent of the constrained solution along
// a random direction in (x0, θ, φ, ψ): against the gradient (the two are
// transposes, ⟨dL/dinputs, dir⟩ = ⟨(wx, wu), tangent⟩ to round-off) and
// against central differences of re-solved problems along the direction.
func TestConstrainedJVP(t *testing.T) {
	for _, c := range []constrainedCase{
		pendulumSpeedCase(t, 20, 3.0, 0.3, 0.6),
		pendulumSpeedCase(t, 20, 3.0, 0.3, 1.0), // controls on their bounds too
		cartpoleTrackCase(t, 15, 0.4),
		vehicleObstacleCase(30),
		speedEffortCase(t, 30, 0.3, []float64{0.6, 0.05, 0.1, 0.5}),
	} {
		t.Run(c.name, func(t *testing.T) {
			// Bounds 0.1% inside the task's, so that the differences can
			// move them both ways within the models' internal clamps.
			c.in.Lower, c.in.Upper = nil, nil
			for j := range c.prob.Lower {
				c.in.Lower = append(c.in.Lower, 0.999*c.prob.Lower[j])
				c.in.Upper = append(c.in.Upper, 0.999*c.prob.Upper[j])
			}
			sv, r := solveConstrained(t, c)
			rng := nameSeed(c.name)
			dir := ilqr.Direction{
				X0:    fdtest.Normals(rng, len(c.in.X0)),
				Theta: fdtest.Normals(rng+1, len(c.in.Theta)),
				Phi:   fdtest.Normals(rng+2, len(c.in.Phi)),
				Psi:   make([]float64, len(c.in.Psi)),
				Lower: fdtest.Normals(rng+4, len(c.prob.Lower)),
				Upper: fdtest.Normals(rng+5, len(c.prob.Upper)),
			}
			for j, v := range fdtest.Normals(rng+3, len(c.psiCols)) {
				dir.Psi[c.psiCols[j]] = v
			}
			// Each entry's step is scaled by the entry (at least 0.01): the
			// pendulum's control weight is 0.001, and the solution varies
			// like 1/q there.
			for j, v := range c.in.Phi {
				dir.Phi[j] *= max(math.Abs(v), 0.01)
			}
			var tg ilqr.Tangent
			if err := sv.JVP(&tg, r, c.in, dir, ilqr.GradOptions{}); err != nil {
				t.Fatal(err)
			}
			if tg.Status[0] != ilqr.GradOK {
				t.Fatalf("tangent status %v", tg.Status[0])
			}
			wx, wu := gradWeights(nameSeed(c.name)+5, c.prob.T, r.N, r.M)
			var g ilqr.Grads
			if err := sv.Gradient(&g, r, c.in, wx, wu, ilqr.GradOptions{}); err != nil {
				t.Fatal(err)
			}
			held := 0
			for i, u := range r.U {
				if u <= c.in.Lower[i%r.M] || u >= c.in.Upper[i%r.M] {
					held++
				}
			}
			// dL/d(bound) is per step (B×T×M); the direction's bound is
			// the same at every step.
			var lhsBounds float64
			for i := range g.Lower {
				lhsBounds += g.Lower[i]*dir.Lower[i%r.M] + g.Upper[i]*dir.Upper[i%r.M]
			}
			lhs := fdtest.Dot(g.X0, dir.X0) + fdtest.Dot(g.Theta, dir.Theta) + fdtest.Dot(g.Phi, dir.Phi) + fdtest.Dot(g.Psi, dir.Psi) + lhsBounds
			rhs := fdtest.Dot(wx, tg.X) + fdtest.Dot(wu, tg.U)
			if e := fdtest.MixedErr(lhs, rhs); e > 1e-10 {
				t.Errorf("⟨gradient, direction⟩ = %.15g, ⟨weights, tangent⟩ = %.15g: error %.2g", lhs, rhs, e)
			}
			// Central differences of the solution along dir with
			// Richardson extrapolation, (4 D(h/2) − D(h))/3, h = 1e-4.
			const h = 1e-4
			at := func(step float64) []float64 {
				in := c.in
				in.X0, in.Theta, in.Phi, in.Psi = axpy(c.in.X0, step, dir.X0), axpy(c.in.Theta, step, dir.Theta),
					axpy(c.in.Phi, step, dir.Phi), axpy(c.in.Psi, step, dir.Psi)
				in.Lower, in.Upper = axpy(c.in.Lower, step, dir.Lower), axpy(c.in.Upper, step, dir.Upper)
				in.U0, in.Mult0 = r.U, r.Mult
				var r2 ilqr.Result
				if err := sv.Solve(&r2, in); err != nil {
					t.Fatal(err)
				}
				if r2.Status[0] != ilqr.Converged || !slices.Equal(activeRows(r2.Mult), activeRows(r.Mult)) {
					t.Fatalf("re-solve: %v, or the active rows changed", r2.Status[0])
				}
				return append(slices.Clone(r2.X), r2.U...)
			}
			p1, m1, p2, m2 := at(h), at(-h), at(h/2), at(-h/2)
			fd := make([]float64, len(p1))
			for j := range fd {
				fd[j] = (4*(p2[j]-m2[j])/h - (p1[j]-m1[j])/(2*h)) / 3
			}
			e, j := fdtest.MaxMixedErr(append(slices.Clone(tg.X), tg.U...), fd)
			t.Logf("%d controls on a bound; tangent against central differences: %.2e (entry %d); adjoint identity %.2e",
				held, e, j, fdtest.MixedErr(lhs, rhs))
			if e > 1e-5 {
				t.Errorf("tangent entry %d differs from central differences by %.2g", j, e)
			}
		})
	}
}

// axpy returns x + a·y (x when y is nil).
func axpy(x []float64, a float64, y []float64) []float64 {
	out := slices.Clone(x)
	for i := range y {
		out[i] += a * y[i]
	}
	return out
}
