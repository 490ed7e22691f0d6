package models

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
)

// netStep returns the network dynamics as a generic step, the reference
// the closed-form derivatives are checked against (dual and hyper-dual
// numbers differentiate it exactly).
func netStep[T Scalar[T]](sizes []int, act Activation, form NetForm, base Step[T], pb int) Step[T] {
	return func(next, x, u, th []T) {
		a := append(append([]T(nil), x...), u...)
		off := pb
		for l := 1; l < len(sizes); l++ {
			in, out := sizes[l-1], sizes[l]
			h := make([]T, out)
			for i := 0; i < out; i++ {
				s := th[off+in*out+i]
				for j := 0; j < in; j++ {
					s = s.Add(th[off+i*in+j].Mul(a[j]))
				}
				h[i] = s
			}
			off += in*out + out
			if l == len(sizes)-1 {
				a = h
				break
			}
			for i, v := range h {
				switch act {
				case Tanh:
					h[i] = v.Tanh()
				case Sigmoid:
					one := v.Const(1)
					h[i] = one.Div(one.Add(v.Neg().Exp()))
				default:
					panic("no generic softplus")
				}
			}
			a = h
		}
		switch form {
		case WholeNet:
			copy(next, a)
		case Passthrough:
			for i := range next {
				next[i] = x[i].Add(a[i])
			}
		case Residual:
			base(next, x, u, th[:pb])
			for i := range next {
				next[i] = next[i].Add(a[i])
			}
		}
	}
}

// netCase is one network model with its generic reference.
type netCase struct {
	name string
	nd   *NeuralDynamics
	ref  DynamicsEvaluator // nil: compare with finite differences only
}

// eachNet runs f as a subtest for every network case, with its sizes.
func eachNet(t *testing.T, f func(t *testing.T, c netCase, n, m, p int)) {
	for _, c := range netCases(t) {
		t.Run(c.name, func(t *testing.T) {
			d := c.nd.Dims()
			f(t, c, d.N, d.M, d.P)
		})
	}
}

func netCases(t *testing.T) []netCase {
	pend := NewPendulum()
	var out []netCase
	for _, c := range []struct {
		act  Activation
		form NetForm
	}{{Tanh, WholeNet}, {Sigmoid, Passthrough}, {Tanh, Residual}, {Softplus, Passthrough}} {
		var nd *NeuralDynamics
		var err error
		if c.form == Residual {
			nd, err = NewResidualDynamics(pend, []int{5, 4}, c.act, 3)
		} else {
			nd, err = NewMLPDynamics(3, 1, []int{6, 5}, c.act, c.form == Passthrough, 3)
		}
		if err != nil {
			t.Fatal(err)
		}
		nc := netCase{name: fmt.Sprintf("%v/%v", c.form, c.act), nd: nd}
		if c.act != Softplus {
			var bf Step[Float]
			var bd Step[Dual]
			var bh Step[HyperDual]
			if c.form == Residual {
				bf, bd, bh = PendulumStep[Float], PendulumStep[Dual], PendulumStep[HyperDual]
			}
			ref, err := NewAuto("ref", nd.Dims(), nd.DefaultParams(), StepFuncs{
				Float:     netStep(nd.sizes, c.act, c.form, bf, nd.pb),
				Dual:      netStep(nd.sizes, c.act, c.form, bd, nd.pb),
				HyperDual: netStep(nd.sizes, c.act, c.form, bh, nd.pb),
			})
			if err != nil {
				t.Fatal(err)
			}
			nc.ref = ref.NewEvaluator()
		}
		out = append(out, nc)
	}
	return out
}

