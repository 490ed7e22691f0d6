package unrolled

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dilqr/dilqr/op/ilqr"
	G "gorgonia.org/gorgonia"
)

// benchCase is the pendulum of the paper's Figure 2: batch 20, starts
// with θ uniform in ±0.5 rad and ω in ±0.5 rad/s (seeded), per-example θ
// and φ, so gradients can be compared with the implicit ones example by
// example.
func benchCase(T, bs int) testCase {
	rng := rand.New(rand.NewPCG(42, 1))
	th := make([]float64, bs)
	w := make([]float64, bs)
	for i := range th {
		th[i] = rng.Float64() - 0.5
		w[i] = rng.Float64() - 0.5
	}
	return pendulumCase(T, th, w).perExample()
}

// BenchmarkUnrolled times the unrolled baseline on the pendulum, B = 20,
// T = 10: the forward pass alone and forward plus backward, on Gorgonia's
// TapeMachine (graph compiled once, outside the timing) and LispMachine
// (no compile; a machine and a graph per run, as neither can be reused).
// The TapeMachine
// forward+backward graph at 50 iterations is not benchmarked: its compile
// alone takes minutes (quadratic in the node count, compile.go:524).
func BenchmarkUnrolled(b *testing.B) {
	const bs, T = 20, 10
	c := benchCase(T, bs)
	_, n, m, _, _ := c.dims()
	w := lossWeights(bs*T*(n+m), 5)
	for _, iters := range []int{10, 50} {
		for _, machine := range []string{"tape", "lisp"} {
			for _, pass := range []string{"forward", "forward+backward"} {
				if machine == "tape" && pass == "forward+backward" && iters > 10 {
					continue
				}
				name := fmt.Sprintf("iters=%d/%s/%s", iters, machine, pass)
				b.Run(name, func(b *testing.B) {
					r := buildGraph(b, c, iters, w)
					if machine == "lisp" {
						// A LispMachine leaves derivative state on the
						// graph's nodes, and a second one on the same graph
						// fails: each run gets a fresh graph, built outside
						// the timing.
						b.ReportAllocs()
						for i := 0; i < b.N; i++ {
							if i > 0 {
								b.StopTimer()
								r = buildGraph(b, c, iters, w)
								b.StartTimer()
							}
							var vm G.VM
							if pass == "forward" {
								vm = G.NewLispMachine(r.g, G.ExecuteFwdOnly())
							} else {
								vm = G.NewLispMachine(r.g)
							}
							if err := vm.RunAll(); err != nil {
								b.Fatal(err)
							}
							vm.Close()
						}
						b.ReportMetric(float64(len(r.g.AllNodes())), "nodes")
						return
					}
					if pass == "forward+backward" {
						if _, err := G.Grad(r.loss, r.x0, r.theta, r.phi); err != nil {
							b.Fatal(err)
						}
					}
					vm := G.NewTapeMachine(r.g)
					defer vm.Close()
					b.ReportAllocs()
					for b.Loop() {
						vm.Reset()
						if err := vm.RunAll(); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(len(r.g.AllNodes())), "nodes")
				})
			}
		}
	}
}

// collisionRisk is the expected number of false merges among the nodes of
// g: Gorgonia merges two nodes with equal 32-bit hashes when their ops,
// child counts, types and shapes agree (equalities.go: nodeEq), so each
// class of n such nodes expects about n(n−1)/2/2³² collisions.
func collisionRisk(g *G.ExprGraph) float64 {
	classes := make(map[string]int)
	for _, nd := range g.AllNodes() {
		if nd.Op() == nil {
			continue
		}
		classes[fmt.Sprintf("%x|%v|%v", nd.Op().Hashcode(), nd.Type(), nd.Shape())]++
	}
	var risk float64
	for _, k := range classes {
		risk += float64(k) * float64(k-1) / 2 / math.Exp2(32)
	}
	return risk
}

func heapMiB() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}

// TestMeasure records graph size, build time, memory and run times
// for the pendulum at B = 20 (the paper's Figure 2 grid). It runs only
// when UNROLLED_MEASURE lists cases as TxIters (e.g. "10x10,10x300"); a
// suffix "+tape" also times the TapeMachine (compile is quadratic). Each
// run checks the examples whose unrolled trajectory matches the solver's
// against the implicit gradient.
func TestMeasure(t *testing.T) {
	spec := os.Getenv("UNROLLED_MEASURE")
	if spec == "" {
		t.Skip("set UNROLLED_MEASURE=TxIters[,...] (e.g. 10x10,10x300+tape) to measure")
	}
	const bs = 20
	for _, item := range strings.Split(spec, ",") {
		tape := strings.HasSuffix(item, "+tape")
		item = strings.TrimSuffix(item, "+tape")
		parts := strings.Split(item, "x")
		if len(parts) != 2 {
			t.Fatalf("bad case %q", item)
		}
		T, err1 := strconv.Atoi(parts[0])
		iters, err2 := strconv.Atoi(parts[1])
		if err1 != nil || err2 != nil {
			t.Fatalf("bad case %q", item)
		}
		measure(t, T, bs, iters, tape)
	}
}

