// Command neural-dynamics learns a pendulum with friction that the
// planner's physics model lacks, by putting neural networks into the
// planner's dynamics, and compares learning them through the planner with
// system identification and with an LSTM policy.
//
//	go run ./examples/neural-dynamics [-quick] [-seeds 1,2,3] [-epochs 60]
//	    [-csv FILE] [-md FILE] [-png FILE]
//
// The full run (3 seeds) writes what results/neural-dynamics/ holds:
//
//	go run ./examples/neural-dynamics -md results/neural-dynamics/neural-dynamics.md \
//	    -csv results/neural-dynamics/neural-dynamics.csv -curves results/neural-dynamics/curves.csv \
//	    -png results/neural-dynamics/neural-dynamics.png
//
// # The system and the data
//
// The true system is the pendulum of models.PendulumStep, (g, m, l) =
// (10, 1, 1), with a friction torque b ω + c tanh(ω/ε) opposing the motion:
// viscous damping b = 0.2 N·m·s and a smoothed Coulomb friction c = 0.3
// N·m (15% of the largest torque), ε = 0.25 rad/s (frictionStep, a
// models.Auto). The expert is iLQR on it with the pendulum's swing-up cost
// and bounds (models.PendulumTask) and envs.DefaultExpertSettings, from
// starts drawn like train's pendulum reference (θ within π/2 of upright,
// ω in (−1, 1]); solves that do not end stationary are replaced (none
// were in the runs reported). Per seed: 100 training, 100 validation and
// 100 test demonstrations of T = 20 steps, each split from its own PCG
// stream of the seed. 76–79% of the training controls are on the bounds
// ±2 (seeds 1–3), where the planner's gradient is zero.
//
// # The methods
//
// The planner's model is one of two networks, one hidden layer of 32 tanh
// units, weights drawn from the seed (the same initial weights for every
// method that uses the network):
//
//   - hybrid: x′ = pendulum(x, u; 10, 1, 1) + N([x; u]; W)
//     (models.NewResidualDynamics), the physics fixed at its nominal values
//     (the layer's θ is External: the nominal (g, m, l) concatenated with
//     the learned W), the output layer starting at zero so that the
//     untrained model is the nominal pendulum (see newNet for why);
//   - mlp: x′ = x + N([x; u]; W) (models.NewMLPDynamics, passthrough).
//
// Methods: nominal (the pendulum without friction, nothing learned);
// hybrid.dilqr (a: hybrid trained through the planner, layer.ILQR, on the
// imitation loss mean (Û − U)² with the exact implicit gradient);
// hybrid.dilqr.x (the same with mean (X̂ − X)² added, weight -wx);
// hybrid.diffmpc (b: the same as hybrid.dilqr with DiffMPC's fixed-point
// gradient); mlp.dilqr (c: the passthrough MLP through the planner);
// hybrid.sysid and mlp.sysid (d: the same networks fitted to the next
// states of the training demonstrations' transitions, minibatches of 64,
// the gradient by the network's reverse pass, then planned with); lstm (e:
// train's nn policy, an MLP embedding of x₀, an LSTM of width 32 and an MLP
// decoder, on the imitation loss).
//
// All train with Adam (train.Adam) for 60 epochs (minibatches of 10
// demonstrations for the planners and the LSTM), the learning rate falling
// by a cosine to a tenth: 3e-4 through the planner, 3e-3 for system
// identification and the LSTM. Through the planner 1e-3 was tried first:
// on seed 3 hybrid.dilqr's validation loss rose from the nominal model's
// 0.075 to 0.37 in five epochs, and after 60 epochs the test loss of
// hybrid.dilqr and hybrid.diffmpc was 0.93 and 0.46 (the validation kept
// epoch 0), while at 3e-4 both fell on every seed. The planners train with ilqr.Settings
// MaxIter 200, TolGrad 1e-7 and are evaluated with the expert's settings.
// Every 5 epochs the validation split selects the epoch whose parameters
// are tested: by its imitation loss, for system identification by its own
// objective, the validation next-state error.
//
// # What is measured
//
// On the test demonstrations: the imitation loss mean (Û − U)² over the
// T controls from each x₀, its 90th percentile over the starts (the loss
// is dominated by the few starts where a model's plan takes another course
// than the expert's), and the share of the solves that ended stationary.
// The next-state error of the learned model, mean ‖f̂(x, u) − f(x, u)‖²/N
// against the true system, on every (x_t, u_t) of the test demonstrations
// and on 2000 pairs drawn uniformly from a wider box (θ anywhere, |ω| ≤ 3,
// |u| ≤ 2). The program prints every run and a table (-md), and writes one
// CSV row per method and seed (-csv), the learning curves (-curves) and a
// plot of the validation curves and of test imitation loss against model
// error (-png). Runs are deterministic: the same flags give the same
// numbers.
//
// # Results
//
// 3 seeds (results/neural-dynamics/neural-dynamics.md; 310 s on 2 shared
// cores), test imitation loss, mean (min–max) over seeds, and next-state
// error on the test demonstrations' pairs: nominal 0.082 (0.073–0.098),
// 3.1e-3; hybrid.dilqr 0.0075 (0.0053–0.010), 9.7e-4; hybrid.dilqr.x
// 0.0081 (0.0055–0.010), 2.7e-4; hybrid.diffmpc 0.027 (0.0064–0.042),
// 2.1e-3; mlp.dilqr 0.24 (0.14–0.43), 2.9e-2; hybrid.sysid 0.0085
// (0.0027–0.012), 2.0e-5; mlp.sysid 1.8 (0.14–4.4), 1.3e-4; lstm 0.11
// (0.097–0.12). The README discusses them. -quick takes about 5 s.
package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/examples/internal/cli"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
)

