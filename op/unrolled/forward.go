package unrolled

import (
	"fmt"

	G "gorgonia.org/gorgonia"
)

// Forward computes the value of the node out (for example a loss on a
// graph made with Build) from the values bound to the graph's inputs and
// constants, running the Ops of out and of all the nodes it depends on in
// Go, on the calling goroutine. It keeps the values in a map of its own,
// so the nodes' values stay as they are (the graph changes only in
// Gorgonia's node-lookup cache, which any lookup fills), and it returns the
// value or the first error an Op returns.
//
// Call it before running a graph with an unrolled part on Gorgonia's
// LispMachine, and do not run the machine when it fails. The LispMachine of
// Gorgonia v0.9.18 does not stop its worker goroutine when a run returns an
// error: the worker goes on with the backward pass while the caller reads
// the nodes (a data race) and then blocks forever on a channel nobody
// reads (vm_genera.go, lispMachine.runall), leaking one goroutine per
// failed run. The Ops of an unrolled graph fail on data only in their
// forward pass (a control that is not finite, see Build) and Forward runs
// the same Ops on the same values, so when it succeeds so does the
// machine's forward pass. (Ops that draw random numbers draw anew.)
//
// Values are dropped as soon as their last consumer has run, so Forward
// holds about as much memory as one forward pass needs at a time.
func Forward(out *G.Node) (v G.Value, err error) {
	defer recoverErr(&err)
	if out == nil || out.Graph() == nil {
		return nil, badInput("Forward: the node is nil or in no graph")
	}
	order, children := forwardOrder(out)
	uses := make(map[*G.Node]int, len(order))
	for _, n := range order {
		for _, c := range children[n] {
			uses[c]++
		}
	}
	vals := make(map[*G.Node]G.Value, len(order))
	for _, n := range order {
		v, err := forwardNode(n, children[n], vals)
		if err != nil {
			return nil, err
		}
		vals[n] = v
		for _, c := range children[n] {
			if uses[c]--; uses[c] == 0 && c != out {
				delete(vals, c)
			}
		}
		delete(children, n)
	}
	return vals[out], nil
}

// forwardOrder returns out and every node it depends on, children before
// their consumers, with each node's children in the order of its Op's
// arguments.
func forwardOrder(out *G.Node) (order G.Nodes, children map[*G.Node]G.Nodes) {
	g := out.Graph()
	children = make(map[*G.Node]G.Nodes)
	type frame struct {
		n    *G.Node
		next int // the next child to visit
	}
	stack := []frame{{n: out}}
	children[out] = childrenOf(g, out)
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		cs := children[top.n]
		if top.next == len(cs) {
			order = append(order, top.n)
			stack = stack[:len(stack)-1]
			continue
		}
		c := cs[top.next]
		top.next++
		if _, seen := children[c]; !seen {
			children[c] = childrenOf(g, c)
			stack = append(stack, frame{n: c})
		}
	}
	return order, children
}

// childrenOf returns the children of n in g, in order (duplicates kept).
func childrenOf(g *G.ExprGraph, n *G.Node) G.Nodes {
	it := g.From(n.ID())
	if it == nil {
		return G.Nodes{} // non-nil: marks n as visited
	}
	cs := make(G.Nodes, 0, it.Len())
	for it.Next() {
		cs = append(cs, it.Node().(*G.Node))
	}
	return cs
}

// forwardNode computes the value of n from the values of its children.
func forwardNode(n *G.Node, children G.Nodes, vals map[*G.Node]G.Value) (G.Value, error) {
	if len(children) == 0 {
		if v := n.Value(); v != nil {
			return v, nil // an input or a constant
		}
		if n.Op() == nil {
			return nil, badInput("Forward: input %v has no value", n)
		}
	}
	args := make([]G.Value, len(children))
	for i, c := range children {
		args[i] = vals[c]
	}
	v, err := n.Op().Do(args...)
	if err != nil {
		return nil, fmt.Errorf("unrolled: forward pass: %w", err)
	}
	return v, nil
}
