// Package train runs the imitation-learning experiments of the paper
// (Wang et al., "Empowering Neural Networks with Control and Planning
// Abilities", sec. 4.2 and appendix A.6): it learns, from an expert's
// demonstrations (package envs), either a neural policy or the parameters
// of a planner, and logs imitation and model losses per epoch.
//
// # The task
//
// A dataset holds expert demonstrations (x₀…x_{T−1}, u₀…u_{T−1}) of an
// environment, split into training, validation and test sets; the expert
// plans with the true dynamics θ* and cost. A method predicts the control
// sequence Û (T×M) from the initial state x₀ alone; its imitation loss on a
// set of demonstrations is
//
//	L_im = mean over examples b, steps t, controls i of (Û_{b,t,i} − U_{b,t,i})²,
//
// the MSE of the controls over the whole horizon. Methods that estimate
// model parameters also report the model loss MSE(θ̂ − θ*). That loss
// says little where θ is not identifiable: the pendulum's step depends on
// (g, m, l) only through 3g/(2l) and 3/(ml²), so imitation cannot tell
// (g, m, l) from (gk, m/k², lk). Every run therefore also logs, in terms
// the data determine (ModelErrors), the largest relative error of the
// identifiable combinations (IdentifiableCombinations) and the next-state
// prediction error mean ‖f(x, u; θ̂) − f(x, u; θ*)‖²/N over the test
// demonstrations' states and controls.
//
// FitLM learns θ by Levenberg–Marquardt instead of a gradient method: its
// Jacobian of the planner's solution comes from forward-mode
// sensitivities (ilqr.Solver.JVP), one batch call per parameter.
//
// # The methods
//
//   - nn: a neural policy. An MLP embeds x₀ (N → H → H, ReLU), an LSTM
//     (layer.LSTM, width H) reads that embedding at each of the T steps,
//     and an MLP (H → H → M, ReLU, linear output) decodes the hidden state
//     h_t into u_t; the output is the whole sequence (u₀…u_{T−1}). So the
//     LSTM sees the initial state only, the same information the planners
//     get (the reference implementation, mpc.pytorch's
//     imitation_nonconvex/il_exp.py, also feeds it only x₀, then its own
//     previous controls). Trained with Adam, learning rate 1e-4, on L_im.
//     H is Config.Hidden, 64 by default to keep the grid affordable on two
//     cores (the reference uses 256 and three-layer MLPs).
//   - sysid: learns θ by one-step prediction: it minimises
//     mean ‖f(x_t, u_t; θ) − x_{t+1}‖² over the transitions of the training
//     demonstrations, then plans with θ̂ and the known cost; its imitation
//     loss is that of the plans.
//   - diffmpc.dx, dilqr.dx: learn θ with the cost known, by minimising L_im
//     of the planner's controls through the planner (layer.ILQR), with the
//     fixed-point gradient of DiffMPC (ilqr.FixedPoint) or the exact
//     implicit gradient (ilqr.Implicit).
//   - diffmpc.cost, dilqr.cost: learn the cost with θ known, the same way.
//     The cost is the paper's goal form ‖w ⊙ (τ − τ_goal)‖² with
//     w = sigmoid(r) ∈ (0, 1) and τ_goal free (layer.GoalWeights, which
//     maps it to the quadratic cost q = 2w², p = −2w²⊙τ_goal). It starts,
//     as the reference, from r = 0 (w = ½) and τ_goal = 0, and alternates
//     every 10 epochs (Config.AlternateEvery) between learning the goal
//     (first) and the weights, because learning both at once is reported
//     unstable. The model loss compares (w, τ_goal) with the true cost's
//     goal form w* = √(q*/2), τ*_goal = −p*/q*. (A cost is identifiable
//     only up to a positive factor, which leaves the plans unchanged; the
//     model loss does not factor it out.)
//
// The dynamics parameters are learned as θ = softplus(r) = log(1 + eʳ),
// which keeps masses, lengths and gravity positive. Its slope is
// sigmoid(r): 1 to within 5e-5 for θ ≈ 10 (so g moves as if learned
// directly, as the reference does), about 0.63 at θ = 1 and 0.39 at
// θ = 0.5, so small parameters take proportionally smaller steps. They
// start away from the truth (see InitialGuess): pendulum (g, m, l) =
// (15, 3, 0.5), cart-pole (g, m_c, m_p, l) = (9.8, 3.0, 0.1, 1.0), double
// pendulum
// (g, m₀, m₁, m₂, L₁, L₂) = (12, 3.0, 0.5, 1.0, 1.0, 0.5).
//
// The model-based methods use RMSprop with learning rate 1e-2, decay 0.5
// and batches of 32, the reference setup. "Decay 0.5" is RMSprop's decay ρ
// of the running mean square of the gradient (PyTorch's alpha): the
// reference passes alpha=0.5 to torch.optim.RMSprop and decays no learning
// rate. With ρ = 0.5 the mean square forgets quickly, so every step moves a
// parameter by about the learning rate whatever the gradient's scale.
// Batches: each epoch shuffles the training demonstrations and cuts them
// into batches of Config.BatchSize (32, or n_train when n_train < 32); the
// last batch holds the remainder. Gorgonia fixes the batch size when a
// graph is built, so the remainder gets a graph of its own size; all graphs
// read the same parameters, which live outside them (see RMSprop).
//
// The planner uses the expert's solver settings (envs.Dataset.Expert), so
// at the true parameters it reproduces the demonstrations and the
// imitation loss is zero up to rounding (θ is held as softplus⁻¹(θ*),
// whose softplus may differ from θ* in the last bit: losses below 1e-20 in
// the tests). A training solve that does not converge gives a
// zero gradient (ilqr.SkipUnconverged); Result counts them.
//
// # Files, resuming, determinism
//
// With Config.Dir set, Run writes Dir/log.csv (LogHeader: one row per
// epoch from epoch 0, the initial parameters; model_loss empty for nn;
// then Row.Health, the planner's shares unconverged, indefinite,
// nonfinite and on_bound averaged over the epoch's steps, empty where not
// measured; five-column logs of earlier versions still resume) and
// Dir/checkpoint.json (the parameters, the optimizer state, the epoch, the
// state of the shuffling generator, the best validation loss and its
// parameters, the early-stopping counter and the log so far; format in
// checkpoint.go), both rewritten atomically (temporary file, fsync,
// rename) after every epoch. A run killed at any point and started again
// with Config.Resume continues from its last checkpoint and produces
// bit-identical losses to a run that was never stopped: every source of
// randomness is seeded and saved, the solver's results do not depend on
// the number of workers, and the optimizers (RMSprop, Adam) keep their
// state in exported fields because Gorgonia's solvers hide theirs. A
// checkpoint or log that is corrupted, cut short, inconsistent in itself
// (epochs, best epoch, counters) or with the model (parameter shapes), or
// that belongs to another run is an error (ErrBadCheckpoint, ErrBadLog,
// ErrMismatch), not silently reused; so is resuming a checkpoint past
// Config.Epochs (ErrPastEpochs). Temporary files left by an interrupted
// write are removed when a run starts.
//
// The package prints nothing: progress goes to the io.Writer in
// Config.Progress (a bar with ETA on a terminal, plain lines elsewhere). Plots of a log are made by PlotLosses and
// PlotModelLoss.
package train
