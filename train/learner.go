package train

import (
	"fmt"
	"math"
	"slices"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/layer"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op"
	"github.com/dilqr/dilqr/op/ilqr"
	G "gorgonia.org/gorgonia"
)

// learner is one method's model: its canonical parameters, the graphs that
// evaluate and train it, and how its parameters map to the model
// parameters reported against the truth.
type learner struct {
	method  Method
	n, m, t int
	build   builder
	params  paramSet
	trainG  map[int]*netGraph
	evalG   map[int]*netGraph
	// sysid, when set, replaces the training graph: the gradient of the
	// one-step prediction loss, computed in Go.
	sysid *sysidLoss
	// natural maps the raw parameters to the model parameters compared with
	// truth (nil for nn).
	natural func() []float64
	truth   []float64
	names   []string
	// stats of the most recent training run through a planner, for the
	// counts in Result.
	skipped, solves int
	// health averages the planner's health over the epoch's steps.
	health layer.HealthMean
}

// costWeightsGoal returns the true cost of ds in the goal form (w, goal)
// with q = 2w² and p = −2w²⊙goal: w = √(q/2), goal = −p/q, for a dataset
// whose cost is a quadratic cost with q > 0.
func costWeightsGoal(ds *envs.Dataset) ([]float64, error) {
	k := ds.N + ds.M
	if len(ds.Phi) != 2*k {
		return nil, fmt.Errorf("train: the dataset's cost has %d parameters, want a quadratic cost's 2(N+M) = %d", len(ds.Phi), 2*k)
	}
	out := make([]float64, 2*k)
	for j := 0; j < k; j++ {
		q, p := ds.Phi[j], ds.Phi[k+j]
		if !(q > 0) {
			return nil, fmt.Errorf("train: the dataset's cost weight q[%d] = %g has no goal form (need q > 0)", j, q)
		}
		out[j], out[k+j] = math.Sqrt(q/2), -p/q+0 // +0: no −0 in reports
	}
	return out, nil
}

// goalNames labels the goal-form cost parameters: w0…, goal0….
func goalNames(k int) []string {
	var s []string
	for j := 0; j < k; j++ {
		s = append(s, fmt.Sprintf("w%d", j))
	}
	for j := 0; j < k; j++ {
		s = append(s, fmt.Sprintf("goal%d", j))
	}
	return s
}

// newLearner builds the model of cfg.Method for the dataset.
func newLearner(ds *envs.Dataset, task models.Task, cfg *Config) (*learner, error) {
	l := &learner{method: cfg.Method, n: ds.N, m: ds.M, t: ds.T,
		trainG: map[int]*netGraph{}, evalG: map[int]*netGraph{}}
	settings := cfg.Settings
	k := ds.N + ds.M
	switch {
	case cfg.Method == NN:
		l.build = nnBuilder(ds.N, ds.M, ds.T, cfg.Hidden, cfg.Seed)
	case cfg.Method.LearnsDynamics():
		init := cfg.InitTheta
		if init == nil {
			var err error
			if init, err = InitialGuess(ds.Env); err != nil {
				return nil, err
			}
		}
		if len(init) != len(ds.Theta) {
			return nil, fmt.Errorf("train: initial θ has %d entries, the model %d", len(init), len(ds.Theta))
		}
		icfg := layer.ILQRConfig{T: ds.T,
			Theta: layer.ParamSpec{Source: layer.Learned, Transform: layer.Softplus, Init: init},
			Cost:  layer.ParamSpec{Source: layer.Fixed, Init: slices.Clone(ds.Phi)}, Solver: op.SolverConfig{Settings: settings, Grad: ilqr.GradOptions{Mode: cfg.Method.GradMode()}}}
		l.build = ilqrBuilder(task, icfg)
		l.truth = slices.Clone(ds.Theta)
		l.names, _ = DynamicsParamNames(ds.Env)
		l.natural = func() []float64 { return layer.Softplus.Apply(l.params[0].values()) }
		if cfg.Method == SysID {
			l.sysid = &sysidLoss{ev: task.Dynamics.NewEvaluator(), n: ds.N, m: ds.M, p: len(ds.Theta), t: ds.T}
		}
	case cfg.Method.LearnsCost():
		truth, err := costWeightsGoal(ds)
		if err != nil {
			return nil, err
		}
		// Initial cost, as the reference (mpc.pytorch's il_exp.py): weight
		// logits zero (w = 1/2), goal zero.
		init := make([]float64, 2*k)
		for j := 0; j < k; j++ {
			init[j] = 0.5
		}
		icfg := layer.ILQRConfig{T: ds.T,
			Theta:    layer.ParamSpec{Source: layer.Fixed, Init: slices.Clone(ds.Theta)},
			Cost:     layer.ParamSpec{Source: layer.Learned, Transform: layer.Sigmoid, Init: init},
			CostForm: layer.GoalWeights, Solver: op.SolverConfig{Settings: settings, Grad: ilqr.GradOptions{Mode: cfg.Method.GradMode()}}}
		l.build = ilqrBuilder(task, icfg)
		l.truth = truth
		l.names = goalNames(k)
		l.natural = func() []float64 {
			raw := l.params[0].values()
			return append(layer.Sigmoid.Apply(raw[:k]), raw[k:]...)
		}
	default:
		return nil, fmt.Errorf("train: unknown method %q", cfg.Method)
	}
	// The canonical parameters start at the values the builder gives its
	// nodes (the layer's seeded initialisation or the initial guess).
	g, err := l.graph(min(cfg.BatchSize, ds.Train.B), true)
	if err != nil {
		return nil, err
	}
	for _, n := range g.learn {
		d, err := Float64s(n.Value())
		if err != nil {
			return nil, fmt.Errorf("train: node %s: %w", n.Name(), err)
		}
		l.params = append(l.params, newTensorParam(n.Name(), d))
	}
	return l, nil
}

