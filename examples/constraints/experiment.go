package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/dilqr/dilqr/op/ilqr"
	"github.com/dilqr/dilqr/train"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The methods, in table order. The first two are references, not trained.
const (
	mInit       = "init.psi"    // the constrained planner at the first guess of ψ
	mUncon      = "no-limit"    // the planner without the constraint, true cost
	mDiLQRPsi   = "dilqr.psi"   // (a) learns ψ, exact implicit gradient
	mDiffMPCPsi = "diffmpc.psi" // (b) learns ψ, fixed-point gradient
	mDiLQRCost  = "dilqr.cost"  // (c) no constraint, learns the cost (q, p), exact gradient
)

// allMethods lists the methods in table order.
var allMethods = []string{mInit, mUncon, mDiLQRPsi, mDiffMPCPsi, mDiLQRCost}

// trained reports whether method learns anything.
func trained(method string) bool { return method != mInit && method != mUncon }

// config is the whole experiment.
type config struct {
	seeds        []uint64
	tasks        []string
	methods      []string
	ntrain       int
	ntest        int
	epochs       int
	lrFinal      float64 // the learning rates fall by a cosine to this fraction
	vehicleGuess []float64
	trackGuess   float64
	restarts     int // first guesses per constraint learner: the given one, then drawn
	trainSetting ilqr.Settings
}

// trainSettings are the learners' solver settings: from zero controls
// (as the expert and the evaluation), Newton steps, stationary to 1e-7
// (1e-6 when the cost stops changing), violation within 1e-7.
var trainSettings = ilqr.Settings{MaxIter: 500, Newton: true, TolGrad: 1e-7, TolGradLoose: 1e-6, TolViolation: 1e-7}

// data is one problem's demonstrations for one seed.
type data struct {
	train, test *demos
	rejected    int
}

// setup returns the named problem with c's first guesses.
func (c *config) setup(name string) (*setup, error) {
	s, err := newSetup(name)
	if err != nil {
		return nil, err
	}
	switch {
	case name == taskVehicle && c.vehicleGuess != nil:
		s.initK = slices.Clone(c.vehicleGuess)
	case name == taskCartpole && c.trackGuess > 0:
		s.initK = []float64{c.trackGuess}
	}
	return s, nil
}

// makeData draws seed's training and held-out starts (PCG streams
// (seed, 1) and (seed, 2)) and solves them with the expert.
func makeData(s *setup, c *config, seed uint64) (*data, error) {
	tr, r1, err := collect(s, c.ntrain, rand.New(rand.NewPCG(seed, 1)))
	if err != nil {
		return nil, err
	}
	te, r2, err := collect(s, c.ntest, rand.New(rand.NewPCG(seed, 2)))
	if err != nil {
		return nil, err
	}
	return &data{train: tr, test: te, rejected: r1 + r2}, nil
}

// learner is one method's planner on one problem: what it plans with and
// what it learns, w, which Adam updates.
type learner struct {
	s      *setup
	method string
	sv     *ilqr.Solver
	mode   ilqr.GradMode
	// The constraint methods learn the entries k of ψ (w = k); the cost
	// method learns φ = (q, p) of the task's quadratic cost as
	// w = (log q, p), which keeps q positive.
	psiMethod bool
	w         []float64
	nq        int // length of q
	runs      int // training runs made so far
}

// newLearner returns method's planner at its starting point.
func newLearner(s *setup, method string) (*learner, error) {
	l := &learner{s: s, method: method, mode: ilqr.Implicit}
	task := s.task
	switch method {
	case mInit, mDiLQRPsi, mDiffMPCPsi:
		l.psiMethod = true
		l.w = slices.Clone(s.initK)
		if method == mDiffMPCPsi {
			l.mode = ilqr.FixedPoint
		}
	case mUncon, mDiLQRCost:
		task.Constraint = nil
		phi := task.Cost.DefaultParams()
		l.nq = len(phi) / 2
		l.w = slices.Clone(phi)
		for i := range l.nq {
			if !(phi[i] > 0) {
				return nil, fmt.Errorf("%s: cost weight q_%d = %g is not positive", s.name, i, phi[i])
			}
			l.w[i] = math.Log(phi[i])
		}
	default:
		return nil, fmt.Errorf("unknown method %q", method)
	}
	var err error
	l.sv, err = ilqr.NewSolver(ilqr.Problem{Task: task, T: s.t}, &trainSettings)
	return l, err
}

