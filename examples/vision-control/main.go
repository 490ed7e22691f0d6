// Command vision-control learns to swing up and balance a pendulum from
// images, end to end through a planner, and compares it with a plain
// convolutional policy trained on the same data with the same budget.
//
//	go run ./examples/vision-control [-quick] [-csv curves.csv] [-png curves.png]
//	    [-seed 1] [-epochs 40] [-ntrain 1024] [-learn cost|theta] [-state-weight 0]
//	go run ./examples/vision-control -closed-loop [-quick] [-seeds 1,2,3]
//	    [-episodes 50] [-mpc-T 40] [-heavy 1.5] [-long 2] [-out DIR]
//
// README.md in this folder has the measured results and the design notes.
//
// # Task and data
//
// The expert is iLQR with the true pendulum model and cost (envs.Generate,
// default expert settings): from an initial state x₀ (θ uniform on the
// circle, ω on (−1, 1]) it plans T = 10 controls (0.5 s), about three
// quarters of them on the bounds ±2. Both models see only images and are
// trained to imitate those controls: the loss is the mean squared error over
// the whole horizon (the expert's own loss is zero). Data: 1024 training
// demonstrations (512 with -quick) and 200 test demonstrations.
//
// The input is two 32×32 frames rendered by envs.Env.Render, stacked as two
// channels: x₀, and the state gap = 2 steps (0.1 s) earlier from which the
// pendulum, left alone (u = 0), reaches x₀ (the model's Euler step run
// backwards, checked forwards with the simulator). One frame shows the
// angle but not the angular velocity; the program prints what that costs:
// the expert itself, planning from the true angle with ω = 0, has a test
// loss of 0.092. Frames one step apart differ by at most 0.64 pixel at the
// pole's tip (|ω| ≤ 1); two steps apart, 1.3 pixels.
//
// # The models
//
// ilqr: images → layer.ConvEncoder (conv 8@5×5, tanh, max-pool 2; conv
// 8@3×3, tanh, max-pool 2; dense 512 → 32 tanh → 3) → state estimate
// x̂₀ = (a/r, b/r, w) from the outputs (a, b, w), r = ‖(a, b)‖, so that
// (cos θ̂, sin θ̂) lies on the unit circle → layer.ILQR (the box-constrained
// iLQR planner with the true dynamics and the exact implicit gradient) →
// the T planned controls. One Gorgonia graph, trained end to end. The
// planner's cost is learned (Source Learned, the native QuadCost (q, p),
// q = softplus(raw) > 0), from the task's cost with the control weight
// q_u = 0.1, 100 times too large: from the true q_u the untrained
// encoder's plans are bang-bang, the implicit gradient of a control on a
// bound is zero, and training stalled on two of three seeds (README.md). -learn theta learns the
// dynamics (g, m, l) instead, with the cost known, from the guess
// (15, 3, 0.5) of train.InitialGuess (truth (10, 1, 1)).
//
// mlp: the same ConvEncoder with a head 512 → 32 tanh → T, then 2·tanh(·)
// so that the controls lie inside the bounds like the expert's.
//
// -state-weight w > 0 adds w·MSE(x̂₀, x₀) to both models' training loss:
// the planner's state estimate, and for the MLP three more head outputs
// mapped to a state estimate the same way, against the true initial state
// (the train_loss of epochs ≥ 1 then includes it; test_loss stays the
// imitation loss).
//
// Both use the same convolution stages, seed, demonstrations, minibatches
// (16, in the same shuffled order), number of epochs and Adam steps
// (train.Adam), with a cosine learning-rate decay to 0.2× over the epochs.
// Learning rates: mlp 3e-3 (the best of 1e-3, 3e-3 and 1e-2 in a trial);
// ilqr 1e-2 for the encoder, 5e-2 for the planner's raw parameters.
//
// # Output
//
// A progress bar on standard error; on standard output the train and test
// losses of both models per epoch, a summary table, the planner's solver
// statistics (solves converged in the last epoch and on the test set), its
// learned parameters and the error of its state estimate. -png writes the
// learning curves (log scale), -csv the file
//
//	epoch,model,train_loss,test_loss
//
// with model ilqr or mlp and epoch 0 before training; test_loss is measured
// on the test set after the epoch, train_loss is the mean minibatch loss
// during the epoch (at epoch 0 the loss of the initial weights on the whole
// training set). Runs are deterministic: the same flags give the same
// numbers.
//
// # Closed loop
//
// -closed-loop trains both models for every seed of -seeds (the other
// flags as above) and runs them on the true pendulum (envs.Evaluate): at
// every step of 0.05 s the two frames of the true states x_{t−2} and x_t
// are rendered as the demonstrations were (before the episode the
// pendulum swung freely), the model's forward graph (batch 1, the trained
// weights) predicts T controls and the first is applied; for the planner
// model that is MPC with its state estimate and learned cost. Each
// variant runs -episodes episodes (the same starts for every model and
// seed): in distribution, starts from the training ranges, 5 s; out of
// distribution, starts outside them (|ω₀| ∈ (1, 2]), a pole -heavy times
// as heavy (the simulator's torque divided by it: the mass enters the step
// only through 3ū/(m l²)), and episodes -long times as long. References:
// the expert (MPC with the true model, cost and state, horizon 40; cost
// ratio 1 by definition) and the same MPC with horizon T (mpc-T10); the
// diagnostic ilqr-state plans with the planner model's learned cost from
// the true state; -mpc-T 40 adds the trained planner model (and the
// diagnostic) planning 40 steps. -out receives closed-loop.csv
//
//	env,method,split,episodes,success_rate,cost_ratio,solve_ms_p50,solve_ms_p99,variant,seed,converged_share
//
// (seed "mean" averages the seeds), closed-loop.md (the tables) and
// closed-loop.gif (four in-distribution episodes of the first seed:
// expert, planner model, MLP). The log also gives, per seed, the error of
// the state estimate along the in-distribution episodes, at |ω| ≤ 1 and
// beyond. Everything but the decision times is deterministic.
//
// README.md has the closed-loop results: neither model reaches 90% in
// distribution (26% and 27% at T = 10, where the 10-step expert itself
// succeeds in 18%), and out of distribution the planner model has no
// clear margin over the MLP.
//
// # Results
//
// Seed 1, final test losses (README.md has the table): -quick (960 Adam
// steps) ilqr 0.0166, mlp 0.0220, the planner 12.7× below its epoch-1 test
// loss; default (2560 steps) ilqr 0.0052, mlp 0.0095. All planner solves
// converged in the last epoch of both runs.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/examples/internal/cli"
	"github.com/dilqr/dilqr/train"
)

