package models

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/floats"
)

// Activation is a smooth activation of a network's hidden layers (the
// planner needs second derivatives).
type Activation uint8

const (
	// Tanh: σ(h) = tanh h.
	Tanh Activation = iota
	// Sigmoid: σ(h) = 1/(1 + e^{−h}).
	Sigmoid
	// Softplus: σ(h) = log(1 + e^h).
	Softplus
)

var activationNames = [...]string{"tanh", "sigmoid", "softplus"}

// String returns "tanh", "sigmoid" or "softplus".
func (a Activation) String() string { return enumName(activationNames[:], a, "Activation") }

// enumName returns names[v], or typ(v) for a value without a name: the
// String method of the package's uint8 enumerations.
func enumName[E ~uint8](names []string, v E, typ string) string {
	if int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, uint8(v))
}

// eval returns σ(h), σ′(h) and σ″(h).
func (a Activation) eval(h float64) (s, d1, d2 float64) {
	switch a {
	case Tanh:
		s = math.Tanh(h)
		d1 = 1 - s*s
		return s, d1, -2 * s * d1
	case Sigmoid:
		s = 1 / (1 + math.Exp(-h))
		d1 = s * (1 - s)
		return s, d1, d1 * (1 - 2*s)
	default: // Softplus, written to stay finite for large |h|
		sg := 1 / (1 + math.Exp(-h))
		if h > 30 {
			s = h + math.Log1p(math.Exp(-h))
		} else {
			s = math.Log1p(math.Exp(h))
		}
		return s, sg, sg * (1 - sg)
	}
}

// NetForm says how a network enters a NeuralDynamics.
type NetForm uint8

const (
	// WholeNet: x′ = N([x; u]; W).
	WholeNet NetForm = iota
	// Passthrough: x′ = x + N([x; u]; W) (mpc.pytorch's NNDynamics).
	Passthrough
	// Residual: x′ = f(x, u; θ) + N([x; u]; W) on a physics model f.
	Residual
)

var netFormNames = [...]string{"whole", "passthrough", "residual"}

// String returns "whole", "passthrough" or "residual".
func (f NetForm) String() string { return enumName(netFormNames[:], f, "NetForm") }

// NeuralDynamics is a discrete-time model whose step is, or contains, a
// multilayer perceptron N([x; u]; W) with smooth hidden layers and a linear
// output of N entries: x′ = N, x′ = x + N, or x′ = f(x, u; θ) + N on a
// physics model f (see NetForm). The network sees the raw control u (a
// physics model's own clamp acts only inside f).
//
// Parameters: θ_all = (θ, W), θ the physics model's (Residual only), then
// the network's, layer by layer: W_l (out × in, row-major), then b_l.
//
// Derivatives are computed in closed form through the network: ∂f/∂(x, u)
// by N+M forward tangents, the Lagrangian Hessian in (x, u) by N+M
// forward-over-reverse passes, and the parameter contractions the gradient
// needs (ParamContractor) by one reverse pass over W per step: the cost of
// the gradient grows linearly in the number of weights, never one
// evaluation per weight.
type NeuralDynamics struct {
	name   string
	dims   Dims
	sizes  []int // in = N+M, hidden…, out = N
	act    Activation
	form   NetForm
	base   Dynamics // Residual only
	pb     int      // the base's parameters
	params []float64
}

// NewMLPDynamics returns x′ = N([x; u]; W), or x′ = x + N with
// passthrough, for n states and m controls, with the given hidden layer
// widths and activation. The default weights are drawn with seed:
// Xavier-uniform, the output layer scaled by 0.1 and biases zero.
func NewMLPDynamics(n, m int, hidden []int, act Activation, passthrough bool, seed uint64) (*NeuralDynamics, error) {
	form := WholeNet
	if passthrough {
		form = Passthrough
	}
	return newNeural(nil, n, m, hidden, act, form, seed)
}

