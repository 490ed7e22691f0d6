package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dilqr/dilqr/envs"
)

// Method names of the closed-loop results besides planModel and mlpModel.
const (
	expertMethod = "expert" // MPC with the true model and cost, horizon envs.DefaultMPCHorizon, true state
	shortMethod  = "mpc-T"  // the same with the models' horizon T, true state; named mpc-T10 for T = 10
)

// clConfig configures the closed-loop evaluation.
type clConfig struct {
	episodes int     // episodes per variant
	steps    int     // controls per episode of the in-distribution split (100: 5 s)
	seed     uint64  // seeds the starts: the same starts for every model and training seed
	heavy    float64 // the heavy variant's pole is this many times the simulator's mass
	long     int     // the long variant's episodes are this many times longer
	// horizons are the planner model's horizons in closed loop besides its
	// training horizon: one more method, ilqr-T<h>, per entry.
	horizons []int
}

// variant is one set of closed-loop episodes: a start distribution, an
// episode length and a pole mass.
type variant struct {
	split  string // "in" or "out"
	name   string // "starts", "omega", "heavy" or "long"
	starts envs.Sampler
	steps  int
	mass   float64 // pole mass over the simulator's
}

// label returns how tables name v.
func (v variant) label() string {
	switch v.name {
	case "omega":
		return "out: |ω₀| ∈ (1, 2]"
	case "heavy":
		return fmt.Sprintf("out: pole ×%g mass", v.mass)
	case "long":
		return fmt.Sprintf("out: %d s episodes", v.steps/20)
	}
	return "in"
}

// variants returns the evaluation's variants for models trained on starts
// from the env's ranges: in distribution (the training ranges, 5 s) and
// three out of distribution: starts outside the training box
// (env.Outside: θ anywhere, |ω| ∈ (1, 2]), a heavier pole and longer
// episodes, both from in-distribution starts.
func variants(env *envs.Env, cc clConfig) ([]variant, error) {
	in, err := env.Uniform(env.InitialRanges())
	if err != nil {
		return nil, err
	}
	out, err := env.Outside(env.InitialRanges())
	if err != nil {
		return nil, err
	}
	return []variant{
		{split: "in", name: "starts", starts: in, steps: cc.steps, mass: 1},
		{split: "out", name: "omega", starts: out, steps: cc.steps, mass: 1},
		{split: "out", name: "heavy", starts: in, steps: cc.steps, mass: cc.heavy},
		{split: "out", name: "long", starts: in, steps: cc.long * cc.steps, mass: 1},
	}, nil
}

// evalVariant runs p on v's episodes (states and controls kept), on a
// heavier pole when v says so.
func evalVariant(env *envs.Env, p envs.Policy, v variant, cc clConfig) (*envs.Evaluation, error) {
	if v.mass != 1 {
		p = heavierPole{p: p, factor: v.mass}
	}
	ev, err := envs.Evaluate(env, p, &envs.EvalConfig{Episodes: cc.episodes, Steps: v.steps,
		Seed: cc.seed, Starts: v.starts, Keep: true})
	if err != nil {
		return nil, err
	}
	if v.mass != 1 {
		if err := heavyCosts(env, ev, v.mass); err != nil {
			return nil, err
		}
	}
	return ev, nil
}

// mpcFor returns MPC with the true cost and the dynamics of v's pole
// (the heavier mass for the heavy variant) with the given horizon.
func mpcFor(env *envs.Env, v variant, horizon int) (*envs.MPC, error) {
	theta := env.Params()
	theta[1] *= v.mass
	return envs.NewMPC(env, &envs.MPCConfig{Horizon: horizon, Theta: theta})
}

// clRow is one line of the closed-loop results.
type clRow struct {
	method    string
	v         variant
	seed      string // the training seed, "mean" over seeds, "-" for the references
	episodes  int
	success   float64
	costRatio float64 // total cost over the expert's on the same starts
	p50, p99  float64 // decision time per step, ms
	converged float64 // share of converged solves; NaN for a policy that does not plan
}

