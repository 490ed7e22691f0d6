// Package op is the batched box-constrained iLQR solver, its exact implicit
// gradient, and the Gorgonia Op that puts both into a computation graph.
//
// # The problem
//
// For each example b of a batch, with T states x_0..x_{T-1} (x_0 given) and
// T controls u_0..u_{T-1}:
//
//	minimize   J = Σ_{t=0}^{T-1} g(x_t, u_t; φ)
//	subject to x_{t+1} = f(x_t, u_t; θ),  t = 0..T-2,
//	           lower ≤ u_t ≤ upper.
//
// f is a models.Dynamics (discrete time), g a models.Cost; θ, φ and x_0 may
// differ per example. τ_t = (x_t, u_t); trajectories are packed example-major
// as (B, T, N+M) in the Op and as separate B×T×N and B×T×M slices in Result.
//
// # The solver
//
// Solver runs control-limited iLQR (Tassa, Mansard & Todorov, "Control-
// limited differential dynamic programming", ICRA 2014): a Gauss-Newton
// quadratic model of the cost-to-go, a box QP solved by projected Newton at
// every step of the backward pass, Levenberg–Marquardt regularization of
// Q_uu with Tassa's schedule, and a backtracking line search on the actual
// cost. The batch is spread over goroutines, one workspace each, and the hot
// loop allocates nothing; every example is solved by one goroutine from start
// to end, so results are bit-identical for any number of workers.
// Convergence is measured by the projected gradient of J over the controls,
// ‖u − Π(u − ∇_U J)‖_∞, computed from the costates
// λ_{T-1} = ∇_x g_{T-1}, λ_t = ∇_x g_t + f_xᵀ λ_{t+1}.
//
// # The gradient
//
// At a converged solution the KKT conditions of the nonlinear problem hold;
// the implicit function theorem on them gives the derivative of the
// solution. Solver.Gradient computes a vector-Jacobian product with one LQR
// solve whose stage Hessians are the Lagrangian Hessians
// ∇²g_t + Σ_i λ_{t+1,i} ∇²f_{t,i}, with the incoming gradient as the linear
// term, zero initial state, and the controls on a bound held fixed; its
// solution d and multipliers ν give
//
//	dL/dθ  = −Σ_t (d_tᵀ ∂²(λ_{t+1}ᵀ f_t)/∂τ∂θ + ν_{t+1}ᵀ ∂f_t/∂θ)
//	dL/dφ  = −Σ_t d_tᵀ ∂²g_t/∂τ∂φ
//	dL/dx0 = −ν_0.
//
// The cost is O(T (N+M)³) per example, independent of the number of solver
// iterations. FixedPoint mode drops the Σ λ ∇²f term, as mpc.pytorch does.
//
// # In a graph
//
// ILQR adds an ILQROp node to a Gorgonia graph: its Do runs the solver and
// its SymDiff (TapeMachine) and DoDiff (LispMachine) apply the gradient in
// one backward sweep. Errors in Do never panic; use Cause to reach the error
// a VM wrapped.
//
// # The unrolled baseline
//
// Unrolled builds a fixed number of iLQR iterations out of Gorgonia
// operations (the model's generic step instantiated with GraphScalar), so
// that Gorgonia's reverse mode differentiates through every iteration: the
// paper's "AutoDiff" baseline, whose backward cost grows with the iteration
// count and whose gradient tends to the implicit one as the iterations
// converge. It supports one control and the quadratic cost; see its
// documentation for the Gorgonia limits it works around.
package op
