package main

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/dilqr/dilqr/layer"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op"
	"github.com/dilqr/dilqr/op/ilqr"
	"github.com/dilqr/dilqr/train"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// learner is one method being trained: an optimizer step on a minibatch
// of training demonstrations, its parameters as one flat vector (to keep
// the best epoch's), and what the evaluation needs.
type learner interface {
	// epoch takes one pass over the training data in an order drawn from
	// rng and returns the mean minibatch loss (each before its step).
	epoch(rng *rand.Rand) (float64, error)
	// params returns a copy of the parameters; setParams restores them.
	params() []float64
	setParams(p []float64) error
	// controls returns the controls the method gives from the initial
	// states of d (B×T×M) and the share of planner solves that converged
	// (NaN for the policy, which has none).
	controls(d *demos) ([]float64, float64, error)
	// model returns the learned dynamics and θ_all, or nil for the policy.
	model() (models.Dynamics, []float64)
	// adam returns the optimizer, whose learning rate the schedule sets
	// before every epoch; nil when nothing is learned.
	adam() *train.Adam
}

// net is a network dynamics model with its fixed physics parameters: θ_all
// = (base, w), base the nominal pendulum's (10, 1, 1) for the residual
// network and empty for the passthrough MLP, whose weights w are learned.
type net struct {
	dyn  *models.NeuralDynamics
	base []float64
	w0   []float64 // the initial weights
}

// newNet returns the hybrid (residual on the nominal pendulum) or the
// passthrough MLP, hidden layers of tanh, weights drawn with seed (the
// models' default initialisation). The hybrid's output layer starts at
// zero, so that it starts as the nominal pendulum: with the default
// output layer (Xavier-uniform scaled by 0.1) the untrained residual of
// 32 units moves ω by about 0.1 rad/s per step, as much as a third of the
// largest torque does, and on seed 3 its plans started at a validation
// imitation loss of 3.1 against the nominal model's 0.075 and never
// recovered through the planner (0.8 after 60 epochs).
func newNet(kind string, hidden []int, seed uint64) (*net, error) {
	switch kind {
	case netHybrid:
		pend := models.NewPendulum()
		d, err := models.NewResidualDynamics(pend, hidden, models.Tanh, seed)
		if err != nil {
			return nil, err
		}
		nt := &net{dyn: d, base: pend.DefaultParams()}
		nt.w0 = d.DefaultParams()[len(nt.base):]
		sizes := d.Layers()
		in, out := sizes[len(sizes)-2], sizes[len(sizes)-1]
		clear(nt.w0[len(nt.w0)-out*(in+1):]) // W_L and b_L, the last entries
		return nt, nil
	case netMLP:
		d, err := models.NewMLPDynamics(n, m, hidden, models.Tanh, true, seed)
		if err != nil {
			return nil, err
		}
		return &net{dyn: d, w0: d.DefaultParams()}, nil
	}
	return nil, fmt.Errorf("unknown network %q", kind)
}

// initWeights returns a copy of the initial weights (θ_all without base).
func (nt *net) initWeights() []float64 { return slices.Clone(nt.w0) }

// theta returns θ_all = (base, w).
func (nt *net) theta(w []float64) []float64 { return slices.Concat(nt.base, w) }

// planControls plans from the initial states of d with the model dyn at
// θ and the pendulum's cost and bounds, and returns the controls and the
// share of solves that converged.
func planControls(dyn models.Dynamics, theta []float64, d *demos, set ilqr.Settings) ([]float64, float64, error) {
	task := models.PendulumTask()
	task.Dynamics = dyn
	res, err := ilqr.Solve(ilqr.Problem{Task: task, T: d.t}, ilqr.Inputs{X0: d.x0, Theta: theta}, &set)
	if err != nil {
		return nil, 0, err
	}
	conv := 0
	for _, s := range res.Status {
		if s.Stationary() {
			conv++
		}
	}
	return res.U, float64(conv) / float64(d.b), nil
}

// plannerLearner trains a network's weights through the planner
// (layer.ILQR with θ External: the fixed base concatenated with the
// learned weights), on the imitation loss mean (U − U*)² plus wx times
// mean (X − X*)², with the implicit or the fixed-point gradient.
type plannerLearner struct {
	nt        *net
	train     *demos
	b         int
	g         *G.ExprGraph
	x0, uStar *G.Node
	xStar     *G.Node // nil when wx = 0
	w         *G.Node
	loss      *G.Node
	pl        *layer.ILQR
	vm        G.VM
	opt       *train.Adam
	evalSet   ilqr.Settings
	health    layer.HealthMean
}