// newRow summarises ev against the expert's evaluation ref of the same
// variant.
func newRow(method, seed string, v variant, ev, ref *envs.Evaluation) (clRow, error) {
	ratio, err := envs.CostRatio(ev, ref)
	if err != nil {
		return clRow{}, err
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return clRow{method: method, v: v, seed: seed, episodes: len(ev.Episodes), success: ev.SuccessRate,
		costRatio: ratio, p50: ms(ev.StepP50), p99: ms(ev.StepP99), converged: ev.ConvergedShare}, nil
}

// clResult is what the closed-loop evaluation produced.
type clResult struct {
	rows []clRow
	// gif holds the in-distribution evaluations of the first seed and the
	// expert, by method, for the GIF.
	gif map[string]*envs.Evaluation
	// train holds the training results by seed, in order.
	train []*result
}

// closedLoop trains both models for every seed of seeds (configuration c
// otherwise) and evaluates them in closed loop with cc, together with the
// expert and the short-horizon MPC. Training logs go to log, progress bars
// to progress.
func closedLoop(c config, seeds []uint64, cc clConfig, log, progress io.Writer) (*clResult, error) {
	switch {
	case len(seeds) == 0:
		return nil, errors.New("closed loop: no seeds")
	case cc.episodes < 1 || cc.steps < 1:
		return nil, fmt.Errorf("closed loop: %d episodes of %d steps: want at least 1 of each (-episodes)", cc.episodes, cc.steps)
	case cc.long < 1:
		return nil, fmt.Errorf("closed loop: -long %d: want a factor of at least 1", cc.long)
	case !(cc.heavy > 0) || math.IsInf(cc.heavy, 0):
		return nil, fmt.Errorf("closed loop: -heavy %g: want a finite factor > 0", cc.heavy)
	case slices.Min(append([]int{1}, cc.horizons...)) < 1:
		return nil, fmt.Errorf("closed loop: horizons %v: want each at least 1 (-mpc-T)", cc.horizons)
	}
	env, err := envs.New("pendulum")
	if err != nil {
		return nil, err
	}
	vs, err := variants(env, cc)
	if err != nil {
		return nil, err
	}
	out := &clResult{gif: map[string]*envs.Evaluation{}}
	refs := make([]*envs.Evaluation, len(vs))
	for i, v := range vs {
		for _, m := range []struct {
			name    string
			horizon int
		}{{expertMethod, envs.DefaultMPCHorizon}, {fmt.Sprint(shortMethod, c.t), c.t}} {
			mpc, err := mpcFor(env, v, m.horizon)
			if err != nil {
				return nil, err
			}
			ev, err := evalVariant(env, mpc, v, cc)
			if err != nil {
				return nil, fmt.Errorf("%s, %s: %w", m.name, v.label(), err)
			}
			if m.name == expertMethod {
				refs[i] = ev
				if v.name == "starts" {
					out.gif[expertMethod] = ev
				}
			}
			r, err := newRow(m.name, "-", v, ev, refs[i])
			if err != nil {
				return nil, err
			}
			out.rows = append(out.rows, r)
		}
	}
	for si, seed := range seeds {
		cs := c
		cs.seed = seed
		fmt.Fprintf(log, "\nseed %d: training\n", seed)
		res, err := experiment(cs, log, progress)
		if err != nil {
			return nil, fmt.Errorf("seed %d: %w", seed, err)
		}
		out.train = append(out.train, res)
		for _, m := range clMethods(c.t, cc.horizons) {
			kind := m.name
			var pol envs.Policy
			if m.kind == stateMethod {
				pol, err = learnedMPC(env, &cs, m.horizon, res.params)
			} else {
				pol, err = closedLoopPolicy(env, m.kind, &cs, m.horizon, res.trained[m.kind])
			}
			if err != nil {
				return nil, fmt.Errorf("seed %d: %w", seed, err)
			}
			vp, _ := pol.(*visionPolicy)
			for i, v := range vs {
				if vp != nil {
					vp.errs = nil
					if v.name == "starts" && vp.nt.state != nil {
						vp.errs = &stateErrors{}
					}
				}
				ev, err := evalVariant(env, pol, v, cc)
				if err != nil {
					return nil, fmt.Errorf("seed %d, %s, %s: %w", seed, kind, v.label(), err)
				}
				r, err := newRow(kind, strconv.FormatUint(seed, 10), v, ev, refs[i])
				if err != nil {
					return nil, err
				}
				out.rows = append(out.rows, r)
				fmt.Fprintf(log, "seed %d %-4s %-22s success %5.1f%%  cost ratio %.3g  decision %.3g ms (p99 %.3g)\n",
					seed, kind, v.label(), 100*r.success, r.costRatio, r.p50, r.p99)
				if si == 0 && v.name == "starts" {
					out.gif[kind] = ev
				}
				if vp != nil && vp.errs != nil {
					fmt.Fprintf(log, "seed %d %s state estimate along the in-distribution episodes: %v\n", seed, kind, vp.errs)
				}
			}
		}
	}
	out.rows = append(out.rows, seedMeans(out.rows, vs, clMethods(c.t, cc.horizons))...)
	return out, nil
}

// clMethod is a trained model as a closed-loop policy.
type clMethod struct {
	name    string // as the results name it
	kind    string // planModel or mlpModel
	horizon int    // the planner's horizon
}

// stateMethod is the kind of the diagnostic method that plans with the
// planner model's learned parameters from the true state.
const stateMethod = "ilqr-state"

// clMethods returns the trained models' closed-loop methods: the planner
// model with its training horizon t ("ilqr") and with each of horizons
// ("ilqr-T40"), the MLP, and the diagnostic "ilqr-state" (and
// "ilqr-state-T40"): MPC with the planner's learned cost (or dynamics)
// from the true state instead of the encoder's estimate.
func clMethods(t int, horizons []int) []clMethod {
	var hs []int
	for _, h := range horizons {
		if h != t && !slices.Contains(hs, h) {
			hs = append(hs, h)
		}
	}
	out := []clMethod{{planModel, planModel, t}}
	for _, h := range hs {
		out = append(out, clMethod{fmt.Sprintf("%s-T%d", planModel, h), planModel, h})
	}
	out = append(out, clMethod{mlpModel, mlpModel, t}, clMethod{stateMethod, stateMethod, t})
	for _, h := range hs {
		out = append(out, clMethod{fmt.Sprintf("%s-T%d", stateMethod, h), stateMethod, h})
	}
	return out
}

// learnedMPC returns MPC from the true state with the planner model's
// learned parameters params (natural values: the cost (q, p) for -learn
// cost, (g, m, l) for -learn theta), the rest true, horizon h and the
// planner model's solver settings. Unlike the model, it warm-starts each
// solve from the previous plan (envs.MPC).
func learnedMPC(env *envs.Env, c *config, h int, params []float64) (*envs.MPC, error) {
	set := c.solver
	mc := &envs.MPCConfig{Horizon: h, Settings: &set}
	switch c.learn {
	case learnCost:
		mc.Phi = params
	case learnTheta:
		mc.Theta = params
	default:
		return nil, fmt.Errorf("unknown -learn %q", c.learn)
	}
	return envs.NewMPC(env, mc)
}

// closedLoopPolicy builds the forward graph of model kind with batch 1
// (for the planner model with the given horizon), copies the trained
// weights of the training graph trained into it and returns it as a
// policy.
func closedLoopPolicy(env *envs.Env, kind string, c *config, horizon int, trained *net) (*visionPolicy, error) {
	fc := *c
	if kind == planModel {
		fc.t = horizon
	}
	nt, err := buildNet(kind, 1, &fc, false)
	if err != nil {
		return nil, err
	}
	if err := copyParams(nt, trained); err != nil {
		return nil, fmt.Errorf("%s model: %w", kind, err)
	}
	return newVisionPolicy(env, nt, c.size, c.gap)
}

// seedMeans returns, for each trained model and variant, the row of means
// over the training seeds of rows.
func seedMeans(rows []clRow, vs []variant, methods []clMethod) []clRow {
	var out []clRow
	for _, cm := range methods {
		kind := cm.name
		for _, v := range vs {
			m := clRow{method: kind, v: v, seed: "mean"}
			n := 0
			for _, r := range rows {
				if r.method != kind || r.v.name != v.name || r.seed == "mean" {
					continue
				}
				m.episodes += r.episodes
				m.success += r.success
				m.costRatio += r.costRatio
				m.p50 += r.p50
				m.p99 += r.p99
				m.converged += r.converged
				n++
			}
			if n == 0 {
				continue
			}
			f := 1 / float64(n)
			m.success, m.costRatio, m.p50, m.p99, m.converged = f*m.success, f*m.costRatio, f*m.p50, f*m.p99, f*m.converged
			out = append(out, m)
		}
	}
	return out
}

// clHeader is the header of the closed-loop CSV file.
var clHeader = []string{"env", "method", "split", "episodes", "success_rate", "cost_ratio",
	"solve_ms_p50", "solve_ms_p99", "variant", "seed", "converged_share"}

// clCSV returns the closed-loop rows as CSV: one row per method, variant
// and training seed (rows with seed "mean" average the seeds; episodes is
// then the total).
func clCSV(rows []clRow) []byte {
	var b strings.Builder
	b.WriteString(strings.Join(clHeader, ",") + "\n")
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	for _, r := range rows {
		b.WriteString(strings.Join([]string{"pendulum", r.method, r.v.split, strconv.Itoa(r.episodes),
			f(r.success), f(r.costRatio), f(r.p50), f(r.p99), r.v.name, r.seed, f(r.converged)}, ",") + "\n")
	}
	return []byte(b.String())
}

// clMarkdown returns the tables of the closed-loop results: success rate
// and cost ratio per method, training seed and variant, then the decision
// times of the in-distribution split.
func clMarkdown(rows []clRow, vs []variant) string {
	var b strings.Builder
	b.WriteString("Success rate · cost ratio to the expert (same starts):\n\n| method | seed |")
	for _, v := range vs {
		b.WriteString(" " + strings.ReplaceAll(v.label(), "|", `\|`) + " |") // a bare | would end the cell
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(vs)) + "\n")
	type key struct{ method, seed string }
	var keys []key
	cells := map[key]map[string]clRow{}
	for _, r := range rows {
		k := key{r.method, r.seed}
		if cells[k] == nil {
			keys = append(keys, k)
			cells[k] = map[string]clRow{}
		}
		cells[k][r.v.name] = r
	}
	for _, k := range keys {
		seed := k.seed
		if seed == "mean" {
			seed = "**mean**"
		}
		fmt.Fprintf(&b, "| %s | %s |", k.method, seed)
		for _, v := range vs {
			r, ok := cells[k][v.name]
			if !ok {
				b.WriteString(" |")
				continue
			}
			fmt.Fprintf(&b, " %.0f%% · %.3g |", 100*r.success, r.costRatio)
		}
		b.WriteString("\n")
	}
	b.WriteString("\nDecision time per step (render + forward pass, or MPC solve), ms, median / 99th percentile, in-distribution split; share of converged solves:\n\n")
	b.WriteString("| method | seed | p50 | p99 | converged |\n|---|---|---|---|---|\n")
	for _, k := range keys {
		r, ok := cells[k][vs[0].name]
		if !ok {
			continue
		}
		conv := "–"
		if !math.IsNaN(r.converged) {
			conv = fmt.Sprintf("%.1f%%", 100*r.converged)
		}
		fmt.Fprintf(&b, "| %s | %s | %.3g | %.3g | %s |\n", k.method, k.seed, r.p50, r.p99, conv)
	}
	return b.String()
}

// writeClosedLoopGIF writes the first n in-distribution episodes of the
// expert, the planner model and the MLP side by side (one row per
// episode) as an animated GIF to path.
func writeClosedLoopGIF(path string, env *envs.Env, evs map[string]*envs.Evaluation, n int) error {
	var panels [][]float64
	methods := []string{expertMethod, planModel, mlpModel}
	for _, m := range methods {
		if evs[m] == nil {
			return fmt.Errorf("gif: no evaluation of %s", m)
		}
		n = min(n, len(evs[m].Episodes))
	}
	for k := range n {
		for _, m := range methods {
			panels = append(panels, evs[m].Episodes[k].X)
		}
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := env.WriteGIF(f, panels, len(methods), &envs.GIFOptions{Size: 64, Every: 2}); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
