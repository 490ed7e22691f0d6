// Command lm-fit learns the dynamics parameters of a planner from expert
// demonstrations by Levenberg–Marquardt (train.FitLM): the residuals are
// the planner's solution minus the demonstrations, their Jacobian comes
// from P forward-mode sensitivity calls per iteration (one per
// parameter, each covering the whole batch).
//
//	go run ./examples/lm-fit [-env pendulum] [-ntrain 10] [-seed 1] [-data FILE]
//	    [-maxiter 30] [-init 15,3,0.5] [-damping marquardt] [-controls-only]
//	    [-state-weight 1] [-expert-tol 0]
//
// With no flags it fits the pendulum's (g, m, l) from the wrong guess
// (15, 3, 0.5) to the first 10 training demonstrations of the dataset
// examples/imitation makes with the same -seed (reference ranges, 100
// training, 50 validation and 100 test demonstrations; or the dataset in
// -data, e.g. imitation-out/dataset.npz), so that its result compares
// with `go run ./examples/imitation -ntrain 10`. It prints one line per
// iteration, then the parameters, the identifiable combinations (for the
// pendulum 3g/(2l) and 3/(ml²): its (g, m, l) are determined only up to
// (k, 1/k², k)), the test imitation loss of the planner with the fitted
// parameters and their next-state prediction error on the test
// demonstrations.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/examples/internal/cli"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
	"github.com/dilqr/dilqr/train"
)

// options are the command's flags.
type options struct {
	env, data, init, damping string
	ntrain, maxIter          int
	seed                     uint64
	controlsOnly             bool
	stateWeight, expertTol   float64
}

func main() {
	var o options
	flag.StringVar(&o.env, "env", "pendulum", "environment: pendulum, cartpole, double_pendulum or rocket")
	flag.IntVar(&o.ntrain, "ntrain", 10, "number of training demonstrations fitted")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the demonstrations (as examples/imitation's -seed)")
	flag.StringVar(&o.data, "data", "", "load the demonstrations from this .npz file instead of generating them")
	flag.IntVar(&o.maxIter, "maxiter", 30, "largest number of iterations")
	flag.StringVar(&o.init, "init", "", "initial parameters, comma-separated (default train.InitialGuess)")
	flag.StringVar(&o.damping, "damping", "marquardt", "damping: marquardt (λ diag(JᵀJ)) or levenberg (λ I, scaled)")
	flag.BoolVar(&o.controlsOnly, "controls-only", false, "residuals on the controls only (no states)")
	flag.Float64Var(&o.stateWeight, "state-weight", 1, "weight of the state residuals against the control residuals")
	flag.Float64Var(&o.expertTol, "expert-tol", 0, "the expert's projected-gradient tolerance when generating (0: envs' default 1e-9)")
	cmd := cli.Command("lm-fit")
	cmd.Parse()
	cmd.RunInterruptible(func(ctx context.Context) error { return run(ctx, o, os.Stdout, os.Stderr) })
}

// dataset loads o.data or generates the demonstrations examples/imitation
// generates for the same seed (with the expert's tolerance o.expertTol
// when set).
func dataset(o options, log io.Writer) (*envs.Dataset, error) {
	env, err := envs.New(o.env)
	if err != nil {
		return nil, err
	}
	if o.data != "" {
		ds, err := envs.Load(o.data, env)
		if err == nil {
			fmt.Fprintf(log, "demonstrations: %s\n", o.data)
		}
		return ds, err
	}
	r, err := train.ReferenceRanges(o.env)
	if err != nil {
		return nil, err
	}
	opts := &envs.DatasetOptions{NTrain: 100, NVal: 50, NTest: 100, Seed: o.seed}
	if o.expertTol > 0 {
		s := envs.DefaultExpertSettings()
		s.TolGrad, s.TolGradLoose = o.expertTol, o.expertTol
		opts.Expert = &s
	}
	start := time.Now()
	ds, err := train.GenerateDataset(env, r, opts)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "demonstrations: %d train, %d validation, %d test of %s (T=%d, seed %d, expert tolerance %g), generated in %v\n",
		ds.Train.B, ds.Val.B, ds.Test.B, o.env, ds.T, o.seed, ds.Expert.TolGrad, time.Since(start).Round(time.Millisecond))
	return ds, nil
}

// config turns the flags into the fit's configuration.
func config(o options) (train.LMConfig, error) {
	cfg := train.LMConfig{NTrain: o.ntrain, MaxIter: o.maxIter, ControlsOnly: o.controlsOnly, StateWeight: o.stateWeight}
	switch o.damping {
	case "marquardt":
		cfg.Damping = train.Marquardt
	case "levenberg":
		cfg.Damping = train.Levenberg
	default:
		return cfg, fmt.Errorf("-damping %q: want marquardt or levenberg", o.damping)
	}
	if o.init != "" {
		for _, f := range strings.Split(o.init, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil {
				return cfg, fmt.Errorf("-init %q: %v", o.init, err)
			}
			cfg.InitTheta = append(cfg.InitTheta, v)
		}
	}
	if err := cli.Positive(map[string]int{"-maxiter": o.maxIter, "-ntrain": o.ntrain}); err != nil {
		return cfg, err
	}
	if !(o.stateWeight > 0) || o.expertTol < 0 || math.IsInf(o.stateWeight, 0) || math.IsNaN(o.expertTol) {
		return cfg, fmt.Errorf("-state-weight %g, -expert-tol %g: want a finite weight > 0 and a tolerance ≥ 0 (0: the envs' default)", o.stateWeight, o.expertTol)
	}
	return cfg, nil
}

