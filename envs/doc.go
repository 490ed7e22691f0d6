// Package envs provides the simulated systems, the expert demonstrator, the
// demonstration datasets and the rendering to images used by the imitation
// experiments (the paper's section 4.2 and appendix A.6, after mpc.pytorch's
// experiments/il_env.py).
//
// # Notation
//
// A system has N state entries and M controls (see package models). A
// demonstration of horizon T is an initial state x₀ ∈ ℝᴺ with the T states
// x₀…x_{T−1} (X, T rows of length N) and T controls u₀…u_{T−1} (U, T rows
// of length M) of an optimal trajectory: it minimizes Σ_{t<T} g(x_t, u_t; φ)
// subject to x_{t+1} = f(x_t, u_t; θ) and the box bounds on u, with the
// true θ and φ. Batches are example-major: B×N, B×T×N, B×T×M. Angles are
// stored as raw (cos θ, sin θ) entries, θ = 0 upright. All numbers are
// float64.
//
// # What the package provides
//
//   - Env (New, Names): "pendulum", "cartpole", "double_pendulum" and
//     "rocket" (landing; its success is EvaluateLanding's) from
//     models.TaskByName with the models' default (true) parameters; a
//     simulator (Step, Rollout, TrajectoryCost), a seeded sampler of initial
//     states (SampleInitial; the ranges are listed at New) and the default
//     demonstration horizon (20, 20, 15 and 20 steps of 0.05 s).
//   - Expert: plans with the true model through ilqr.Solver (at most 500
//     iterations, projected gradient ≤ 1e-9, or ≤ 1e-8 once the cost has
//     stopped changing: status Converged or Stalled) and keeps only solves
//     that ended at a stationary point; Collect draws initial states from a
//     Sampler (nil: the env's own ranges; Env.Uniform for others),
//     resamples rejected ones deterministically and counts them.
//   - Dataset (Generate, Save, Load, WriteTo, Read): train, validation and
//     test splits generated deterministically from (env, seed, sizes, T,
//     expert settings), stored in one .npz file.
//   - Rendering (Env.Render, RenderBatch, RenderImage, GrayImage,
//     WritePNG): deterministic anti-aliased grayscale images of states,
//     32×32 by default, as []float64 in [0, 1] ready for a (B, 1, H, W)
//     tensor, or as image.Gray and PNG; WriteGIF animates episodes side by
//     side.
//   - Closed loop (Policy, MPC, Evaluate): receding-horizon evaluation of
//     any policy on the true simulator from seeded starts (Env.Outside
//     draws them outside the training box), with success per episode, the
//     cost relative to the expert's, decision times and the share of
//     converged solves.
//
// Nothing here prints or exits; randomness always comes from a seed or a
// *rand.Rand the caller passes.
//
// # Dataset files
//
// A dataset file is a NumPy .npz archive (a zip of .npy arrays, written with
// codeberg.org/sbinet/npyio, deflate-compressed, every entry checked by its
// CRC-32 on reading) that Python opens with numpy.load:
//
//	meta.npy          0-d unicode string: JSON metadata (below)
//	train_x0.npy      float64 (B_train, N)     initial states
//	train_X.npy       float64 (B_train, T, N)  states, train_X[:, 0] = train_x0
//	train_U.npy       float64 (B_train, T, M)  controls
//	train_cost.npy    float64 (B_train,)       true total costs
//	val_*.npy, test_*.npy                      the same for the other splits
//
// Arrays are little-endian ('<f8') in C order. The metadata object has the
// fields format ("dilqr-envs-demos"), version (1), env, dynamics and cost
// (the models' names, which fix their constants), T, N, M, theta and phi
// (true dynamics and cost parameters), lower and upper (control bounds),
// seed, sizes and rejected (per split: train, val, test), initial_state
// (the sampler's ranges: name, lo, hi) and expert (the solver settings that
// determine the demonstrations). In Python:
//
//	d = numpy.load("pendulum.npz")
//	meta = json.loads(d["meta"].item())
//	X, U = d["train_X"], d["train_U"]
//
// Save writes atomically (temporary file and rename). The same dataset
// always gives the same bytes (the archive has no timestamps). Load and
// Read check everything they read and return an error wrapping ErrBadFile
// that names the problem for a truncated or corrupted archive, a wrong
// format name or version, an unknown or unexpected env, a wrong dtype or
// shape, non-finite values, controls outside the bounds, or states that
// are not the dynamics' rollout of the controls.
package envs
