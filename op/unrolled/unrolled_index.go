package unrolled

import (
	"reflect"
	"unsafe"

	G "gorgonia.org/gorgonia"
)

// indexAhead is how many future node IDs graphIndex enters at a time.
const indexAhead = 4096

// graphIndex keeps Gorgonia's node-ID index filled ahead of the graph's
// growth, so that building an unrolled graph takes time linear in its size.
//
// Gorgonia v0.9.18 looks a node up by ID through a cache
// (ExprGraph.byID, ID → position in the node list) that it fills only by a
// linear scan on a miss (graph.go: ExprGraph.node). Every new node misses
// once, when its edges are set, so building n nodes costs O(n²): about
// 70 s for the 10 × 300 pendulum graph. A graph that never removes nodes
// gives node i the ID i (ExprGraph.addToAll), so the cache can be filled
// in advance with i → i; lookups of IDs beyond the node list still find
// nothing (node returns nil for a position past the end), exactly as the
// scan would. The index checks that invariant on the existing nodes before
// each fill and switches itself off when it does not hold, or when the
// field is not the map it expects (a different Gorgonia); lookups then
// fall back to Gorgonia's scan, which is slower but equally correct.
type graphIndex struct {
	g    *G.ExprGraph
	byID *map[int64]int
	upTo int // IDs below upTo are entered
	off  bool
}

func newGraphIndex(g *G.ExprGraph) *graphIndex {
	x := &graphIndex{g: g}
	f := reflect.ValueOf(g).Elem().FieldByName("byID")
	if !f.IsValid() || f.Type() != reflect.TypeFor[map[int64]int]() || !f.CanAddr() {
		x.off = true
		return x
	}
	x.byID = (*map[int64]int)(unsafe.Pointer(f.UnsafeAddr()))
	for i, n := range g.AllNodes() {
		if n.ID() != int64(i) {
			x.off = true
			return x
		}
	}
	return x
}

// extend enters the next indexAhead IDs when fewer than half remain.
func (x *graphIndex) extend() {
	if x == nil || x.off {
		return
	}
	all := x.g.AllNodes()
	if len(all)+indexAhead/2 < x.upTo {
		return
	}
	// Nodes added since the last fill must have their positions as IDs.
	for i := max(x.upTo-indexAhead, 0); i < len(all); i++ {
		if all[i].ID() != int64(i) {
			x.off = true
			return
		}
	}
	if *x.byID == nil {
		x.off = true
		return
	}
	hi := len(all) + indexAhead
	for id := x.upTo; id < hi; id++ {
		(*x.byID)[int64(id)] = id
	}
	x.upTo = hi
}