// NewResidualDynamics returns x′ = f(x, u; θ) + N([x; u]; W) on base, with
// θ_all = (θ, W); the default θ is base's, the weights as for
// NewMLPDynamics.
func NewResidualDynamics(base Dynamics, hidden []int, act Activation, seed uint64) (*NeuralDynamics, error) {
	if base == nil {
		return nil, fmt.Errorf("models: residual dynamics: nil base model")
	}
	d := base.Dims()
	return newNeural(base, d.N, d.M, hidden, act, Residual, seed)
}

func newNeural(base Dynamics, n, m int, hidden []int, act Activation, form NetForm, seed uint64) (*NeuralDynamics, error) {
	if n < 1 || m < 1 {
		return nil, fmt.Errorf("models: network dynamics: invalid sizes n=%d m=%d", n, m)
	}
	if int(act) >= len(activationNames) {
		return nil, fmt.Errorf("models: network dynamics: unknown activation %v", act)
	}
	for _, h := range hidden {
		if h < 1 || h > 1<<16 {
			return nil, fmt.Errorf("models: network dynamics: hidden width %d outside [1, 65536]", h)
		}
	}
	if len(hidden) > 64 {
		return nil, fmt.Errorf("models: network dynamics: %d hidden layers, at most 64", len(hidden))
	}
	sizes := slices.Concat([]int{n + m}, hidden, []int{n})
	nd := &NeuralDynamics{sizes: sizes, act: act, form: form, base: base}
	var params []float64
	if base != nil {
		nd.pb = base.Dims().P
		params = base.DefaultParams()
	}
	rng := rand.New(rand.NewPCG(seed, 0x6e6e))
	for l := 1; l < len(sizes); l++ {
		in, out := sizes[l-1], sizes[l]
		lim := math.Sqrt(6 / float64(in+out))
		if l == len(sizes)-1 {
			lim *= 0.1
		}
		for range in * out {
			params = append(params, lim*(2*rng.Float64()-1))
		}
		params = append(params, make([]float64, out)...)
	}
	nd.params = params
	nd.dims = Dims{N: n, M: m, P: len(params)}
	net := fmt.Sprintf("mlp(hidden=%v,%v)", hidden, act)
	switch form {
	case Passthrough:
		net = "x+" + net
	case Residual:
		net = base.Name() + "+" + net
	}
	nd.name = fmt.Sprintf("%s(n=%d,m=%d)", net, n, m)
	return nd, nil
}

// Name implements Dynamics.
func (d *NeuralDynamics) Name() string { return d.name }

// Dims implements Dynamics.
func (d *NeuralDynamics) Dims() Dims { return d.dims }

// DefaultParams implements Dynamics.
func (d *NeuralDynamics) DefaultParams() []float64 { return slices.Clone(d.params) }

// Form returns how the network enters the model.
func (d *NeuralDynamics) Form() NetForm { return d.form }

// Layers returns the layer widths: N+M, the hidden widths, N.
func (d *NeuralDynamics) Layers() []int { return slices.Clone(d.sizes) }

// BaseParams returns the number of the physics model's parameters at the
// start of θ_all (0 unless Residual).
func (d *NeuralDynamics) BaseParams() int { return d.pb }

// ControlClamp reports the base model's clamp (Residual), if it has one.
func (d *NeuralDynamics) ControlClamp() (lo, hi []float64) {
	if c, ok := d.base.(interface{ ControlClamp() (lo, hi []float64) }); ok {
		return c.ControlClamp()
	}
	return nil, nil
}

// CheckParams implements ParamChecker: the base model's domain (Residual)
// and a finite θ_all of the right length.
func (d *NeuralDynamics) CheckParams(theta []float64) error {
	if len(theta) != d.dims.P {
		return fmt.Errorf("models: %s: %d parameters, want %d", d.name, len(theta), d.dims.P)
	}
	for i, v := range theta {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("models: %s: parameter %d is %v", d.name, i, v)
		}
	}
	if pc, ok := d.base.(ParamChecker); ok {
		return pc.CheckParams(theta[:d.pb])
	}
	return nil
}