// newPlannerLearner builds the training graph for minibatches of b, with
// the states in the loss at weight wx when wx > 0.
func newPlannerLearner(nt *net, tr *demos, b int, mode ilqr.GradMode, wx float64, c *config) (*plannerLearner, error) {
	p := &plannerLearner{nt: nt, train: tr, b: b, g: G.NewGraph(), opt: &train.Adam{LR: c.lrPlanner}, evalSet: c.evalSettings}
	in := func(name string, shape ...int) *G.Node {
		k := 1
		for _, s := range shape {
			k *= s
		}
		return G.NewTensor(p.g, tensor.Float64, len(shape), G.WithShape(shape...), G.WithName(name),
			G.WithValue(tensor.New(tensor.WithShape(shape...), tensor.WithBacking(make([]float64, k)))))
	}
	p.x0 = in("x0", b, n)
	p.uStar = in("u_expert", b, tr.t, m)
	w0 := nt.initWeights()
	p.w = G.NewVector(p.g, tensor.Float64, G.WithShape(len(w0)), G.WithName("net.w"),
		G.WithValue(tensor.New(tensor.WithShape(len(w0)), tensor.WithBacking(w0))))
	theta := p.w
	if len(nt.base) > 0 {
		base := G.NewVector(p.g, tensor.Float64, G.WithShape(len(nt.base)), G.WithName("net.base"),
			G.WithValue(tensor.New(tensor.WithShape(len(nt.base)), tensor.WithBacking(slices.Clone(nt.base)))))
		var err error
		if theta, err = G.Concat(0, base, p.w); err != nil {
			return nil, err
		}
	}
	task := models.PendulumTask()
	task.Dynamics = nt.dyn
	set := c.trainSettings
	pl, err := layer.NewILQR(p.g, task, layer.ILQRConfig{T: tr.t, Batch: b,
		Theta:  layer.ParamSpec{Source: layer.External, Node: theta},
		Solver: op.SolverConfig{Settings: &set, Grad: ilqr.GradOptions{Mode: mode}}})
	if err != nil {
		return nil, err
	}
	p.pl = pl
	x, u, err := pl.Plan(p.x0)
	if err != nil {
		return nil, err
	}
	if p.loss, err = mse(u, p.uStar); err != nil {
		return nil, err
	}
	if wx > 0 {
		p.xStar = in("x_expert", b, tr.t, n)
		lx, err := mse(x, p.xStar)
		if err != nil {
			return nil, err
		}
		if lx, err = G.Mul(lx, G.NewConstant(wx)); err != nil {
			return nil, err
		}
		if p.loss, err = G.Add(p.loss, lx); err != nil {
			return nil, err
		}
	}
	if _, err := G.Grad(p.loss, p.w); err != nil {
		return nil, err
	}
	p.vm = G.NewTapeMachine(p.g, G.BindDualValues(p.w))
	return p, nil
}

// mse adds mean((a − b)²).
func mse(a, b *G.Node) (*G.Node, error) {
	d, err := G.Sub(a, b)
	if err != nil {
		return nil, err
	}
	sq, err := G.Square(d)
	if err != nil {
		return nil, err
	}
	return G.Mean(sq)
}

// epoch takes one optimizer step per minibatch of b demonstrations, in an
// order drawn from rng (a last partial minibatch is left out).
func (p *plannerLearner) epoch(rng *rand.Rand) (float64, error) {
	return batches(rng, p.train.b, p.b, p.step)
}

// batches calls step on the minibatches of size b of a permutation of
// 0…k−1 drawn from rng (a last partial one left out) and returns the mean
// of its results.
func batches(rng *rand.Rand, k, b int, step func(idx []int) (float64, error)) (float64, error) {
	perm := rng.Perm(k)
	var sum float64
	steps := 0
	for lo := 0; lo+b <= k; lo += b {
		l, err := step(perm[lo : lo+b])
		if err != nil {
			return 0, err
		}
		sum += l
		steps++
	}
	return sum / float64(steps), nil
}

// step takes one Adam step on the training demonstrations idx and returns
// the minibatch loss before it.
func (p *plannerLearner) step(idx []int) (float64, error) {
	d := p.train.pick(idx)
	err := train.RunGraph(p.vm, train.Input{Node: p.x0, Values: d.x0}, train.Input{Node: p.uStar, Values: d.u},
		train.Input{Node: p.xStar, Values: d.x})
	if err != nil {
		return 0, err
	}
	p.health.Add(p.pl.Health())
	l, err := train.Scalar(p.loss.Value())
	if err != nil {
		return 0, err
	}
	if math.IsNaN(l) || math.IsInf(l, 0) {
		return 0, fmt.Errorf("loss is %v", l)
	}
	return l, p.opt.Step(G.NodesToValueGrads(G.Nodes{p.w}))
}

