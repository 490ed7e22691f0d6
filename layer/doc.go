// Package layer provides Gorgonia layers that compose into one trainable
// graph: the iLQR planner as a layer (ILQR), a multilayer perceptron (MLP),
// a long short-term memory network (LSTM) and a convolutional image encoder
// (ConvEncoder), each with seeded initialisation, its learnable nodes for
// Gorgonia's solvers, and Save / Load of its parameters.
//
// # Notation
//
// B is the batch size, T the planning horizon, N, M and P the state,
// control and dynamics-parameter sizes of a models.Dynamics, Q the
// parameter size of a models.Cost, K = N+M. Shapes are written (B, T, N):
// a node of that shape holds B examples of T rows of N entries, row-major.
// Nodes are float64 by default; every layer's config has a Dtype, and with
// Float32 the layer builds its nodes in float32 (the planner still solves in
// float64 and converts at its boundary, see op.Cast).
//
// The planner solves, for every example b,
//
//	minimize   Σ_{t=0}^{T-1} g(x_t, u_t; φ)
//	subject to x_{t+1} = f(x_t, u_t; θ),  x_0 given,  lower ≤ u_t ≤ upper,
//	           c(x_t, u_t; ψ) ≤ 0, t = 1..T−1  (when the task has a Constraint),
//
// and returns X* (B, T, N) and U* (B, T, M). Its gradient is the exact
// implicit derivative of the converged solution (ilqr.Implicit, the
// default) or mpc.pytorch's fixed-point approximation (ilqr.FixedPoint);
// see packages op and op/ilqr.
//
// # Parameters of the planner
//
// θ, the cost parameters and (for a constrained task) the constraint's ψ
// are blocks, each described by a ParamSpec:
// Fixed (a constant), Learned (a node the layer owns, listed by
// Learnables, saved by Save) or External (a node computed upstream, e.g. by
// an MLP). Constraints are kept by reparameterisation, never by clipping:
// a Learned or External block holds raw values r and the planner uses
// Transform(r), with Softplus for positive physical parameters (θ =
// log(1 + eʳ)), Sigmoid (the paper's cost learning) or Softplus for cost
// weights, and Identity for unconstrained entries such as goals. Learned
// blocks start at the Transform's inverse of ParamSpec.Init, e.g. a wrong
// initial guess of θ. The cost may be learned in its native form, (q, p)
// of a models.QuadCost, or in the paper's goal form (w, goal), mapped onto
// the quadratic cost with Gorgonia ops as q = 2w², p = −2w²⊙goal
// (CostForm GoalWeights).
//
// A task with a path constraint (models.Task.Constraint) has a third block,
// its parameters ψ (ILQRConfig.Psi), Fixed at the constraint's defaults
// unless said otherwise, shared, per example, per step or both. A Learned
// ψ learns the finite entries of its Init and keeps the infinite ones (the
// unbounded entries of models.StateBounds) fixed: for the pendulum's speed
// limit ψ = (−∞, −∞, −w, ∞, ∞, w), psi_raw holds (−w, w).
//
// # Usage
//
// A vision-to-control model: images → ConvEncoder → initial state, an MLP
// on features → θ, a learned cost, the planner, an imitation loss, Adam:
//
//	g := G.NewGraph()
//	enc, _ := layer.NewConvEncoder(g, layer.ConvConfig{Channels: 1, Height: 16, Width: 16,
//		Convs: []layer.ConvSpec{{Filters: 4, Kernel: 3, Pool: 2}}, Head: []int{16, 3}, Seed: 1})
//	x0, _ := enc.Forward(images) // (B, 3): a state estimate
//	mlp, _ := layer.NewMLP(g, layer.MLPConfig{Sizes: []int{F, 16, 3}, Seed: 2})
//	z, _ := mlp.Forward(features) // (B, 3): raw θ per example
//	pl, _ := layer.NewILQR(g, models.PendulumTask(), layer.ILQRConfig{T: 10, Batch: B,
//		Theta:    layer.ParamSpec{Source: layer.External, Transform: layer.Softplus, Node: z},
//		Cost:     layer.ParamSpec{Source: layer.Learned, Transform: layer.Sigmoid},
//		CostForm: layer.GoalWeights})
//	_, u, _ := pl.Plan(x0) // or u0, _ := pl.Policy(x0) for MPC
//	loss := G.Must(G.Mean(G.Must(G.Square(G.Must(G.Sub(u, expertU))))))
//	learn := append(append(enc.Learnables(), mlp.Learnables()...), pl.Learnables()...)
//	G.Grad(loss, learn...)
//	vm := G.NewTapeMachine(g, G.BindDualValues(learn...))
//	adam := G.NewAdamSolver(G.WithLearnRate(1e-2))
//	eval, _ := layer.NewEvaluator(loss) // forward only, on a machine of its own
//	var health layer.HealthMean
//	for epoch := range epochs {
//		health.Reset()
//		for _, batch := range trainBatches {
//			G.Let(images, batch.images) // and the other inputs
//			vm.Reset() // a TapeMachine runs only once without it
//			if err := vm.RunAll(); err != nil {
//				return op.Cause(err) // the Op's own error
//			}
//			health.Add(pl.Health()) // read Stats/Health before another run
//			adam.Step(G.NodesToValueGrads(learn)) // applies and zeroes the gradients
//		}
//		out, err := eval.Run(map[*G.Node]G.Value{images: valImages, expertU: valU})
//		if err != nil {
//			return err
//		}
//		// out[0] is the validation loss; training goes on exactly as without it.
//		log(epoch, out[0], health.Mean()) // mean shares over the epoch's steps
//	}
//	layer.SaveLayers("model.params", enc, mlp, pl)
//
// A LispMachine works too (made afresh for every run, on a graph without
// G.Grad); it needs every node nothing consumes to be a scalar, so build
// only the outputs the loss uses (Trajectory gives X and U on request).
// An LSTM on a one-step sequence leaves its recurrent weights unconsumed,
// and one with Hidden 1 at batch 1 fails in Gorgonia's backward pass
// ("Shape mismatch. Expected (1, 1). Got (0, 0)"): use a TapeMachine there.
//
// # Evaluating between training steps
//
// A TapeMachine made with G.BindDualValues adds every run's gradients into
// the learnables' dual values, and only a solver's Step zeroes them. Running
// that machine on held-out data between steps therefore adds the held-out
// gradient into the next step (measured in this package's tests: an MLP's
// loss after 8 RMSProp steps is 0.083 instead of 0.013). Evaluate with an Evaluator, which runs the forward part
// of the graph on a TapeMachine of its own without dual values and puts
// the inputs it is fed back; its runs leave the training run bit for bit as
// it would have been. Where the training machine itself must run on other
// data, call ZeroGrads(learn...) after it, before the next training run.
// An evaluation run overwrites the values of the nodes it computes and the
// planner's Stats: read them first. The Evaluator refuses graphs with a
// warm-started planner or with Dropout or BatchNorm, whose state every run
// changes; evaluate those on a graph of their own.
//
// # Training health
//
// ILQR.Health (Stats().Health(), see op.Health) gives per run the shares of
// the batch that got no gradient or a damped one; HealthMean averages them
// over an epoch. A training run that plateaus with nothing failing usually
// shows one of them growing:
//   - Unconverged: solves that stopped at the iteration limit get a zero
//     gradient under the default ilqr.SkipUnconverged. Raise
//     ilqr.Settings.MaxIter, warm-start (op.SolverConfig.WarmStart), or take
//     the gradient at the final iterate with
//     ilqr.GradOptions{Unconverged: ilqr.GradientAnyway}.
//   - Indefinite: the gradient sweep was not positive definite (a learned
//     cost that lost convexity) and the example got a zero gradient; with
//     ilqr.GradOptions{Indefinite: ilqr.RegularizeIndefinite} it gets the
//     gradient of a damped sweep instead (counted here too).
//   - NonFinite: examples with NaN or Inf inputs or rollouts. With
//     ilqr.Settings{IsolateNonFinite: true} they are held at x0 with zero
//     gradients and the rest of the batch trains; without it the run fails
//     naming the example.
//   - OnBound: controls on a bound get no gradient. Widen the bounds, or
//     raise the control weight of the cost so the plans stay inside them.
//   - Infeasible: the path constraint could not be met from x0 (the
//     example gets a zero gradient); Violation, the largest violation of
//     the run, says by how much. Relax ψ, or check that the starts admit a
//     feasible plan.
//
// # Layers in one graph
//
// Gorgonia merges input nodes of equal names, so layers in one graph need
// distinct Name prefixes; constructors refuse a name already in the graph.
// Batch sizes are fixed when the graph is built. Layers are not safe for
// concurrent use; neither are Gorgonia graphs.
//
// # Initialisation
//
// Constructors take a seed; weights are drawn from math/rand/v2's PCG
// seeded with it (never from the time, as Gorgonia's initialisers are), so
// one configuration and seed give the same weights on every run: Glorot
// uniform for tanh and linear layers, He uniform for ReLU layers, PyTorch's
// U(±1/√H) for the LSTM with forget-gate bias 1, zero biases otherwise.
//
// # Parameter files
//
// SaveLayers and LoadLayers (and each layer's Save and Load) store
// parameters in a small binary format: the magic "DILQRPRM", a format
// version (FormatVersion), a JSON header listing each layer's kind,
// architecture (Describe) and parameter names and shapes, the values as
// little-endian float64, and a CRC-32C of everything before it. Files are
// written atomically (temporary file, fsync, rename). Load checks the
// version, length, checksum, kinds, architectures, names and shapes before
// it changes anything, and says which failed (ErrFormat, ErrVersion,
// ErrMismatch).
package layer
