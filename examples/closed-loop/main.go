// Command closed-loop asks whether the imitation-learned controllers
// control: it runs each one in closed loop on the true system and counts
// the episodes that end upright and held.
//
//	go run ./examples/closed-loop [-quick] [-csv FILE] [-gif DIR] [-plot FILE]
//	    [-md FILE] [-models DIR] [-out DIR] [-envs pendulum,cartpole]
//	    [-methods all] [-ntrain 10,50,100] [-epochs 120] [-seed 1]
//	    [-episodes 50] [-steps 100] [-T 40] [-eval-seed 1]
//
// Models. With -models DIR it evaluates the trained runs found under DIR:
// every folder holding a train checkpoint (checkpoint.json, as written by
// examples/imitation's -out or by this command) and its demonstrations
// (dataset.npz, in the same folder or the one above). Without it, it
// trains the grid first: for each env, 100 training, 50 validation and 100
// test demonstrations (as examples/imitation makes them: the reference
// experiments' initial ranges, train.ReferenceRanges, data seed -seed) in
// -out/ENV/dataset.npz, and every method and n_train in -out/ENV/METHOD-nN
// (-epochs epochs, training seed -seed). A run already trained to -epochs
// or more is reused; a shorter one is resumed.
//
// Policies. A model-based method (sysid, diffmpc.dx, dilqr.dx with a
// learned θ; diffmpc.cost, dilqr.cost with a learned cost) controls by
// receding-horizon MPC (envs.MPC, horizon -T, warm-started) with its
// parameters at the epoch of best validation loss; nn's LSTM policy gives
// at every step the first control of the sequence it predicts from the
// current state. The expert is MPC with the true model; "zero" applies no
// control.
//
// Episodes. -episodes episodes of -steps steps of 0.05 s per split, from
// starts drawn with -eval-seed (the same starts for every policy): split
// "in" from the training demonstrations' initial ranges, split "out" from
// outside them (envs.Env.Outside: each range widened to twice its width,
// angles capped at the circle, the training box excluded; for the
// pendulum trained within ±π/2 of upright these are mostly hanging
// starts). Success: every pole within 0.1 rad of upright and 0.5 rad/s of
// rest over the last second, and the cart within ±2.4 m throughout
// (envs.Success). Cost ratio: the policy's total excess true cost over the
// expert's on the same starts (envs.CostRatio). Times: the wall time of
// one control decision (a planner's solve), median and 99th percentile.
//
// Outputs: a table on standard output; -csv FILE with the columns
// env,method,split,episodes,success_rate,cost_ratio,solve_ms_p50,solve_ms_p99
// (method "dilqr.dx/n100" for dilqr.dx trained on 100 demonstrations);
// -md FILE the same as a Markdown table; -plot FILE a PNG of the success
// rates at the largest n_train; -gif DIR animated GIFs per env of the
// three "out" episodes the expert takes longest to bring upright (the
// swing-ups), expert | the dilqr.dx planner | the nn policy (both at the
// largest n_train). -quick: n_train 50 only, 20 epochs, 10 episodes.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/dilqr/dilqr/examples/internal/cli"
	"github.com/dilqr/dilqr/examples/internal/gridflags"
	"github.com/dilqr/dilqr/train"
)

// options are the command's flags.
type options struct {
	quick                        bool
	csv, md, plot, gifDir        string
	models, out                  string
	envs                         []string
	methods                      []train.Method
	ntrain                       []int
	epochs, episodes, steps, hor int
	seed, evalSeed               uint64
}

