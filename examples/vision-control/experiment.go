package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/op"
	"github.com/dilqr/dilqr/op/ilqr"
	"github.com/dilqr/dilqr/train"
	"github.com/schollz/progressbar/v3"
	G "gorgonia.org/gorgonia"
)

// config is one experiment: the data, both models and their training.
type config struct {
	seed      uint64  // seeds the data, the initial weights and the shuffling
	ntrain    int     // training demonstrations
	ntest     int     // test demonstrations
	epochs    int     // passes over the training set, the same for both models
	batch     int     // minibatch size, the same for both models
	evalBatch int     // batch size of the evaluation graphs
	t         int     // horizon: T controls per demonstration
	size      int     // image side, pixels
	gap       int     // the first frame shows the state gap steps before x₀
	hidden    int     // hidden width of the encoders' fully connected heads
	learn     string  // what the planner learns besides its encoder: learnCost or learnTheta
	lrPlan    float64 // Adam learning rate of the planner model's encoder
	lrParams  float64 // Adam learning rate of the planner layer's raw parameters
	lrMLP     float64 // Adam learning rate of the baseline
	lrFinal   float64 // the learning rates fall to this fraction by the last epoch (cosine)
	// stateWeight weighs an auxiliary training loss on both models' state
	// estimates, stateWeight·MSE(x̂₀, x₀) with the true initial states;
	// 0 (the default) trains on the imitation loss alone.
	stateWeight float64
	solver      ilqr.Settings
}

// validate checks c.
func (c *config) validate() error {
	switch {
	case c.ntrain < 1 || c.ntest < 1:
		return fmt.Errorf("need training and test demonstrations, have %d and %d", c.ntrain, c.ntest)
	case c.batch < 1 || c.batch > c.ntrain:
		return fmt.Errorf("batch %d outside [1, ntrain=%d]", c.batch, c.ntrain)
	case c.evalBatch < 1:
		return fmt.Errorf("evaluation batch %d < 1", c.evalBatch)
	case c.epochs < 1:
		return fmt.Errorf("epochs %d < 1", c.epochs)
	case c.t < 1:
		return fmt.Errorf("horizon T=%d < 1", c.t)
	case c.gap < 1:
		return fmt.Errorf("frame gap %d < 1", c.gap)
	case !(c.lrPlan > 0 && c.lrParams > 0 && c.lrMLP > 0):
		return fmt.Errorf("learning rates must be positive")
	case !(c.stateWeight >= 0) || math.IsInf(c.stateWeight, 0):
		return fmt.Errorf("state-loss weight %g is not a finite number ≥ 0", c.stateWeight)
	case !(c.lrFinal > 0 && c.lrFinal <= 1):
		return fmt.Errorf("final learning-rate fraction %g outside (0, 1]", c.lrFinal)
	}
	return nil
}

// row is one point of the learning curves, after epoch (0: before
// training). test is the imitation loss (MSE of the controls over the
// horizon) on the test set at the end of the epoch; train the mean of the
// training minibatches' losses during the epoch, or at epoch 0 the loss of
// the initial weights on the whole training set.
type row struct {
	epoch       int
	model       string
	train, test float64
}

// solverStats counts the planner's solves and gradient sweeps.
type solverStats struct {
	solves, converged, iterations  int
	gradOK, gradSkipped, gradOther int
}

func (s *solverStats) add(r op.Stats) {
	for i, st := range r.Status {
		s.solves++
		s.iterations += r.Iterations[i]
		if st.Stationary() {
			s.converged++
		}
	}
	for _, gs := range r.GradStatus {
		switch gs {
		case ilqr.GradOK:
			s.gradOK++
		case ilqr.GradSkipped:
			s.gradSkipped++
		default:
			s.gradOther++
		}
	}
}

// convergedFraction returns converged/solves (0 without solves).
func (s solverStats) convergedFraction() float64 {
	if s.solves == 0 {
		return 0
	}
	return float64(s.converged) / float64(s.solves)
}

