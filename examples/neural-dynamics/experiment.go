package main

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
	"github.com/dilqr/dilqr/train"
)

// The methods, in the order of the tables.
const (
	mNominal       = "nominal"        // the nominal pendulum, no network, no training
	mHybridDiLQR   = "hybrid.dilqr"   // (a) residual network through the planner, exact gradient
	mHybridDiLQRX  = "hybrid.dilqr.x" // (a) with the states in the loss too
	mHybridDiffMPC = "hybrid.diffmpc" // (b) the same with the fixed-point gradient
	mMLPDiLQR      = "mlp.dilqr"      // (c) passthrough MLP through the planner, exact gradient
	mHybridSysID   = "hybrid.sysid"   // (d) residual network by next-state prediction
	mMLPSysID      = "mlp.sysid"      // (d) passthrough MLP by next-state prediction
	mLSTM          = "lstm"           // (e) the LSTM policy
)

// allMethods lists the methods in table order.
var allMethods = []string{mNominal, mHybridDiLQR, mHybridDiLQRX, mHybridDiffMPC, mMLPDiLQR, mHybridSysID, mMLPSysID, mLSTM}

// The networks.
const (
	netHybrid = "hybrid" // x′ = pendulum(x, u; 10, 1, 1) + N([x; u]; W)
	netMLP    = "mlp"    // x′ = x + N([x; u]; W)
)

// config is the whole experiment.
type config struct {
	seeds               []uint64
	methods             []string
	ntrain, nval, ntest int
	npairs              int // random (x, u) pairs for the extrapolation error
	t                   int
	epochs              int
	valEvery            int // validation every valEvery epochs and at the last
	batch               int // demonstrations per step: planners and the LSTM
	sysidBatch          int // transitions per step of system identification
	hidden              []int
	lstmHidden          int
	lrPlanner           float64
	lrSysid             float64
	lrLSTM              float64
	lrFinal             float64 // the learning rates fall to this fraction by the last epoch (cosine)
	wx                  float64 // weight of the states in hybrid.dilqr.x's imitation loss
	trainSettings       ilqr.Settings
	evalSettings        ilqr.Settings
}

// data is one seed's demonstrations and evaluation pairs.
type data struct {
	train, val, test *demos
	valPairs         *pairs // transitions of the validation demonstrations (sysid's criterion)
	testPairs        *pairs // every (x_t, u_t) of the test demonstrations
	randPairs        *pairs // uniform over a wider box
	rejected         int
}

// makeData generates seed's demonstrations with the expert on the true
// system: split k from the PCG stream (seed, k+1).
func makeData(c *config, seed uint64) (*data, error) {
	task, err := trueTask()
	if err != nil {
		return nil, err
	}
	d := &data{}
	for k, s := range []struct {
		dst  **demos
		size int
	}{{&d.train, c.ntrain}, {&d.val, c.nval}, {&d.test, c.ntest}} {
		if *s.dst, err = collect(task, c.t, s.size, rand.New(rand.NewPCG(seed, uint64(k+1)))); err != nil {
			return nil, err
		}
		d.rejected += (*s.dst).reject
	}
	sys := task.Dynamics.NewEvaluator()
	d.valPairs = d.val.transitions()
	d.testPairs = d.test.allPairs(sys)
	d.randPairs = randomPairs(sys, c.npairs, rand.New(rand.NewPCG(seed, 4)))
	return d, nil
}

// epochRow is one epoch of one run (epoch 0: before training).
type epochRow struct {
	epoch     int
	train     float64 // mean minibatch loss of the epoch (NaN at epoch 0)
	val       float64 // imitation loss on the validation demonstrations
	criterion float64 // what selects the best epoch: val, or sysid's validation prediction error
}

// outcome is one run: a method and a seed.
type outcome struct {
	method    string
	seed      uint64
	curve     []epochRow
	bestEpoch int
	// At the best epoch: the test imitation loss, the share of the test
	// solves that converged, and the next-state errors on the test
	// demonstrations' pairs and on random pairs (NaN for the LSTM).
	test, converged    float64
	p90                float64 // 90th percentile over the test demonstrations of their imitation loss
	predDemo, predRand float64
	testLast           float64 // test imitation loss at the last epoch
	unconverged        float64 // share of training solves unconverged (planner methods)
	params             int
	seconds            float64
}

// fixedLearner plans with the nominal pendulum: nothing to learn.
type fixedLearner struct{ set ilqr.Settings }

func (fixedLearner) epoch(*rand.Rand) (float64, error) { return math.NaN(), nil }
func (fixedLearner) params() []float64                 { return nil }
func (fixedLearner) setParams([]float64) error         { return nil }
func (f fixedLearner) controls(d *demos) ([]float64, float64, error) {
	p := models.NewPendulum()
	return planControls(p, p.DefaultParams(), d, f.set)
}
func (fixedLearner) adam() *train.Adam { return nil }
func (fixedLearner) model() (models.Dynamics, []float64) {
	p := models.NewPendulum()
	return p, p.DefaultParams()
}