// NewEvaluator implements Dynamics.
func (d *NeuralDynamics) NewEvaluator() DynamicsEvaluator {
	e := &neuralEval{d: d}
	if d.base != nil {
		e.base = d.base.NewEvaluator()
		k, pb := d.dims.N+d.dims.M, d.pb
		e.bfx, e.bfu = make([]float64, d.dims.N*d.dims.N), make([]float64, d.dims.N*d.dims.M)
		e.bft, e.blh = make([]float64, d.dims.N*pb), make([]float64, k*(k+pb))
		e.bnext = make([]float64, d.dims.N)
	}
	for _, s := range d.sizes {
		e.h = append(e.h, make([]float64, s))
		e.a = append(e.a, make([]float64, s))
		e.d1 = append(e.d1, make([]float64, s))
		e.d2 = append(e.d2, make([]float64, s))
		e.ht = append(e.ht, make([]float64, s))
		e.at = append(e.at, make([]float64, s))
		e.ab = append(e.ab, make([]float64, s))
		e.atb = append(e.atb, make([]float64, s))
		e.abA = append(e.abA, make([]float64, s))
		e.jac = append(e.jac, make([]float64, s*(d.dims.N+d.dims.M)))
	}

	e.tau = make([]float64, d.dims.N+d.dims.M)
	e.col = make([]float64, d.dims.N+d.dims.M)
	return e
}

// neuralEval evaluates a NeuralDynamics; it holds the network's
// activations (primal h, a with σ′ and σ″ in d1, d2; tangent ht, at;
// adjoints ab of a and atb of the tangent) for one point.
type neuralEval struct {
	d                         *NeuralDynamics
	base                      DynamicsEvaluator
	bfx, bfu, bft, blh, bnext []float64
	h, a, d1, d2, ht, at      [][]float64
	ab, atb                   [][]float64
	abA                       [][]float64 // ā of each layer's output (reverse)
	jac                       [][]float64 // ∂h_l/∂τ, sizes[l] × K (LinearizeHessianTau)
	tau, col                  []float64
}

// layer returns W_l (out × in) and b_l of layer l (1-based) in θ_all.
func (e *neuralEval) layer(theta []float64, l int) (w, b []float64) {
	off := e.d.pb
	for j := 1; j < l; j++ {
		off += e.d.sizes[j-1]*e.d.sizes[j] + e.d.sizes[j]
	}
	in, out := e.d.sizes[l-1], e.d.sizes[l]
	return theta[off : off+in*out], theta[off+in*out : off+in*out+out]
}

// forward evaluates the network at τ = (x, u); the output is e.a[L].
func (e *neuralEval) forward(x, u, theta []float64) {
	L := len(e.d.sizes) - 1
	copy(e.a[0], x)
	copy(e.a[0][len(x):], u)
	for l := 1; l <= L; l++ {
		w, b := e.layer(theta, l)
		in := e.a[l-1]
		h := e.h[l]
		for i := range h {
			h[i] = b[i] + dot64(w[i*len(in):(i+1)*len(in)], in)
		}
		if l == L {
			copy(e.a[l], h) // linear output
			continue
		}
		for i, v := range h {
			e.a[l][i], e.d1[l][i], e.d2[l][i] = e.d.act.eval(v)
		}
	}
}

// tangent propagates the direction dz of τ through the forward pass
// (which must have run); the output's tangent is e.at[L].
func (e *neuralEval) tangent(theta, dz []float64) {
	L := len(e.d.sizes) - 1
	copy(e.at[0], dz)
	for l := 1; l <= L; l++ {
		w, _ := e.layer(theta, l)
		in := e.at[l-1]
		ht := e.ht[l]
		for i := range ht {
			ht[i] = dot64(w[i*len(in):(i+1)*len(in)], in)
		}
		if l == L {
			copy(e.at[l], ht)
			continue
		}
		for i, v := range ht {
			e.at[l][i] = e.d1[l][i] * v
		}
	}
}