// k returns the learned constraint entries (nil for the cost method).
func (l *learner) k() []float64 {
	if !l.psiMethod {
		return nil
	}
	return slices.Clone(l.w)
}

// inputs returns the planner's inputs from the starts x0.
func (l *learner) inputs(x0 []float64) ilqr.Inputs {
	if l.psiMethod {
		return ilqr.Inputs{X0: x0, Psi: l.s.psi(l.w)}
	}
	phi := slices.Clone(l.w)
	for i := range l.nq {
		phi[i] = math.Exp(l.w[i])
	}
	return ilqr.Inputs{X0: x0, Phi: phi}
}

// paramGrad writes dL/dw from the per-example gradients g.
func (l *learner) paramGrad(dst []float64, g *ilqr.Grads, b int) {
	clear(dst)
	if l.psiMethod {
		r := len(g.Psi) / b
		for i := range b {
			l.s.psiGrad(dst, g.Psi[i*r:(i+1)*r])
		}
		return
	}
	q := len(g.Phi) / b
	for i := range b {
		for j, v := range g.Phi[i*q : (i+1)*q] {
			dst[j] += v
		}
	}
	for j := range l.nq {
		dst[j] *= math.Exp(l.w[j]) // dL/d log q = q dL/dq
	}
}

// epochRow is one epoch of training (epoch 0: before the first step).
type epochRow struct {
	epoch      int
	loss       float64 // mean training imitation loss at the epoch's parameters
	psiErr     float64 // ‖k − k*‖ (NaN for the cost method)
	unstat     int     // training solves that did not end stationary
	gradZeroed int     // training examples whose gradient was not given (skipped or failed)
	k          []float64
}

// trainer holds the state of one training run.
type trainer struct {
	l      *learner
	d      *demos
	res    ilqr.Result
	grads  ilqr.Grads
	dX, dU []float64
	per    []float64
	g      []float64
	opt    *train.Adam
}

// Adam's decays. With the defaults (0.9, 0.999) the momentum carried the
// cart-pole's one-parameter track limit from 0.8 past the truth to 0.28
// and back, and the long memory of the second moment kept the late steps
// small: after 40 epochs the limit was still 0.012 from the truth. With
// (0.5, 0.9) both problems reach the truth to 1e-5.
const adamBeta1, adamBeta2 = 0.5, 0.9

func newTrainer(l *learner, d *demos, lr float64) *trainer {
	n, m := l.s.dims()
	return &trainer{l: l, d: d, dX: make([]float64, d.b*l.s.t*n), dU: make([]float64, d.b*l.s.t*m),
		per: make([]float64, d.b), g: make([]float64, len(l.w)), opt: &train.Adam{LR: lr, Beta1: adamBeta1, Beta2: adamBeta2}}
}

// step solves the training starts at the current parameters, records the
// row of the epoch, and, when update, takes one Adam step on the mean
// imitation loss through the planner.
func (tr *trainer) step(epoch int, update bool) (epochRow, error) {
	l, d := tr.l, tr.d
	in := l.inputs(d.x0)
	if err := l.sv.Solve(&tr.res, in); err != nil {
		return epochRow{}, err
	}
	row := epochRow{epoch: epoch, psiErr: math.NaN(), k: l.k()}
	if l.psiMethod {
		row.psiErr = l.s.psiError(l.w)
	}
	l.s.imitation(tr.per, tr.dX, tr.dU, tr.res.X, tr.res.U, d)
	for _, v := range tr.per {
		row.loss += v / float64(d.b)
	}
	for _, st := range tr.res.Status {
		if !st.Stationary() {
			row.unstat++
		}
	}
	if !update {
		return row, nil
	}
	if err := l.sv.Gradient(&tr.grads, &tr.res, in, tr.dX, tr.dU, ilqr.GradOptions{Mode: l.mode}); err != nil {
		return row, err
	}
	for _, st := range tr.grads.Status {
		if st != ilqr.GradOK {
			row.gradZeroed++
		}
	}
	l.paramGrad(tr.g, &tr.grads, d.b)
	if err := tr.opt.Step([]G.ValueGrad{sliceVG{l.w, tr.g}}); err != nil {
		return row, err
	}
	if l.psiMethod {
		l.s.project(l.w)
	}
	return row, nil
}

