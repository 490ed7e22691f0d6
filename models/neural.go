package models

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
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

// evalVec sets s, d1 and d2 to σ, σ′ and σ″ of h elementwise (s may be
// h), with the switch on the activation outside the loop. Tanh and the
// sigmoid take two passes, the transcendental function first: the second
// pass's divisions and products then overlap (about 1.4× faster than one
// pass at width 64).
func (a Activation) evalVec(s, d1, d2, h []float64) {
	d1, d2, s = d1[:len(h)], d2[:len(h)], s[:len(h)]
	switch a {
	case Tanh:
		for i, v := range h {
			s[i] = math.Tanh(v)
		}
		for i, si := range s {
			di := 1 - si*si
			d1[i], d2[i] = di, -2*si*di
		}
	case Sigmoid:
		for i, v := range h {
			d2[i] = math.Exp(-v)
		}
		for i, ev := range d2 {
			si := 1 / (1 + ev)
			di := si * (1 - si)
			s[i], d1[i], d2[i] = si, di, di*(1-2*si)
		}
	default:
		for i, v := range h {
			s[i], d1[i], d2[i] = softplus3(v)
		}
	}
}

// softplus3 returns log(1 + e^h), written to stay finite for large |h|,
// and its first two derivatives.
func softplus3(h float64) (s, d1, d2 float64) {
	sg := 1 / (1 + math.Exp(-h))
	if h > 30 {
		s = h + math.Log1p(math.Exp(-h))
	} else {
		s = math.Log1p(math.Exp(h))
	}
	return s, sg, sg * (1 - sg)
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
// by the layer Jacobians J_l = ∂h_l/∂(x, u) (N+M forward tangents), the
// Lagrangian Hessian in (x, u) from them and one reverse pass, and the
// parameter contractions the gradient needs (ParamContractor) by one more
// reverse pass over W per step, which reuses the activations, Jacobians
// and adjoint its evaluator kept from LinearizeHessianTau at the same
// point: the cost of the gradient grows linearly in the number of
// weights, never one evaluation per weight. (LagrangianHessian, with its
// θ columns, takes N+M forward-over-reverse passes.)
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
		if v-v != 0 { // NaN or ±Inf: one subtraction, for the solver checks every example's θ
			return fmt.Errorf("models: %s: parameter %d is %v", d.name, i, v)
		}
	}
	if pc, ok := d.base.(ParamChecker); ok {
		return pc.CheckParams(theta[:d.pb])
	}
	return nil
}

// NewEvaluator implements Dynamics. Besides its scratch space the evaluator
// keeps the points LinearizeHessianTau visited for ContractParams (see
// pointCache), made on first use: the only allocations after this one.
func (d *NeuralDynamics) NewEvaluator() DynamicsEvaluator {
	n, m := d.dims.N, d.dims.M
	k := n + m
	L := len(d.sizes) - 1
	e := &neuralEval{d: d, k: k, woff: make([]int, L+1), boff: make([]int, L+1)}
	off := d.pb
	for l := 1; l <= L; l++ {
		e.woff[l] = off
		off += d.sizes[l-1] * d.sizes[l]
		e.boff[l] = off
		off += d.sizes[l]
	}
	if d.base != nil {
		e.base = d.base.NewEvaluator()
		pb := d.pb
		e.bfx, e.bfu = make([]float64, n*n), make([]float64, n*m)
		e.bft, e.blh = make([]float64, n*pb), make([]float64, k*(k+pb))
		e.bnext = make([]float64, n)
	}
	e.scr = e.newPoint()
	e.a, e.d1, e.d2 = e.scr.a, e.scr.d1, e.scr.d2
	for _, s := range d.sizes {
		e.ht = append(e.ht, make([]float64, s))
		e.at = append(e.at, make([]float64, s))
		e.ab = append(e.ab, make([]float64, s))
		e.atb = append(e.atb, make([]float64, s))
		e.abA = append(e.abA, make([]float64, s))
	}
	e.gs = make([]float64, k*slices.Max(d.sizes))
	e.tau = make([]float64, k)
	e.col = make([]float64, k)
	e.cache.max = min(max(cacheFloats/e.pointSize(), 16), 4096)
	return e
}

// neuralEval evaluates a NeuralDynamics. Its scratch point scr holds the
// network's primal pass at one point (a, d1, d2 are scr's); ht, at hold a
// tangent, ab and atb the adjoints of the primal and of the tangent, abA
// the adjoint of each layer's output before σ′ is applied.
type neuralEval struct {
	d                         *NeuralDynamics
	k                         int   // N+M
	woff, boff                []int // offsets of W_l and b_l in θ_all, l = 1…L
	base                      DynamicsEvaluator
	bfx, bfu, bft, blh, bnext []float64
	scr                       *netPoint
	a, d1, d2                 [][]float64
	ht, at, ab, atb, abA      [][]float64
	gs                        []float64 // K × the widest layer
	tau, col                  []float64
	cache                     pointCache
}