// TestNeuralDerivatives checks the network models' closed-form
// derivatives against the dual-number reference of the same step (tanh,
// sigmoid; the whole, passthrough and residual forms) and, for softplus,
// against central differences: the value, ∂f/∂(x, u), ∂f/∂θ, the
// Lagrangian Hessian with its θ columns, its τ block, and the reverse-mode
// contraction ContractParams.
func TestNeuralDerivatives(t *testing.T) {
	eachNet(t, func(t *testing.T, c netCase, n, m, p int) {
		k := n + m
		e := c.nd.NewEvaluator()
		rng := rand.New(rand.NewPCG(11, 12))
		theta := c.nd.DefaultParams()
		for i := c.nd.pb; i < p; i++ {
			theta[i] += 0.3 * rng.NormFloat64() // not the small default output layer
		}
		x := fdtest.NormalsFrom(rng, n)
		u := fdtest.NormalsFrom(rng, m)
		u[0] *= 0.5 // inside the pendulum's clamp
		lam := fdtest.NormalsFrom(rng, n)
		next, fx, fu := make([]float64, n), make([]float64, n*n), make([]float64, n*m)
		ft, lh := make([]float64, n*p), make([]float64, k*(k+p))
		e.Linearize(next, fx, fu, x, u, theta)
		e.ParamJacobian(ft, x, u, theta)
		e.LagrangianHessian(lh, lam, x, u, theta)
		step := make([]float64, n)
		e.Step(step, x, u, theta)
		check := func(what string, got, want []float64, tol float64) {
			t.Helper()
			if err, at := fdtest.RelErr(got, want); !(err <= tol) {
				t.Errorf("%s[%d] = %.12g, reference %.12g (relative error %.2e)", what, at, got[at], want[at], err)
			}
		}
		check("Step vs Linearize", step, next, 1e-15)
		if c.ref != nil {
			rn, rfx, rfu := make([]float64, n), make([]float64, n*n), make([]float64, n*m)
			rft, rlh := make([]float64, n*p), make([]float64, k*(k+p))
			c.ref.Linearize(rn, rfx, rfu, x, u, theta)
			c.ref.ParamJacobian(rft, x, u, theta)
			c.ref.LagrangianHessian(rlh, lam, x, u, theta)
			check("next", next, rn, 1e-13)
			check("fx", fx, rfx, 1e-12)
			check("fu", fu, rfu, 1e-12)
			check("ft", ft, rft, 1e-12)
			check("Lagrangian Hessian", lh, rlh, 1e-11)
		} else {
			z := append(append([]float64(nil), x...), u...)
			fd := fdtest.CentralJacobian(func(y, zz []float64) { e.Step(y, zz[:n], zz[n:], theta) }, n, z, fdtest.Span(0, k), 5e-6)
			jac := make([]float64, n*k)
			for i := 0; i < n; i++ {
				copy(jac[i*k:], fx[i*n:(i+1)*n])
				copy(jac[i*k+n:], fu[i*m:(i+1)*m])
			}
			check("∂f/∂τ vs finite differences", jac, fd, 1e-8)
			// τ block of the Lagrangian Hessian: the Jacobian of λᵀ∂f/∂τ.
			fdh := fdtest.CentralJacobian(func(y, zz []float64) {
				gx, gu := make([]float64, n*n), make([]float64, n*m)
				e.Linearize(make([]float64, n), gx, gu, zz[:n], zz[n:], theta)
				for j := 0; j < k; j++ {
					var s float64
					for i := 0; i < n; i++ {
						if j < n {
							s += lam[i] * gx[i*n+j]
						} else {
							s += lam[i] * gu[i*m+j-n]
						}
					}
					y[j] = s
				}
			}, k, z, fdtest.Span(0, k), 5e-6)
			tau := make([]float64, k*k)
			for r := 0; r < k; r++ {
				copy(tau[r*k:], lh[r*(k+p):r*(k+p)+k])
			}
			check("Hessian τ block vs finite differences", tau, fdh, 1e-7)
		}
		pc := e.(ParamContractor)
		htau := make([]float64, k*k)
		n2, fx2, fu2 := make([]float64, n), make([]float64, n*n), make([]float64, n*m)
		pc.LinearizeHessianTau(n2, fx2, fu2, htau, lam, x, u, theta)
		check("LinearizeHessianTau next", n2, next, 0)
		check("LinearizeHessianTau fx", fx2, fx, 0)
		check("LinearizeHessianTau fu", fu2, fu, 0)
		for r := 0; r < k; r++ {
			check("LinearizeHessianTau h", htau[r*k:(r+1)*k], lh[r*(k+p):r*(k+p)+k], 1e-12)
		}
		nu, dd := fdtest.NormalsFrom(rng, n), fdtest.NormalsFrom(rng, k)
		got := make([]float64, p)
		pc.ContractParams(got, nu, lam, dd, x, u, theta)
		want := make([]float64, p)
		for j := 0; j < p; j++ {
			for i := 0; i < n; i++ {
				want[j] += nu[i] * ft[i*p+j]
			}
			for r := 0; r < k; r++ {
				want[j] += dd[r] * lh[r*(k+p)+k+j]
			}
		}
		check("ContractParams", got, want, 1e-12)
	})
}

