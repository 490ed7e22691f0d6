// Package models provides discrete-time dynamics and per-step cost models
// with exact first and second derivatives, for the iLQR solver and its
// implicit gradient in package op/ilqr.
//
// # Notation
//
// A model has N state entries, M controls and P learnable parameters:
//
//	x ∈ ℝᴺ   state          u ∈ ℝᴹ   control       θ ∈ ℝᴾ   dynamics parameters
//	τ = (x, u) ∈ ℝᴺ⁺ᴹ       trajectory variables of one step
//	φ ∈ ℝ^Q  cost parameters
//	λ ∈ ℝᴺ   costate (multiplier of the dynamics constraint)
//
// Dynamics are discrete-time: f(x, u; θ) returns the next state x′, not a
// time derivative. A trajectory has T states x₀ … x_{T−1} and T controls;
// the dynamics are applied T−1 times and the cost sums g(x_t, u_t; φ) over
// all T steps (mpc.pytorch's convention). All numbers are float64; all
// matrices are dense and row-major, so entry (i, j) of an r×c matrix a is
// a[i*c+j]. Derivatives are taken with respect to the raw entries of x: a
// state entry c = cos θ is an independent input even when the model also
// carries s = sin θ.
//
// # What the package provides
//
// Dynamics and its DynamicsEvaluator give f, ∂f/∂x, ∂f/∂u, ∂f/∂θ and the
// Hessian of the Lagrangian term λᵀf in the rows of τ. Cost and its
// CostEvaluator give g, ∇_τ g, ∇²_ττ g and ∂²g/∂τ∂φ. Evaluators own their
// scratch space: make one per goroutine; their methods never allocate and
// never modify their inputs.
//
// Models:
//   - NewPendulum: mpc.pytorch's PendulumDx (state (cos θ, sin θ, ω)).
//   - NewCartpole: mpc.pytorch's CartpoleDx (state (x, ẋ, cos θ, sin θ, ω)).
//   - NewDoublePendulum: an inverted double pendulum on a cart
//     (Bogdanov 2004), in the same discrete-time style.
//   - NewLinear: x′ = A x + B u with learnable A and B.
//   - NewRocket: a planar rocket with gimbaled thrust, for landing.
//   - NewVehicle: a planar kinematic unicycle (position, heading, speed;
//     acceleration and yaw rate), for driving around obstacles.
//   - NewAuto: any model given by one generic step function.
//   - NewMLPDynamics and NewResidualDynamics: a perceptron as the model,
//     x′ = x + N([x; u]; W), or x′ = f(x, u; θ) + N([x; u]; W) on any model,
//     with closed-form derivatives through the network. Its evaluator is a
//     ParamContractor: the gradient contracts the weights by one reverse
//     pass per step instead of forming a column per weight.
//
// Optional interfaces: ParamChecker (a model's parameter domain, checked
// by the solver per example), JointEvaluator (everything the gradient needs
// at one point in one evaluation) and ParamContractor (above).
//
// The pendulum, the cart-pole and the linear model have hand-written
// derivatives (FastDynamics) tested against the automatic ones; the
// automatic evaluator stays available through AutoEvaluator.
//
// Costs: QuadCost (½τᵀdiag(q)τ + pᵀτ), FullQuadCost (½τᵀQτ + pᵀτ with a
// full Q, mpc.pytorch's QuadCost(C, c)), GoalCost
// (‖w ⊙ (τ − τ_goal)‖², the paper's form, with ToQuad mapping it onto
// QuadCost), and AutoCost for any generic cost function. PendulumTask,
// CartpoleTask, DoublePendulumTask, RocketTask and VehicleTask bundle a
// model with its default cost and control bounds (TaskByName finds them by
// name).
//
// Path constraints c(x, u; ψ) ≤ 0 (Constraint, ConstraintEvaluator: c,
// ∂c/∂τ, Σ wᵢ∇²cᵢ, ∂c/∂ψ and Σ wᵢ∂²cᵢ/∂τ∂ψ) go in a Task's Constraint:
// StateBounds (lower ≤ x ≤ upper, ±Inf for a free entry; the helpers
// PendulumSpeedLimit and CartpoleTrackLimit), CircleObstacle (a disc a
// planar point must stay out of; VehicleTask has one) and
// NewAutoConstraint for any constraint written once generically, with
// derivatives by hyper-dual numbers like AutoCost's.
//
// # Adding a model
//
// Write the step once, generically over the Scalar arithmetic, and hand its
// three instantiations to NewAuto. Float evaluates it; Dual numbers give
// exact first derivatives (one evaluation per input direction) and
// hyper-dual numbers exact second derivatives (one evaluation per pair of
// directions), so no derivative is written by hand and none is
// approximated. For example, a unit mass on a spring of learnable
// stiffness k with a force input, stepped by semi-implicit Euler:
//
//	func springStep[T models.Scalar[T]](next, x, u, th []T) {
//		const dt = 0.1
//		k := th[0]
//		v1 := x[1].Add(u[0].Sub(k.Mul(x[0])).MulC(dt)) // v′ = v + dt(u − k p)
//		next[0] = x[0].Add(v1.MulC(dt))                 // p′ = p + dt v′
//		next[1] = v1
//	}
//
//	spring, err := models.NewAuto("spring(dt=0.1)", models.Dims{N: 2, M: 1, P: 1},
//		[]float64{4}, models.StepFuncs{
//			Float:     springStep[models.Float],
//			Dual:      springStep[models.Dual],
//			HyperDual: springStep[models.HyperDual],
//		})
//
// The step must be a smooth function of its inputs apart from Clamp (whose
// derivative is 1 inside its closed interval and 0 outside, as torch.clamp)
// and Atan2 (exact in every quadrant, discontinuous only across the
// negative x axis). A cost is added the same way with a generic CostFunc
// and NewAutoCost. A hand-written evaluator may be added later as a fast
// path, with the generic step kept as the definition it is tested against.
package models
