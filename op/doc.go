// Package op puts the batched box-constrained iLQR planner of package ilqr
// into Gorgonia graphs: ILQR adds an ILQROp node whose Do solves the batch
// and whose backward pass applies the exact implicit gradient.
//
// # The node
//
// Inputs: x0 (B, N); θ (B, P) or shared (P); φ (B, Q) or shared (Q) (Plan
// also takes φ in blocks, the control bounds and the path constraint's ψ).
// Output: the packed trajectory (B, T, N+M), row t of example b being
// (x_t, u_t); Trajectory's X and U give the parts. Gradients flow to every
// input, computed for the whole batch in one sweep (ilqr.Solver.Gradient)
// by one backward node (TapeMachine, SymDiff) or DoDiff (LispMachine). The
// backward pass reuses the forward run's solution and costates; the
// solver stays float64 inside.
//
// # Float32 graphs
//
// The solver computes in float64. Plan (and ILQR) also take Float32 input
// nodes, all of one dtype: they are converted to Float64 at the Op's
// boundary by Cast nodes, and Trajectory's X and U are converted back, so a
// Float32 graph gets Float32 outputs and Float32 gradients (the float64
// gradients rounded once). Packed, the Op's own output, is Float64 either
// way. Mixed dtypes are refused; Cast converts a node explicitly.
//
// # Path constraints
//
// For a task with a path constraint c(x_t, u_t; ψ) ≤ 0
// (models.Task.Constraint, imposed on steps 1..T−1), Nodes.Psi makes ψ an
// input: (R) shared, (B, R) per example, or with PsiPerStep (T, R) or
// (B, T, R); without it the constraint's DefaultParams apply. The
// gradient flows to ψ as to θ (summed over the batch when shared), through
// the rows active at the solution (ilqr's implicit gradient with the
// active rows held). The forward run keeps the solution's multipliers
// (ILQROp.Mult) for its backward pass, and with SolverConfig.WarmStart
// starts the next run from them. Stats carries each example's violation;
// Health counts the Infeasible examples and reports the largest violation.
// A ψ outside the constraint's domain (NaN, a lower bound above the upper
// one) is bad input naming the example, like a bad θ.
//
// OpConfig holds the Problem and a SolverConfig (settings, gradient mode
// and policy for unconverged examples, warm start), the struct the layer
// package's ILQRConfig shares.
//
// # Failure
//
// Do, SymDiff, DoDiff and InferShape never panic: bad input, a model that
// panics and any internal error come back as errors, "op: bad input: …"
// wrapping ErrBadInput (the same value as ilqr.ErrBadInput). A Gorgonia VM
// wraps an Op's error in a type without Unwrap: use Cause to reach it
// (errors.Is(op.Cause(err), op.ErrBadInput)). An example whose inputs or
// rollout are not finite is refused by name, or, with
// ilqr.Settings.IsolateNonFinite, held at x0 with zero controls and zero
// gradients while the others are solved; Stats reports every example.
//
// The unrolled baseline (the paper's "AutoDiff": Gorgonia's reverse mode
// through a fixed number of iLQR iterations) lives in op/unrolled.
package op