// options are the command's flags.
type options struct {
	quick                bool
	seeds, methods       string
	epochs, ntrain, hid  int
	batch                int
	lrPlanner            float64
	wx                   float64
	csv, md, png, curves string
	verbose              bool
}

func main() {
	var o options
	flag.BoolVar(&o.quick, "quick", false, "a smoke run of under a minute: one seed, 40 demonstrations, 8 epochs")
	flag.StringVar(&o.seeds, "seeds", "", "comma-separated seeds (default 1,2,3; 1 with -quick)")
	flag.StringVar(&o.methods, "methods", strings.Join(allMethods, ","), "comma-separated methods")
	flag.IntVar(&o.epochs, "epochs", 0, "epochs (0: 60, or 8 with -quick)")
	flag.IntVar(&o.ntrain, "ntrain", 0, "training demonstrations (0: 100, or 40 with -quick)")
	flag.IntVar(&o.batch, "batch", 10, "demonstrations per step of the planners and the LSTM")
	flag.Float64Var(&o.lrPlanner, "lr-planner", 3e-4, "Adam learning rate of the networks trained through the planner")
	flag.IntVar(&o.hid, "hidden", 32, "hidden width of the dynamics networks (one tanh layer)")
	flag.Float64Var(&o.wx, "wx", 1, "weight of the states in the loss of hybrid.dilqr.x")
	flag.StringVar(&o.csv, "csv", "", "write one row per method and seed to this CSV file")
	flag.StringVar(&o.curves, "curves", "", "write the validation curves (epoch, method, seed, train, val) to this CSV file")
	flag.StringVar(&o.md, "md", "", "write the markdown table to this file")
	flag.StringVar(&o.png, "png", "", "write the plot to this PNG file")
	flag.BoolVar(&o.verbose, "v", false, "print every epoch")
	cmd := cli.Command("neural-dynamics")
	cmd.Parse()
	c, err := configFor(o)
	if err != nil {
		cmd.Fail(cli.ExitUsage, err)
	}
	cmd.Check(run(c, o, os.Stdout))
}

// configFor turns the flags into the experiment's configuration.
func configFor(o options) (*config, error) {
	expert := envs.DefaultExpertSettings()
	c := &config{ntrain: o.ntrain, nval: 100, ntest: 100, npairs: 2000, t: envs.PendulumHorizon,
		epochs: o.epochs, valEvery: 5, batch: o.batch, sysidBatch: 64, hidden: []int{o.hid}, lstmHidden: 32,
		lrPlanner: o.lrPlanner, lrSysid: 3e-3, lrLSTM: 3e-3, lrFinal: 0.1, wx: o.wx,
		trainSettings: ilqr.Settings{MaxIter: 200, TolGrad: 1e-7, TolGradLoose: 1e-6},
		evalSettings:  expert}
	def := func(v *int, full, quick int) {
		if *v == 0 {
			*v = full
			if o.quick {
				*v = quick
			}
		}
	}
	def(&c.epochs, 60, 8)
	def(&c.ntrain, 100, 40)
	if o.quick {
		c.nval, c.ntest, c.npairs, c.valEvery = 20, 40, 500, 2
	}
	var err error
	if c.seeds, err = cli.SeedsOr(o.seeds, o.quick); err != nil {
		return nil, fmt.Errorf("-seeds: %w", err)
	}
	if c.methods, err = cli.List(o.methods, "method"); err != nil {
		return nil, fmt.Errorf("-methods: %w", err)
	}
	for _, s := range c.methods {
		if !slices.Contains(allMethods, s) {
			return nil, fmt.Errorf("-methods: unknown method %q (have %s)", s, strings.Join(allMethods, ", "))
		}
	}
	if c.batch < 1 || c.ntrain < c.batch {
		return nil, fmt.Errorf("-ntrain %d below the batch size %d", c.ntrain, c.batch)
	}
	if o.hid < 1 || c.epochs < 1 {
		return nil, fmt.Errorf("-hidden and -epochs must be positive")
	}
	if !(c.wx > 0) && slices.Contains(c.methods, mHybridDiLQRX) {
		return nil, fmt.Errorf("-wx %g: %s needs a positive state weight", c.wx, mHybridDiLQRX)
	}
	return c, nil
}

