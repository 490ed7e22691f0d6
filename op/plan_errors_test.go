package op

import (
	"errors"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestPlanScalarNodes: a scalar node as a cost block or as the bounds is
// refused with ErrBadInput naming what it is (a scalar cost block used to
// panic with an index out of range).
func TestPlanScalarNodes(t *testing.T) {
	cfg := OpConfig{Problem: ilqr.Problem{Task: models.PendulumTask(), T: 4}}
	for _, c := range []struct {
		name, says string
		nodes      func(g *G.ExprGraph, x0, th, s *G.Node) Nodes
	}{
		{"scalar cost", "cost block 0 is a scalar", func(g *G.ExprGraph, x0, th, s *G.Node) Nodes {
			return Nodes{X0: x0, Theta: th, Cost: []CostNode{{Node: s}}}
		}},
		{"scalar per-step cost", "cost block 1 is a scalar", func(g *G.ExprGraph, x0, th, s *G.Node) Nodes {
			phi := G.NewVector(g, tensor.Float64, G.WithShape(8), G.WithName("phi"))
			return Nodes{X0: x0, Theta: th, Cost: []CostNode{{Node: phi}, {Node: s, PerStep: true}}}
		}},
		{"scalar bounds", "not scalars", func(g *G.ExprGraph, x0, th, s *G.Node) Nodes {
			phi := G.NewVector(g, tensor.Float64, G.WithShape(8), G.WithName("phi"))
			return Nodes{X0: x0, Theta: th, Cost: []CostNode{{Node: phi}}, Lower: s, Upper: s}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := G.NewGraph()
			x0 := G.NewMatrix(g, tensor.Float64, G.WithShape(2, 3), G.WithName("x0"))
			th := G.NewVector(g, tensor.Float64, G.WithShape(3), G.WithName("theta"))
			s := G.NewScalar(g, tensor.Float64, G.WithName("s"))
			_, err := Plan(c.nodes(g, x0, th, s), cfg)
			if err == nil || !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %v: want ErrBadInput saying %q", err, c.says)
			}
		})
	}
}