// options are the command's flags.
type options struct {
	quick                   bool
	csv, png                string
	seed                    uint64
	epochs, ntrain, ntest   int
	batch, t, gap           int
	learn                   string
	lrPlan, lrParams, lrMLP float64
	stateWeight             float64
	// Closed-loop evaluation (-closed-loop).
	closedLoop bool
	seeds, out string
	episodes   int
	heavy      float64
	long       int
	mpcT       string
}

func main() {
	var o options
	flag.BoolVar(&o.quick, "quick", false, "a short run of about a minute: 512 demonstrations, 30 epochs")
	flag.StringVar(&o.csv, "csv", "", "write the learning curves to this CSV file (epoch,model,train_loss,test_loss)")
	flag.StringVar(&o.png, "png", "vision-control.png", "write the learning-curve plot to this PNG file (empty: none)")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the demonstrations, the initial weights and the shuffling")
	flag.IntVar(&o.epochs, "epochs", 0, "epochs (0: 40, or 30 with -quick)")
	flag.IntVar(&o.ntrain, "ntrain", 0, "training demonstrations (0: 1024, or 512 with -quick)")
	flag.IntVar(&o.ntest, "ntest", 200, "test demonstrations")
	flag.IntVar(&o.batch, "batch", 16, "minibatch size of both models")
	flag.IntVar(&o.t, "T", 10, "horizon: controls per demonstration")
	flag.IntVar(&o.gap, "gap", 2, "the first frame shows the pendulum this many steps (of 0.05 s) before the second")
	flag.StringVar(&o.learn, "learn", learnCost, "what the planner learns besides the encoder: cost or theta (dynamics)")
	flag.Float64Var(&o.lrPlan, "lr-ilqr", 1e-2, "Adam learning rate of the planner model's encoder")
	flag.Float64Var(&o.lrParams, "lr-params", 5e-2, "Adam learning rate of the planner's raw cost or dynamics parameters")
	flag.Float64Var(&o.lrMLP, "lr-mlp", 3e-3, "Adam learning rate of the MLP baseline")
	flag.Float64Var(&o.stateWeight, "state-weight", 0, "weight of an auxiliary training loss on both models' state estimates, MSE against the true initial state (0: imitation loss only)")
	flag.BoolVar(&o.closedLoop, "closed-loop", false, "train both models for every seed of -seeds and evaluate them in closed loop on the true pendulum; writes closed-loop.csv, closed-loop.md and closed-loop.gif to -out")
	flag.StringVar(&o.seeds, "seeds", "1,2,3", "training seeds of -closed-loop, comma-separated")
	flag.StringVar(&o.out, "out", "vision-control-out", "folder of the -closed-loop files")
	flag.IntVar(&o.episodes, "episodes", 0, "closed-loop episodes per variant (0: 50, or 20 with -quick)")
	flag.Float64Var(&o.heavy, "heavy", 1.5, "the out-of-distribution pole is this many times heavier")
	flag.IntVar(&o.long, "long", 2, "the out-of-distribution episodes are this many times longer than 5 s")
	flag.StringVar(&o.mpcT, "mpc-T", "", "comma-separated horizons at which the -closed-loop evaluation also runs the trained planner model (method ilqr-T<h>)")
	cmd := cli.Command("vision-control")
	cmd.Parse()
	runner := run
	if o.closedLoop {
		runner = runClosedLoop
	} else {
		flag.Visit(func(f *flag.Flag) {
			if slices.Contains([]string{"seeds", "out", "episodes", "heavy", "long", "mpc-T"}, f.Name) {
				cmd.Fail(cli.ExitUsage, fmt.Errorf("-%s is for -closed-loop", f.Name))
			}
		})
	}
	cmd.Check(runner(o, os.Stdout, os.Stderr))
}

