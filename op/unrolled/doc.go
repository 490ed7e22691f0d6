// Package unrolled is the "unrolled" baseline of the DiLQR paper (Wang et
// al., "Empowering Neural Networks with Control and Planning Abilities",
// the "AutoDiff" of its Figures 1 and 2): a fixed number of box-constrained
// iLQR iterations built out of Gorgonia operations, so that Gorgonia's own
// reverse mode differentiates through every iteration.
//
// Its backward cost grows with the iteration count, unlike the implicit
// gradient of op.ILQR, which costs one LQR solve whatever the iterations;
// as the iterations converge, its gradient tends to the implicit one. The
// package is there to measure that difference (examples/backward-timing)
// and to check one gradient against the other.
//
// # The problem
//
// As for the solver (package op/ilqr): for each example b of a batch of B,
// with T states x_0..x_{T-1} (x_0 given, N entries each) and T controls
// u_0..u_{T-1} (M = 1 entry),
//
//	minimize   Σ_{t=0}^{T-1} ½ τ_tᵀ diag(q) τ_t + pᵀ τ_t,  τ_t = (x_t, u_t)
//	subject to x_{t+1} = f(x_t, u_t; θ),  t = 0..T-2,
//	           lower_t ≤ u_t ≤ upper_t,
//
// with the cost parameters φ = (q, p) of a *models.QuadCost. Build returns
// the packed trajectory (B, T, N+M) of the last iterate, row t of example b
// being (x_t, u_t). The model's dynamics enter as its generic step
// function instantiated with GraphScalar (models.PendulumStep[GraphScalar]
// and the like), so that one step evaluation builds the graph of f and, by
// forward-mode derivative parts carried along, of its Jacobian.
//
// # Running the graph
//
// Both of Gorgonia's machines run the result, each with a caveat of
// Gorgonia v0.9.18 that Build documents in full:
//
//   - TapeMachine (with G.Grad): its compile time is quadratic in the node
//     count, so it suits graphs of up to a few tens of thousands of nodes,
//     and it merges nodes whose 32-bit hashes collide: call HashCollisions
//     after G.Grad and rebuild if it reports any node.
//   - LispMachine: linear in the node count, but a run that fails leaks a
//     goroutine that races with the caller, so call Forward first and run
//     the machine only when it succeeds; and use the TapeMachine for a
//     batch of one, whose single-element tensors the LispMachine
//     differentiates wrongly in places.
//
// # What the package works around
//
// Gorgonia looks up every new node by a linear scan, which makes building
// quadratic; Build keeps Gorgonia's node index filled ahead while it adds
// nodes and leaves only the entries Gorgonia itself would have made
// (unrolled_index.go, the one file that touches Gorgonia's private state).
// Build salts the hash of every Op it applies, so that Gorgonia cannot
// merge two of its nodes, and replaces Gorgonia's Reshape, Concat and Slice,
// whose derivatives are wrong on the LispMachine, with Ops of its own
// (unrolled_ops.go), next to a clamp, an atan2 and two row-wise products
// that Gorgonia lacks. Inputs the output does not depend on (θ at T = 1,
// φ without iterations) are tied into the output with a zero derivative,
// as the LispMachine rejects an input without consumers.
package unrolled
