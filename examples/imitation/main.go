// Command imitation runs one imitation-learning experiment of the paper
// (sec. 4.2): it generates expert demonstrations for an environment (or
// reloads them), trains one method on them, and writes the log, the
// learning curves and the parameter estimates.
//
//	go run ./examples/imitation [-env pendulum] [-method dilqr.dx] [-ntrain 100]
//	    [-epochs 150] [-seed 1] [-out imitation-out] [-resume] [-quick]
//	    [-ranges reference|envs] [-patience 0] [-batch 32] [-hidden 64]
//
// With no flags it learns the pendulum's (g, m, l) through the planner with
// the exact implicit gradient (dilqr.dx), starting from (15, 3, 0.5), and
// prints the learned against the true parameters at the end (truth
// (10, 1, 1); the pendulum's dynamics depend only on 3g/(2l) and 3/(ml²),
// so learning recovers those two, not g, m and l themselves: the summary
// gives their relative errors and the next-state prediction error of the
// estimates on the test demonstrations). Methods: nn,
// sysid, diffmpc.dx, diffmpc.cost, dilqr.dx, dilqr.cost; envs: pendulum,
// cartpole, double_pendulum, rocket. The demonstrations' initial states are drawn
// from the reference experiments' ranges (train.ReferenceRanges: the
// pendulum within ±π/2 of upright) unless -ranges envs.
//
// Files in the -out folder:
//
//	dataset.npz      the demonstrations (package envs format), reused by -resume
//	log.csv          one row per epoch (row 0: before training): losses, planner health,
//	                 identifiable error and next-state prediction error (train.LogHeader)
//	checkpoint.json  the state to resume from after a kill (-resume)
//	losses.png       imitation losses against epochs, log scale (Figure 3a)
//	model_loss.png   MSE(θ − θ_true) against epochs, log scale (Figure 3b)
//	params.png       each estimated parameter over its true value against epochs
//
// Progress goes to standard error; the summary to standard output. An
// interrupt (Ctrl-C) stops between two batches; -resume continues from the
// last completed epoch, exactly as if the run had not stopped.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/examples/internal/cli"
	"github.com/dilqr/dilqr/train"
)

// options are the command's flags.
type options struct {
	env, method, out         string
	ntrain, epochs, patience int
	batch, hidden            int
	seed                     uint64
	dataSeed                 int64
	resume, quick, noPlots   bool
	ranges                   string
}

func main() {
	var o options
	flag.StringVar(&o.env, "env", "pendulum", "environment: pendulum, cartpole, double_pendulum or rocket")
	flag.StringVar(&o.method, "method", "dilqr.dx", "method: nn, sysid, diffmpc.dx, diffmpc.cost, dilqr.dx or dilqr.cost")
	flag.IntVar(&o.ntrain, "ntrain", 100, "number of training demonstrations (at most 100)")
	flag.IntVar(&o.epochs, "epochs", 150, "number of epochs")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the training run (shuffling, nn weights)")
	flag.Int64Var(&o.dataSeed, "data-seed", -1, "seed of the demonstrations; -1: the value of -seed")
	flag.StringVar(&o.out, "out", "imitation-out", "output folder")
	flag.BoolVar(&o.resume, "resume", false, "continue from the checkpoint in -out")
	flag.BoolVar(&o.quick, "quick", false, "a smoke run: 32 demonstrations, 20 epochs")
	flag.IntVar(&o.patience, "patience", 0, "stop when the validation loss has not improved for this many epochs (0: never)")
	flag.IntVar(&o.batch, "batch", 32, "batch size")
	flag.IntVar(&o.hidden, "hidden", 64, "nn: width of the LSTM policy's layers")
	flag.BoolVar(&o.noPlots, "noplots", false, "do not draw the PNG plots")
	flag.StringVar(&o.ranges, "ranges", "reference", "initial states: reference (the reference experiments' ranges; pendulum θ within ±π/2) or envs (envs' ranges; pendulum on the whole circle)")
	cmd := cli.Command("imitation")
	cmd.Parse()
	cmd.RunInterruptible(func(ctx context.Context) error { return run(ctx, o, os.Stdout, os.Stderr) },
		cli.Hint{Err: context.Canceled, Text: "interrupted; continue with the same flags and -resume"},
		cli.Hint{Err: train.ErrPastEpochs, Text: fmt.Sprintf("the run in %s has more epochs than -epochs asks for; raise -epochs to continue it (or to see its result), or choose another -out", o.out)})
}