// graph returns the training (withGrad) or evaluation graph for batch
// size b, building it on first use.
func (l *learner) graph(b int, withGrad bool) (*netGraph, error) {
	cache := l.evalG
	if withGrad {
		cache = l.trainG
	}
	if g, ok := cache[b]; ok {
		return g, nil
	}
	g, err := newNetGraph(l.build, b, l.n, l.t, l.m, withGrad)
	if err != nil {
		return nil, err
	}
	cache[b] = g
	return g, nil
}

// grad computes the training loss of a batch and leaves its gradient in
// the canonical parameters' gradients. x, u are the batch's states
// (B×T×N) and controls (B×T×M); x0 its initial states.
func (l *learner) grad(b int, x0, x, u []float64) (float64, error) {
	if l.sysid != nil {
		return l.sysid.lossGrad(l.params[0], b, x, u)
	}
	g, err := l.graph(b, true)
	if err != nil {
		return 0, err
	}
	if err := g.run(l.params, x0, u); err != nil {
		return 0, err
	}
	loss, err := g.lossValue()
	if err != nil {
		return 0, err
	}
	if err := g.takeGrads(l.params); err != nil {
		return 0, err
	}
	if g.stats != nil {
		l.health.Add(g.stats().Health())
		for _, s := range g.stats().GradStatus {
			l.solves++
			if s != ilqr.GradOK {
				l.skipped++
			}
		}
	}
	return loss, nil
}

// imitationLoss returns the mean squared difference between the controls
// the model predicts for the demonstrations' initial states and the
// expert's controls, over all examples, steps and control entries. The
// whole split runs as one batch.
func (l *learner) imitationLoss(d *envs.Demos) (float64, error) {
	g, err := l.graph(d.B, false)
	if err != nil {
		return 0, err
	}
	if err := g.run(l.params, d.X0, nil); err != nil {
		return 0, err
	}
	u, err := g.controls()
	if err != nil {
		return 0, err
	}
	var s float64
	for i, v := range u {
		e := v - d.U[i]
		s += e * e
	}
	return s / float64(len(u)), nil
}

// modelLoss returns MSE(θ − θ_true) of the model parameters, NaN for nn.
func (l *learner) modelLoss() float64 {
	if l.natural == nil {
		return math.NaN()
	}
	return mse(l.natural(), l.truth)
}

func mse(a, b []float64) float64 {
	var s float64
	for i := range a {
		e := a[i] - b[i]
		s += e * e
	}
	return s / float64(len(a))
}

// ilqrBuilder returns a builder of the layer's ILQR planner with cfg (its
// Batch set per graph): the planned controls are the prediction, the
// learned parameter block the learnable node.
func ilqrBuilder(task models.Task, cfg layer.ILQRConfig) builder {
	return func(g *G.ExprGraph, x0 *G.Node, b int) (*G.Node, G.Nodes, func() op.Stats, error) {
		c := cfg
		c.Batch = b
		c.Theta.Init = slices.Clone(cfg.Theta.Init)
		c.Cost.Init = slices.Clone(cfg.Cost.Init)
		pl, err := layer.NewILQR(g, task, c)
		if err != nil {
			return nil, nil, nil, err
		}
		_, u, err := pl.Plan(x0)
		if err != nil {
			return nil, nil, nil, err
		}
		return u, pl.Learnables(), pl.Stats, nil
	}
}

// nnBuilder returns the builder of the nn method's policy (see the package
// documentation): an MLP embeds x0, an LSTM reads the embedding at each of
// the T steps, and an MLP decodes each hidden state into that step's
// control.
func nnBuilder(n, m, t, hidden int, seed uint64) builder {
	return func(g *G.ExprGraph, x0 *G.Node, b int) (*G.Node, G.Nodes, func() op.Stats, error) {
		emb, err := layer.NewMLP(g, layer.MLPConfig{Sizes: []int{n, hidden, hidden}, Activation: layer.ReLU,
			Seed: mixSeed(seed, 1), Name: "embed"})
		if err != nil {
			return nil, nil, nil, err
		}
		lstm, err := layer.NewLSTM(g, layer.LSTMConfig{Input: hidden, Hidden: hidden, Seed: mixSeed(seed, 2), Name: "lstm"})
		if err != nil {
			return nil, nil, nil, err
		}
		dec, err := layer.NewMLP(g, layer.MLPConfig{Sizes: []int{hidden, hidden, m}, Activation: layer.ReLU,
			Seed: mixSeed(seed, 3), Name: "decode"})
		if err != nil {
			return nil, nil, nil, err
		}
		e, err := emb.Forward(x0)
		if err != nil {
			return nil, nil, nil, err
		}
		xs := make([]*G.Node, t)
		for i := range xs {
			xs[i] = e
		}
		hs, err := lstm.Forward(xs)
		if err != nil {
			return nil, nil, nil, err
		}
		us := make([]*G.Node, t)
		for i, h := range hs {
			if us[i], err = dec.Forward(h); err != nil {
				return nil, nil, nil, err
			}
		}
		u := us[0]
		if t > 1 {
			if u, err = G.Concat(1, us...); err != nil {
				return nil, nil, nil, fmt.Errorf("train: nn: %w", err)
			}
		}
		learn := append(append(emb.Learnables(), lstm.Learnables()...), dec.Learnables()...)
		return u, learn, nil, nil
	}
}

// mixSeed derives the seed of part k of a model from the run's seed
// (SplitMix64's finaliser), so that parts and runs get unrelated streams.
func mixSeed(seed, k uint64) uint64 {
	z := seed + k*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