// configFor turns the flags into an experiment configuration.
func configFor(o options) config {
	c := config{seed: o.seed, ntrain: o.ntrain, ntest: o.ntest, epochs: o.epochs, batch: o.batch,
		evalBatch: 50, t: o.t, size: envs.DefaultImageSize, gap: o.gap, hidden: 32, learn: o.learn,
		lrPlan: o.lrPlan, lrParams: o.lrParams, lrMLP: o.lrMLP, lrFinal: 0.2, stateWeight: o.stateWeight,
		solver: envs.DefaultExpertSettings()}
	def := func(v *int, full, quick int) {
		if *v == 0 {
			*v = full
			if o.quick {
				*v = quick
			}
		}
	}
	def(&c.epochs, 40, 30)
	def(&c.ntrain, 1024, 512)
	return c
}

// run runs the experiment of o, writes the files and prints the summary.
func run(o options, stdout, stderr io.Writer) error {
	c := configFor(o)
	fmt.Fprintf(stdout, "pendulum from two %d×%d frames (gap %d): %d training and %d test demonstrations, T=%d; %d epochs of batch %d; planner learns the %s; seed %d, %d CPUs\n",
		c.size, c.size, c.gap, c.ntrain, c.ntest, c.t, c.epochs, c.batch, c.learn, c.seed, runtime.GOMAXPROCS(0))
	start := time.Now()
	res, err := experiment(c, stdout, stderr)
	if err != nil {
		return err
	}
	if o.csv != "" {
		if err := writeCSV(o.csv, res.rows); err != nil {
			return err
		}
	}
	if o.png != "" {
		title := fmt.Sprintf("Pendulum from images: imitation loss (%d demonstrations, T=%d, seed %d)", c.ntrain, c.t, c.seed)
		if err := plotCurves(o.png, res.rows, title); err != nil {
			return err
		}
	}
	summary(stdout, res, c)
	fmt.Fprintf(stdout, "wall time %v: data %v; ilqr %v (evaluation %v); mlp %v (evaluation %v)\n",
		time.Since(start).Round(time.Millisecond), res.data.Round(time.Millisecond),
		res.elapsed[planModel].Round(time.Millisecond), res.evalTime[planModel].Round(time.Millisecond),
		res.elapsed[mlpModel].Round(time.Millisecond), res.evalTime[mlpModel].Round(time.Millisecond))
	for _, f := range []string{o.csv, o.png} {
		if f != "" {
			fmt.Fprintf(stdout, "wrote %s\n", f)
		}
	}
	return nil
}

