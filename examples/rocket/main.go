// Command rocket trains imitation methods on the rocket with the planner's
// solver settings of one's choice and lands the rocket with what they
// learned, in closed loop.
//
//	go run ./examples/rocket [-methods diffmpc.cost,dilqr.cost] [-tol 1e-4]
//	    [-maxiter 200] [-ntrain 100] [-epochs 40] [-seed 1] [-episodes 40]
//	    [-steps 160] [-out rocket-out] [-md FILE]
//
// It exists for the cost learners: under their initial cost (weights 0.5,
// goal 0) the planner's solves on the rocket do not reach the expert's
// tolerance (projected gradient 1e-9) within 500 iterations, train skips
// the gradient of every unconverged solve, and with train's default
// settings they never move (see README, "Rocket landing"). Here the
// planner used in training stops at the projected-gradient tolerance -tol
// (Stalled, which gradients treat as converged, at 10·tol once the cost
// has stopped changing) or after -maxiter iterations.
//
// Data: 100 training, 50 validation and 100 test demonstrations of the
// rocket env (its own initial ranges, seed -seed), in -out/dataset.npz,
// reused when present: the same file examples/closed-loop makes in
// OUT/rocket/dataset.npz with the same seed. Each method's run goes to
// -out/METHOD-tolTOL and resumes from its checkpoint.
//
// Evaluation: -episodes landings of -steps steps per split (envs'
// EvaluateLanding; "in" from the training ranges, "out" from outside them)
// by MPC (horizon 40) with the learned cost at the best validation epoch,
// against the expert (MPC with the true cost) on the same starts: success
// rate and cost ratio; printed, and as Markdown to -md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/examples/internal/cli"
	"github.com/dilqr/dilqr/examples/internal/gridflags"
	"github.com/dilqr/dilqr/op/ilqr"
	"github.com/dilqr/dilqr/train"
)

// options are the command's flags.
type options struct {
	methods                 []train.Method
	tol                     float64
	maxIter, ntrain, epochs int
	episodes, steps         int
	seed                    uint64
	out, md                 string
}

func main() {
	var o options
	var methodList string
	flag.StringVar(&methodList, "methods", "diffmpc.cost,dilqr.cost", "methods, comma-separated")
	flag.Float64Var(&o.tol, "tol", 1e-4, "planner's projected-gradient tolerance in training")
	flag.IntVar(&o.maxIter, "maxiter", 200, "planner's iteration limit in training")
	flag.IntVar(&o.ntrain, "ntrain", 100, "training demonstrations (at most 100)")
	flag.IntVar(&o.epochs, "epochs", 40, "training epochs")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the demonstrations and of training")
	flag.IntVar(&o.episodes, "episodes", 40, "landings per split")
	flag.IntVar(&o.steps, "steps", 160, "steps (of 0.05 s) per landing")
	flag.StringVar(&o.out, "out", "rocket-out", "folder for the demonstrations and the runs")
	flag.StringVar(&o.md, "md", "", "write the results as a Markdown table to this file")
	cmd := cli.Command("rocket")
	cmd.Parse()
	var err error
	o.methods, err = gridflags.Methods(methodList)
	if err == nil {
		err = cli.Positive(map[string]int{"-maxiter": o.maxIter, "-ntrain": o.ntrain, "-epochs": o.epochs, "-episodes": o.episodes, "-steps": o.steps})
	}
	if err != nil {
		cmd.Fail(cli.ExitUsage, err)
	}
	cmd.RunInterruptible(func(ctx context.Context) error { return run(ctx, o, os.Stdout, os.Stderr) })
}