func run(ctx context.Context, o options, stdout, stderr io.Writer) error {
	cfg, err := config(o)
	if err != nil {
		return err
	}
	ds, err := dataset(o, stderr)
	if err != nil {
		return err
	}
	names, _, _, _, err := train.Identified(o.env, ds.Theta, ds.Theta)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Levenberg–Marquardt (%s damping) on %s: %d training demonstrations, at most %d iterations\n\n",
		cfg.Damping, o.env, o.ntrain, o.maxIter)
	fmt.Fprintf(stdout, "iter  loss ½‖r‖²  control MSE  λ        trials  step      rel. error %s\n", strings.Join(names, ", "))
	cfg.Trace = func(it train.LMIter) {
		_, _, _, rel, _ := train.Identified(o.env, it.Theta, ds.Theta)
		fmt.Fprintf(stdout, "%4d  %-10.4g  %-11.4g  %-7.1e  %6d  %-8.2e  %.3g\n", it.Iter, it.Loss, it.Imitation, it.Lambda, it.Trials, it.Step, rel)
	}
	res, err := train.FitLM(ctx, ds, cfg)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	fmt.Fprintf(stdout, "\n%v after %d iterations: %d trial steps, %d batch solves, %d batch JVP calls, %v\n",
		res.Status, res.Iterations, res.Trials, res.Solves, res.JVPs, res.Elapsed.Round(time.Millisecond))
	if res.Unconverged > 0 {
		fmt.Fprintf(stdout, "planner solves of single demonstrations that did not converge: %d\n", res.Unconverged)
	}
	if err != nil {
		return err
	}
	return report(stdout, ds, res)
}

// report prints the parameters, the identifiable combinations, the test
// imitation loss and the prediction error of the initial and the fitted
// parameters.
func report(w io.Writer, ds *envs.Dataset, res *train.LMResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\nparameter\tinitial\tfitted\ttrue\t\n")
	for i, n := range res.Names {
		fmt.Fprintf(tw, "%s\t%.6g\t%.10g\t%.6g\t\n", n, res.Initial[i], res.Theta[i], res.True[i])
	}
	names, est0, tru, rel0, err := train.Identified(res.Env, res.Initial, res.True)
	if err != nil {
		return err
	}
	_, est, _, rel, _ := train.Identified(res.Env, res.Theta, res.True)
	fmt.Fprintf(tw, "\nidentifiable\tinitial\tfitted\ttrue\trel. error initial\trel. error fitted\t\n")
	for i, n := range names {
		fmt.Fprintf(tw, "%s\t%.6g\t%.10g\t%.6g\t%.3g\t%.3g\t\n", n, est0[i], est[i], tru[i], rel0[i], rel[i])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range res.NullSpace {
		fmt.Fprintf(w, "not determined by the data: the direction %.4f of log θ (singular values of the scaled Jacobian %.3g)\n", n, res.Singular)
	}
	task, err := models.TaskByName(ds.Env)
	if err != nil {
		return err
	}
	var vals [2][2]float64
	for k, th := range [][]float64{res.Initial, res.Theta} {
		if vals[k][0], err = testImitation(ds, task, th); err != nil {
			return err
		}
		if vals[k][1], err = train.PredictionError(task.Dynamics, th, ds.Theta, &ds.Test); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\non the %d test demonstrations          initial     fitted\n", ds.Test.B)
	fmt.Fprintf(w, "  imitation loss (control MSE)        %-10.4g  %.4g\n", vals[0][0], vals[1][0])
	fmt.Fprintf(w, "  next-state prediction error (MSE)   %-10.4g  %.4g\n", vals[0][1], vals[1][1])
	return nil
}

// testImitation returns the mean squared difference between the controls
// the planner (the expert's settings, zero initial controls) plans with
// theta from the test demonstrations' initial states and the expert's.
func testImitation(ds *envs.Dataset, task models.Task, theta []float64) (float64, error) {
	set := ds.Expert.Settings()
	res, err := ilqr.Solve(ilqr.Problem{Task: task, T: ds.T},
		ilqr.Inputs{X0: ds.Test.X0, Theta: theta, Phi: ds.Phi}, &set)
	if err != nil {
		return 0, err
	}
	var s float64
	for i, u := range res.U {
		s += (u - ds.Test.U[i]) * (u - ds.Test.U[i])
	}
	return s / float64(len(res.U)), nil
}
