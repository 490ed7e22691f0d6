package models

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
)

// vehicleSample returns a vehicle test point: positions around the task's
// field, any heading (including beyond ±π: the heading is not wrapped),
// speeds forwards and backwards, controls up to 1.5 times the task's
// bounds (the step does not clamp) and θ with gains within 30% of the
// nominal and a drag in [0, 0.5).
func vehicleSample(rng *rand.Rand) (x, u, theta []float64) {
	x = []float64{uniform(rng, -2, 7), uniform(rng, -3, 3), uniform(rng, -4, 4), uniform(rng, -2, 4)}
	u = []float64{uniform(rng, -3, 3), uniform(rng, -2.25, 2.25)}
	return x, u, []float64{uniform(rng, 0.7, 1.3), uniform(rng, 0.7, 1.3), uniform(rng, 0, 0.5)}
}

// TestVehicleFiniteDifferences checks the vehicle's automatic derivatives
// against central finite differences of its step, as
// TestDynamicsFiniteDifferences does for the other models: [∂f/∂x ∂f/∂u
// ∂f/∂θ] against differences of Step, and the Lagrangian Hessian rows of
// τ = (x, u) against differences, over τ, of the exact λᵀ[fx fu ft].
func TestVehicleFiniteDifferences(t *testing.T) {
	checkAutoFiniteDifferences(t, NewVehicle(), 70, func(rng *rand.Rand, _ int) ([]float64, []float64, []float64) { return vehicleSample(rng) })
}

// TestVehicleStep checks the step against the unicycle's explicit Euler
// formulas written out independently of VehicleStep, and its kinematics:
// at rest the position stays, a heading of π/2 drives along +p_y, the
// drag slows a coasting vehicle.
func TestVehicleStep(t *testing.T) {
	const dt = VehicleDt
	dyn := NewVehicle()
	ev := dyn.NewEvaluator()
	rng := rand.New(rand.NewPCG(seed, 71))
	next := make([]float64, 4)
	for pt := 0; pt < 100; pt++ {
		x, u, th := vehicleSample(rng)
		if pt%2 == 0 {
			th = dyn.DefaultParams() // the plain unicycle
		}
		ev.Step(next, x, u, th)
		want := []float64{
			x[0] + dt*x[3]*math.Cos(x[2]),
			x[1] + dt*x[3]*math.Sin(x[2]),
			x[2] + dt*th[1]*u[1],
			x[3] + dt*(th[0]*u[0]-th[2]*x[3]),
		}
		if e, at := fdtest.MaxMixedErr(next, want); e > 1e-15 {
			t.Errorf("point %d (x=%v u=%v θ=%v): entry %d is %.17g, want %.17g", pt, x, u, th, at, next[at], want[at])
		}
	}
	th := dyn.DefaultParams()
	if !slices.Equal(th, []float64{1, 1, 0}) {
		t.Errorf("DefaultParams() = %v", th)
	}
	for _, tc := range []struct {
		name    string
		x, u    []float64
		th      []float64
		checkOK func(next []float64) bool
	}{
		{"at rest, turning and accelerating", []float64{1, 2, 0.3, 0}, []float64{1, 1}, th,
			func(nx []float64) bool { return nx[0] == 1 && nx[1] == 2 && nx[2] > 0.3 && nx[3] > 0 }},
		{"heading +p_y", []float64{0, 0, math.Pi / 2, 2}, []float64{0, 0}, th,
			func(nx []float64) bool { return math.Abs(nx[0]) < 1e-16 && nx[1] == 0.2 && nx[3] == 2 }},
		{"reversing along -p_x", []float64{0, 0, 0, -1}, []float64{0, 0}, th,
			func(nx []float64) bool { return nx[0] == -0.1 && nx[1] == 0 }},
		{"drag slows", []float64{0, 0, 0, 2}, []float64{0, 0}, []float64{1, 1, 0.5},
			func(nx []float64) bool { return nx[3] < 2 && nx[3] > 0 }},
	} {
		ev.Step(next, tc.x, tc.u, tc.th)
		if !tc.checkOK(next) {
			t.Errorf("%s: x=%v u=%v → %v", tc.name, tc.x, tc.u, next)
		}
	}
	if got := dyn.Name(); got != "vehicle(dt=0.1)" {
		t.Errorf("Name() = %q", got)
	}
	if lo, hi := dyn.ControlClamp(); lo != nil || hi != nil {
		t.Errorf("ControlClamp() = %v, %v; the step does not clamp", lo, hi)
	}
}