func main() {
	var o options
	var envList, methodList, ntrainList string
	flag.BoolVar(&o.quick, "quick", false, "a smoke run: n_train 50, 20 epochs, 10 episodes per split")
	flag.StringVar(&o.csv, "csv", "", "write the results as CSV to this file")
	flag.StringVar(&o.md, "md", "", "write the results as a Markdown table to this file")
	flag.StringVar(&o.plot, "plot", "", "write a PNG of the success rates to this file")
	flag.StringVar(&o.gifDir, "gif", "", "write animated GIFs of closed-loop episodes to this folder")
	flag.StringVar(&o.models, "models", "", "evaluate the trained runs under this folder instead of training")
	flag.StringVar(&o.out, "out", "closed-loop-out", "folder for the demonstrations and trained runs")
	flag.StringVar(&envList, "envs", "pendulum,cartpole", "environments, comma-separated")
	flag.StringVar(&methodList, "methods", "all", "methods, comma-separated, or all")
	flag.StringVar(&ntrainList, "ntrain", "10,50,100", "training-set sizes, comma-separated (at most 100)")
	flag.IntVar(&o.epochs, "epochs", 120, "training epochs")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the demonstrations and of training")
	flag.IntVar(&o.episodes, "episodes", 50, "episodes per split")
	flag.IntVar(&o.steps, "steps", 100, "steps (of 0.05 s) per episode")
	flag.IntVar(&o.hor, "T", 40, "MPC horizon (steps)")
	flag.Uint64Var(&o.evalSeed, "eval-seed", 1, "seed of the evaluation's initial states")
	flag.Parse()
	err := o.parseLists(envList, methodList, ntrainList)
	if err == nil && flag.NArg() > 0 {
		err = fmt.Errorf("unexpected arguments %v", flag.Args())
	}
	if err == nil && o.models != "" {
		// The runs found under -models decide the envs, methods and sizes.
		flag.Visit(func(f *flag.Flag) {
			if err == nil && slices.Contains([]string{"envs", "methods", "ntrain", "epochs", "seed"}, f.Name) {
				err = fmt.Errorf("-%s: not with -models, whose trained runs decide it", f.Name)
			}
		})
	}
	cmd := cli.Command("closed-loop")
	if err != nil {
		cmd.Fail(cli.ExitUsage, err)
	}
	if o.quick {
		o.ntrain, o.epochs, o.episodes = []int{50}, min(o.epochs, 20), min(o.episodes, 10)
	}
	cmd.RunInterruptible(func(ctx context.Context) error { return run(ctx, o, os.Stdout, os.Stderr) },
		cli.Hint{Err: context.Canceled, Text: "interrupted; run again with the same flags to resume training"})
}

// parseLists reads the comma-separated flags.
func (o *options) parseLists(envList, methodList, ntrainList string) error {
	var err error
	o.envs, o.methods, o.ntrain, err = gridflags.All(envList, methodList, ntrainList, 100)
	return err
}

// run trains or finds the models, evaluates them and writes the outputs.
func run(ctx context.Context, o options, stdout, log io.Writer) error {
	if o.episodes < 1 || o.steps < 1 || o.hor < 1 || o.epochs < 0 {
		return fmt.Errorf("-episodes %d, -steps %d, -T %d must be at least 1, -epochs %d at least 0",
			o.episodes, o.steps, o.hor, o.epochs)
	}
	start := time.Now()
	var runs []trainedRun
	var err error
	if o.models != "" {
		runs, err = findRuns(o.models)
	} else {
		runs, err = trainGrid(ctx, o, log)
	}
	if err != nil {
		return err
	}
	trainTime := time.Since(start)
	var rows []row
	var gifs []gifSet
	for _, env := range envOrder(runs) {
		r, g, err := evaluateEnv(env, runsOf(runs, env), o, log)
		if err != nil {
			return err
		}
		rows, gifs = append(rows, r...), append(gifs, g)
	}
	fmt.Fprintf(stdout, "Closed-loop evaluation: %d episodes of %d steps (%.3g s) per split, MPC horizon %d, evaluation seed %d\n\n",
		o.episodes, o.steps, 0.05*float64(o.steps), o.hor, o.evalSeed)
	if err := writeTable(stdout, rows); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\ntraining or loading %v, evaluation %v, %d CPUs\n",
		trainTime.Round(time.Second), (time.Since(start) - trainTime).Round(time.Second), runtime.GOMAXPROCS(0))
	return writeOutputs(o, rows, gifs, stdout)
}
