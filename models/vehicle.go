package models

import "fmt"

// Vehicle constants: the time step and the control bounds of VehicleTask.
const (
	VehicleDt       = 0.1 // time step, seconds
	VehicleMaxAccel = 2.0 // m/s²: VehicleTask bounds a to ±VehicleMaxAccel
	VehicleMaxYaw   = 1.5 // rad/s: VehicleTask bounds ω to ±VehicleMaxYaw
)

// vehicleRules is the vehicle's parameter domain: the actuator gains
// k_a, k_ω > 0, the drag coefficient c_d finite (and ≥ 0, checked by
// vehicleCheck).
var vehicleRules = []paramRule{{"k_a", true}, {"k_w", true}, {"c_d", false}}

// vehicleCheck is the vehicle's parameter domain (see NewVehicle).
func vehicleCheck(theta []float64) error {
	if err := checkParamRules("vehicle", vehicleRules, theta); err != nil {
		return err
	}
	if theta[2] < 0 {
		return fmt.Errorf("models: vehicle: parameter c_d = %v must be >= 0", theta[2])
	}
	return nil
}

// NewVehicle returns a planar vehicle, the kinematic unicycle, as a
// discrete-time model with exact automatic derivatives (NewAuto).
//
// State x = (p_x, p_y, ψ_h, v) (N = 4): the position in metres, the heading
// in radians (counter-clockwise from the +p_x axis, stored as the angle
// itself, unwrapped) and the speed along the heading in m/s (negative when
// reversing). Control u = (a, ω) (M = 2): the commanded acceleration in
// m/s² and yaw rate in rad/s. Parameters θ_dyn = (k_a, k_ω, c_d) (P = 3),
// nominal (1, 1, 0): the gains from the commands to the actual
// acceleration and yaw rate (dimensionless) and a linear drag coefficient
// in 1/s. One explicit Euler step of dt = 0.1 s (every right-hand side
// reads the old state):
//
//	p_x′ = p_x + dt v cos ψ_h
//	p_y′ = p_y + dt v sin ψ_h
//	ψ_h′ = ψ_h + dt k_ω ω
//	v′   = v + dt (k_a a − c_d v)
//
// At the nominal θ this is the plain unicycle (ψ_h′ = ψ_h + dt ω,
// v′ = v + dt a). The step does not clamp the controls (the task's bounds
// limit them) and is smooth everywhere. The gains are identifiable from
// transitions with a ≠ 0 and ω ≠ 0, the drag from any transition at
// v ≠ 0. The parameters must be finite with k_a, k_ω > 0 and c_d ≥ 0
// (CheckParams): a non-positive gain reverses or cuts off a control, a
// negative drag accelerates the vehicle on its own.
func NewVehicle() *Auto {
	a, err := NewAuto(fmt.Sprintf("vehicle(dt=%g)", VehicleDt), Dims{N: 4, M: 2, P: 3}, []float64{1, 1, 0},
		StepFuncs{Float: VehicleStep[Float], Dual: VehicleStep[Dual], HyperDual: VehicleStep[HyperDual]})
	if err != nil {
		panic(err) // constant arguments: unreachable
	}
	return a.WithParamCheck(vehicleCheck)
}

// VehicleStep is the definition of the planar vehicle (see NewVehicle).
func VehicleStep[T Scalar[T]](next, x, u, th []T) {
	const dt = VehicleDt
	px, py, hd, v := x[0], x[1], x[2], x[3]
	ka, kw, cd := th[0], th[1], th[2]
	dv := v.MulC(dt) // distance covered in the step
	next[0] = px.Add(dv.Mul(hd.Cos()))
	next[1] = py.Add(dv.Mul(hd.Sin()))
	next[2] = hd.Add(kw.Mul(u[1]).MulC(dt))
	next[3] = v.Add(ka.Mul(u[0]).Sub(cd.Mul(v)).MulC(dt))
}

// Vehicle task constants: the goal and the obstacle of VehicleTask.
const (
	VehicleGoalX     = 5.0  // m: the goal is (VehicleGoalX, 0), at rest, heading 0
	VehicleObstacleX = 2.5  // m: centre of the obstacle, half-way to the goal
	VehicleObstacleY = 0.05 // m: off the straight path, so that passing below is cheaper
	VehicleObstacleR = 1.0  // m: radius of the obstacle
)

// VehicleTask returns a driving task for NewVehicle: from near the origin
// to the goal (5, 0) at rest with heading 0, around a disc that blocks the
// straight path.
//
// Cost ½ Σᵢ qᵢ (τᵢ − τ̂ᵢ)², written as ½τᵀdiag(q)τ + pᵀτ with p = −q ⊙ τ̂,
// with the goal τ̂ = (5, 0, 0, 0, 0, 0) on τ = (p_x, p_y, ψ_h, v, a, ω) and
// weights q = (1, 1, 0.1, 0.1, 0.01, 0.01): the position dominates, the
// heading and the speed are only settled at the goal, and a control of
// 1 m/s² or 1 rad/s costs as much as 0.1 m off the goal. Every weight is
// positive and below 2, so the cost also has the goal form
// ‖w ⊙ (τ − τ̂)‖² with w = √(q/2) < 1.
//
// Bounds a ∈ [−2, 2] m/s² and ω ∈ [−1.5, 1.5] rad/s. Along a straight
// line, covering the 5 m from rest to rest at |a| ≤ 2 takes at least
// 2√(2.5/2) ≈ 2.24 s (23 steps); the detour around the obstacle takes
// longer.
//
// Constraint: CircleObstacle(4, 2, 0, 1, 2.5, 0.05, 1), the position
// (p_x, p_y) outside the disc of radius 1 m centred at (2.5, 0.05), with
// ψ = (c_x, c_y, r) learnable. The straight path from the origin to the
// goal crosses the disc; the centre lies 5 cm off that path so that the
// two ways around it (below, p_y < 0, the shorter, and above) are not
// mirror images and a solver started on the straight line is not left on
// a symmetric saddle. The origin and the goal lie outside the disc.
func VehicleTask() Task {
	q := []float64{1, 1, 0.1, 0.1, 0.01, 0.01}
	p := make([]float64, len(q))
	p[0] = -q[0] * VehicleGoalX
	cost, err := NewQuadCost(4, 2, q, p)
	if err != nil {
		panic(err) // constant arguments: unreachable
	}
	obstacle, err := CircleObstacle(4, 2, 0, 1, VehicleObstacleX, VehicleObstacleY, VehicleObstacleR)
	if err != nil {
		panic(err) // constant arguments: unreachable
	}
	return Task{Dynamics: NewVehicle(), Cost: cost,
		Lower: []float64{-VehicleMaxAccel, -VehicleMaxYaw}, Upper: []float64{VehicleMaxAccel, VehicleMaxYaw},
		Constraint: obstacle}
}
