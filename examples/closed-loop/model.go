package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/layer"
	"github.com/dilqr/dilqr/train"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// A trained model as train's checkpoint holds it (train/checkpoint.go:
// one header line "dilqr-train-checkpoint 1 sha256:<hex>" and a JSON
// document). train keeps its reader unexported, so the few fields needed
// here are read by this file: the run's identity, the parameters at the
// epoch of best validation loss and the log, whose rows carry the model
// parameters (θ, or the cost's goal form (w, goal)) of each epoch.

// num is a float64 in a checkpoint: a JSON number or "NaN", "+Inf", "-Inf".
type num float64

func (f *num) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"NaN"`:
		*f = num(math.NaN())
	case `"+Inf"`:
		*f = num(math.Inf(1))
	case `"-Inf"`:
		*f = num(math.Inf(-1))
	default:
		v, err := strconv.ParseFloat(string(b), 64)
		if err != nil {
			return fmt.Errorf("not a number: %s", b)
		}
		*f = num(v)
	}
	return nil
}

func floats(v []num) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// checkpoint is what this command reads of a train checkpoint.
type checkpoint struct {
	Run struct {
		Env    string `json:"env"`
		Method string `json:"method"`
		NTrain int    `json:"ntrain"`
		Seed   uint64 `json:"seed"`
		Hidden int    `json:"hidden"`
	} `json:"run"`
	Epoch      int     `json:"epoch"`
	BestEpoch  int     `json:"best_epoch"`
	BestParams [][]num `json:"best_params"`
	History    []struct {
		Epoch  int   `json:"epoch"`
		Val    num   `json:"val"`
		Test   num   `json:"test"`
		Params []num `json:"params"`
	} `json:"history"`
}

// readCheckpoint reads and checks the checkpoint file at path.
func readCheckpoint(path string) (*checkpoint, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	head, body, ok := bytes.Cut(raw, []byte("\n"))
	f := strings.Fields(string(head))
	if !ok || len(f) != 3 || f[0] != "dilqr-train-checkpoint" || f[1] != "1" || !strings.HasPrefix(f[2], "sha256:") {
		return nil, fmt.Errorf("%s: not a version 1 train checkpoint", path)
	}
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != strings.TrimPrefix(f[2], "sha256:") {
		return nil, fmt.Errorf("%s: checksum mismatch", path)
	}
	var c checkpoint
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if c.BestEpoch < 0 || c.BestEpoch >= len(c.History) || len(c.BestParams) == 0 {
		return nil, fmt.Errorf("%s: best epoch %d of %d log rows, %d parameter tensors", path, c.BestEpoch, len(c.History), len(c.BestParams))
	}
	if _, err := train.ParseMethod(c.Run.Method); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

// method returns the checkpoint's method.
func (c *checkpoint) method() train.Method { return train.Method(c.Run.Method) }

// bestModelParams returns the model parameters at the best epoch: θ for
// a method that learns the dynamics, the goal form (w, goal) of the cost
// for one that learns the cost.
func (c *checkpoint) bestModelParams() []float64 { return floats(c.History[c.BestEpoch].Params) }

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
// cost (diffmpc.cost, dilqr.cost), the other part true, horizon h; or the
// nn method's LSTM policy, asked at every step for the first control of
// its sequence from the current state.
func (c *checkpoint) policy(env *envs.Env, h int) (envs.Policy, error) {
	m := c.method()
	switch {
	case m == train.NN:
		d := env.Dims()
		return newNNPolicy(d.N, d.M, 1, c.Run.Hidden, 1, bestParams(c))
	case m.LearnsDynamics():
		return envs.NewMPC(env, &envs.MPCConfig{Horizon: h, Theta: c.bestModelParams()})
	case m.LearnsCost():
		return envs.NewMPC(env, &envs.MPCConfig{Horizon: h, Phi: goalToQuad(c.bestModelParams())})
	}
	return nil, fmt.Errorf("no policy for method %s", m)
}

func bestParams(c *checkpoint) [][]float64 {
	out := make([][]float64, len(c.BestParams))
	for i, p := range c.BestParams {
		out[i] = floats(p)
	}
	return out
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
	if err := train.SetInput(p.x0, x); err != nil {
		return nil, err
	}
	p.vm.Reset()
	if err := p.vm.RunAll(); err != nil {
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
