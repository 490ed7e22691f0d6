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
// the graph's size, and takes back (release) before Build returns every
// entry that Gorgonia would not have made itself.
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
// Entries for IDs that no node has yet are right only while no node is
// removed: a later RemoveNode shifts the node list, and the entry i → i
// would then resolve the ID i of a later node to another node, or to none.
// So the index remembers every key it entered, and release deletes those
// Gorgonia would not hold. Gorgonia enters a node when it sets an edge to
// or from it (ExprGraph.SetEdge looks both ends up), so release keeps the
// entries of the nodes that have gained children since the index started
// and of their children, and deletes the rest: the IDs beyond the node
// list, and nodes without such edges. What remains is exactly what
// Gorgonia would have entered by itself while the nodes were added, and
// what the LispMachine's sort and later lookups then find (without those
// entries each lookup would cost a scan, and a run quadratic time). Keys
// that were present before are never touched.
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
	start   int            // the node count when the index started
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
	x.start = len(all)
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
			x.clear(nil) // its entries may be wrong now
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

// release deletes the keys the index entered that Gorgonia would not hold
// (see graphIndex) and stops further fills. It is safe to call on a nil
// index and more than once.
func (x *graphIndex) release() {
	if x == nil {
		return
	}
	if x.off != "" {
		return
	}
	x.off = "released"
	all := x.g.AllNodes()
	for i := x.start; i < len(all); i++ {
		if all[i].ID() != int64(i) { // the entries may be wrong
			x.clear(nil)
			return
		}
	}
	// The nodes added since the start and their children. g.From reads
	// the children; its lookups all hit entries (every ID below upTo has
	// one), so it writes nothing.
	keep := make(map[int64]bool)
	for _, n := range all[x.start:] {
		children := x.g.From(n.ID())
		if children == nil || children.Len() == 0 {
			continue
		}
		keep[n.ID()] = true
		for children.Next() {
			keep[children.Node().ID()] = true
		}
	}
	x.clear(keep)
}

// clear deletes the keys the index entered, except those in keep.
func (x *graphIndex) clear(keep map[int64]bool) {
	if x.byID != nil {
		m := *x.byID
		for _, id := range x.entered {
			if !keep[id] {
				delete(m, id)
			}
		}
	}
	x.entered = nil
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