// layer returns W_l (out × in) and b_l of layer l (1-based) in θ_all.
func (e *neuralEval) layer(theta []float64, l int) (w, b []float64) {
	return theta[e.woff[l]:e.boff[l]], theta[e.boff[l] : e.boff[l]+e.d.sizes[l]]
}

// forward evaluates the network at τ = (x, u) into the scratch point; the
// output is e.a[L].
func (e *neuralEval) forward(x, u, theta []float64) { e.forwardPoint(e.scr, x, u, theta) }

// forwardPoint evaluates the network at τ = (x, u) into p: activations
// with σ′ and σ″ of every hidden layer; the output is p.a[L].
func (e *neuralEval) forwardPoint(p *netPoint, x, u, theta []float64) {
	L := len(e.d.sizes) - 1
	copy(p.a[0], x)
	copy(p.a[0][len(x):], u)
	for l := 1; l <= L; l++ {
		w, b := e.layer(theta, l)
		h := p.a[l] // the pre-activation, then σ of it in place
		copy(h, b)
		matVec(h, w, p.a[l-1], 1)
		if l < L { // the output layer is linear
			e.d.act.evalVec(h, p.d1[l], p.d2[l], h)
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
		ht := e.ht[l]
		matVec(ht, w, e.at[l-1], 0)
		if l == L {
			copy(e.at[l], ht)
			continue
		}
		for i, v := range ht {
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
				if lambda != nil {
					hb[i] = e.d1[l][i]*ab + e.d2[l][i]*e.ht[l][i]*atb
				} else {
					// No tangent pass ran for this point: e.ht holds an
					// earlier call's values, possibly NaN, which 0·NaN
					// would carry into the result.
					hb[i] = e.d1[l][i] * ab
				}
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

// paramOffset returns the offsets of W_l and b_l in the network's part of
// θ_all (θ_all without the base's parameters).
func (e *neuralEval) paramOffset(l int) (int, int) {
	return e.woff[l] - e.d.pb, e.boff[l] - e.d.pb
}

// matVec sets y to W x + beta·y (beta 0 or 1) for W of len(y) rows of
// len(x) entries, row-major, by gonum's BLAS (Dgemv, whose assembly kernel
// takes four rows at a time and so loads each entry of x once per four
// rows: about 1.4× faster than a dot product per row at width 128).
func matVec(y, w, x []float64, beta float64) {
	blas64.Gemv(blas.NoTrans, 1, blas64.General{Rows: len(y), Cols: len(x), Stride: len(x), Data: w},
		blas64.Vector{N: len(x), Inc: 1, Data: x}, beta, blas64.Vector{N: len(y), Inc: 1, Data: y})
}

// matTVec sets y to Wᵀ x for W of len(x) rows of len(y) entries,
// row-major, by gonum's BLAS (Dgemv, transposed).
func matTVec(y, w, x []float64) {
	blas64.Gemv(blas.Trans, 1, blas64.General{Rows: len(x), Cols: len(y), Stride: len(y), Data: w},
		blas64.Vector{N: len(x), Inc: 1, Data: x}, 0, blas64.Vector{N: len(y), Inc: 1, Data: y})
}

// dot64 is aᵀb: a plain loop for a few entries, gonum's assembly kernel
// for longer ones.
func dot64(a, b []float64) float64 {
	if len(a) < 16 {
		var s float64
		b = b[:len(a)]
		for i, v := range a {
			s += v * b[i]
		}
		return s
	}
	return floats.Dot(a, b)
}

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

// Linearize implements DynamicsEvaluator: the network's Jacobian layer by
// layer, J_l = W_l diag(σ′(h_{l−1})) J_{l−1} from J_1 = W_1.
func (e *neuralEval) Linearize(next, fx, fu, x, u, theta []float64) {
	e.linearizeAt(e.scr, next, fx, fu, x, u, theta, nil)
}

// linearizeAt is Linearize, leaving the network's activations and
// Jacobians at τ in p; w1t is W_1ᵀ of θ, or nil.
func (e *neuralEval) linearizeAt(p *netPoint, next, fx, fu, x, u, theta, w1t []float64) {
	n, m := e.d.dims.N, e.d.dims.M
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
	e.pointAt(p, x, u, theta, w1t)
	out, jt := p.a[L], p.jt[L] // jt: K × N
	for i := 0; i < n; i++ {
		next[i] += out[i]
		for j := 0; j < n; j++ {
			fx[i*n+j] += jt[j*n+i]
		}
		for j := 0; j < m; j++ {
			fu[i*m+j] += jt[(n+j)*n+i]
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