// run trains every method, then evaluates the expert and each learned
// model on both splits.
func run(ctx context.Context, o options, stdout, log io.Writer) error {
	env, err := envs.New("rocket")
	if err != nil {
		return err
	}
	ds, err := dataset(env, filepath.Join(o.out, "dataset.npz"), o.seed, log)
	if err != nil {
		return err
	}
	settings := &ilqr.Settings{MaxIter: o.maxIter, TolGrad: o.tol, TolGradLoose: 10 * o.tol, TolCost: 1e-12}
	models := map[train.Method]*train.Result{}
	for _, m := range o.methods {
		dir := filepath.Join(o.out, fmt.Sprintf("%s-tol%g", m, o.tol))
		res, err := train.Run(ctx, ds, train.Config{Method: m, NTrain: o.ntrain, Epochs: o.epochs, Seed: o.seed,
			Settings: settings, Dir: dir, Resume: true, Progress: log})
		if err != nil && !errors.Is(err, train.ErrPastEpochs) {
			return fmt.Errorf("%s: %w", m, err)
		}
		if res == nil {
			return fmt.Errorf("%s: %w", m, err)
		}
		fmt.Fprintf(stdout, "%s: test imitation loss %.4g at the best epoch %d of %d (start %.4g)\n", m,
			res.History[res.BestEpoch].Test, res.BestEpoch, res.Final().Epoch, res.History[0].Test)
		models[m] = res
	}
	return evaluate(env, o, models, stdout)
}

// dataset loads the demonstrations at path or generates and saves them.
func dataset(env *envs.Env, path string, seed uint64, log io.Writer) (*envs.Dataset, error) {
	ds, err := envs.Load(path, env)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return ds, err
	}
	fmt.Fprintf(log, "rocket: generating demonstrations (seed %d) into %s\n", seed, path)
	ds, err = envs.Generate(env, &envs.DatasetOptions{NTrain: 100, NVal: 50, NTest: 100, Seed: seed})
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	return ds, ds.Save(path)
}

// evaluate lands the rocket with the expert and every learned cost on both
// splits and writes the table.
func evaluate(env *envs.Env, o options, models map[train.Method]*train.Result, stdout io.Writer) error {
	out, err := env.Outside(env.InitialRanges())
	if err != nil {
		return err
	}
	in, err := env.Uniform(env.InitialRanges())
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| method | tol | landed in · cost ratio | landed out · cost ratio |\n|---|---|---|---|\n")
	rows := map[string][]string{}
	var order []string
	for _, sp := range []envs.Sampler{in, out} {
		cfg := &envs.EvalConfig{Episodes: o.episodes, Steps: o.steps, Seed: 1, Starts: sp}
		expertMPC, err := envs.NewMPC(env, nil)
		if err != nil {
			return err
		}
		expert, err := envs.EvaluateLanding(env, expertMPC, cfg, nil)
		if err != nil {
			return err
		}
		add := func(name string, ev *envs.LandingEvaluation) error {
			r, err := envs.CostRatio(&ev.Evaluation, &expert.Evaluation)
			if err != nil {
				return err
			}
			if _, ok := rows[name]; !ok {
				order = append(order, name)
			}
			rows[name] = append(rows[name], fmt.Sprintf("%.3g%% · %.4g", 100*ev.SuccessRate, r))
			return nil
		}
		if err := add("expert", expert); err != nil {
			return err
		}
		for _, m := range o.methods {
			mpc, err := envs.NewMPC(env, &envs.MPCConfig{Phi: goalToQuad(models[m].Best)})
			if err != nil {
				return err
			}
			ev, err := envs.EvaluateLanding(env, mpc, cfg, nil)
			if err != nil {
				return fmt.Errorf("%s: %w", m, err)
			}
			if err := add(string(m), ev); err != nil {
				return err
			}
		}
	}
	for _, name := range order {
		tol := fmt.Sprintf("%g", o.tol)
		if name == "expert" {
			tol = ""
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", name, tol, strings.Join(rows[name], " | "))
	}
	fmt.Fprint(stdout, b.String())
	if o.md != "" {
		return os.WriteFile(o.md, []byte(b.String()), 0o644)
	}
	return nil
}

// goalToQuad maps the goal form (w, goal) of length 2k that the cost
// learners report to the quadratic cost's (q, p) = (2w², −2w²⊙goal).
func goalToQuad(v []float64) []float64 {
	k := len(v) / 2
	out := make([]float64, len(v))
	for j := 0; j < k; j++ {
		q := 2 * v[j] * v[j]
		out[j], out[k+j] = q, -q*v[k+j]
	}
	return out
}
