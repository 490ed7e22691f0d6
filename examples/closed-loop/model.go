package main

import (
	"fmt"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/layer"
	"github.com/dilqr/dilqr/train"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// goalToQuad maps the goal form (w, goal) of length 2k to the quadratic
// cost's (q, p) = (2w², −2w²⊙goal), the map of layer.GoalWeights.
func goalToQuad(v []float64) []float64 {
	k := len(v) / 2
	out := make([]float64, len(v))
	for j := 0; j < k; j++ {
		w2 := v[j] * v[j]
		q := w2 + w2
		out[j], out[k+j] = q, -(q * v[k+j])
	}
	return out
}

// policy returns the closed-loop policy of the trained model in c for
// env: MPC with the learned θ (sysid, diffmpc.dx, dilqr.dx) or the learned
// cost (diffmpc.cost, dilqr.cost) at the epoch of best validation loss,
// the other part true, horizon h; or the nn method's LSTM policy, asked at
// every step for the first control of its sequence from the current state.
func policy(c *train.Checkpoint, env *envs.Env, h int) (envs.Policy, error) {
	m := c.Method
	switch {
	case m == train.NN:
		d := env.Dims()
		return newNNPolicy(d.N, d.M, 1, c.Hidden, 1, c.BestParams)
	case m.LearnsDynamics():
		return envs.NewMPC(env, &envs.MPCConfig{Horizon: h, Theta: c.BestModelParams()})
	case m.LearnsCost():
		return envs.NewMPC(env, &envs.MPCConfig{Horizon: h, Phi: goalToQuad(c.BestModelParams())})
	}
	return nil, fmt.Errorf("no policy for method %s", m)
}

// nnPolicy is the nn method's policy (train's package documentation):
// an MLP (N → H → H, ReLU) embeds the state, an LSTM of width H reads the
// embedding at each of S steps from the zero state, and an MLP (H → H → M,
// ReLU, linear output) decodes each hidden state into a control. Built
// here for a batch of B states; train builds the same layers in the same
// order (train/learner.go, nnBuilder), so the checkpoint's parameter
// tensors load one to one. With S = 1 it computes only the first control
// of the sequence, which is all a closed loop applies: the LSTM's first
// step does not depend on the later ones.
type nnPolicy struct {
	b, n, m, s int
	x0, u      *G.Node
	vm         G.VM
}

// newNNPolicy builds the policy for batch b, sequence length s and width
// hidden, and loads params (the learnable tensors in train's order:
// embedding MLP, LSTM, decoding MLP).
func newNNPolicy(n, m, s, hidden, b int, params [][]float64) (*nnPolicy, error) {
	if hidden < 1 {
		return nil, fmt.Errorf("nn: width %d", hidden)
	}
	g := G.NewGraph()
	x0 := G.NewMatrix(g, tensor.Float64, G.WithShape(b, n), G.WithName("x0"),
		G.WithValue(tensor.New(tensor.WithShape(b, n), tensor.WithBacking(make([]float64, b*n)))))
	emb, err := layer.NewMLP(g, layer.MLPConfig{Sizes: []int{n, hidden, hidden}, Activation: layer.ReLU, Name: "embed"})
	if err != nil {
		return nil, err
	}
	lstm, err := layer.NewLSTM(g, layer.LSTMConfig{Input: hidden, Hidden: hidden, Name: "lstm"})
	if err != nil {
		return nil, err
	}
	dec, err := layer.NewMLP(g, layer.MLPConfig{Sizes: []int{hidden, hidden, m}, Activation: layer.ReLU, Name: "decode"})
	if err != nil {
		return nil, err
	}
	learn := append(append(emb.Learnables(), lstm.Learnables()...), dec.Learnables()...)
	if len(learn) != len(params) {
		return nil, fmt.Errorf("nn: the checkpoint has %d parameter tensors, the policy %d", len(params), len(learn))
	}
	for i, node := range learn {
		d, err := train.Float64s(node.Value())
		if err != nil {
			return nil, err
		}
		if len(d) != len(params[i]) {
			return nil, fmt.Errorf("nn: parameter %d (%s) has %d entries in the checkpoint, %d in the policy", i, node.Name(), len(params[i]), len(d))
		}
		copy(d, params[i])
	}
	e, err := emb.Forward(x0)
	if err != nil {
		return nil, err
	}
	xs := make([]*G.Node, s)
	for i := range xs {
		xs[i] = e
	}
	hs, err := lstm.Forward(xs)
	if err != nil {
		return nil, err
	}
	us := make([]*G.Node, s)
	for i, h := range hs {
		if us[i], err = dec.Forward(h); err != nil {
			return nil, err
		}
	}
	u := us[0]
	if s > 1 {
		if u, err = G.Concat(1, us...); err != nil {
			return nil, err
		}
	}
	return &nnPolicy{b: b, n: n, m: m, s: s, x0: x0, u: u, vm: G.NewTapeMachine(g)}, nil
}

// run computes the controls for the states x (B rows of length N) and
// returns them (B×S×M, aliasing the graph's output).
func (p *nnPolicy) run(x []float64) ([]float64, error) {
	if err := train.RunGraph(p.vm, train.Input{Node: p.x0, Values: x}); err != nil {
		return nil, fmt.Errorf("nn: %w", err)
	}
	return train.Float64s(p.u.Value())
}

// Control implements envs.Policy for a policy built with B = 1: the first
// control of the sequence the network gives for the current state.
func (p *nnPolicy) Control(u, x []float64, _ int) (envs.StepInfo, error) {
	out, err := p.run(x)
	if err != nil {
		return envs.StepInfo{}, err
	}
	copy(u, out[:p.m])
	return envs.StepInfo{}, nil
}