// unitTangent is tangent along the unit direction e_j of τ: the first
// layer's tangent is W_1's column j, read rather than multiplied.
func (e *neuralEval) unitTangent(theta []float64, j int) {
	L := len(e.d.sizes) - 1
	in := e.d.sizes[0]
	w, _ := e.layer(theta, 1)
	clear(e.at[0])
	e.at[0][j] = 1
	ht := e.ht[1]
	for i := range ht {
		ht[i] = w[i*in+j]
	}
	if L == 1 {
		copy(e.at[1], ht)
		return
	}
	for i, v := range ht {
		e.at[1][i] = e.d1[1][i] * v
	}
	for l := 2; l <= L; l++ {
		w, _ := e.layer(theta, l)
		prev := e.at[l-1]
		hl := e.ht[l]
		for i := range hl {
			hl[i] = dot64(w[i*len(prev):(i+1)*len(prev)], prev)
		}
		if l == L {
			copy(e.at[l], hl)
			continue
		}
		for i, v := range hl {
			e.at[l][i] = e.d1[l][i] * v
		}
	}
}

// reverse runs the reverse pass of g = νᵀN + λᵀṄ (Ṅ the output's tangent
// along the last tangent, whose pass must have run, or zero when lambda
// is nil), adding dg/dW into dW (the network's part of θ_all, may be nil)
// and, with wantInput, returning dg/dτ in e.ab[0] (and the adjoint of the
// input's tangent in e.atb[0]).
func (e *neuralEval) reverse(dW, theta, nu, lambda []float64, wantInput bool) {
	L := len(e.d.sizes) - 1
	// Adjoints of the output: ν for N, λ for Ṅ (linear output layer).
	copy(e.ab[L], nu)
	if lambda != nil {
		copy(e.atb[L], lambda)
	} else {
		clear(e.atb[L])
	}
	for l := L; l >= 1; l-- {
		in, out := e.d.sizes[l-1], e.d.sizes[l]
		w, _ := e.layer(theta, l)
		hb, htb := e.ab[l], e.atb[l] // become the adjoints of h and ḣ
		if l < L {
			copy(e.abA[l], e.ab[l])
			for i := 0; i < out; i++ {
				ab, atb := e.ab[l][i], e.atb[l][i]
				hb[i] = e.d1[l][i]*ab + e.d2[l][i]*e.ht[l][i]*atb
				htb[i] = e.d1[l][i] * atb
			}
		}
		if dW != nil {
			wOff, _ := e.paramOffset(l)
			gw := dW[wOff : wOff+in*out]
			gb := dW[wOff+in*out : wOff+in*out+out]
			ap, atp := e.a[l-1], e.at[l-1]
			for i := 0; i < out; i++ {
				gr := gw[i*in : (i+1)*in]
				if v := hb[i]; v != 0 {
					floats.AddScaled(gr, v, ap)
				}
				if v := htb[i]; v != 0 && lambda != nil {
					floats.AddScaled(gr, v, atp)
				}
				gb[i] += hb[i]
			}
		}
		if l == 1 && !wantInput {
			break
		}
		// Adjoints of the layer's inputs: Wᵀ h̄, Wᵀ ḣ̄.
		pa, pat := e.ab[l-1], e.atb[l-1]
		clear(pa)
		clear(pat)
		for i := 0; i < out; i++ {
			wr := w[i*in : (i+1)*in]
			if v := hb[i]; v != 0 {
				floats.AddScaled(pa, v, wr)
			}
			if v := htb[i]; v != 0 {
				floats.AddScaled(pat, v, wr)
			}
		}
	}
}