// run runs every method on every seed, prints the table and writes the
// files asked for.
func run(c *config, o options, stdout io.Writer) error {
	start := time.Now()
	fmt.Fprintf(stdout, "pendulum with viscous and Coulomb friction (b, c) = (%g, %g), ε = %g; %d/%d/%d demonstrations, T = %d; %d epochs; networks hidden %v tanh; seeds %v; %d CPUs\n",
		trueParams[3], trueParams[4], frictionEps, c.ntrain, c.nval, c.ntest, c.t, c.epochs, c.hidden, c.seeds, runtime.GOMAXPROCS(0))
	log := io.Discard
	if o.verbose {
		log = stdout
	}
	var outs []*outcome
	for _, seed := range c.seeds {
		t0 := time.Now()
		d, err := makeData(c, seed)
		if err != nil {
			return fmt.Errorf("seed %d: data: %w", seed, err)
		}
		fmt.Fprintf(stdout, "seed %d: demonstrations in %.1f s (%d expert solves rejected; %.0f%% of the training controls on a bound)\n",
			seed, time.Since(t0).Seconds(), d.rejected, 100*onBound(d.train.u))
		for _, method := range c.methods {
			out, err := runOne(method, c, d, seed, log)
			if err != nil {
				return fmt.Errorf("seed %d: %w", seed, err)
			}
			fmt.Fprintf(stdout, "  %-15s test %-9.3g (last %-9.3g) best epoch %3d  pred %-9.3g rand %-9.3g  %5.1f s\n",
				method, out.test, out.testLast, out.bestEpoch, out.predDemo, out.predRand, out.seconds)
			outs = append(outs, out)
		}
	}
	sums := summarize(c.methods, outs)
	var md strings.Builder
	fmt.Fprintf(&md, "Pendulum with friction (viscous b = %g, Coulomb c = %g, ε = %g), the planner's physics model without it. %d training, %d validation and %d test demonstrations (T = %d) per seed, seeds %v; %d epochs; dynamics networks with hidden %v tanh; test values at the best validated epoch (every %d). Next-state errors: mean squared error per state entry against the true system, on every (x_t, u_t) of the test demonstrations and on %d pairs drawn uniformly from θ ∈ (−π, π], ω ∈ (−3, 3], u ∈ (−2, 2].\n\n",
		trueParams[3], trueParams[4], frictionEps, c.ntrain, c.nval, c.ntest, c.t, c.seeds, c.epochs, c.hidden, c.valEvery, c.npairs)
	writeTable(&md, sums)
	fmt.Fprintf(stdout, "\n%s\ntotal %.0f s\n", md.String(), time.Since(start).Seconds())
	if o.md != "" {
		if err := cli.WriteFile(o.md, []byte(md.String()), 0o644); err != nil {
			return err
		}
	}
	if o.csv != "" {
		if err := writeCSV(o.csv, outs); err != nil {
			return err
		}
	}
	if o.curves != "" {
		if err := writeCurves(o.curves, outs); err != nil {
			return err
		}
	}
	if o.png != "" {
		if err := plotResults(o.png, c.methods, outs); err != nil {
			return err
		}
	}
	for _, f := range []string{o.md, o.csv, o.curves, o.png} {
		if f != "" {
			fmt.Fprintf(stdout, "wrote %s\n", f)
		}
	}
	return nil
}

// onBound returns the share of the controls u on the bounds ±2.
func onBound(u []float64) float64 {
	k := 0
	for _, v := range u {
		if math.Abs(v) >= models.PendulumMaxTorque {
			k++
		}
	}
	return float64(k) / float64(len(u))
}