// TestNeuralConstruction checks sizes, names, the parameter layout and
// bad configurations.
func TestNeuralConstruction(t *testing.T) {
	nd, err := NewMLPDynamics(3, 1, []int{64}, Sigmoid, true, 1)
	if err != nil {
		t.Fatal(err)
	}
	if p := nd.Dims().P; p != 4*64+64+64*3+3 {
		t.Errorf("hidden [64]: %d parameters, want 515", p)
	}
	again, _ := NewMLPDynamics(3, 1, []int{64}, Sigmoid, true, 1)
	other, _ := NewMLPDynamics(3, 1, []int{64}, Sigmoid, true, 2)
	if fmt.Sprint(nd.DefaultParams()) != fmt.Sprint(again.DefaultParams()) ||
		fmt.Sprint(nd.DefaultParams()) == fmt.Sprint(other.DefaultParams()) {
		t.Error("initial weights are not determined by the seed")
	}
	for _, bad := range []func() error{
		func() error { _, err := NewMLPDynamics(0, 1, []int{4}, Tanh, false, 1); return err },
		func() error { _, err := NewMLPDynamics(3, 1, []int{0}, Tanh, false, 1); return err },
		func() error { _, err := NewMLPDynamics(3, 1, []int{4}, Activation(9), false, 1); return err },
		func() error { _, err := NewResidualDynamics(nil, []int{4}, Tanh, 1); return err },
	} {
		if bad() == nil {
			t.Error("a bad configuration was accepted")
		}
	}
	pend := NewPendulum()
	res, _ := NewResidualDynamics(pend, []int{8}, Tanh, 1)
	th := res.DefaultParams()
	th[2] = 0 // l = 0
	if res.CheckParams(th) == nil {
		t.Error("residual model accepted the base's l = 0")
	}
	th[2] = math.NaN()
	if res.CheckParams(th) == nil {
		t.Error("NaN accepted")
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		w := nd.DefaultParams()
		w[len(w)-1] = bad // a network weight, past the base's check
		if nd.CheckParams(w) == nil {
			t.Errorf("weight %v accepted", bad)
		}
	}
}

// TestNeuralHistory checks that an evaluator's results do not depend on
// what it computed before: after a contraction with a NaN direction and a
// Lagrangian Hessian at a NaN state, ParamJacobian, Linearize and
// LinearizeHessianTau at a finite point give the bits of a fresh
// evaluator. (ParamJacobian once read a tangent left by the NaN call and
// returned NaN in most entries.)
func TestNeuralHistory(t *testing.T) {
	eachNet(t, func(t *testing.T, c netCase, n, m, p int) {
		k := n + m
		theta := c.nd.DefaultParams()
		x, u, lam := []float64{0.1, 0.2, 0.3}, []float64{0.4}, []float64{1, -0.5, 0.25}
		nan := math.NaN()
		outputs := func(ev DynamicsEvaluator) []float64 {
			next, fx, fu, h, ft := make([]float64, n), make([]float64, n*n), make([]float64, n*m), make([]float64, k*k), make([]float64, n*p)
			ev.ParamJacobian(ft, x, u, theta)
			out := slices.Concat(ft)
			ev.Linearize(next, fx, fu, x, u, theta)
			out = slices.Concat(out, next, fx, fu)
			ev.(ParamContractor).LinearizeHessianTau(next, fx, fu, h, lam, x, u, theta)
			return slices.Concat(out, next, fx, fu, h)
		}
		want := outputs(c.nd.NewEvaluator())
		ev := c.nd.NewEvaluator()
		ev.(ParamContractor).ContractParams(make([]float64, p), lam, lam, []float64{nan, 0, 0, 0}, x, u, theta)
		ev.LagrangianHessian(make([]float64, k*(k+p)), lam, []float64{nan, 0, 0}, u, theta)
		got := outputs(ev)
		for i := range want {
			if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
				t.Fatalf("output %d after NaN calls: %v, fresh evaluator %v", i, got[i], want[i])
			}
		}
	})
}