func (p *plannerLearner) params() []float64 {
	w, _ := train.Float64s(p.w.Value())
	return slices.Clone(w)
}

func (p *plannerLearner) setParams(v []float64) error {
	w, err := train.Float64s(p.w.Value())
	if err != nil {
		return err
	}
	copy(w, v)
	return nil
}

func (p *plannerLearner) controls(d *demos) ([]float64, float64, error) {
	return planControls(p.nt.dyn, p.nt.theta(p.params()), d, p.evalSet)
}

func (p *plannerLearner) model() (models.Dynamics, []float64) {
	return p.nt.dyn, p.nt.theta(p.params())
}

// sysidLearner trains a network's weights by next-state prediction: it
// minimises mean ‖f(x_t, u_t; base, w) − x_{t+1}‖² over the transitions of
// the training demonstrations with Adam, the gradient with respect to w by
// the model's own reverse pass (models.ParamContractor with λ = 0), and
// plans with the result.
type sysidLearner struct {
	nt      *net
	pairs   *pairs
	batch   int
	w, grad []float64
	opt     *train.Adam
	evalSet ilqr.Settings
	ev      models.DynamicsEvaluator
	pc      models.ParamContractor
	// scratch
	next, nu, lam, dir, full []float64
}

func newSysidLearner(nt *net, tr *demos, c *config) (*sysidLearner, error) {
	ev := nt.dyn.NewEvaluator()
	pc, ok := ev.(models.ParamContractor)
	if !ok {
		return nil, errors.New("network evaluator without reverse-mode contraction")
	}
	w := nt.initWeights()
	p := nt.dyn.Dims().P
	return &sysidLearner{nt: nt, pairs: tr.transitions(), batch: c.sysidBatch, w: w, grad: make([]float64, len(w)),
		opt: &train.Adam{LR: c.lrSysid}, evalSet: c.evalSettings, ev: ev, pc: pc,
		next: make([]float64, n), nu: make([]float64, n), lam: make([]float64, n),
		dir: make([]float64, n+m), full: make([]float64, p)}, nil
}

// predLoss returns mean ‖f − x′‖² over the transitions idx of p, and with
// grad ≠ nil its gradient with respect to w there.
func (s *sysidLearner) predLoss(p *pairs, idx []int, grad []float64) float64 {
	theta := s.nt.theta(s.w)
	scale := 1 / float64(len(idx)*n)
	clear(s.full)
	var sse float64
	for _, i := range idx {
		x, u := p.x[i*n:(i+1)*n], p.u[i*m:(i+1)*m]
		s.ev.Step(s.next, x, u, theta)
		for j := range n {
			r := s.next[j] - p.next[i*n+j]
			sse += r * r
			s.nu[j] = 2 * r * scale
		}
		if grad != nil {
			s.pc.ContractParams(s.full, s.nu, s.lam, s.dir, x, u, theta)
		}
	}
	if grad != nil {
		copy(grad, s.full[len(s.nt.base):])
	}
	return sse * scale
}

// epoch takes one pass over the transitions in an order drawn from rng,
// in minibatches of s.batch (the last one holds the remainder), and
// returns the mean minibatch loss.
func (s *sysidLearner) epoch(rng *rand.Rand) (float64, error) {
	perm := rng.Perm(s.pairs.k)
	var sum float64
	steps := 0
	for lo := 0; lo < len(perm); lo += s.batch {
		sum += s.predLoss(s.pairs, perm[lo:min(lo+s.batch, len(perm))], s.grad)
		if err := s.opt.Step([]G.ValueGrad{sliceVG{s.w, s.grad}}); err != nil {
			return 0, err
		}
		steps++
	}
	return sum / float64(steps), nil
}

func (s *sysidLearner) params() []float64 { return slices.Clone(s.w) }

func (s *sysidLearner) setParams(v []float64) error {
	copy(s.w, v)
	return nil
}

func (s *sysidLearner) controls(d *demos) ([]float64, float64, error) {
	return planControls(s.nt.dyn, s.nt.theta(s.w), d, s.evalSet)
}

func (s *sysidLearner) model() (models.Dynamics, []float64) { return s.nt.dyn, s.nt.theta(s.w) }

// sliceVG is a parameter vector and its gradient as a gorgonia.ValueGrad,
// for train.Adam.
type sliceVG struct{ w, g []float64 }

func (v sliceVG) Value() G.Value {
	return tensor.New(tensor.WithShape(len(v.w)), tensor.WithBacking(v.w))
}

func (v sliceVG) Grad() (G.Value, error) {
	return tensor.New(tensor.WithShape(len(v.g)), tensor.WithBacking(v.g)), nil
}

func (p *plannerLearner) adam() *train.Adam { return p.opt }
func (s *sysidLearner) adam() *train.Adam   { return s.opt }