// result is what an experiment produced.
type result struct {
	rows      []row
	lastEpoch solverStats // the planner's training solves in the last epoch
	testSolve solverStats // the planner's solves on the test set after training
	params    []float64   // the planner layer's learned parameters, natural values
	angleErr  float64     // mean |θ̂ − θ| of the planner's state estimate on the test set, radians
	omegaRMS  float64     // RMS of ω̂ − ω on the test set, rad/s
	zeroOmega float64     // test MSE of the expert planning from the true angle with ω = 0
	steps     int         // Adam steps per model
	data      time.Duration
	elapsed   map[string]time.Duration // training and evaluation, per model
	evalTime  map[string]time.Duration
	// trained holds each model's training graph, whose learnables hold
	// the trained weights (planModel, mlpModel).
	trained map[string]*net
}

// at returns the row of model at epoch.
func (r *result) at(model string, epoch int) (row, bool) {
	for _, w := range r.rows {
		if w.model == model && w.epoch == epoch {
			return w, true
		}
	}
	return row{}, false
}

// final returns the last row of model.
func (r *result) final(model string) row {
	var out row
	for _, w := range r.rows {
		if w.model == model {
			out = w
		}
	}
	return out
}

// trainer holds one model's graphs and optimizers.
type trainer struct {
	kind     string
	train    *net // batch c.batch, with gradient
	eval     *net // batch c.evalBatch
	opt      *train.Adam
	optPlan  *train.Adam // the planner layer's parameters; nil for the MLP
	lr, lrPl float64
	stats    solverStats // planner solves of the current epoch
	time     time.Duration
	evalTime time.Duration
}

