package unrolled

import (
	"maps"
	"math"
	"testing"

	"github.com/dilqr/dilqr/models"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// indexInputs adds the x0, θ and φ inputs of c to a new graph, and, when
// used is set, two nodes that consume x0, so that Gorgonia has entries of
// its own in its ID index before Build; with removed, it then removes the
// last of them, so that IDs are no longer positions.
func indexInputs(c testCase, used, removed bool) (g *G.ExprGraph, x0, th, ph *G.Node) {
	bs, n, _, p, q := c.dims()
	g = G.NewGraph()
	x0 = G.NewTensor(g, tensor.Float64, 2, G.WithShape(bs, n), G.WithName("x0"), G.WithValue(denseOf([]int{bs, n}, c.x0)))
	th = G.NewTensor(g, tensor.Float64, 1, G.WithShape(p), G.WithName("theta"), G.WithValue(denseOf([]int{p}, c.theta)))
	ph = G.NewTensor(g, tensor.Float64, 1, G.WithShape(q), G.WithName("phi"), G.WithValue(denseOf([]int{q}, c.phi)))
	if used || removed {
		last := G.Must(G.Sin(G.Must(G.Add(x0, x0))))
		if removed {
			g.RemoveNode(last)
		}
	}
	return g, x0, th, ph
}

// gorgoniaOnlyIndex builds c as Build does but without the index and
// returns the ID index that Gorgonia then holds by itself (or the error of
// the build, with the index as it is after it).
func gorgoniaOnlyIndex(t *testing.T, c testCase, step models.Step[GraphScalar], iters int, used, removed bool) (map[int64]int, error) {
	t.Helper()
	_, x0, th, ph := indexInputs(c, used, removed)
	b, err := newBuilder(x0, th, ph, Config{Problem: c.problem(), Step: step, Iters: iters})
	if err != nil {
		t.Fatal(err)
	}
	b.build()
	return byIDSnapshot(x0.Graph()), b.err
}

// checkIndex fails unless every entry of g's ID index maps the ID of a
// node of g to its position.
func checkIndex(t *testing.T, g *G.ExprGraph) {
	t.Helper()
	all := g.AllNodes()
	for id, pos := range byIDSnapshot(g) {
		if pos < 0 || pos >= len(all) || all[pos].ID() != id {
			t.Errorf("the index maps ID %d to position %d, which does not hold it (%d nodes)", id, pos, len(all))
			return
		}
	}
}

// TestGraphIndex guards the one place where the package writes into
// Gorgonia's private state. It fails loudly when the index cannot switch
// itself on (after a Gorgonia upgrade changed ExprGraph's layout, building
// an unrolled graph would silently become quadratic in its size again), and
// checks that the index is on for a whole build, that after Build (on
// success and on error) Gorgonia's map holds exactly what Gorgonia would
// have put there by itself, and that a node removed after Build does not
// make later lookups resolve wrongly.
func TestGraphIndex(t *testing.T) {
	c := uprightCase(6)
	if x := newGraphIndex(G.NewGraph()); x.off != "" {
		t.Fatalf("the node index is off on a new graph: %s. Gorgonia's ExprGraph layout changed; "+
			"building unrolled graphs is quadratic in their size until unrolled_index.go is adapted", x.off)
	}
	if byIDSnapshot(G.NewGraph()) == nil {
		t.Fatal("cannot read gorgonia.ExprGraph.byID")
	}

	t.Run("on for a whole build", func(t *testing.T) {
		g, x0, th, ph := indexInputs(c, true, false)
		before := len(g.AllNodes())
		b, err := newBuilder(x0, th, ph, Config{Problem: c.problem(), Step: c.step, Iters: 3})
		if err != nil {
			t.Fatal(err)
		}
		b.index = newGraphIndex(g)
		defer b.index.release()
		b.build()
		if b.err != nil {
			t.Fatal(b.err)
		}
		n := len(g.AllNodes())
		if b.index.off != "" {
			t.Fatalf("the node index switched itself off during the build: %s", b.index.off)
		}
		if added := n - before; added < 500 || b.index.upTo < n || len(b.index.entered) < added {
			t.Fatalf("%d nodes added, index filled up to ID %d with %d entries", added, b.index.upTo, len(b.index.entered))
		}
	})

	for _, used := range []bool{false, true} {
		want, err := gorgoniaOnlyIndex(t, c, c.step, 2, used, false)
		if err != nil {
			t.Fatal(err)
		}
		g, x0, th, ph := indexInputs(c, used, false)
		out, err := Build(x0, th, ph, Config{Problem: c.problem(), Step: c.step, Iters: 2})
		if err != nil {
			t.Fatal(err)
		}
		if got := byIDSnapshot(g); !maps.Equal(got, want) {
			t.Errorf("prior nodes used %t: after Build the index has %d entries, Gorgonia alone makes %d", used, len(got), len(want))
		}
		checkIndex(t, g)
		// Remove an early node, then add one: Gorgonia must find the new
		// node by its ID (an entry i → i left for a future ID would point
		// past the end).
		g.RemoveNode(g.AllNodes()[1])
		y := G.Must(G.Neg(out))
		if found := g.Node(y.ID()); found != y {
			t.Errorf("prior nodes used %t: after RemoveNode, node ID %d resolves to %v, want %v", used, y.ID(), found, y)
		}
	}

	t.Run("error during the build", func(t *testing.T) {
		// A step that works on constants (Build checks it at one point)
		// but fails on graph values, after Build has added nodes.
		step := func(next, x, u, theta []GraphScalar) {
			if math.IsNaN(x[0].Value()) {
				panic("this step needs values")
			}
			models.PendulumStep(next, x, u, theta)
		}
		want, err := gorgoniaOnlyIndex(t, c, step, 2, true, false)
		if err == nil {
			t.Fatal("setup: no error")
		}
		g, x0, th, ph := indexInputs(c, true, false)
		before := len(g.AllNodes())
		if _, err := Build(x0, th, ph, Config{Problem: c.problem(), Step: step, Iters: 2}); err == nil {
			t.Fatal("no error")
		}
		if len(g.AllNodes()) == before {
			t.Fatal("setup: the failing build added no nodes")
		}
		if got := byIDSnapshot(g); !maps.Equal(got, want) {
			t.Errorf("after a failed Build the index has %d entries, Gorgonia alone makes %d", len(got), len(want))
		}
		checkIndex(t, g)
	})

	t.Run("off after a removal, still correct", func(t *testing.T) {
		// Gorgonia's own entries go stale after a removal (RemoveNode
		// does not update them); the index must add nothing to that.
		want, err := gorgoniaOnlyIndex(t, c, c.step, 1, true, true)
		if err != nil {
			t.Fatal(err)
		}
		g, x0, th, ph := indexInputs(c, true, true)
		if x := newGraphIndex(g); x.off == "" {
			t.Error("the index is on in a graph whose IDs are no longer positions")
		}
		out, err := Build(x0, th, ph, Config{Problem: c.problem(), Step: c.step, Iters: 1})
		if err != nil {
			t.Fatal(err)
		}
		if got := byIDSnapshot(g); !maps.Equal(got, want) {
			t.Errorf("the index has %d entries, Gorgonia alone makes %d", len(got), len(want))
		}
		for _, n := range []*G.Node{out, x0, th, ph} {
			if g.Node(n.ID()) != n {
				t.Errorf("node %v not found by its ID", n)
			}
		}
	})
}