// summary prints the losses of both models, the planner's solver statistics,
// learned parameters and state-estimate error.
func summary(w io.Writer, res *result, c config) {
	fmt.Fprintf(w, "\nimitation loss (MSE of the %d controls), %d Adam steps per model:\n", c.t, res.steps)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\ttrain, epoch 0\ttest, epoch 0\ttest, epoch 1\ttrain, final\ttest, final\t")
	for _, m := range []string{planModel, mlpModel} {
		r0, _ := res.at(m, 0)
		r1, _ := res.at(m, 1)
		f := res.final(m)
		fmt.Fprintf(tw, "%s\t%.4g\t%.4g\t%.4g\t%.4g\t%.4g\t\n", m, r0.train, r0.test, r1.test, f.train, f.test)
	}
	tw.Flush()
	p0, _ := res.at(planModel, 0)
	p1, _ := res.at(planModel, 1)
	pf, mf := res.final(planModel), res.final(mlpModel)
	fmt.Fprintf(w, "ilqr final test loss: %.3g× below its epoch-1 test loss (%.3g× below epoch 0); %.3g× below the MLP's final test loss\n",
		p1.test/pf.test, p0.test/pf.test, mf.test/pf.test)
	s := res.lastEpoch
	fmt.Fprintf(w, "planner solves, last epoch: %d of %d converged (%.1f%%), %.1f iterations on average; gradients: %d ok, %d skipped (not converged), %d other\n",
		s.converged, s.solves, 100*s.convergedFraction(), float64(s.iterations)/float64(max(s.solves, 1)),
		s.gradOK, s.gradSkipped, s.gradOther)
	t := res.testSolve
	fmt.Fprintf(w, "planner solves, final test evaluation: %d of %d converged (%.1f%%)\n", t.converged, t.solves, 100*t.convergedFraction())
	p := res.params
	switch c.learn {
	case learnCost:
		fmt.Fprintf(w, "learned cost: q = (%.3g, %.3g, %.3g, %.3g), p = (%.3g, %.3g, %.3g, %.3g); started from q = %v, p = %v; truth q = (1, 1, 0.1, 0.001), p = (-1, 0, 0, 0)\n",
			p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], initialCost[:4], initialCost[4:])
	case learnTheta:
		theta0, _ := train.InitialGuess("pendulum")
		fmt.Fprintf(w, "learned (g, m, l) = (%.4g, %.4g, %.4g) from %v; truth (10, 1, 1); g/l = %.4g (truth 10), 1/(m l²) = %.4g (truth 1)\n",
			p[0], p[1], p[2], theta0, p[0]/p[2], 1/(p[1]*p[2]*p[2]))
	}
	fmt.Fprintf(w, "planner's state estimate on the test set: mean |θ̂ − θ| %.3g rad, RMS(ω̂ − ω) %.3g rad/s\n", res.angleErr, res.omegaRMS)
	fmt.Fprintf(w, "one frame shows no ω: the expert itself, planning from the true angle with ω = 0, has test loss %.3g\n", res.zeroOmega)
}

// clConfigFor turns the flags into a closed-loop configuration.
func clConfigFor(o options) clConfig {
	cc := clConfig{episodes: o.episodes, steps: 100, seed: 7, heavy: o.heavy, long: o.long}
	if cc.episodes == 0 {
		cc.episodes = 50
		if o.quick {
			cc.episodes = 20
		}
	}
	return cc
}

// runClosedLoop trains both models for every seed, evaluates them in closed
// loop and writes the CSV file, the tables and the GIF to o.out.
func runClosedLoop(o options, stdout, stderr io.Writer) error {
	seeds, err := cli.Seeds(o.seeds)
	if err != nil {
		return err
	}
	c, cc := configFor(o), clConfigFor(o)
	if o.mpcT != "" {
		for _, f := range strings.Split(o.mpcT, ",") {
			h, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || h < 1 {
				return fmt.Errorf("-mpc-T: horizon %q is not a positive integer", f)
			}
			cc.horizons = append(cc.horizons, h)
		}
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "closed loop: seeds %v, %d training and %d test demonstrations, %d epochs; %d episodes per variant (starts seed %d), planner horizons %d and %v; %d CPUs\n",
		seeds, c.ntrain, c.ntest, c.epochs, cc.episodes, cc.seed, c.t, cc.horizons, runtime.GOMAXPROCS(0))
	start := time.Now()
	res, err := closedLoop(c, seeds, cc, stdout, stderr)
	if err != nil {
		return err
	}
	for i, r := range res.train {
		cs := c
		cs.seed = seeds[i]
		fmt.Fprintf(stdout, "\nseed %d:", seeds[i])
		summary(stdout, r, cs)
	}
	env, err := envs.New("pendulum")
	if err != nil {
		return err
	}
	vs, err := variants(env, cc)
	if err != nil {
		return err
	}
	md := clMarkdown(res.rows, vs)
	fmt.Fprintf(stdout, "\n%s", md)
	files := map[string][]byte{"closed-loop.csv": clCSV(res.rows), "closed-loop.md": []byte(md)}
	for name, data := range files {
		if err := cli.WriteFile(filepath.Join(o.out, name), data, 0o644); err != nil {
			return err
		}
	}
	if err := writeClosedLoopGIF(filepath.Join(o.out, "closed-loop.gif"), env, res.gif, 4); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wall time %v; wrote closed-loop.csv, closed-loop.md and closed-loop.gif to %s\n",
		time.Since(start).Round(time.Second), o.out)
	return nil
}
