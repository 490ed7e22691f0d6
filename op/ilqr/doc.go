// Package ilqr is the batched box-constrained iLQR solver and its exact
// implicit gradient, in pure Go (models and gonum only; no Gorgonia).
// Package op puts both into a Gorgonia graph.
//
// # The problem
//
// For each example b of a batch, with T states x_0..x_{T-1} (x_0 given) and
// T controls u_0..u_{T-1}:
//
//	minimize   J = Σ_{t=0}^{T-1} g(x_t, u_t; φ)
//	subject to x_{t+1} = f(x_t, u_t; θ),  t = 0..T-2,
//	           lower_t ≤ u_t ≤ upper_t,
//	           c(x_t, u_t; ψ) ≤ 0,          t = 1..T-1 (optional).
//
// f is a models.Dynamics (discrete time), g a models.Cost; a Problem is a
// models.Task (f, g and the bounds) with a horizon T. θ, φ and x_0 may
// differ per example (Inputs). τ_t = (x_t, u_t); Result holds the
// trajectories example-major as B×T×N states and B×T×M controls.
//
// # The solver
//
// Solver runs control-limited iLQR (Tassa, Mansard & Todorov, "Control-
// limited differential dynamic programming", ICRA 2014). Each iteration
//
//  1. linearizes the dynamics and quadratizes the cost along the current
//     trajectory (Gauss-Newton; with Settings.Newton the dynamics' second
//     derivatives contracted with the costates are added);
//  2. computes the costates λ_{T-1} = ∇_x g_{T-1}, λ_t = ∇_x g_t + f_xᵀ λ_{t+1}
//     and the projected gradient ‖u − Π(u − ∇_U J)‖_∞, ∇_{u_t} J =
//     ∇_u g_t + f_uᵀ λ_{t+1}, Π the projection onto the bounds;
//  3. tests the stop rules below;
//  4. solves the box-constrained LQR of the model (the backward pass: a box
//     QP by projected Newton per step), adding μ to Q_uu and raising it by
//     Tassa's schedule until every QP succeeds;
//  5. rolls the new policy out with step lengths from 1 down to
//     Settings.LineSearchMin and takes the first that lowers the cost
//     (when the model predicts a decrease below round-off, a step that keeps
//     the cost within round-off is taken, so the gradient can still be
//     driven down); μ falls after an accepted step and rises after a
//     rejected one.
//
// The batch is spread over goroutines, one workspace each; the hot loop
// allocates nothing, and every example is solved by one goroutine from
// start to end, so results are bit-identical for any number of workers.
//
// # Stop rules
//
// The solve of an example ends, with the status in parentheses, when
//
//   - the projected gradient is within Settings.TolGrad (Converged);
//   - an accepted step changed the cost by less than TolCost·(1 + |J|), or
//     the backward pass predicts a change that small, while the projected
//     gradient is above TolGrad but within TolGradLoose (Stalled; with the
//     default TolGradLoose = TolGrad this never happens: the solver keeps
//     iterating);
//   - MaxIter iterations have run (IterationLimit, or Converged if the
//     final iterate meets TolGrad);
//   - the backward pass fails for every μ up to RegMax
//     (RegularizationFailed);
//   - the line search fails for every μ up to RegMax (LineSearchFailed);
//   - the rollout of the initial controls is not finite, or with
//     Settings.IsolateNonFinite the example's inputs are not (NonFinite).
//
// With Settings.ExactIter every example runs exactly MaxIter iterations;
// its status is judged on the final iterate.
//
// # Path constraints
//
// A task's Constraint (models.Constraint: state bounds, an obstacle, any
// c(x, u; ψ) ≤ 0 written once generically) is handled by an augmented
// Lagrangian around the iterations above (ALTRO's scheme; see
// constraint.go for why not interior-point DDP): each outer iteration runs
// the solver on the cost plus the terms (max(0, ν+ρc)² − ν²)/2ρ to a
// projected-gradient tolerance that tightens from 1e-4 to TolGrad, then
// sets the multipliers ν ← max(0, ν+ρc) and multiplies ρ by PenaltyFactor
// when the KKT residual of the constraint (violation, and min(−c, ν) on
// the satisfied rows) fell by less than 4. Constrained problems take
// Newton steps (Settings.Newton). The outer loop ends
//
//   - Converged when an inner solve met TolGrad and the KKT residual is
//     within TolViolation: the solution is a KKT point with multipliers
//     Result.Mult and violation Stats.Violation; Stalled when the inner
//     solve stopped short of TolGrad but within the round-off of the
//     multiplier terms, 1e-12·(1 + max ν) (or TolGradLoose if larger);
//   - Infeasible when the residual stops falling with ρ at PenaltyMax;
//   - IterationLimit after MaxOuter outer iterations or MaxIter iterations
//     in all, or with the inner solve's own failure status.
//
// Inputs.Mult0 warm-starts the multipliers (a previous Result.Mult). The
// control bounds stay exact in the box QP throughout.
//
// # The LQR kernel
//
// One time-varying LQR recursion serves the solver's backward pass (with
// the box QP) and the gradient's sweep (with the controls on a bound held
// at zero): per step, full (N+M)×(N+M) stage Hessians and linear terms;
// see lqr.go.
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
// With a path constraint, the rows with positive multipliers are held as
// equalities (strict complementarity assumed; GradWeaklyActive flags a row
// on its bound with a zero multiplier, GradDependent dependent rows), the
// stage Hessians gain Σ_i ν_i ∇²c_i, and a Schur complement on the a active
// rows solves the equality-constrained sweep exactly with a+2 runs of the
// same kernel (active.go); Grads.Psi gets
//
//	dL/dψ  = −Σ_t (d_tᵀ Σ_i ν_{t,i} ∂²c_{t,i}/∂τ∂ψ + η_tᵀ ∂c_t/∂ψ),
//
// η the sweep's multipliers of the active rows. JVP holds the same rows,
// moving with ψ (c_ψ δψ + C δτ = 0), along a direction that may include ψ.
//
// The cost parameters may vary per step (Inputs.PhiPerStep: a time-varying
// cost, e.g. models.FullQuadCost tracking a reference) and the control
// bounds per call, step and example (Inputs.Lower, Upper); Grads holds
// their gradients too (a control held on its bound moves with it). JVP
// gives the forward-mode derivative of the solution along a direction in
// x0, θ, φ and the bounds from the same linearization and kernel. Models
// whose evaluators are models.ParamContractor (network dynamics) have the
// θ terms contracted by reverse mode, one pass per step, instead of
// forming ∂f/∂θ and the θ columns of the Lagrangian Hessian.
//
// # Failure
//
// Bad input (wrong lengths, NaN or Inf, θ outside the model's domain,
// inverted bounds, sizes beyond MaxFloats) returns an error wrapping
// ErrBadInput that names the input and the example ("ilqr: bad input:
// example 3: X0 contains NaN or Inf"). Non-convergence is a status, never
// an error. A panic in a model's evaluator or in Settings.Trace is
// recovered into an error wrapping ErrPanic that names the example.
package ilqr