func measure(t *testing.T, T, bs, iters int, tape bool) {
	c := benchCase(T, bs)
	_, n, m, _, _ := c.dims()
	w := lossWeights(bs*T*(n+m), 5)
	heapMiB() // collect the previous case's garbage
	t0 := time.Now()
	r := buildGraph(t, c, iters, w)
	build := time.Since(t0)
	nodes := len(r.g.AllNodes())
	heap := heapMiB()

	// Run times: the best of 3 for small graphs (the machine may be
	// shared); each LispMachine forward+backward run needs a fresh graph.
	reps := 1
	if nodes < 60000 {
		reps = 3
	}
	fwd, both := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
	var out []float64
	for rep := range reps {
		if rep > 0 {
			r = buildGraph(t, c, iters, w)
		}
		t0 = time.Now()
		vm := G.NewLispMachine(r.g, G.ExecuteFwdOnly())
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		vm.Close()
		fwd = min(fwd, time.Since(t0))
		out = copyValue(r.outVal)
		t0 = time.Now()
		vm = G.NewLispMachine(r.g)
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		vm.Close()
		both = min(both, time.Since(t0))
	}
	got := r.grads(t)
	heapRun := heapMiB()

	// Examples at the solver's solution: compare gradients.
	sol, err := ilqr.Solve(c.problem(), c.inputs(), &ilqr.Settings{MaxIter: 1000, TolGrad: 1e-13, TolGradLoose: 1e-13, TolCost: 1e-300})
	if err != nil {
		t.Fatal(err)
	}
	want := implicitGradsOpt(t, c, sol, w, false)
	k := n + m
	matched, worst := 0, 0.0
	for i := range bs {
		var d float64
		for s := range T {
			for j := range k {
				ref := sol.U[i*T+s]
				if j < n {
					ref = sol.X[(i*T+s)*n+j]
				}
				d = math.Max(d, math.Abs(out[(i*T+s)*k+j]-ref))
			}
		}
		if d > 1e-8 || sol.Status[i] != ilqr.Converged {
			continue
		}
		matched++
		gi := append(append(append([]float64(nil), got.x0[i*n:(i+1)*n]...), got.theta[i*3:(i+1)*3]...), got.phi[i*2*k:(i+1)*2*k]...)
		wi := append(append(append([]float64(nil), want.x0[i*n:(i+1)*n]...), want.theta[i*3:(i+1)*3]...), want.phi[i*2*k:(i+1)*2*k]...)
		worst = math.Max(worst, relErr(gi, wi))
	}
	t.Logf("T=%d iters=%d B=%d: %d nodes, build %v, live heap %.0f MiB after build, %.0f after runs; lisp forward %v, forward+backward %v (backward %v); "+
		"%d/%d examples at the solver's solution, worst gradient rel. error %.1e; expected false merges %.2g",
		T, iters, bs, nodes, build.Round(time.Millisecond), heap, heapRun, fwd.Round(time.Millisecond), both.Round(time.Millisecond),
		(both - fwd).Round(time.Millisecond), matched, bs, worst, collisionRisk(r.g))
	if !tape {
		return
	}
	rt := buildGraph(t, c, iters, w)
	tf := tapeTimes(t, rt, false)
	rt = buildGraph(t, c, iters, w)
	tb := tapeTimes(t, rt, true)
	g := rt.grads(t)
	t.Logf("T=%d iters=%d tape: forward graph compile %v run %v; with Grad: %d nodes (%d sharing a hash), grad %v, compile %v, run %v (backward %v); "+
		"tape vs lisp gradient rel. diff %.1e; expected false merges %.2g",
		T, iters, tf.compile, tf.run, len(rt.g.AllNodes()), len(HashCollisions(rt.g)), tb.grad, tb.compile, tb.run, tb.run-tf.run,
		relErr(g.all(), got.all()), collisionRisk(rt.g))
}

type tapeTiming struct{ grad, compile, run time.Duration }

func tapeTimes(t *testing.T, r *testGraph, grad bool) tapeTiming {
	var tt tapeTiming
	t0 := time.Now()
	if grad {
		if _, err := G.Grad(r.loss, r.x0, r.theta, r.phi); err != nil {
			t.Fatal(err)
		}
	}
	tt.grad = time.Since(t0).Round(time.Millisecond)
	t0 = time.Now()
	vm := G.NewTapeMachine(r.g)
	defer vm.Close()
	tt.compile = time.Since(t0).Round(time.Millisecond)
	best := time.Duration(math.MaxInt64)
	for range 3 {
		vm.Reset()
		t0 = time.Now()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
		best = min(best, time.Since(t0))
	}
	tt.run = best.Round(time.Microsecond)
	return tt
}