// dataset returns the demonstrations of env: those saved in path when
// reuse is set and the file exists, else newly generated (100 training,
// 50 validation and 100 test demonstrations, initial states drawn from
// the ranges named by ranges) and saved there.
func dataset(envName, ranges, path string, seed uint64, reuse bool, log io.Writer) (*envs.Dataset, error) {
	env, err := envs.New(envName)
	if err != nil {
		return nil, err
	}
	var r []envs.Range
	switch ranges {
	case "reference":
		if r, err = train.ReferenceRanges(envName); err != nil {
			return nil, err
		}
	case "envs":
		r = env.InitialRanges()
	default:
		return nil, fmt.Errorf("-ranges %q: want reference or envs", ranges)
	}
	if reuse {
		ds, err := envs.Load(path, env)
		if err == nil {
			fmt.Fprintf(log, "demonstrations: %s\n", path)
			return ds, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	start := time.Now()
	ds, err := train.GenerateDataset(env, r, &envs.DatasetOptions{NTrain: 100, NVal: 50, NTest: 100, Seed: seed})
	if err != nil {
		return nil, err
	}
	if err := ds.Save(path); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "demonstrations: %d train, %d validation, %d test of %s (T=%d, initial ranges %v), generated in %v, saved to %s\n",
		ds.Train.B, ds.Val.B, ds.Test.B, envName, ds.T, r, time.Since(start).Round(time.Millisecond), path)
	return ds, nil
}

func run(ctx context.Context, o options, stdout, stderr io.Writer) error {
	method, err := train.ParseMethod(o.method)
	if err != nil {
		return err
	}
	if o.quick {
		o.ntrain, o.epochs = min(o.ntrain, 32), min(o.epochs, 20)
	}
	if o.ntrain < 1 || o.ntrain > 100 {
		return fmt.Errorf("-ntrain %d outside [1, 100]", o.ntrain)
	}
	if err := cli.Positive(map[string]int{"-epochs": o.epochs, "-batch": o.batch, "-hidden": o.hidden}); err != nil {
		return err
	}
	if o.patience < 0 || o.dataSeed < -1 {
		return fmt.Errorf("-patience %d, -data-seed %d: want a patience ≥ 0 (0: never stop early) and a seed ≥ 0, or -1", o.patience, o.dataSeed)
	}
	dataSeed := o.seed
	if o.dataSeed >= 0 {
		dataSeed = uint64(o.dataSeed)
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	// A dataset save killed before its rename leaves its temporary file
	// (train.Run removes those of the log and the checkpoint itself).
	stale, _ := filepath.Glob(filepath.Join(o.out, ".dataset.npz.tmp-*"))
	for _, f := range stale {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	ds, err := dataset(o.env, o.ranges, filepath.Join(o.out, "dataset.npz"), dataSeed, o.resume, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s on %s: %d training demonstrations, %d epochs, seed %d, %d CPUs\n",
		method, o.env, o.ntrain, o.epochs, o.seed, runtime.GOMAXPROCS(0))
	cfg := train.Config{Method: method, NTrain: o.ntrain, Epochs: o.epochs, Seed: o.seed,
		BatchSize: o.batch, Patience: o.patience, Hidden: o.hidden, Dir: o.out, Resume: o.resume,
		Progress: stderr}
	res, err := train.Run(ctx, ds, cfg)
	if err != nil {
		return err
	}
	if res.StartEpoch > 0 {
		fmt.Fprintf(stdout, "resumed from epoch %d\n", res.StartEpoch)
	}
	first, last := res.History[0], res.Final()
	best := res.History[res.BestEpoch]
	fmt.Fprintf(stdout, "\nimitation loss (MSE of the controls over the horizon):\n")
	fmt.Fprintf(stdout, "  epoch %4d (start):    train %.4g  val %.4g  test %.4g\n", first.Epoch, first.Train, first.Val, first.Test)
	fmt.Fprintf(stdout, "  epoch %4d (best val): train %.4g  val %.4g  test %.4g\n", best.Epoch, best.Train, best.Val, best.Test)
	fmt.Fprintf(stdout, "  epoch %4d (last):     train %.4g  val %.4g  test %.4g\n", last.Epoch, last.Train, last.Val, last.Test)
	if res.StoppedEarly {
		fmt.Fprintf(stdout, "  stopped early: no validation improvement for %d epochs\n", o.patience)
	}
	if res.Names != nil {
		fmt.Fprintf(stdout, "\nmodel loss MSE(θ − θ_true): start %.4g, best val %.4g, last %.4g\n", first.Model, best.Model, last.Model)
		fmt.Fprintf(stdout, "\nlearned vs true parameters:\n")
		if err := res.WriteParams(stdout); err != nil {
			return err
		}
	}
	// MSE(θ − θ_true) says little where θ is not identifiable (the
	// pendulum's step depends on (g, m, l) only through 3g/(2l) and
	// 3/(ml²)): the identifiable combinations and the next-state
	// prediction error on the test demonstrations.
	fmt.Fprintln(stdout)
	if err := res.WriteIdentified(stdout, ds); err != nil {
		return err
	}
	if res.Solves > 0 {
		fmt.Fprintf(stdout, "\nplanner solves in training: %d, gradient skipped (not converged): %d\n", res.Solves, res.Skipped)
	}
	fmt.Fprintf(stdout, "time: %v", res.TotalTime.Round(100*time.Millisecond))
	if res.StartEpoch > 0 {
		fmt.Fprintf(stdout, " (this call %v)", res.Elapsed.Round(100*time.Millisecond))
	}
	fmt.Fprintln(stdout)
	if o.noPlots {
		return nil
	}
	title := fmt.Sprintf("%s, %s, n_train=%d", o.env, method, o.ntrain)
	files := []string{filepath.Join(o.out, "log.csv"), filepath.Join(o.out, "losses.png")}
	if err := train.PlotLosses(files[1], title, res.History); err != nil {
		return err
	}
	if res.Names != nil {
		mp, pp := filepath.Join(o.out, "model_loss.png"), filepath.Join(o.out, "params.png")
		if err := train.PlotModelLoss(mp, title, res.History); err != nil {
			return err
		}
		if err := train.PlotParams(pp, title, res.History, res.Names, res.True); err != nil {
			return err
		}
		files = append(files, mp, pp)
	}
	fmt.Fprintf(stdout, "wrote %v\n", files)
	return nil
}
