package train

import (
	"fmt"
	"slices"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// tensorParam is a learnable vector kept outside any graph: its value and
// gradient are float64 tensors, so it is a gorgonia.ValueGrad that RMSprop,
// Adam and Gorgonia's own solvers can step. Graphs copy the value in before
// a run and add their gradient into it after (see planner.go), so one set
// of parameters serves graphs of several batch sizes.
type tensorParam struct {
	name string
	v, g *tensor.Dense
}

var _ G.ValueGrad = (*tensorParam)(nil)

func newTensorParam(name string, init []float64) *tensorParam {
	n := len(init)
	return &tensorParam{
		name: name,
		v:    tensor.New(tensor.WithShape(n), tensor.WithBacking(slices.Clone(init))),
		g:    tensor.New(tensor.WithShape(n), tensor.WithBacking(make([]float64, n))),
	}
}

// Value implements gorgonia.ValueGrad.
func (p *tensorParam) Value() G.Value { return p.v }

// Grad implements gorgonia.ValueGrad.
func (p *tensorParam) Grad() (G.Value, error) { return p.g, nil }

// Name is the parameter's name (gorgonia's Namer), used in error messages.
func (p *tensorParam) Name() string { return p.name }

func (p *tensorParam) values() []float64 { return p.v.Float64s() }
func (p *tensorParam) grads() []float64  { return p.g.Float64s() }

// setValues copies v into the parameter, checking its length.
func (p *tensorParam) setValues(v []float64) error {
	if len(v) != len(p.values()) {
		return fmt.Errorf("train: parameter %s has %d entries, checkpoint %d", p.name, len(p.values()), len(v))
	}
	copy(p.values(), v)
	return nil
}

// paramSet is an ordered list of tensorParams.
type paramSet []*tensorParam

func (ps paramSet) valueGrads() []G.ValueGrad {
	out := make([]G.ValueGrad, len(ps))
	for i, p := range ps {
		out[i] = p
	}
	return out
}

// snapshot returns copies of the values.
func (ps paramSet) snapshot() [][]float64 {
	out := make([][]float64, len(ps))
	for i, p := range ps {
		out[i] = slices.Clone(p.values())
	}
	return out
}

// restore sets the values from a snapshot.
func (ps paramSet) restore(v [][]float64) error {
	if len(v) != len(ps) {
		return fmt.Errorf("train: %d parameter tensors, checkpoint has %d", len(ps), len(v))
	}
	for i, p := range ps {
		if err := p.setValues(v[i]); err != nil {
			return err
		}
	}
	return nil
}

func (ps paramSet) zeroGrads() {
	for _, p := range ps {
		clear(p.grads())
	}
}