// paramOffset returns the offset of W_l in the network's part of θ_all
// (θ_all without the base's parameters).
func (e *neuralEval) paramOffset(l int) (int, int) {
	off := 0
	for j := 1; j < l; j++ {
		off += e.d.sizes[j-1]*e.d.sizes[j] + e.d.sizes[j]
	}
	return off, off + e.d.sizes[l-1]*e.d.sizes[l]
}

// dot64 is aᵀb by gonum's assembly kernel.
func dot64(a, b []float64) float64 { return floats.Dot(a, b) }

// Step implements DynamicsEvaluator.
func (e *neuralEval) Step(next, x, u, theta []float64) {
	e.forward(x, u, theta)
	out := e.a[len(e.a)-1]
	switch e.d.form {
	case WholeNet:
		copy(next, out)
	case Passthrough:
		for i := range next {
			next[i] = x[i] + out[i]
		}
	case Residual:
		e.base.Step(next, x, u, theta[:e.d.pb])
		for i := range next {
			next[i] += out[i]
		}
	}
}

// Linearize implements DynamicsEvaluator: the network's Jacobian by one
// forward tangent per input of τ.
func (e *neuralEval) Linearize(next, fx, fu, x, u, theta []float64) {
	e.linearize(next, fx, fu, x, u, theta, false)
}

// linearize is Linearize; with keep it also stores ∂h_l/∂τ of every hidden
// layer in e.jac.
func (e *neuralEval) linearize(next, fx, fu, x, u, theta []float64, keep bool) {
	n, m := e.d.dims.N, e.d.dims.M
	k := n + m
	L := len(e.d.sizes) - 1
	if e.d.form == Residual {
		e.base.Linearize(next, fx, fu, x, u, theta[:e.d.pb])
	} else {
		clear(fx[:n*n])
		clear(fu[:n*m])
		clear(next[:n])
		if e.d.form == Passthrough {
			copy(next, x)
			for i := 0; i < n; i++ {
				fx[i*n+i] = 1
			}
		}
	}
	e.forward(x, u, theta)
	out := e.a[L]
	for i := range next[:n] {
		next[i] += out[i]
	}
	for j := 0; j < k; j++ {
		e.unitTangent(theta, j)
		ot := e.at[L]
		for i := 0; i < n; i++ {
			if j < n {
				fx[i*n+j] += ot[i]
			} else {
				fu[i*m+j-n] += ot[i]
			}
		}
		if keep {
			for l := 1; l < L; l++ {
				for i, v := range e.ht[l] {
					e.jac[l][i*k+j] = v
				}
			}
		}
	}
}

// ParamJacobian implements DynamicsEvaluator: the network's part by one
// reverse pass per output.
func (e *neuralEval) ParamJacobian(ft, x, u, theta []float64) {
	n, p, pb := e.d.dims.N, e.d.dims.P, e.d.pb
	clear(ft[:n*p])
	if e.d.form == Residual {
		e.base.ParamJacobian(e.bft, x, u, theta[:pb])
		for i := 0; i < n; i++ {
			copy(ft[i*p:i*p+pb], e.bft[i*pb:(i+1)*pb])
		}
	}
	e.forward(x, u, theta)
	for i := 0; i < n; i++ {
		clear(e.col[:n])
		e.col[i] = 1
		e.reverse(ft[i*p+pb:(i+1)*p], theta, e.col[:n], nil, false)
	}
}