// sliceVG is a parameter vector and its gradient as a gorgonia.ValueGrad,
// for train.Adam.
type sliceVG struct{ w, g []float64 }

func (v sliceVG) Value() G.Value {
	return tensor.New(tensor.WithShape(len(v.w)), tensor.WithBacking(v.w))
}

func (v sliceVG) Grad() (G.Value, error) {
	return tensor.New(tensor.WithShape(len(v.g)), tensor.WithBacking(v.g)), nil
}

// outcome is one run: a problem, a method and a seed.
type outcome struct {
	task, method string
	seed         uint64
	curve        []epochRow
	k            []float64 // the learned constraint entries (nil for the cost method)
	psiErr       float64   // ‖k − k*‖, NaN for the cost method
	centreErr    float64   // vehicle: ‖(c_x, c_y) − true‖
	radiusErr    float64   // vehicle: r − r*
	// On the held-out starts, planned from zero controls with the
	// expert's settings: the imitation loss (mean over starts), the
	// largest violation of the true constraint, the share of
	// trajectories violating it by more than violTol, and the solves that
	// did not end stationary.
	test      float64
	maxViol   float64
	fracViol  float64
	failures  int
	trainFail int // training solves not stationary, summed over epochs
	gradZero  int // training gradients not given, summed over epochs
	restart   int // the first guess the kept run started from (0: the given one)
	testX     []float64
	seconds   float64
}

// violTol is the violation above which a held-out trajectory counts as
// violating the true constraint.
const violTol = 1e-3

// runOne trains method on d (c.epochs full-batch Adam steps, the learning
// rate falling by a cosine to c.lrFinal of its start) and evaluates the
// final parameters on the held-out starts.
func runOne(ctx context.Context, s *setup, method string, c *config, d *data, seed uint64, log io.Writer) (*outcome, error) {
	start := time.Now()
	l, err := newLearner(s, method)
	if err != nil {
		return nil, err
	}
	o := &outcome{task: s.name, method: method, seed: seed}
	if trained(method) {
		restarts := 1
		if l.psiMethod {
			restarts = max(c.restarts, 1)
		}
		// Restart r > 0 starts from a guess drawn from PCG stream
		// (seed, 10+r); the run with the lowest final training loss is
		// kept (the held-out starts play no part in the choice).
		var best *trainRun
		for r := range restarts {
			if r > 0 {
				l.w = s.guess(rand.New(rand.NewPCG(seed, uint64(10+r))))
			}
			run, err := trainFrom(ctx, l, d, c, seed, log)
			if err != nil {
				return nil, err
			}
			if best == nil || run.final() < best.final() {
				best = run
			}
		}
		l.w = best.w
		o.curve, o.trainFail, o.gradZero, o.restart = best.curve, best.trainFail, best.gradZero, best.restart
	}
	o.k = l.k()
	o.psiErr, o.centreErr, o.radiusErr = math.NaN(), math.NaN(), math.NaN()
	if l.psiMethod {
		o.psiErr = s.psiError(o.k)
		if s.name == taskVehicle {
			o.centreErr = math.Hypot(o.k[0]-s.trueK[0], o.k[1]-s.trueK[1])
			o.radiusErr = o.k[2] - s.trueK[2]
		}
	}
	if err := evaluate(o, l, d.test); err != nil {
		return nil, fmt.Errorf("%s %s: held-out: %w", s.name, method, err)
	}
	o.seconds = time.Since(start).Seconds()
	return o, nil
}

// trainRun is one training run of a learner from one first guess.
type trainRun struct {
	restart             int
	curve               []epochRow
	w                   []float64 // the final parameters
	trainFail, gradZero int
}

// final is the run's training loss at its final parameters.
func (r *trainRun) final() float64 { return r.curve[len(r.curve)-1].loss }

// nextRestart numbers l's training runs: 0 for the first.
func (l *learner) nextRestart() int { l.runs++; return l.runs - 1 }