// TestVehicleTask checks the driving task: the sizes of the dynamics, the
// cost, the bounds and the constraint agree; every cost weight is in
// (0, 2); the goal at rest with zero controls is the cost's minimum and a
// fixed point of the dynamics; the obstacle's nominal ψ is valid, the
// origin and the goal lie outside it, the straight path between them
// crosses it, and its centre is off that path.
func TestVehicleTask(t *testing.T) {
	task := VehicleTask()
	d, cd, con := task.Dynamics.Dims(), task.Cost.Dims(), task.Constraint
	if d != (Dims{N: 4, M: 2, P: 3}) || cd.N != d.N || cd.M != d.M {
		t.Fatalf("dims %+v, cost %+v", d, cd)
	}
	if con == nil {
		t.Fatal("no constraint")
	}
	if c := con.Dims(); c.N != d.N || c.M != d.M || c.C != 1 || c.R != 3 {
		t.Fatalf("constraint dims %+v", c)
	}
	if !slices.Equal(task.Lower, []float64{-2, -1.5}) || !slices.Equal(task.Upper, []float64{2, 1.5}) {
		t.Errorf("bounds [%v, %v]", task.Lower, task.Upper)
	}
	phi := task.Cost.DefaultParams()
	k := d.N + d.M
	for j, q := range phi[:k] {
		if !(q > 0 && q < 2) {
			t.Errorf("weight q[%d] = %g outside (0, 2)", j, q)
		}
	}

	goal, zero := []float64{VehicleGoalX, 0, 0, 0}, []float64{0, 0}
	grad, hess := make([]float64, k), make([]float64, k*k)
	task.Cost.NewEvaluator().Quadratize(grad, hess, goal, zero, phi)
	for i, g := range grad {
		if math.Abs(g) > 1e-15 {
			t.Errorf("cost gradient at the goal: entry %d is %g", i, g)
		}
		if !(hess[i*k+i] > 0) {
			t.Errorf("cost Hessian entry (%d, %d) = %g, want > 0", i, i, hess[i*k+i])
		}
	}
	next := make([]float64, d.N)
	task.Dynamics.NewEvaluator().Step(next, goal, zero, task.Dynamics.DefaultParams())
	if !slices.Equal(next, goal) {
		t.Errorf("the goal is not a fixed point: %v", next)
	}

	psi := con.DefaultParams()
	if pc, ok := con.(interface{ CheckParams([]float64) error }); !ok {
		t.Error("the constraint has no CheckParams")
	} else if err := pc.CheckParams(psi); err != nil {
		t.Errorf("nominal ψ rejected: %v", err)
	}
	if !(psi[1] != 0 && math.Abs(psi[1]) < psi[2]) {
		t.Errorf("obstacle ψ = %v: want the centre off the p_y = 0 axis by less than the radius", psi)
	}
	ev := con.NewEvaluator()
	c := make([]float64, 1)
	at := func(px, py float64) float64 {
		ev.Value(c, []float64{px, py, 0, 1}, zero, psi)
		return c[0]
	}
	if at(0, 0) >= 0 || at(VehicleGoalX, 0) >= 0 {
		t.Errorf("c at the origin %g, at the goal %g; want both < 0", at(0, 0), at(VehicleGoalX, 0))
	}
	var worst float64 // the largest c along the straight path
	for i := 0; i <= 100; i++ {
		worst = math.Max(worst, at(VehicleGoalX*float64(i)/100, 0))
	}
	if !(worst > 0.5) {
		t.Errorf("the straight path enters the obstacle by %g, want > 0.5 m", worst)
	}
}

// TestVehicleRegistry: "vehicle" is registered and gives VehicleTask.
func TestVehicleRegistry(t *testing.T) {
	if !slices.Contains(TaskNames(), "vehicle") {
		t.Fatalf("TaskNames() = %v", TaskNames())
	}
	task, err := TaskByName("vehicle")
	if err != nil {
		t.Fatal(err)
	}
	want := VehicleTask()
	if task.Dynamics.Name() != want.Dynamics.Name() || task.Cost.Name() != want.Cost.Name() ||
		task.Constraint == nil || task.Constraint.Name() != want.Constraint.Name() ||
		!slices.Equal(task.Constraint.DefaultParams(), want.Constraint.DefaultParams()) {
		t.Errorf("TaskByName(%q) = %+v, want VehicleTask's", "vehicle", task)
	}
	for _, name := range TaskNames() {
		if name == "vehicle" {
			continue
		}
		if task, _ := TaskByName(name); task.Constraint != nil {
			t.Errorf("%s: constraint %s; the doc of TaskByName says only the vehicle has one", name, task.Constraint.Name())
		}
	}
}