// LagrangianHessian implements DynamicsEvaluator: the τ rows of the
// Hessian of λᵀf, with the θ columns.
func (e *neuralEval) LagrangianHessian(h, lambda, x, u, theta []float64) {
	n, m, p, pb := e.d.dims.N, e.d.dims.M, e.d.dims.P, e.d.pb
	k := n + m
	nz := k + p
	clear(h[:k*nz])
	if e.d.form == Residual {
		e.base.LagrangianHessian(e.blh, lambda, x, u, theta[:pb])
		for r := 0; r < k; r++ {
			copy(h[r*nz:r*nz+k+pb], e.blh[r*(k+pb):(r+1)*(k+pb)])
		}
	}
	e.forward(x, u, theta)
	zero := e.col[:n]
	clear(zero)
	for i := 0; i < k; i++ {
		clear(e.tau)
		e.tau[i] = 1
		e.tangent(theta, e.tau)
		// d/dτ_i of ∇(λᵀN): the tangent part of the reverse pass of λᵀṄ
		// with respect to τ, and its θ part.
		e.reverse(h[i*nz+k+pb:(i+1)*nz], theta, zero, lambda, true)
		for j := 0; j < k; j++ {
			h[i*nz+j] += e.ab[0][j]
		}
	}
}

// LinearizeHessianTau implements ParamContractor: it writes what Linearize
// writes and the τ block (K×K) of the Hessian of λᵀf into h, sharing the network's passes: with J_l =
// ∂h_l/∂τ (the tangents Linearize propagates) and ā_l the adjoint of
// layer l's output for λᵀN (one reverse pass), the network's part is
//
//	∇²_ττ(λᵀN) = Σ_l J_lᵀ diag(σ″(h_l) ⊙ ā_l) J_l,
//
// exact for a perceptron, whose affine maps have no curvature.
func (e *neuralEval) LinearizeHessianTau(next, fx, fu, h, lambda, x, u, theta []float64) {
	n, m, pb := e.d.dims.N, e.d.dims.M, e.d.pb
	k := n + m
	L := len(e.d.sizes) - 1
	clear(h[:k*k])
	if e.d.form == Residual {
		e.base.LagrangianHessian(e.blh, lambda, x, u, theta[:pb])
		for r := 0; r < k; r++ {
			copy(h[r*k:(r+1)*k], e.blh[r*(k+pb):r*(k+pb)+k])
		}
	}
	e.linearize(next, fx, fu, x, u, theta, true)
	// ā_l for λᵀN: the reverse pass without tangent.
	e.reverse(nil, theta, lambda, nil, false)
	for l := 1; l < L; l++ {
		hl := e.d.sizes[l]
		jl := e.jac[l] // hl × k, row i = ∂h_l,i/∂τ
		for i := 0; i < hl; i++ {
			c := e.d2[l][i] * e.abA[l][i]
			if c == 0 {
				continue
			}
			ji := jl[i*k : (i+1)*k]
			for a, ja := range ji { // upper triangle; mirrored below
				if ja == 0 {
					continue
				}
				ca := c * ja
				row := h[a*k : (a+1)*k]
				for b := a; b < k; b++ {
					row[b] += ca * ji[b]
				}
			}
		}
	}
	for a := 0; a < k; a++ {
		for b := a + 1; b < k; b++ {
			h[b*k+a] = h[a*k+b]
		}
	}
}

// ContractParams implements ParamContractor: dst += ∂/∂θ_all [νᵀf + λᵀ(∂f/∂τ d)],
// the network's part by one forward-with-tangent and one reverse pass.
func (e *neuralEval) ContractParams(dst, nu, lambda, d, x, u, theta []float64) {
	n, m, pb := e.d.dims.N, e.d.dims.M, e.d.pb
	k := n + m
	if e.d.form == Residual && pb > 0 {
		e.base.ParamJacobian(e.bft, x, u, theta[:pb])
		e.base.LagrangianHessian(e.blh, lambda, x, u, theta[:pb])
		for j := 0; j < pb; j++ {
			var s float64
			for i := 0; i < n; i++ {
				s += nu[i] * e.bft[i*pb+j]
			}
			for r := 0; r < k; r++ {
				s += d[r] * e.blh[r*(k+pb)+k+j]
			}
			dst[j] += s
		}
	}
	e.forward(x, u, theta)
	e.tangent(theta, d)
	e.reverse(dst[pb:], theta, nu, lambda, false)
}
