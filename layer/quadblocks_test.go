package layer

import (
	"slices"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op"
	G "gorgonia.org/gorgonia"
)

// quadTask is the pendulum task with its cost as a full quadratic.
func quadTask() models.Task {
	task := models.PendulumTask()
	task.Cost = models.FullFromQuad(task.Cost.(*models.QuadCost))
	return task
}

// TestQuadBlocksGradients plans with a QuadBlocks cost, Q learned (shared,
// and per step) with a cross term between the state and the control, p
// an external node per example and step (a time-varying reference, as a
// network would output), and checks the gradients of every learned node
// against central differences of the re-solved loss.
func TestQuadBlocksGradients(t *testing.T) {
	const b, T, k = 3, 8, 4
	for _, perStep := range []bool{false, true} {
		name := "Q shared"
		if perStep {
			name = "Q per step"
		}
		t.Run(name, func(t *testing.T) {
			g := G.NewGraph()
			q := quadTask().Cost.DefaultParams()[:k*k]
			q[1*k+3], q[3*k+1] = 0.005, 0.005
			q[3*k+3] = 0.02
			ref := fdtest.Normals(71, b*T)
			p := make([]float64, b*T*k)
			for r := range b * T {
				p[r*k] = -1 + 0.05*ref[r]
			}
			pNode := input(t, g, "p", p, b, T, k)
			pl := newPlanner(t, g, quadTask(), ILQRConfig{T: T, Batch: b, Name: "qb",
				Solver:   op.SolverConfig{Settings: &gradTight},
				CostForm: QuadBlocks,
				CostQ:    ParamSpec{Source: Learned, Init: q, PerStep: perStep},
				CostP:    ParamSpec{Source: External, Node: pNode, PerExample: true, PerStep: true}})
			qNode, _ := pl.CostBlocks()
			if len(pl.Params()) != 1 {
				t.Fatalf("%d learnable parameters, want Q only", len(pl.Params()))
			}
			x0 := input(t, g, "x0", slices.Concat(fdtest.AngleState(0.2, 0), fdtest.AngleState(-0.15, 0.1),
				fdtest.AngleState(0.1, -0.1)), b, 3)
			x, u := plan(t, pl, x0)
			worst := checkPlanFD(t, g, pl, x, u, G.Nodes{pl.Params()[0].Node, pNode}, 73, 0)
			t.Logf("worst relative error %.2e (Q node %v)", worst, qNode.Shape())
		})
	}
}

// TestBoundNodesGradients plans with per-step bounds given as nodes, tight
// enough that some controls sit on them, and checks their gradients (and
// x0's) against central differences of the re-solved loss.
func TestBoundNodesGradients(t *testing.T) {
	const b, T = 2, 8
	g := G.NewGraph()
	lo, hi := make([]float64, T), make([]float64, T)
	for s := range T {
		lo[s], hi[s] = -0.8-0.02*float64(s), 0.8+0.03*float64(s)
	}
	lower, upper := input(t, g, "lower", lo, T, 1), input(t, g, "upper", hi, T, 1)
	pl := newPlanner(t, g, models.PendulumTask(), ILQRConfig{T: T, Batch: b, Name: "bd",
		Solver: op.SolverConfig{Settings: &gradTight}, Lower: lower, Upper: upper})
	x0 := input(t, g, "x0", pendulumStarts(74, b), b, 3)
	x, u := plan(t, pl, x0)
	var uv G.Value
	G.Read(u, &uv)
	r := newTapeRun(t, g, weightedLoss(t, g, x, u, 75), G.Nodes{lower, upper, x0}, pl)
	r.run(t, true)
	active := 0
	for i, v := range floats(t, uv) {
		if v <= lo[i%T] || v >= hi[i%T] {
			active++
		}
	}
	if active == 0 || active == b*T {
		t.Fatalf("%d of %d controls on a bound: want some, not all", active, b*T)
	}
	t.Logf("%d of %d controls on a bound; worst relative error %.2e", active, b*T, checkFD(t, r))
}