// experiment generates the data, trains the planner model and the baseline
// on the same demonstrations in the same minibatches for the same number of
// Adam steps, and evaluates both after every epoch. Per-epoch lines go to
// log, the progress bar to progress (either may be io.Discard).
func experiment(c config, log, progress io.Writer) (*result, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	env, err := envs.New("pendulum")
	if err != nil {
		return nil, err
	}
	expert := envs.DefaultExpertSettings()
	ds, err := envs.Generate(env, &envs.DatasetOptions{NTrain: c.ntrain, NVal: 1, NTest: c.ntest,
		Seed: c.seed, T: c.t, Expert: &expert})
	if err != nil {
		return nil, err
	}
	trainSet, err := makeSplit(env, &ds.Train, c.size, c.gap)
	if err != nil {
		return nil, err
	}
	testSet, err := makeSplit(env, &ds.Test, c.size, c.gap)
	if err != nil {
		return nil, err
	}
	res := &result{elapsed: map[string]time.Duration{}, evalTime: map[string]time.Duration{}, trained: map[string]*net{}}
	if res.zeroOmega, err = zeroOmegaLoss(env, &ds.Test, expert); err != nil {
		return nil, err
	}
	res.data = time.Since(start)

	var trainers []*trainer
	for _, m := range []struct {
		kind string
		lr   float64
	}{{planModel, c.lrPlan}, {mlpModel, c.lrMLP}} {
		tr := &trainer{kind: m.kind, opt: &train.Adam{LR: m.lr}, lr: m.lr}
		if tr.train, err = buildNet(m.kind, c.batch, &c, true); err != nil {
			return nil, err
		}
		if tr.eval, err = buildNet(m.kind, c.evalBatch, &c, false); err != nil {
			return nil, err
		}
		if tr.train.nPlan > 0 {
			tr.optPlan, tr.lrPl = &train.Adam{LR: c.lrParams}, c.lrParams
		}
		trainers = append(trainers, tr)
	}

	// evaluate returns the row of tr after epoch, with the given training
	// loss (computed on the whole training set for epoch 0).
	evaluate := func(tr *trainer, epoch int, trainLoss float64) (row, error) {
		t0 := time.Now()
		defer func() { tr.time += time.Since(t0); tr.evalTime += time.Since(t0) }()
		if err := copyParams(tr.eval, tr.train); err != nil {
			return row{}, err
		}
		r := row{epoch: epoch, model: tr.kind, train: trainLoss}
		if epoch == 0 {
			if r.train, _, err = tr.eval.mse(&trainSet); err != nil {
				return row{}, err
			}
		}
		var ev evalOut
		if r.test, ev, err = tr.eval.mse(&testSet); err != nil {
			return row{}, err
		}
		if tr.kind == planModel {
			res.testSolve, res.angleErr, res.omegaRMS = ev.stats, ev.angleErr, ev.omegaRMS
		}
		return r, nil
	}
	for _, tr := range trainers {
		r, err := evaluate(tr, 0, 0)
		if err != nil {
			return nil, err
		}
		res.rows = append(res.rows, r)
	}
	logEpoch(log, res, 0, c.epochs)

	perEpoch := c.ntrain / c.batch // a last partial batch is left out
	res.steps = perEpoch * c.epochs
	bar := progressbar.NewOptions(2*res.steps,
		progressbar.OptionSetWriter(progress),
		progressbar.OptionSetDescription("training"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetItsString("steps"),
		progressbar.OptionSetWidth(24),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionClearOnFinish(),
	)
	defer bar.Exit()
	rng := rand.New(rand.NewPCG(c.seed, 0x73687566)) // stream "shuf"
	images := make([]float64, c.batch*2*c.size*c.size)
	target := make([]float64, c.batch*c.t)
	states := make([]float64, c.batch*3)
	for epoch := 1; epoch <= c.epochs; epoch++ {
		perm := rng.Perm(c.ntrain) // the same minibatches for both models
		f := train.CosineDecay(epoch, c.epochs, c.lrFinal)
		for _, tr := range trainers {
			bar.Describe(fmt.Sprintf("epoch %d/%d %s", epoch, c.epochs, tr.kind))
			tr.opt.LR = tr.lr * f
			if tr.optPlan != nil {
				tr.optPlan.LR = tr.lrPl * f
			}
			tr.stats = solverStats{}
			t0 := time.Now()
			var sum float64
			for s := 0; s+c.batch <= c.ntrain; s += c.batch {
				trainSet.gather(images, target, states, perm[s:s+c.batch])
				l, err := tr.step(images, target, states)
				if err != nil {
					return nil, fmt.Errorf("epoch %d: %w", epoch, err)
				}
				sum += l
				_ = bar.Add(1)
			}
			tr.time += time.Since(t0)
			r, err := evaluate(tr, epoch, sum/float64(perEpoch))
			if err != nil {
				return nil, err
			}
			res.rows = append(res.rows, r)
		}
		_ = bar.Clear()
		logEpoch(log, res, epoch, c.epochs)
	}
	_ = bar.Finish()
	for _, tr := range trainers {
		res.elapsed[tr.kind], res.evalTime[tr.kind] = tr.time, tr.evalTime
		res.trained[tr.kind] = tr.train
		if pl := tr.train.planner; pl != nil {
			res.lastEpoch = tr.stats
			get := pl.CostValue
			if c.learn == learnTheta {
				get = pl.ThetaValue
			}
			if res.params, err = get(); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

// step runs one training step (forward, backward, Adam) and returns the
// minibatch loss; states are the true initial states, used by the
// auxiliary state loss only.
func (tr *trainer) step(images, target, states []float64) (float64, error) {
	nt := tr.train
	if nt.stateTarget != nil {
		if err := train.SetInput(nt.stateTarget, states); err != nil {
			return 0, err
		}
	}
	if err := nt.run(images, target); err != nil {
		return 0, err
	}
	l, err := nt.lossValue()
	if err != nil {
		return 0, err
	}
	if math.IsNaN(l) || math.IsInf(l, 0) {
		return 0, fmt.Errorf("%s model: loss is %v", tr.kind, l)
	}
	if nt.planner != nil {
		tr.stats.add(nt.planner.Stats())
	}
	k := len(nt.learn) - nt.nPlan
	if err := tr.opt.Step(G.NodesToValueGrads(nt.learn[:k])); err != nil {
		return 0, err
	}
	if tr.optPlan != nil {
		if err := tr.optPlan.Step(G.NodesToValueGrads(nt.learn[k:])); err != nil {
			return 0, err
		}
	}
	return l, nil
}

// evalOut is what an evaluation of the planner model records besides the
// loss.
type evalOut struct {
	stats              solverStats
	angleErr, omegaRMS float64
}

// mse returns the imitation loss of the evaluation graph nt on s: the mean
// over examples and steps of (û − u)². The examples run in batches of nt.b;
// the last batch is padded with copies of example 0, whose predictions are
// left out.
func (nt *net) mse(s *split) (float64, evalOut, error) {
	var out evalOut
	b := nt.b
	t := len(s.u) / s.n
	images := make([]float64, b*len(s.images)/s.n)
	target := make([]float64, b*t)
	idx := make([]int, b)
	var sse, angle, omega float64
	for lo := 0; lo < s.n; lo += b {
		valid := min(b, s.n-lo)
		for j := range idx {
			idx[j] = 0
			if j < valid {
				idx[j] = lo + j
			}
		}
		s.gather(images, target, nil, idx)
		if err := nt.run(images, nil); err != nil {
			return 0, out, err
		}
		u, err := train.Float64s(nt.uVal)
		if err != nil {
			return 0, out, err
		}
		for i := range valid * t {
			d := u[i] - target[i]
			sse += d * d
		}
		if nt.planner == nil {
			continue
		}
		st := nt.planner.Stats()
		st.Status, st.Iterations = st.Status[:valid], st.Iterations[:valid]
		out.stats.add(st)
		x, err := train.Float64s(nt.stateVal)
		if err != nil {
			return 0, out, err
		}
		for j := range valid {
			truth := s.x0[3*idx[j] : 3*idx[j]+3]
			dth := math.Atan2(x[3*j+1], x[3*j]) - math.Atan2(truth[1], truth[0])
			angle += math.Abs(math.Remainder(dth, 2*math.Pi))
			dw := x[3*j+2] - truth[2]
			omega += dw * dw
		}
	}
	if math.IsNaN(sse) || math.IsInf(sse, 0) {
		return 0, out, errors.New("non-finite predictions")
	}
	out.angleErr = angle / float64(s.n)
	out.omegaRMS = math.Sqrt(omega / float64(s.n))
	return sse / float64(s.n*t), out, nil
}

// zeroOmegaLoss returns the test MSE of the expert itself when it plans from
// the true angle but ω = 0: what a state estimate from a single frame,
// which shows the angle but not the angular velocity, would cost at best,
// with the exact model.
func zeroOmegaLoss(env *envs.Env, d *envs.Demos, set ilqr.Settings) (float64, error) {
	e, err := env.WithHorizon(d.T)
	if err != nil {
		return 0, err
	}
	ex, err := envs.NewExpert(e, &set)
	if err != nil {
		return 0, err
	}
	x0 := slices.Clone(d.X0)
	for b := range d.B {
		x0[3*b+2] = 0
	}
	r, err := ex.Plan(x0)
	if err != nil {
		return 0, err
	}
	var sse float64
	for i, u := range r.U {
		sse += (u - d.U[i]) * (u - d.U[i])
	}
	return sse / float64(len(r.U)), nil
}

// logEpoch prints the losses of both models after epoch.
func logEpoch(w io.Writer, r *result, epoch, epochs int) {
	p, _ := r.at(planModel, epoch)
	m, _ := r.at(mlpModel, epoch)
	fmt.Fprintf(w, "epoch %*d/%d   ilqr train %-9.4g test %-9.4g   mlp train %-9.4g test %.4g\n",
		len(fmt.Sprint(epochs)), epoch, epochs, p.train, p.test, m.train, m.test)
}