// newLearner sets up method for seed's data.
func newLearner(method string, c *config, d *data, seed uint64) (learner, error) {
	netOf := func(kind string) (*net, error) { return newNet(kind, c.hidden, seed) }
	switch method {
	case mNominal:
		return fixedLearner{c.evalSettings}, nil
	case mHybridDiLQR, mHybridDiLQRX, mHybridDiffMPC, mMLPDiLQR:
		kind, mode := netHybrid, ilqr.Implicit
		if method == mMLPDiLQR {
			kind = netMLP
		}
		if method == mHybridDiffMPC {
			mode = ilqr.FixedPoint
		}
		nt, err := netOf(kind)
		if err != nil {
			return nil, err
		}
		wx := 0.0
		if method == mHybridDiLQRX {
			wx = c.wx
		}
		return newPlannerLearner(nt, d.train, c.batch, mode, wx, c)
	case mHybridSysID, mMLPSysID:
		kind := netHybrid
		if method == mMLPSysID {
			kind = netMLP
		}
		nt, err := netOf(kind)
		if err != nil {
			return nil, err
		}
		return newSysidLearner(nt, d.train, c)
	case mLSTM:
		return newPolicyLearner(d.train, c.batch, c, seed)
	}
	return nil, fmt.Errorf("unknown method %q", method)
}

// imitationLoss returns mean (Û − U)² of l's controls on d and the share
// of converged solves.
func imitationLoss(l learner, d *demos) (float64, float64, error) {
	per, conv, err := perExample(l, d)
	if err != nil {
		return 0, 0, err
	}
	var sum float64
	for _, v := range per {
		sum += v
	}
	return sum / float64(len(per)), conv, nil
}

// perExample returns the imitation loss of every demonstration of d, mean
// over its T·M controls of (Û − U)², and the share of converged solves.
func perExample(l learner, d *demos) ([]float64, float64, error) {
	u, conv, err := l.controls(d)
	if err != nil {
		return nil, 0, err
	}
	k := d.t * m
	per := make([]float64, d.b)
	for b := range per {
		for i := b * k; i < (b+1)*k; i++ {
			per[b] += (u[i] - d.u[i]) * (u[i] - d.u[i])
		}
		per[b] /= float64(k)
	}
	return per, conv, nil
}

// runOne trains method on seed's data for c.epochs, keeps the parameters
// of the validated epoch (every c.valEvery) with the lowest criterion (the validation imitation loss;
// for system identification its own objective, the validation prediction
// error) and evaluates them on the test demonstrations and pairs.
func runOne(method string, c *config, d *data, seed uint64, log io.Writer) (*outcome, error) {
	start := time.Now()
	l, err := newLearner(method, c, d, seed)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	o := &outcome{method: method, seed: seed, params: len(l.params())}
	epochs := c.epochs
	if method == mNominal {
		epochs = 0
	}
	evalRow := func(epoch int, trainLoss float64) (epochRow, error) {
		r := epochRow{epoch: epoch, train: trainLoss}
		var err error
		if r.val, _, err = imitationLoss(l, d.val); err != nil {
			return r, err
		}
		r.criterion = r.val
		if s, ok := l.(*sysidLearner); ok {
			r.criterion = s.predLoss(d.valPairs, seq(d.valPairs.k), nil)
		}
		return r, nil
	}
	r, err := evalRow(0, math.NaN())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	o.curve = append(o.curve, r)
	best, bestParams := r.criterion, l.params()
	rng := rand.New(rand.NewPCG(seed, 0x7368))
	var lr0 float64
	if a := l.adam(); a != nil {
		lr0 = a.LR
	}
	for e := 1; e <= epochs; e++ {
		if a := l.adam(); a != nil {
			a.LR = lr0 * train.CosineDecay(e, c.epochs, c.lrFinal)
		}
		tl, err := l.epoch(rng)
		if err != nil {
			return nil, fmt.Errorf("%s: epoch %d: %w", method, e, err)
		}
		if e%c.valEvery != 0 && e != epochs {
			o.curve = append(o.curve, epochRow{epoch: e, train: tl, val: math.NaN(), criterion: math.NaN()})
			continue
		}
		if r, err = evalRow(e, tl); err != nil {
			return nil, fmt.Errorf("%s: epoch %d: %w", method, e, err)
		}
		o.curve = append(o.curve, r)
		if r.criterion < best {
			best, bestParams, o.bestEpoch = r.criterion, l.params(), e
		}
		fmt.Fprintf(log, "  %-15s seed %d epoch %3d/%d  train %-9.3g val %-9.3g\n", method, seed, e, epochs, tl, r.val)
	}
	if o.testLast, _, err = imitationLoss(l, d.test); err != nil {
		return nil, err
	}
	if err := l.setParams(bestParams); err != nil {
		return nil, err
	}
	per, conv, err := perExample(l, d.test)
	if err != nil {
		return nil, err
	}
	o.converged = conv
	for _, v := range per {
		o.test += v / float64(len(per))
	}
	o.p90 = percentile(per, 0.9)
	o.predDemo, o.predRand = math.NaN(), math.NaN()
	if dyn, theta := l.model(); dyn != nil {
		o.predDemo = modelError(dyn, theta, d.testPairs)
		o.predRand = modelError(dyn, theta, d.randPairs)
	}
	o.unconverged = math.NaN()
	if p, ok := l.(*plannerLearner); ok {
		o.unconverged = p.health.Mean().Unconverged
	}
	o.seconds = time.Since(start).Seconds()
	return o, nil
}

// seq returns 0…k−1.
func seq(k int) []int {
	s := make([]int, k)
	for i := range s {
		s[i] = i
	}
	return s
}

// percentile returns the q-quantile of v (0 < q < 1) by linear
// interpolation between the order statistics; v is sorted in place.
func percentile(v []float64, q float64) float64 {
	slices.Sort(v)
	x := q * float64(len(v)-1)
	i := int(x)
	if i+1 >= len(v) {
		return v[len(v)-1]
	}
	return v[i] + (x-float64(i))*(v[i+1]-v[i])
}
