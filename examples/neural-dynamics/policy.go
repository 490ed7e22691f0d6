package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/dilqr/dilqr/layer"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/train"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// policyGraph is the LSTM policy of train's nn method for one batch size:
// an MLP embeds x₀ (N → H → H, ReLU), an LSTM (width H) reads the
// embedding at each of the T steps and an MLP (H → H → M, ReLU, linear
// output) decodes each hidden state into that step's control. Training
// graphs add the imitation loss and its gradient.
type policyGraph struct {
	g            *G.ExprGraph
	x0, uStar, u *G.Node
	loss         *G.Node // nil for an evaluation graph
	learn        G.Nodes
	vm           G.VM
}

// newPolicyGraph builds the policy for batch b and horizon t with weights
// drawn from seed (the same seed gives the same initial weights at every
// batch size).
func newPolicyGraph(b, t, hidden int, seed uint64, withLoss bool) (*policyGraph, error) {
	p := &policyGraph{g: G.NewGraph()}
	p.x0 = G.NewMatrix(p.g, tensor.Float64, G.WithShape(b, n), G.WithName("x0"),
		G.WithValue(tensor.New(tensor.WithShape(b, n), tensor.WithBacking(make([]float64, b*n)))))
	emb, err := layer.NewMLP(p.g, layer.MLPConfig{Sizes: []int{n, hidden, hidden}, Activation: layer.ReLU,
		Seed: seed + 1, Name: "embed"})
	if err != nil {
		return nil, err
	}
	lstm, err := layer.NewLSTM(p.g, layer.LSTMConfig{Input: hidden, Hidden: hidden, Seed: seed + 2, Name: "lstm"})
	if err != nil {
		return nil, err
	}
	dec, err := layer.NewMLP(p.g, layer.MLPConfig{Sizes: []int{hidden, hidden, m}, Activation: layer.ReLU,
		Seed: seed + 3, Name: "decode"})
	if err != nil {
		return nil, err
	}
	e, err := emb.Forward(p.x0)
	if err != nil {
		return nil, err
	}
	hs, err := lstm.Forward(slices.Repeat([]*G.Node{e}, t))
	if err != nil {
		return nil, err
	}
	us := make([]*G.Node, t)
	for i, h := range hs {
		if us[i], err = dec.Forward(h); err != nil {
			return nil, err
		}
	}
	p.u = us[0]
	if t > 1 {
		if p.u, err = G.Concat(1, us...); err != nil {
			return nil, err
		}
	}
	p.learn = slices.Concat(emb.Learnables(), lstm.Learnables(), dec.Learnables())
	if !withLoss {
		p.vm = G.NewTapeMachine(p.g)
		return p, nil
	}
	p.uStar = G.NewMatrix(p.g, tensor.Float64, G.WithShape(b, t*m), G.WithName("u_expert"),
		G.WithValue(tensor.New(tensor.WithShape(b, t*m), tensor.WithBacking(make([]float64, b*t*m)))))
	if p.loss, err = mse(p.u, p.uStar); err != nil {
		return nil, err
	}
	if _, err := G.Grad(p.loss, p.learn...); err != nil {
		return nil, err
	}
	p.vm = G.NewTapeMachine(p.g, G.BindDualValues(p.learn...))
	return p, nil
}

// run sets x0 (and the target on a training graph) and runs the graph.
func (p *policyGraph) run(x0, u []float64) error {
	return train.RunGraph(p.vm, train.Input{Node: p.x0, Values: x0}, train.Input{Node: p.uStar, Values: u})
}

// policyLearner trains the LSTM policy on the imitation loss with Adam.
type policyLearner struct {
	train  *demos
	b      int
	hidden int
	seed   uint64
	tr     *policyGraph
	evals  map[int]*policyGraph // by batch size
	opt    *train.Adam
}

func newPolicyLearner(tr *demos, b int, c *config, seed uint64) (*policyLearner, error) {
	g, err := newPolicyGraph(b, tr.t, c.lstmHidden, seed, true)
	if err != nil {
		return nil, err
	}
	return &policyLearner{train: tr, b: b, hidden: c.lstmHidden, seed: seed, tr: g,
		evals: map[int]*policyGraph{}, opt: &train.Adam{LR: c.lrLSTM}}, nil
}

func (p *policyLearner) epoch(rng *rand.Rand) (float64, error) {
	return batches(rng, p.train.b, p.b, p.step)
}

func (p *policyLearner) step(idx []int) (float64, error) {
	d := p.train.pick(idx)
	if err := p.tr.run(d.x0, d.u); err != nil {
		return 0, err
	}
	l, err := train.Scalar(p.tr.loss.Value())
	if err != nil {
		return 0, err
	}
	if math.IsNaN(l) || math.IsInf(l, 0) {
		return 0, fmt.Errorf("loss is %v", l)
	}
	return l, p.opt.Step(G.NodesToValueGrads(p.tr.learn))
}

func (p *policyLearner) params() []float64 {
	var out []float64
	for _, nd := range p.tr.learn {
		v, _ := train.Float64s(nd.Value())
		out = append(out, v...)
	}
	return out
}

func (p *policyLearner) setParams(v []float64) error { return setNodes(p.tr.learn, v) }

// setNodes copies the flat parameters v into the nodes, in order.
func setNodes(nodes G.Nodes, v []float64) error {
	off := 0
	for _, nd := range nodes {
		d, err := train.Float64s(nd.Value())
		if err != nil {
			return err
		}
		if off+len(d) > len(v) {
			return fmt.Errorf("%d parameters for more nodes", len(v))
		}
		copy(d, v[off:off+len(d)])
		off += len(d)
	}
	if off != len(v) {
		return fmt.Errorf("%d parameters for %d node entries", len(v), off)
	}
	return nil
}

func (p *policyLearner) controls(d *demos) ([]float64, float64, error) {
	g, ok := p.evals[d.b]
	if !ok {
		var err error
		if g, err = newPolicyGraph(d.b, d.t, p.hidden, p.seed, false); err != nil {
			return nil, 0, err
		}
		p.evals[d.b] = g
	}
	if err := setNodes(g.learn, p.params()); err != nil {
		return nil, 0, err
	}
	if err := g.run(d.x0, nil); err != nil {
		return nil, 0, err
	}
	u, err := train.Float64s(g.u.Value())
	if err != nil {
		return nil, 0, err
	}
	return slices.Clone(u), math.NaN(), nil // no planner, no solves
}

func (p *policyLearner) model() (models.Dynamics, []float64) { return nil, nil }

func (p *policyLearner) adam() *train.Adam { return p.opt }
