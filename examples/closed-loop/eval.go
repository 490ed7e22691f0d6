package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/dilqr/dilqr/envs"
)

// row is one line of the results: a policy on one split of one env.
type row struct {
	env, method, split string
	episodes           int
	success, costRatio float64
	p50, p99           time.Duration
	converged          float64 // share of solves that converged; NaN without solves
	err                string  // why the row has no numbers, if it has none
}

// gifSet holds the "out" evaluations of one env that the GIFs show.
type gifSet struct {
	env   *envs.Env
	evals map[string]*envs.Evaluation // by label: expert, dilqr.dx/n100, ...
}

// split is one start distribution of the evaluation.
type split struct {
	name   string
	starts envs.Sampler
}

// splits returns the "in" and "out" start distributions of env for
// models trained on starts drawn from ranges.
func splits(env *envs.Env, ranges []envs.Range) ([]split, error) {
	in, err := env.Uniform(ranges)
	if err != nil {
		return nil, err
	}
	out, err := env.Outside(ranges)
	if err != nil {
		return nil, err
	}
	return []split{{"in", in}, {"out", out}}, nil
}

// evaluateEnv evaluates the expert, the zero policy and every run of one
// env on both splits.
func evaluateEnv(name string, runs []trainedRun, o options, log io.Writer) ([]row, gifSet, error) {
	env, err := envs.New(name)
	if err != nil {
		return nil, gifSet{}, err
	}
	ranges, err := trainingRanges(env, runs)
	if err != nil {
		return nil, gifSet{}, err
	}
	sp, err := splits(env, ranges)
	if err != nil {
		return nil, gifSet{}, err
	}
	gs := gifSet{env: env, evals: map[string]*envs.Evaluation{}}
	var rows []row
	for _, s := range sp {
		cfg := &envs.EvalConfig{Episodes: o.episodes, Steps: o.steps, Seed: o.evalSeed, Starts: s.starts, Keep: s.name == "out"}
		expertPolicy, err := envs.NewMPC(env, &envs.MPCConfig{Horizon: o.hor})
		if err != nil {
			return nil, gifSet{}, err
		}
		expert, err := envs.Evaluate(env, expertPolicy, cfg)
		if err != nil {
			return nil, gifSet{}, fmt.Errorf("%s expert: %w", name, err)
		}
		if s.name == "out" {
			gs.evals["expert"] = expert
		}
		rows = append(rows, newRow(name, "expert", s.name, expert, expert))
		zero, err := envs.Evaluate(env, envs.ZeroPolicy(), cfg)
		if err != nil {
			return nil, gifSet{}, err
		}
		rows = append(rows, newRow(name, "zero", s.name, zero, expert))
		for _, r := range runs {
			start := time.Now()
			ev, err := evaluateRun(env, r, cfg, o.hor)
			if err != nil {
				// A learned model that cannot be planned with is a result,
				// not a reason to stop the others.
				fmt.Fprintf(log, "%s %s %s: %v\n", name, r.label(), s.name, err)
				rows = append(rows, row{env: name, method: r.label(), split: s.name, episodes: o.episodes,
					success: math.NaN(), costRatio: math.NaN(), converged: math.NaN(), err: err.Error()})
				continue
			}
			if s.name == "out" {
				gs.evals[r.label()] = ev
			}
			rw := newRow(name, r.label(), s.name, ev, expert)
			rows = append(rows, rw)
			fmt.Fprintf(log, "%s %-18s %-3s success %5.1f%%  cost ratio %8.4g  (%v)\n", name, r.label(), s.name,
				100*rw.success, rw.costRatio, time.Since(start).Round(time.Millisecond))
		}
	}
	return rows, gs, nil
}

// trainingRanges returns the initial ranges of the runs' demonstrations,
// which must be the same for all.
func trainingRanges(env *envs.Env, runs []trainedRun) ([]envs.Range, error) {
	var ranges []envs.Range
	seen := map[string]bool{}
	for _, r := range runs {
		if seen[r.dataset] {
			continue
		}
		seen[r.dataset] = true
		ds, err := envs.Load(r.dataset, env)
		if err != nil {
			return nil, err
		}
		if ranges == nil {
			ranges = ds.Initial
		} else if !slices.Equal(ranges, ds.Initial) {
			return nil, fmt.Errorf("%s: the runs were trained on starts from different ranges (%v, %v)", env.Name(), ranges, ds.Initial)
		}
	}
	return ranges, nil
}

// evaluateRun evaluates one trained model.
func evaluateRun(env *envs.Env, r trainedRun, cfg *envs.EvalConfig, horizon int) (*envs.Evaluation, error) {
	p, err := policy(r.ckpt, env, horizon)
	if err != nil {
		return nil, err
	}
	return envs.Evaluate(env, p, cfg)
}

// newRow summarizes ev against the expert's evaluation on the same starts.
func newRow(env, method, split string, ev, expert *envs.Evaluation) row {
	ratio, err := envs.CostRatio(ev, expert)
	if err != nil {
		ratio = math.NaN()
	}
	return row{env: env, method: method, split: split, episodes: len(ev.Episodes), success: ev.SuccessRate,
		costRatio: ratio, p50: ev.StepP50, p99: ev.StepP99, converged: ev.ConvergedShare}
}