// TestNeuralPointCache checks that ContractParams gives the same bits from
// the points LinearizeHessianTau cached as from a fresh evaluator that
// computes them anew: for more points than the cache first holds (so it
// wraps and grows), in the order of a gradient sweep and in reverse, after
// θ changed in place (the cache must drop its points), for another λ at a
// cached point, and at a point never linearized.
func TestNeuralPointCache(t *testing.T) {
	eachNet(t, func(t *testing.T, c netCase, n, m, p int) {
		k := n + m
		rng := rand.New(rand.NewPCG(21, 22))
		theta := c.nd.DefaultParams()
		for i := c.nd.pb; i < p; i++ {
			theta[i] += 0.3 * rng.NormFloat64()
		}
		const steps = 21 // more than the first ring of 8 points, and its doubling
		xs, us := fdtest.NormalsFrom(rng, steps*n), fdtest.NormalsFrom(rng, steps*m)
		for i := range us {
			us[i] *= 0.5 // inside the pendulum's clamp
		}
		lams, nus, ds := fdtest.NormalsFrom(rng, steps*n), fdtest.NormalsFrom(rng, steps*n), fdtest.NormalsFrom(rng, steps*k)
		at := func(s int) (x, u, lam, nu, dd []float64) {
			return xs[s*n : (s+1)*n], us[s*m : (s+1)*m], lams[s*n : (s+1)*n], nus[s*n : (s+1)*n], ds[s*k : (s+1)*k]
		}
		next, fx, fu, h := make([]float64, n), make([]float64, n*n), make([]float64, n*m), make([]float64, k*k)
		linearizeAll := func(pc ParamContractor) {
			for s := range steps {
				x, u, lam, _, _ := at(s)
				pc.LinearizeHessianTau(next, fx, fu, h, lam, x, u, theta)
			}
		}
		// want: each contraction by an evaluator that saw no other point.
		want := func(s int, lam []float64) []float64 {
			x, u, _, nu, dd := at(s)
			g := make([]float64, p)
			c.nd.NewEvaluator().(ParamContractor).ContractParams(g, nu, lam, dd, x, u, theta)
			return g
		}
		pc := c.nd.NewEvaluator().(ParamContractor)
		check := func(what string, s int, lam []float64) {
			t.Helper()
			x, u, _, nu, dd := at(s)
			g := make([]float64, p)
			pc.ContractParams(g, nu, lam, dd, x, u, theta)
			if w := want(s, lam); !sameBits(g, w) {
				e, i := fdtest.RelErr(g, w)
				t.Fatalf("%s, step %d: dθ[%d] = %.17g, fresh evaluator %.17g (relative error %.2e)", what, s, i, g[i], w[i], e)
			}
		}
		for round := range 3 { // the first rounds miss and grow the ring
			linearizeAll(pc)
			for s := range steps {
				_, _, lam, _, _ := at(s)
				check(fmt.Sprintf("round %d", round), s, lam)
			}
		}
		// By now the ring holds a sweep: every point is served from it.
		e := pc.(*neuralEval)
		linearizeAll(pc)
		for s := range steps {
			x, u, _, _, _ := at(s)
			if e.cache.lookup(e, theta, x, u) == nil {
				t.Fatalf("step %d is not in the cache of %d points", s, len(e.cache.pts))
			}
		}
		linearizeAll(pc)
		for s := steps - 1; s >= 0; s-- {
			_, _, lam, _, _ := at(s)
			check("reverse order", s, lam)
		}
		if np := len(e.cache.pts); np > 32 {
			t.Errorf("the cache grew to %d points for a sweep of %d", np, steps)
		}
		// Contractions at points never linearized leave the cache as it is.
		cold := c.nd.NewEvaluator().(*neuralEval)
		g := make([]float64, p)
		for s := range steps {
			x, u, lam, nu, dd := at(s)
			cold.ContractParams(g, nu, lam, dd, x, u, theta)
		}
		if np := len(cold.cache.pts); np != 0 {
			t.Errorf("contractions alone grew the cache to %d points", np)
		}
		other := fdtest.NormalsFrom(rng, n)
		check("another λ", 3, other)
		_, _, lam3, _, _ := at(3)
		check("λ back", 3, lam3)
		linearizeAll(pc)
		theta[len(theta)-1] += 0.25 // the last output bias
		theta[c.nd.pb] -= 0.5       // the first weight
		check("θ changed in place", 5, lam3)
		xs[0] += 1e-3
		_, _, lam0, _, _ := at(0)
		check("a point never linearized", 0, lam0)
	})
}