// trainFrom trains l from its current parameters (c.epochs full-batch Adam
// steps, the learning rate falling by a cosine to c.lrFinal of its start).
func trainFrom(ctx context.Context, l *learner, d *data, c *config, seed uint64, log io.Writer) (*trainRun, error) {
	s, method := l.s, l.method
	lr := s.lrPsi
	if !l.psiMethod {
		lr = s.lrCost
	}
	run := &trainRun{restart: l.nextRestart()}
	tr := newTrainer(l, d.train, lr)
	for e := 0; e <= c.epochs; e++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if e > 0 {
			tr.opt.LR = lr * train.CosineDecay(e, c.epochs, c.lrFinal)
		}
		row, err := tr.step(e, e < c.epochs)
		if err != nil {
			return nil, fmt.Errorf("%s %s epoch %d: %w", s.name, method, e, err)
		}
		run.curve = append(run.curve, row)
		run.trainFail += row.unstat
		run.gradZero += row.gradZeroed
		fmt.Fprintf(log, "  %s %-11s seed %d start %d epoch %3d  loss %-10.4g ψ error %-8.3g k %.4f  unstationary %d, gradients zeroed %d\n",
			s.name, method, seed, run.restart, e, row.loss, row.psiErr, row.k, row.unstat, row.gradZeroed)
	}
	run.w = slices.Clone(l.w)
	return run, nil
}

// evaluate plans l from the held-out starts with the expert's settings
// from zero controls and fills in o's held-out measures.
func evaluate(o *outcome, l *learner, d *demos) error {
	s := l.s
	task := s.task
	if !l.psiMethod {
		task.Constraint = nil
	}
	sv, err := ilqr.NewSolver(ilqr.Problem{Task: task, T: s.t}, &expertSettings)
	if err != nil {
		return err
	}
	var res ilqr.Result
	if err := sv.Solve(&res, l.inputs(d.x0)); err != nil {
		return err
	}
	per := make([]float64, d.b)
	s.imitation(per, nil, nil, res.X, res.U, d)
	viol := make([]float64, d.b)
	s.violation(viol, res.X, res.U)
	for b := range d.b {
		o.test += per[b] / float64(d.b)
		o.maxViol = max(o.maxViol, viol[b])
		if viol[b] > violTol {
			o.fracViol += 1 / float64(d.b)
		}
		if !res.Status[b].Stationary() {
			o.failures++
		}
	}
	o.testX = slices.Clone(res.X)
	return nil
}

// runAll runs every problem, seed and method of c, printing one line per
// run to stdout (and every epoch to log).
func runAll(ctx context.Context, c *config, stdout, log io.Writer) ([]*outcome, map[string]*data, error) {
	var outs []*outcome
	first := map[string]*data{} // the first seed's data, for the picture
	for _, name := range c.tasks {
		s, err := c.setup(name)
		if err != nil {
			return nil, nil, err
		}
		for _, seed := range c.seeds {
			t0 := time.Now()
			d, err := makeData(s, c, seed)
			if err != nil {
				return nil, nil, fmt.Errorf("%s seed %d: demonstrations: %w", name, seed, err)
			}
			if _, ok := first[name]; !ok {
				first[name] = d
			}
			fmt.Fprintf(stdout, "%s seed %d: %d training and %d held-out demonstrations in %.1f s (%d expert solves rejected)\n",
				name, seed, d.train.b, d.test.b, time.Since(t0).Seconds(), d.rejected)
			for _, method := range c.methods {
				o, err := runOne(ctx, s, method, c, d, seed, log)
				if err != nil {
					return nil, nil, err
				}
				fmt.Fprintf(stdout, "  %-11s k %-26s ψ error %-8s held-out loss %-9.3g max violation %-8.2g violating %3.0f%%  failures %d  (training: %d unstationary, %d gradients zeroed)  %5.1f s\n",
					method, fmtK(o.k), fmtNum(o.psiErr), o.test, o.maxViol, 100*o.fracViol, o.failures, o.trainFail, o.gradZero, o.seconds)
				outs = append(outs, o)
			}
		}
	}
	return outs, first, nil
}

// fmtK formats learned entries, or "–" for none.
func fmtK(k []float64) string {
	if k == nil {
		return "–"
	}
	return fmt.Sprintf("%.3f", k)
}

// fmtNum formats v with 3 significant digits, or "–" for NaN.
func fmtNum(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.3g", v)
}
