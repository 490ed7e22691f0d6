package unrolled

import (
	"fmt"
	"reflect"
	"unsafe"

	G "gorgonia.org/gorgonia"
)

// This file is the only place where the package reaches into Gorgonia's
// unexported state (with reflect and unsafe). It does so because Gorgonia
// v0.9.18 makes building a graph quadratic in its size, and Build makes
// graphs of 10⁵ nodes; see graphIndex. TestGraphIndex fails when the index
// cannot switch itself on (a Gorgonia release with another layout), and
// checks that it leaves the graph as it found it.

// indexAhead is how many future node IDs graphIndex enters at a time.
const indexAhead = 4096

// graphIndex keeps Gorgonia's node-ID index filled ahead of the graph's
// growth while Build adds nodes, so that building takes time linear in
// the graph's size, and empties it again (release) before Build returns.
//
// Gorgonia v0.9.18 looks a node up by ID through a cache (the private
// field ExprGraph.byID, ID → position in the node list) that it fills only
// by a linear scan on a miss (graph.go: ExprGraph.node). Every new node
// misses once, when its edges are set, so building n nodes costs O(n²):
// about 70 s for the 10 × 300 pendulum graph. A graph that never removed a
// node gives node i the ID i (ExprGraph.addToAll: the ID is a counter, the
// position the list's length), so the cache can be filled in advance with
// i → i; lookups of IDs beyond the node list still find nothing (node
// returns nil for a position past the end), exactly as the scan would.
//
// The entries for future IDs are right only while no node is removed: a
// later RemoveNode shifts the node list, and an entry i → i would then
// resolve ID i to the wrong node, or to none. So the index remembers every
// key it entered and release deletes them all, leaving the map as it was
// before Build (Gorgonia refills what it needs by its scan). Keys already
// present are left alone.
//
// The index checks its invariant before it starts (node IDs are positions
// and the ID counter is the node count) and on every node added since the
// previous fill; it switches itself off, recording why in off, when that
// does not hold (nodes were removed from the graph before) or when the
// private fields are not what it expects (another Gorgonia). Lookups then
// fall back to Gorgonia's scan, which is slower but equally correct.
type graphIndex struct {
	g       *G.ExprGraph
	byID    *map[int64]int // Gorgonia's ExprGraph.byID
	upTo    int            // IDs below upTo have been considered
	entered []int64        // keys this index added to byID
	off     string         // why the index is off; "" while it is on
}

// newGraphIndex returns an index for g, switched off (with the reason in
// off) when g's layout or state does not allow one.
func newGraphIndex(g *G.ExprGraph) *graphIndex {
	x := &graphIndex{g: g}
	v := reflect.ValueOf(g).Elem()
	f := v.FieldByName("byID")
	if !f.IsValid() || f.Type() != reflect.TypeFor[map[int64]int]() || !f.CanAddr() {
		x.off = "gorgonia.ExprGraph has no field byID of type map[int64]int"
		return x
	}
	c := v.FieldByName("counter")
	if !c.IsValid() || c.Kind() != reflect.Uint {
		x.off = "gorgonia.ExprGraph has no unsigned field counter"
		return x
	}
	all := g.AllNodes()
	if c.Uint() != uint64(len(all)) {
		x.off = fmt.Sprintf("the graph's ID counter is %d with %d nodes (nodes were removed)", c.Uint(), len(all))
		return x
	}
	for i, n := range all {
		if n.ID() != int64(i) {
			x.off = fmt.Sprintf("node %d has ID %d (nodes were removed)", i, n.ID())
			return x
		}
	}
	x.byID = (*map[int64]int)(unsafe.Pointer(f.UnsafeAddr()))
	if *x.byID == nil {
		x.off = "gorgonia.ExprGraph.byID is nil"
		x.byID = nil
	}
	return x
}

// extend enters the next indexAhead IDs when fewer than half remain.
func (x *graphIndex) extend() {
	if x == nil || x.off != "" {
		return
	}
	all := x.g.AllNodes()
	if len(all)+indexAhead/2 < x.upTo {
		return
	}
	// Nodes added since the last fill must have their positions as IDs.
	for i := max(x.upTo-indexAhead, 0); i < len(all); i++ {
		if all[i].ID() != int64(i) {
			x.off = fmt.Sprintf("node %d has ID %d", i, all[i].ID())
			x.release()
			return
		}
	}
	m := *x.byID
	hi := len(all) + indexAhead
	for id := x.upTo; id < hi; id++ {
		if _, ok := m[int64(id)]; ok {
			continue
		}
		m[int64(id)] = id
		x.entered = append(x.entered, int64(id))
	}
	x.upTo = hi
}

// release deletes every key the index entered, leaving Gorgonia's map as
// it was before, and stops further fills. It is safe to call on a nil
// index and more than once.
func (x *graphIndex) release() {
	if x == nil {
		return
	}
	if x.byID != nil {
		m := *x.byID
		for _, id := range x.entered {
			delete(m, id)
		}
	}
	x.entered = nil
	if x.off == "" {
		x.off = "released"
	}
}

// byIDSnapshot returns a copy of g's private node-ID index, or nil when g
// has none that this file can read; for tests.
func byIDSnapshot(g *G.ExprGraph) map[int64]int {
	f := reflect.ValueOf(g).Elem().FieldByName("byID")
	if !f.IsValid() || f.Type() != reflect.TypeFor[map[int64]int]() || !f.CanAddr() {
		return nil
	}
	m := *(*map[int64]int)(unsafe.Pointer(f.UnsafeAddr()))
	out := make(map[int64]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