// TestNeuralDepths checks LinearizeHessianTau and ContractParams against
// the general path (ParamJacobian and LagrangianHessian with its θ
// columns) for networks without a hidden layer, with one, and with three,
// and with two layers wide enough (16 or more) for the BLAS kernels of the
// weight gradient (addOuter2's Dger and axpy paths).
func TestNeuralDepths(t *testing.T) {
	for _, hidden := range [][]int{{}, {7}, {5, 4, 3}, {20, 24}} {
		t.Run(fmt.Sprint(hidden), func(t *testing.T) {
			nd, err := NewMLPDynamics(3, 2, hidden, Sigmoid, true, 5)
			if err != nil {
				t.Fatal(err)
			}
			d := nd.Dims()
			n, m, p, k := d.N, d.M, d.P, d.N+d.M
			rng := rand.New(rand.NewPCG(31, 32))
			theta := nd.DefaultParams()
			for i := range theta {
				theta[i] += 0.3 * rng.NormFloat64()
			}
			x, u, lam := fdtest.NormalsFrom(rng, n), fdtest.NormalsFrom(rng, m), fdtest.NormalsFrom(rng, n)
			nu, dd := fdtest.NormalsFrom(rng, n), fdtest.NormalsFrom(rng, k)
			e := nd.NewEvaluator()
			ft, lh := make([]float64, n*p), make([]float64, k*(k+p))
			e.ParamJacobian(ft, x, u, theta)
			e.LagrangianHessian(lh, lam, x, u, theta)
			want := make([]float64, p)
			for j := range want {
				for i := 0; i < n; i++ {
					want[j] += nu[i] * ft[i*p+j]
				}
				for r := 0; r < k; r++ {
					want[j] += dd[r] * lh[r*(k+p)+k+j]
				}
			}
			pc := e.(ParamContractor)
			next, fx, fu, h := make([]float64, n), make([]float64, n*n), make([]float64, n*m), make([]float64, k*k)
			pc.LinearizeHessianTau(next, fx, fu, h, lam, x, u, theta)
			for r := 0; r < k; r++ {
				if e, at := fdtest.RelErr(h[r*k:(r+1)*k], lh[r*(k+p):r*(k+p)+k]); !(e <= 1e-12) {
					t.Errorf("Hessian row %d [%d]: relative error %.2e", r, at, e)
				}
			}
			got := make([]float64, p)
			pc.ContractParams(got, nu, lam, dd, x, u, theta)
			if e, at := fdtest.RelErr(got, want); !(e <= 1e-12) {
				t.Errorf("ContractParams[%d] = %.12g, general path %.12g (relative error %.2e)", at, got[at], want[at], e)
			}
		})
	}
}
