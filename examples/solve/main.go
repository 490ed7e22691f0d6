// Command solve reads one box-constrained optimal control problem as JSON,
// solves it with the iLQR solver and writes the solution and the gradient of
// a loss through it as JSON, so a problem can be checked against an
// independent implementation.
//
//	go run ./examples/solve < problem.json
//	go run ./examples/solve problem.json
//	go run ./examples/solve -in problem.json
//
// Input fields (K = n+m: n states, m controls; τ_t = (x_t, u_t)):
//
//	model       "pendulum", "cartpole", "double_pendulum" or "rocket" (a
//	            registered model with a path constraint of its own, the
//	            "vehicle", is refused)
//	params      dynamics parameters in the model's documented order
//	            (optional: the model's nominal values); with mlp still
//	            the model's own parameters θ only
//	mlp         {"hidden": [H_1, …, H_L], "weights": [...]}: a residual
//	            network added to the model's step (see "The network"
//	            below) (optional: none)
//	T           horizon: T states x_0..x_{T-1} and T controls
//	x0          initial state
//	q, p        cost ½τᵀdiag(q)τ + pᵀτ per step: each K numbers, the same
//	            at every step, or T rows of K, row t for step t (version 2)
//	            (optional: the task's default cost)
//	Q           (version 2; instead of q) the full cost ½τᵀQτ + pᵀτ: a K×K
//	            matrix (K rows of K), or T of them, one per step; each
//	            must be exactly symmetric: Q[i][j] == Q[j][i] in float64,
//	            no tolerance (symmetrize a computed Q before writing it).
//	            p as above
//	u_lower, u_upper  bounds: a number (every control at every step), m
//	            numbers (one per control component) or T rows of m, row t
//	            bounding u_t (version 2) (optional: the task's default
//	            bounds); within the model's own clamp of the controls
//	            where it has one (the pendulum's ±2, which are its default
//	            bounds): wider bounds are refused, since the clamp's kink
//	            would make the solution not differentiable
//	loss        {"kind": "sum_sq_u"}: L = Σ u²; or
//	            {"kind": "linear", "wx": T×n, "wu": T×m}: L = Σ wx·X + Σ wu·U
//	grad_mode   "implicit" (default), "unrolled" or "fixed_point"
//	max_iter    iteration limit (default 500; for "unrolled" the exact
//	            number of unrolled iterations, default 100)
//	tol         projected-gradient tolerance (default 1e-10; not with
//	            grad_mode "unrolled", which runs max_iter iterations)
//	x_lower, x_upper  state bounds x_lower ≤ x_t ≤ x_upper on the states
//	            x_1..x_{T-1} (x_0 is given and is not bounded): n numbers
//	            each, an entry null for no bound on it; either may be given
//	            alone, the other then bounds nothing; x_lower ≤ x_upper on
//	            every entry (equal bounds pin it) (optional: none; null is
//	            the same as absent)
//	tol_violation  with state bounds only: the tolerance on the KKT
//	            residual of the bounds of a "converged" solve, the largest
//	            of the violation max(0, x_lower − x_t, x_t − x_upper) and,
//	            on a bound a state is off, the smaller of its distance and
//	            its multiplier (default: tol when it is below 1e-9, else
//	            1e-9; with tol's default, 1e-10)
//
// When one of q (or Q) and p is given per step and the other once (or not
// at all), the one given once is repeated at every step. q, p and the
// bounds given once take the same path as before version 2: X, U, cost,
// loss and the version-1 gradients are bit-identical to version 1's. With Q the cost is
// models.FullQuadCost, whose parameters are the K² entries of Q, each
// independent, and p. For compatibility with version 1, whose field names
// matched case-insensitively, "Q" given as a flat list of K numbers is q.
// q and Q together are refused. grad_mode "unrolled" takes none of the
// version-2 shapes (Q, q or p per step, bounds per step).
//
// State bounds. x_lower and x_upper make the problem a constrained one:
// the path constraint models.StateBounds with ψ = (x_lower, x_upper), null
// entries ∓Inf, solved by op/ilqr's augmented Lagrangian (see ilqr's
// Settings.TolViolation; a constrained solve always takes Newton steps).
// They combine with every other input except grad_mode "unrolled", which
// refuses them and tol_violation; a model whose task has a path
// constraint of its own refuses them too. Without them the problem is
// solved and written as before: no max_violation, no grad.x_lower.
//
// The network. With mlp the model's step x′ = f(x, u; θ) becomes
//
//	x′ = f(x, u; θ) + N([x; u]; W),
//	N = W_{L+1} a_L + b_{L+1},  a_l = tanh(W_l a_{l−1} + b_l) (l = 1…L),
//	a_0 = [x; u],
//
// a perceptron with L tanh hidden layers of widths H_1…H_L and a linear
// output of n entries. It sees the raw control u: a model's own clamp of
// the controls acts only inside f. W_l has H_l rows of H_{l−1} (H_0 = n+m,
// H_{L+1} = n) and b_l H_l entries; weights lists them flat, layer by
// layer: W_1 row by row, b_1, W_2 row by row, b_2, …, b_{L+1}, in all
// Σ_l H_l(H_{l−1} + 1) numbers. For the pendulum (n = 3, m = 1) with
// hidden [2]: W_1 is 2×4, b_1 2, W_2 3×2, b_2 3, 19 numbers:
//
//	"mlp": {"hidden": [2], "weights": [
//	    W_1[0][0], W_1[0][1], W_1[0][2], W_1[0][3],
//	    W_1[1][0], W_1[1][1], W_1[1][2], W_1[1][3],
//	    b_1[0], b_1[1],
//	    W_2[0][0], W_2[0][1], W_2[1][0], W_2[1][1], W_2[2][0], W_2[2][1],
//	    b_2[0], b_2[1], b_2[2]]}
//
// Both fields are required; hidden may be empty (N = W_1[x; u] + b_1,
// affine). Each width is a whole number from 1 to 65536, there are at most
// 64 hidden layers and at most 10⁶ weights, all finite. The network
// combines with every other input except grad_mode "unrolled", which
// refuses it.
//
// Output fields: X (T×n), U (T×m), cost, status, iterations, loss,
// grad_status, max_violation (with state bounds) and grad, the gradient of
// L with respect to each input: params, mlp (dL/dW in the layout of
// weights, when mlp was given), q (or Q when Q was given), p, x0, x_lower
// and x_upper (both, when either was given), and (version 2) u_lower and
// u_upper when they were given, except in
// grad_mode "unrolled". A version-1 input gives the output it
// gave before, with grad.u_lower and grad.u_upper added when it gives the
// bounds. Each gradient has the shape its input was given:
//
//	q, p, Q     given once (or not at all): K numbers (K rows of K for Q),
//	            the sum over steps of the per-step gradients when the cost
//	            varies over steps; given per step: T rows of K (T matrices
//	            for Q). Each entry of Q is its own parameter: the gradient
//	            with respect to a symmetric Q is symmetric, its off-diagonal
//	            entries not doubled (∂(½τᵀQτ)/∂Q_ij = ½τ_iτ_j)
//	u_lower, u_upper  a number: a number, the sum over all steps and
//	            controls; m numbers: m numbers, the sums over steps; T rows
//	            of m: T rows of m. Nonzero only for controls held on that
//	            bound
//	x_lower, x_upper  n numbers each: dL/d(bound entry), 0 where the
//	            entry is null (or the field absent); nonzero only for
//	            entries that some state x_1..x_{T-1} sits on with a positive
//	            multiplier
//
// max_violation, written only when state bounds were given (0 included),
// is the solver's final violation, the largest over t = 1..T-1 and the
// entries of max(0, x_lower − x_t, x_t − x_upper).
//
// status is "converged", "stalled" (stationary as far as round-off lets
// the solver tell; gradients treat it as converged), "iteration limit",
// "line search failed", "regularization failed", "non-finite",
// "infeasible" (state bounds only: the violation stopped falling with the
// augmented Lagrangian's penalty at its largest; max_violation says by how
// much) or, in grad_mode "unrolled", "unrolled". Whatever the status, the
// gradients are those of the final iterate. grad_status is "ok",
// "indefinite Hessian" or "non-finite" (the gradients then zero),
// "weakly active constraint" (a state sits on a bound with a multiplier
// below 1e-8: the gradient holds the bounds with positive multipliers, a
// one-sided derivative) or "dependent constraints" (the active bounds and
// the controls held on their bounds are linearly dependent, as with equal
// bounds on an entry: gradients zero).
//
// A zero max_iter, tol or tol_violation means the default. Field names
// match case-insensitively (as Go's encoding/json does); a field not listed
// here, at the top level or inside loss or mlp, is refused.
//
// The input is exactly one JSON document (white space may follow it, nothing
// else) of at most 64 MiB. T is at most 100000, and for grad_mode "unrolled"
// T × iterations is at most 20000 (the unrolled graph grows by about 1.3 MB
// per iteration). The parameters must lie in the model's domain (positive
// masses and lengths, finite gravity).
//
// Exit status 0 on success. Bad JSON, an input over these limits, a field of
// the wrong shape, a number beyond the float64 range, an asymmetric Q, a
// network of bad widths or with weights not of its layout, state bounds
// not of n entries or with x_lower > x_upper on an entry, an impossible
// problem or a solution that is not finite (a NaN or an infinity
// anywhere in the output): exit status 2 and a one-line message on stderr,
// naming the field where one is at fault, which quotes at most 100
// characters of any input value.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
)

// Problem is the JSON input. The fields that take more than one shape
// (q, Q, p and the bounds) are kept raw and read by solve.
type Problem struct {
	Model   string          `json:"model"`
	Params  []float64       `json:"params"`
	MLP     json.RawMessage `json:"mlp"`
	T       int             `json:"T"`
	X0      []float64       `json:"x0"`
	Q       json.RawMessage `json:"q"`
	QFull   json.RawMessage `json:"Q"`
	P       json.RawMessage `json:"p"`
	ULower  json.RawMessage `json:"u_lower"`
	UUpper  json.RawMessage `json:"u_upper"`
	Loss    Loss            `json:"loss"`
	Mode    string          `json:"grad_mode"`
	MaxIter int             `json:"max_iter"`
	Tol     float64         `json:"tol"`
	// XLower and XUpper bound the states x_1..x_{T-1}: n entries, each a
	// number or null (no bound).
	XLower json.RawMessage `json:"x_lower"`
	XUpper json.RawMessage `json:"x_upper"`
	// TolViolation is the largest constraint violation of a converged
	// solve with state bounds.
	TolViolation float64 `json:"tol_violation"`
}

// Loss is the JSON loss description.
type Loss struct {
	Kind string      `json:"kind"`
	WX   [][]float64 `json:"wx"`
	WU   [][]float64 `json:"wu"`
}

// Output is the JSON output.
type Output struct {
	X          [][]float64 `json:"X"`
	U          [][]float64 `json:"U"`
	Cost       float64     `json:"cost"`
	Status     string      `json:"status"`
	Iterations int         `json:"iterations"`
	Loss       float64     `json:"loss"`
	GradStatus string      `json:"grad_status"`
	Grad       Grad        `json:"grad"`
	// MaxViolation is the solver's final violation of the state bounds,
	// max over steps and entries of max(0, c); written only when state
	// bounds were given.
	MaxViolation *float64 `json:"max_violation,omitempty"`

	// mult holds the multipliers of the state-bound rows, T rows of 2n
	// (lower rows, then upper; zero at step 0), when state bounds were
	// given. Not written: the tests read it.
	mult [][]float64
}

// Grad holds dL with respect to each input. Every field is flat here
// (row-major); in JSON each is written in the shape its input was given,
// which dims records by JSON name (a field without an entry is a flat
// list). A nil field is not written, except Params, Q (when QFull is nil),
// P and X0, which version 1 always wrote.
type Grad struct {
	Params []float64
	// MLP is dL/dW in the layout of mlp.weights, set when mlp was given.
	MLP []float64
	// Q is dL/dq (K, or T·K when q was given per step); QFull is dL/dQ
	// (K·K or T·K·K), set instead of Q when Q was given.
	Q, QFull []float64
	// P is dL/dp: K or T·K.
	P  []float64
	X0 []float64
	// ULower and UUpper are the bound gradients, 1, M or T·M numbers, set
	// when the bound was given.
	ULower, UUpper []float64
	// XLower and XUpper are the state-bound gradients, N numbers each
	// (zero where the bound is null), both set when either bound was
	// given.
	XLower, XUpper []float64

	dims map[string][]int
}

// gradJSON is Grad as written, field by field in this order.
type gradJSON struct {
	Params []float64 `json:"params"`
	MLP    []float64 `json:"mlp,omitempty"`
	Q      any       `json:"q,omitempty"`
	QFull  any       `json:"Q,omitempty"`
	P      any       `json:"p"`
	X0     []float64 `json:"x0"`
	ULower any       `json:"u_lower,omitempty"`
	UUpper any       `json:"u_upper,omitempty"`
	XLower []float64 `json:"x_lower,omitempty"`
	XUpper []float64 `json:"x_upper,omitempty"`
}

// gradRaw is Grad as read.
type gradRaw struct {
	Params []float64       `json:"params"`
	MLP    []float64       `json:"mlp"`
	Q      json.RawMessage `json:"q"`
	QFull  json.RawMessage `json:"Q"`
	P      json.RawMessage `json:"p"`
	X0     []float64       `json:"x0"`
	ULower json.RawMessage `json:"u_lower"`
	UUpper json.RawMessage `json:"u_upper"`
	XLower []float64       `json:"x_lower"`
	XUpper []float64       `json:"x_upper"`
}

// MarshalJSON writes g with each field in its recorded shape.
func (g Grad) MarshalJSON() ([]byte, error) {
	w := gradJSON{Params: g.Params, MLP: g.MLP, X0: g.X0, P: g.shaped("p", g.P), XLower: g.XLower, XUpper: g.XUpper}
	if g.QFull != nil {
		w.QFull = g.shaped("Q", g.QFull)
	} else {
		w.Q = g.shaped("q", g.Q)
	}
	if g.ULower != nil {
		w.ULower = g.shaped("u_lower", g.ULower)
	}
	if g.UUpper != nil {
		w.UUpper = g.shaped("u_upper", g.UUpper)
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads what MarshalJSON writes, refusing unknown fields.
func (g *Grad) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var r gradRaw
	if err := dec.Decode(&r); err != nil {
		return err
	}
	*g = Grad{Params: r.Params, MLP: r.MLP, X0: r.X0, XLower: r.XLower, XUpper: r.XUpper, dims: map[string][]int{}}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  *[]float64
	}{{"q", r.Q, &g.Q}, {"Q", r.QFull, &g.QFull}, {"p", r.P, &g.P}, {"u_lower", r.ULower, &g.ULower}, {"u_upper", r.UUpper, &g.UUpper}} {
		if !given(f.raw) {
			continue
		}
		a, err := readArray(f.raw, "grad."+f.name, 3)
		if err != nil {
			return err
		}
		*f.dst, g.dims[f.name] = a.data, a.dims
	}
	return nil
}

// shaped returns v in the shape dims records for name: a number, a list,
// rows or rows of rows.
func (g Grad) shaped(name string, v []float64) any {
	d, ok := g.dims[name]
	if !ok || v == nil {
		return v
	}
	switch len(d) {
	case 0:
		return v[0]
	case 1:
		return v
	case 2:
		return rows(v, d[1])
	}
	r := rows(v, d[1]*d[2])
	out := make([][][]float64, len(r))
	for i := range r {
		out[i] = rows(r[i], d[2])
	}
	return out
}

// setShape records that the gradient of name is written with dims.
func (g *Grad) setShape(name string, dims []int) {
	if g.dims == nil {
		g.dims = map[string][]int{}
	}
	g.dims[name] = dims
}

// limits bound the work one input can ask for.
type limits struct {
	// inputBytes is the largest input read, in bytes.
	inputBytes int64
	// t is the largest horizon T.
	t int
	// unrolledWork is the largest T × iterations for grad_mode unrolled,
	// whose graph holds every iteration.
	unrolledWork int
	// solverWork is the largest T × max_iter for the other modes; 0 means
	// no limit. The command sets none; the fuzz test does, to keep each
	// input fast.
	solverWork int
	// mlpWeights is the largest number of weights of a network.
	mlpWeights int
}

// defaultLimits are the limits stated in the command's documentation.
var defaultLimits = limits{inputBytes: 64 << 20, t: 100000, unrolledWork: 20000, mlpWeights: 1_000_000}

// maxQuoted is the most characters of an input value an error message
// quotes; maxMessage caps a whole message, whatever it quotes.
const (
	maxQuoted  = 100
	maxMessage = 400
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the command: it reads the problem named by args (a file given as
// -in FILE or as the one positional argument, else stdin), writes the
// solution to stdout and returns the exit status, 0 or 2. On failure it
// writes one line, "solve: " and the reason, to stderr.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runLimited(defaultLimits, args, stdin, stdout, stderr)
}

// runLimited is run under the given limits.
func runLimited(lim limits, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := runErr(lim, args, stdin, stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	}
	fmt.Fprintln(stderr, "solve:", oneLine(err.Error()))
	return 2
}

// runErr parses args, reads and solves the problem and writes the output.
func runErr(lim limits, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	path, err := inputPath(args, stderr)
	if err != nil {
		return err
	}
	r := stdin
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	pr, err := readProblem(r, lim.inputBytes)
	if err != nil {
		return err
	}
	out, err := solve(pr, lim)
	if err != nil {
		return err
	}
	if err := checkFinite(out); err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("writing the output: %w", err)
	}
	return nil
}

// inputPath returns the problem file named by args, -in FILE or one
// positional argument, or "" for stdin. It writes the usage to stderr for
// -h and returns flag.ErrHelp.
func inputPath(args []string, stderr io.Writer) (string, error) {
	fs := flag.NewFlagSet("solve", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported in one line by the caller
	in := fs.String("in", "", "read the problem from this file instead of stdin")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintln(stderr, "usage: solve [-in FILE | FILE] (default: the problem on stdin)")
			fs.PrintDefaults()
			return "", err
		}
		return "", fmt.Errorf("bad arguments: %w (see solve -h)", err)
	}
	switch rest := fs.Args(); {
	case len(rest) > 1:
		return "", fmt.Errorf("%d file arguments, want at most one", len(rest))
	case len(rest) == 1 && *in != "":
		return "", errors.New("give the problem file either with -in or as an argument, not both")
	case len(rest) == 1:
		return rest[0], nil
	}
	return *in, nil
}

// readProblem reads at most max bytes from r and decodes them as exactly
// one Problem, refusing unknown fields and anything but white space after
// the document.
func readProblem(r io.Reader, max int64) (*Problem, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading the input: %w", err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("the input is larger than the limit of %s", byteSize(max))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var pr Problem
	if err := dec.Decode(&pr); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("reading problem JSON: the input is empty")
		}
		return nil, fmt.Errorf("reading problem JSON: %s", jsonError(err))
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading problem JSON: data after the JSON document, which ends at byte %d", end)
	}
	return &pr, nil
}

// jsonError rewrites a decoding error so that it quotes at most maxQuoted
// characters of the input.
func jsonError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "the document"
		}
		return fmt.Sprintf("%s: cannot use %s as %s", field, clip(te.Value), te.Type)
	}
	msg := err.Error()
	if q, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		if name, uerr := strconv.Unquote(q); uerr == nil {
			return fmt.Sprintf("unknown field %q", clip(name))
		}
	}
	return msg
}

// clip shortens s to maxQuoted characters, saying how long it was.
func clip(s string) string {
	if p, cut := prefix(s, maxQuoted); cut {
		return fmt.Sprintf("%s… (%d bytes)", p, len(s))
	}
	return s
}

// oneLine makes msg a single line of at most maxMessage characters.
func oneLine(msg string) string {
	msg = strings.Join(strings.Fields(msg), " ")
	if p, cut := prefix(msg, maxMessage); cut {
		return p + "…"
	}
	return msg
}

// prefix returns the first n characters of s and whether s is longer.
func prefix(s string, n int) (string, bool) {
	if len(s) <= n {
		return s, false
	}
	for i := range s {
		if n == 0 {
			return s[:i], true
		}
		n--
	}
	return s, false
}

// byteSize writes n bytes in MiB when it is a whole number of them.
func byteSize(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// checkFinite returns an error naming the first NaN or infinity in out, and
// how many there are.
func checkFinite(out *Output) error {
	var first string // the first non-finite number, named
	count := 0
	see := func(v float64, name func() string) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			if count == 0 {
				first = fmt.Sprintf("%s = %v", name(), v)
			}
			count++
		}
	}
	seeList := func(name string, v []float64) {
		for i, x := range v {
			see(x, func() string { return fmt.Sprintf("%s[%d]", name, i) })
		}
	}
	seeRows := func(name string, v [][]float64) {
		for i, r := range v {
			for j, x := range r {
				see(x, func() string { return fmt.Sprintf("%s[%d][%d]", name, i, j) })
			}
		}
	}
	seeRows("X", out.X)
	seeRows("U", out.U)
	see(out.Cost, func() string { return "cost" })
	see(out.Loss, func() string { return "loss" })
	seeList("grad.params", out.Grad.Params)
	seeList("grad.mlp", out.Grad.MLP)
	seeList("grad.q", out.Grad.Q)
	seeList("grad.Q", out.Grad.QFull)
	seeList("grad.p", out.Grad.P)
	seeList("grad.x0", out.Grad.X0)
	seeList("grad.u_lower", out.Grad.ULower)
	seeList("grad.u_upper", out.Grad.UUpper)
	seeList("grad.x_lower", out.Grad.XLower)
	seeList("grad.x_upper", out.Grad.XUpper)
	if out.MaxViolation != nil {
		see(*out.MaxViolation, func() string { return "max_violation" })
	}
	switch count {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("solution is not finite: %s", first)
	}
	return fmt.Errorf("solution is not finite: %s and %d more non-finite numbers", first, count-1)
}

// given reports whether an optional field is present and not null.
func given(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

// array is a JSON number or a rectangular nested list of numbers: dims are
// the list lengths from the outside in (none for a number), data the
// numbers in row-major order.
type array struct {
	dims []int
	data []float64
}

// readArray reads raw, the value of the field name, as an array of at
// most maxDims levels of lists. Numbers beyond the float64 range, ragged
// lists and anything but numbers and lists are refused, naming the entry.
func readArray(raw json.RawMessage, name string, maxDims int) (array, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	r := arrayReader{dec: dec, name: name, max: maxDims}
	dims, err := r.value()
	if err != nil {
		return array{}, err
	}
	return array{dims: dims, data: r.data}, nil
}

// arrayReader reads an array token by token (no tree of interfaces, so
// a large list costs its numbers and no more).
type arrayReader struct {
	dec  *json.Decoder
	name string
	max  int
	data []float64
	at   []int // the indices of the value being read
}

// path names the value being read, with index i in place of the last
// index when i ≥ 0: "q[2][0]".
func (r *arrayReader) path(i int) string {
	var b strings.Builder
	b.WriteString(r.name)
	for j, k := range r.at {
		if j == len(r.at)-1 && i >= 0 {
			k = i
		}
		fmt.Fprintf(&b, "[%d]", k)
	}
	return b.String()
}

// value reads one number or list and returns its dims.
func (r *arrayReader) value() ([]int, error) {
	tok, err := r.dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.path(-1), err)
	}
	switch v := tok.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return nil, fmt.Errorf("%s = %s is not a finite float64", r.path(-1), clip(string(v)))
		}
		r.data = append(r.data, f)
		return []int{}, nil
	case json.Delim:
		if v != '[' {
			return nil, fmt.Errorf("%s is an object, want a number or a list", r.path(-1))
		}
		if len(r.at) == r.max {
			return nil, fmt.Errorf("%s is a list nested %d deep, want at most %d levels", r.path(-1), r.max+1, r.max)
		}
		return r.list()
	case string:
		return nil, fmt.Errorf("%s is a string, want a number", r.path(-1))
	case bool:
		return nil, fmt.Errorf("%s is %t, want a number", r.path(-1), v)
	}
	return nil, fmt.Errorf("%s is null, want a number", r.path(-1))
}

// list reads the entries of a list whose '[' has been read, and its ']'.
func (r *arrayReader) list() ([]int, error) {
	var inner []int
	n := 0
	r.at = append(r.at, 0)
	for r.dec.More() {
		r.at[len(r.at)-1] = n
		d, err := r.value()
		if err != nil {
			return nil, err
		}
		if n == 0 {
			inner = d
		} else if !slices.Equal(d, inner) {
			return nil, fmt.Errorf("%s is %s but %s is %s", r.path(-1), describe(d), r.path(0), describe(inner))
		}
		n++
	}
	r.at = r.at[:len(r.at)-1]
	if _, err := r.dec.Token(); err != nil { // the closing ']'
		return nil, fmt.Errorf("%s: %w", r.path(-1), err)
	}
	return append([]int{n}, inner...), nil
}

// describe names the shape dims in words.
func describe(dims []int) string {
	numbers := func(k int) string {
		if k == 1 {
			return "1 number"
		}
		return fmt.Sprintf("%d numbers", k)
	}
	switch len(dims) {
	case 0:
		return "a number"
	case 1:
		return "a list of " + numbers(dims[0])
	case 2:
		if dims[0] == 1 {
			return "1 row of " + numbers(dims[1])
		}
		return fmt.Sprintf("%d rows of %s", dims[0], numbers(dims[1]))
	}
	s := make([]string, len(dims))
	for i, d := range dims {
		s[i] = strconv.Itoa(d)
	}
	return strings.Join(s, "×") + " numbers"
}

// readField reads the optional field raw, which must have one of the
// shapes accept; it returns the array and the index of its shape in
// accept, or -1 when the field is absent or null.
func readField(raw json.RawMessage, name string, accept ...[]int) (array, int, error) {
	if !given(raw) {
		return array{}, -1, nil
	}
	maxDims := 0
	for _, d := range accept {
		maxDims = max(maxDims, len(d))
	}
	a, err := readArray(raw, name, maxDims)
	if err != nil {
		return array{}, 0, err
	}
	which, err := fitShape(a, name, accept...)
	return a, which, err
}

// fitShape returns the index of a's shape in accept, or an error naming
// the field name, its shape and the shapes accepted.
func fitShape(a array, name string, accept ...[]int) (int, error) {
	want := make([]string, len(accept))
	for i, d := range accept {
		if slices.Equal(a.dims, d) {
			return i, nil
		}
		want[i] = describe(d)
	}
	return 0, fmt.Errorf("%s is %s, want %s", name, describe(a.dims), strings.Join(want, " or "))
}

// matrix flattens a T×k list, checking its shape.
func matrix(v [][]float64, name string, t, k int) ([]float64, error) {
	if len(v) != t {
		return nil, fmt.Errorf("loss: %s has %d rows, want T=%d", name, len(v), t)
	}
	out := make([]float64, 0, t*k)
	for i, r := range v {
		if len(r) != k {
			return nil, fmt.Errorf("loss: %s row %d has %d entries, want %d", name, i, len(r), k)
		}
		out = append(out, r...)
	}
	return out, nil
}

func rows(v []float64, k int) [][]float64 {
	out := make([][]float64, 0, len(v)/k)
	for i := 0; i+k <= len(v); i += k {
		out = append(out, v[i:i+k])
	}
	return out
}

// solvableModels returns the registered models this command takes: those
// whose task has no path constraint of its own.
func solvableModels() []string {
	var names []string
	for _, name := range models.TaskNames() {
		if task, err := models.TaskByName(name); err == nil && task.Constraint == nil {
			names = append(names, name)
		}
	}
	return names
}

// solve checks the problem against the model and the limits, solves it and
// differentiates the loss.
func solve(pr *Problem, lim limits) (*Output, error) {
	task, err := models.TaskByName(pr.Model)
	if err != nil {
		return nil, fmt.Errorf("unknown model %q (known: %s)", clip(pr.Model), strings.Join(solvableModels(), ", "))
	}
	if task.Constraint != nil { // its ψ has no field here: refuse rather than drop it
		return nil, fmt.Errorf("model %s has a path constraint of its own (%s), which this command does not take; its state bounds are x_lower and x_upper", pr.Model, task.Constraint.Name())
	}
	d := task.Dynamics.Dims()
	n, m := d.N, d.M
	if pr.T < 1 {
		return nil, fmt.Errorf("T=%d: the horizon must be at least 1", pr.T)
	}
	if pr.T > lim.t {
		return nil, fmt.Errorf("T=%d: the horizon must be at most %d", pr.T, lim.t)
	}
	if len(pr.X0) != n {
		return nil, fmt.Errorf("x0 has %d entries, model %s has n=%d", len(pr.X0), pr.Model, n)
	}
	theta := pr.Params
	if theta == nil {
		theta = task.Dynamics.DefaultParams()
	}
	if len(theta) != d.P {
		return nil, fmt.Errorf("params has %d entries, model %s has %d", len(theta), pr.Model, d.P)
	}
	if pc, ok := task.Dynamics.(models.ParamChecker); ok {
		if err := pc.CheckParams(theta); err != nil {
			return nil, fmt.Errorf("params: %w", err)
		}
	}
	net, err := readMLP(pr.MLP, n, m, lim.mlpWeights)
	if err != nil {
		return nil, err
	}
	cs, err := readCost(pr, task.Cost.DefaultParams(), n, m, pr.T)
	if err != nil {
		return nil, err
	}
	lo, err := readBound(pr.ULower, "u_lower", task.Lower, pr.T, m)
	if err != nil {
		return nil, err
	}
	hi, err := readBound(pr.UUpper, "u_upper", task.Upper, pr.T, m)
	if err != nil {
		return nil, err
	}
	sb, err := readStateBounds(pr, n)
	if err != nil {
		return nil, err
	}
	if pr.Loss.Kind != "sum_sq_u" && pr.Loss.Kind != "linear" {
		return nil, fmt.Errorf("loss.kind %q: want sum_sq_u or linear", clip(pr.Loss.Kind))
	}
	var mode ilqr.GradMode
	switch pr.Mode {
	case "", "implicit":
		mode = ilqr.Implicit
	case "fixed_point":
		mode = ilqr.FixedPoint
	case "unrolled":
		if net != nil {
			return nil, errors.New("mlp: grad_mode unrolled takes no network; use grad_mode implicit or fixed_point")
		}
		iters := pr.MaxIter
		if iters == 0 {
			iters = defaultUnrolledIters
		}
		if err := checkWork(pr.T, iters, lim.unrolledWork, "grad_mode unrolled", "the unrolled graph holds every iteration"); err != nil {
			return nil, err
		}
		if f := version2Field(cs, lo, hi); f != "" {
			return nil, fmt.Errorf("%s: grad_mode unrolled takes q and p given once and the bounds as a number or m numbers; use grad_mode implicit or fixed_point", f)
		}
		if f := stateBoundField(pr); f != "" {
			return nil, fmt.Errorf("%s: grad_mode unrolled takes no state bounds; use grad_mode implicit or fixed_point", f)
		}
		return solveUnrolled(pr, task, cs.cost, theta, cs.phi, lo.v, hi.v)
	default:
		return nil, fmt.Errorf("grad_mode %q: want implicit, unrolled or fixed_point", clip(pr.Mode))
	}
	if pr.MaxIter < 0 || pr.Tol < 0 {
		return nil, errors.New("max_iter and tol must not be negative")
	}
	maxIter := pr.MaxIter
	if maxIter == 0 {
		maxIter = 500
	}
	if lim.solverWork > 0 {
		if err := checkWork(pr.T, maxIter, lim.solverWork, "grad_mode "+mode.String(), "a limit of this run"); err != nil {
			return nil, err
		}
	}
	tol := pr.Tol
	if tol == 0 {
		tol = 1e-10
	}
	set := &ilqr.Settings{MaxIter: maxIter, TolGrad: tol}
	if sb != nil {
		set.TolViolation = violationTol(pr.TolViolation, tol)
	}
	dyn := task.Dynamics
	if net != nil {
		if dyn, err = models.NewResidualDynamics(dyn, net.hidden, models.Tanh, 0); err != nil {
			return nil, fmt.Errorf("mlp: %w", err)
		}
		theta = slices.Concat(theta, net.weights)
	}
	prob := ilqr.Problem{Task: models.Task{Dynamics: dyn, Cost: cs.cost, Lower: lo.v, Upper: hi.v}, T: pr.T}
	if sb != nil {
		if prob.Constraint, err = models.NewStateBounds(n, m, sb.lower, sb.upper); err != nil {
			return nil, fmt.Errorf("x_lower, x_upper: %w", err)
		}
	}
	return solveILQR(pr, prob, theta, cs, lo, hi, sb, set, mode)
}

// solveILQR solves prob with the iLQR solver and differentiates the loss
// by the solver's gradient in mode, reporting each gradient in the shape
// its input was given. theta is the parameters of prob's dynamics: with a
// network, the model's θ followed by the weights.
func solveILQR(pr *Problem, prob ilqr.Problem, theta []float64, cs *costSpec, lo, hi boundSpec, sb *stateBounds, set *ilqr.Settings, mode ilqr.GradMode) (*Output, error) {
	sv, err := ilqr.NewSolver(prob, set)
	if err != nil {
		return nil, err
	}
	n, m := sv.Dims().N, sv.Dims().M
	in := ilqr.Inputs{X0: pr.X0, Theta: theta, Phi: cs.phi, PhiPerStep: cs.perStep}
	if sb != nil {
		in.Psi = slices.Concat(sb.lower, sb.upper)
	}
	var res ilqr.Result
	if err := sv.Solve(&res, in); err != nil {
		return nil, err
	}
	loss, dX, dU, err := lossAndGrad(&pr.Loss, res.X, res.U, pr.T, n, m)
	if err != nil {
		return nil, err
	}
	var g ilqr.Grads
	if err := sv.Gradient(&g, &res, in, dX, dU, ilqr.GradOptions{Mode: mode, Unconverged: ilqr.GradientAnyway}); err != nil {
		return nil, err
	}
	grad := Grad{Params: g.Theta, X0: g.X0}
	if nd, ok := prob.Dynamics.(*models.NeuralDynamics); ok {
		pb := nd.BaseParams()
		grad.Params, grad.MLP = g.Theta[:pb:pb], g.Theta[pb:]
	}
	w, p := cs.grads(g.Phi, pr.T)
	if cs.w.name == "Q" {
		grad.QFull = w
	} else {
		grad.Q = w
	}
	grad.P = p
	grad.setShape(cs.w.name, cs.w.dims)
	grad.setShape("p", cs.p.dims)
	if lo.dims != nil {
		grad.ULower = lo.grad(g.Lower, m)
		grad.setShape("u_lower", lo.dims)
	}
	if hi.dims != nil {
		grad.UUpper = hi.grad(g.Upper, m)
		grad.setShape("u_upper", hi.dims)
	}
	out := &Output{
		X: rows(res.X, n), U: rows(res.U, m), Cost: res.Cost[0],
		Status: res.Status[0].String(), Iterations: res.Iterations[0],
		Loss: loss, GradStatus: g.Status[0].String(), Grad: grad,
	}
	if sb != nil {
		out.Grad.XLower, out.Grad.XUpper = sb.grads(g.Psi)
		v := res.Violation[0]
		out.MaxViolation = &v
		out.mult = rows(slices.Clone(res.Mult), 2*n)
	}
	return out, nil
}

// stateBounds are the bounds x_lower ≤ x_t ≤ x_upper on the states of
// steps 1..T-1 as given: n entries each, ±Inf where the input has null
// (or where the field was not given).
type stateBounds struct {
	lower, upper []float64
}

// stateBoundField names the first state-bound field given (x_lower,
// x_upper, tol_violation), or returns "".
func stateBoundField(pr *Problem) string {
	switch {
	case given(pr.XLower):
		return "x_lower"
	case given(pr.XUpper):
		return "x_upper"
	case pr.TolViolation != 0:
		return "tol_violation"
	}
	return ""
}

// readStateBounds reads x_lower and x_upper for n states: nil when
// neither is given (tol_violation is then refused); else both, an absent
// one all unbounded. Each must be a list of n entries, numbers or null,
// with lower ≤ upper on every entry.
func readStateBounds(pr *Problem, n int) (*stateBounds, error) {
	if !given(pr.XLower) && !given(pr.XUpper) {
		if pr.TolViolation != 0 {
			return nil, errors.New("tol_violation: there are no state bounds (x_lower, x_upper) for it to apply to")
		}
		return nil, nil
	}
	if pr.TolViolation < 0 {
		return nil, fmt.Errorf("tol_violation = %v must not be negative", pr.TolViolation)
	}
	lo, err := readBoundList(pr.XLower, "x_lower", n, math.Inf(-1))
	if err != nil {
		return nil, err
	}
	hi, err := readBoundList(pr.XUpper, "x_upper", n, math.Inf(1))
	if err != nil {
		return nil, err
	}
	for i := range n {
		if lo[i] > hi[i] {
			return nil, fmt.Errorf("x_lower[%d] = %v > x_upper[%d] = %v: no state satisfies the bounds", i, lo[i], i, hi[i])
		}
	}
	return &stateBounds{lower: lo, upper: hi}, nil
}

// readBoundList reads the optional field raw, the value of name: a list
// of n entries, each a number or null; null entries, and all of them when
// the field is absent, are none (±Inf).
func readBoundList(raw json.RawMessage, name string, n int, none float64) ([]float64, error) {
	v := make([]float64, n)
	if !given(raw) {
		for i := range v {
			v[i] = none
		}
		return v, nil
	}
	want := fmt.Sprintf("want a list of n=%d entries, each a number or null", n)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	} else if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fmt.Errorf("%s is %s, %s", name, tokenKind(tok), want)
	}
	count := 0
	for ; dec.More(); count++ {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", name, count, err)
		}
		var x float64
		switch t := tok.(type) {
		case nil:
			x = none
		case json.Number:
			if x, err = strconv.ParseFloat(string(t), 64); err != nil {
				return nil, fmt.Errorf("%s[%d] = %s is not a finite float64", name, count, clip(string(t)))
			}
		default:
			return nil, fmt.Errorf("%s[%d] is %s, want a number or null", name, count, tokenKind(tok))
		}
		if count < n {
			v[count] = x
		}
	}
	if count != n {
		return nil, fmt.Errorf("%s has %d entries, %s", name, count, want)
	}
	return v, nil
}

// tokenKind names the JSON value that starts with tok, in words.
func tokenKind(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			return "a list"
		}
		return "an object"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case bool:
		return strconv.FormatBool(t)
	}
	return "null"
}

// violationTol returns the violation tolerance: given, else the
// projected-gradient tolerance tol when it is below 1e-9, else 1e-9 (the
// solver's default).
func violationTol(given, tol float64) float64 {
	if given != 0 {
		return given
	}
	return min(tol, 1e-9)
}

// grads splits dL/dψ (lower, then upper: 2n numbers) into the gradients of
// the two bounds, zero where a bound is absent.
func (b *stateBounds) grads(psi []float64) (lower, upper []float64) {
	n := len(b.lower)
	lower, upper = slices.Clone(psi[:n]), slices.Clone(psi[n:2*n])
	for i := range n {
		if math.IsInf(b.lower[i], 0) {
			lower[i] = 0
		}
		if math.IsInf(b.upper[i], 0) {
			upper[i] = 0
		}
	}
	return lower, upper
}

// stepParams is a block of cost parameters (q, Q or p) as given: once, or
// per step.
type stepParams struct {
	// name is the JSON field.
	name string
	// data holds size numbers, or T rows of size with perStep.
	data    []float64
	size    int
	perStep bool
	// dims is the shape it was given in (K when not given), for its
	// gradient.
	dims []int
}

// at returns the block of step t.
func (s stepParams) at(t int) []float64 {
	if !s.perStep {
		return s.data
	}
	return s.data[t*s.size : (t+1)*s.size]
}

// gradFrom collects the block's gradient from dL/dφ, T rows of stride
// numbers in which the block starts at off: T rows when it was given per
// step, else their sum.
func (s stepParams) gradFrom(g []float64, off, stride, t int) []float64 {
	if s.perStep {
		out := make([]float64, 0, t*s.size)
		for step := range t {
			out = append(out, g[step*stride+off:step*stride+off+s.size]...)
		}
		return out
	}
	out := make([]float64, s.size)
	for step := range t {
		for j := range out {
			out[j] += g[step*stride+off+j]
		}
	}
	return out
}

// costSpec is the cost of a problem: its function, its parameters φ and
// the blocks they were assembled from.
type costSpec struct {
	cost models.Cost
	// w is the weights, q (diagonal) or Q (full); p the linear term.
	w, p stepParams
	// phi is φ = (w, p) once, or T rows of it with perStep (when w or p
	// was given per step).
	phi     []float64
	perStep bool
}

// readCost reads q or Q and p, filling in the task's defaults def (a
// diagonal cost: q, then p) for those not given.
func readCost(pr *Problem, def []float64, n, m, t int) (*costSpec, error) {
	k := n + m
	if len(def) != 2*k {
		return nil, fmt.Errorf("model %s: its task's cost has %d parameters, not the %d of a diagonal quadratic cost (q, p)", pr.Model, len(def), 2*k)
	}
	w, err := readWeights(pr, def[:k], k, t)
	if err != nil {
		return nil, err
	}
	p, err := readStepParams(pr.P, "p", def[k:], k, t)
	if err != nil {
		return nil, err
	}
	cs := &costSpec{w: w, p: p, perStep: w.perStep || p.perStep}
	steps := 1
	if cs.perStep {
		steps = t
	}
	cs.phi = make([]float64, 0, steps*(w.size+p.size))
	for s := range steps {
		cs.phi = append(append(cs.phi, w.at(s)...), p.at(s)...)
	}
	if w.name == "Q" {
		cs.cost, err = models.NewFullQuadCost(n, m, w.at(0), p.at(0))
	} else {
		cs.cost, err = models.NewQuadCost(n, m, w.at(0), p.at(0))
	}
	if err != nil {
		return nil, err
	}
	return cs, nil
}

// grads splits dL/dφ into the gradients of the weights and of p, each in
// the layout it was given.
func (c *costSpec) grads(g []float64, t int) (w, p []float64) {
	a, stride := c.w.size, c.w.size+c.p.size
	if !c.perStep {
		return g[:a], g[a:stride]
	}
	return c.w.gradFrom(g, 0, stride, t), c.p.gradFrom(g, a, stride, t)
}

// readStepParams reads the optional field raw: k numbers, or T rows of k;
// def when absent.
func readStepParams(raw json.RawMessage, name string, def []float64, k, t int) (stepParams, error) {
	a, which, err := readField(raw, name, []int{k}, []int{t, k})
	switch {
	case err != nil:
		return stepParams{}, fmt.Errorf("%w (T=%d, n+m=%d)", err, t, k)
	case which < 0:
		return stepParams{name: name, data: append([]float64(nil), def...), size: k, dims: []int{k}}, nil
	}
	return stepParams{name: name, data: a.data, size: k, perStep: which == 1, dims: a.dims}, nil
}

// readWeights reads the cost weights: q (k numbers or T rows, def when
// absent) or Q (k×k or T×k×k, exactly symmetric), not both. Q as a flat
// list of k numbers is q, as version 1 read it.
func readWeights(pr *Problem, def []float64, k, t int) (stepParams, error) {
	if !given(pr.QFull) {
		return readStepParams(pr.Q, "q", def, k, t)
	}
	if given(pr.Q) {
		return stepParams{}, errors.New("q and Q: give the diagonal weights q or the full matrix Q, not both")
	}
	a, err := readArray(pr.QFull, "Q", 3)
	if err != nil {
		return stepParams{}, err
	}
	if slices.Equal(a.dims, []int{k}) {
		return stepParams{name: "q", data: a.data, size: k, dims: a.dims}, nil
	}
	which, err := fitShape(a, "Q", []int{k, k}, []int{t, k, k})
	if err != nil {
		return stepParams{}, fmt.Errorf("%w (T=%d, n+m=%d)", err, t, k)
	}
	s := stepParams{name: "Q", data: a.data, size: k * k, perStep: which == 1, dims: a.dims}
	if err := checkSymmetric(s, k); err != nil {
		return stepParams{}, err
	}
	return s, nil
}

// checkSymmetric refuses a Q with an entry that differs from its mirror
// image (exact comparison: no tolerance).
func checkSymmetric(s stepParams, k int) error {
	for step := 0; step*s.size < len(s.data); step++ {
		q := s.data[step*s.size : (step+1)*s.size]
		at := ""
		if s.perStep {
			at = fmt.Sprintf("[%d]", step)
		}
		for i := range k {
			for j := i + 1; j < k; j++ {
				if q[i*k+j] != q[j*k+i] {
					return fmt.Errorf("Q is not symmetric: Q%s[%d][%d] = %v but Q%s[%d][%d] = %v",
						at, i, j, q[i*k+j], at, j, i, q[j*k+i])
				}
			}
		}
	}
	return nil
}

// boundSpec is a control bound as given.
type boundSpec struct {
	// v holds M or T·M numbers.
	v []float64
	// dims is the shape it was given in: none for a number, [M] or [T, M];
	// nil when not given (the task's bound).
	dims []int
}

// readBound reads the optional bound raw: a number, m numbers or T rows
// of m; def when absent.
func readBound(raw json.RawMessage, name string, def []float64, t, m int) (boundSpec, error) {
	a, which, err := readField(raw, name, []int{}, []int{m}, []int{t, m})
	switch {
	case err != nil:
		return boundSpec{}, fmt.Errorf("%w (T=%d, m=%d)", err, t, m)
	case which < 0:
		return boundSpec{v: def}, nil
	case which == 0:
		v := make([]float64, m)
		for i := range v {
			v[i] = a.data[0]
		}
		return boundSpec{v: v, dims: a.dims}, nil
	}
	return boundSpec{v: a.data, dims: a.dims}, nil
}

// grad reduces dL/d(bound), T·M numbers, to the shape the bound was given
// in: the sum of all, the sums over steps, or all.
func (b boundSpec) grad(g []float64, m int) []float64 {
	switch len(b.dims) {
	case 0:
		var s float64
		for _, v := range g {
			s += v
		}
		return []float64{s}
	case 1:
		out := make([]float64, m)
		for i, v := range g {
			out[i%m] += v
		}
		return out
	}
	return append([]float64(nil), g...)
}

// version2Field names the first field given in a shape that version 1 did
// not have (Q, q or p per step, bounds per step), or returns "".
func version2Field(cs *costSpec, lo, hi boundSpec) string {
	switch {
	case cs.w.name == "Q" || cs.w.perStep:
		return cs.w.name
	case cs.p.perStep:
		return "p"
	case len(lo.dims) == 2:
		return "u_lower"
	case len(hi.dims) == 2:
		return "u_upper"
	}
	return ""
}

// checkWork refuses T × iters above limit; a negative iters is left to the
// solver's own check.
func checkWork(t, iters, limit int, what, why string) error {
	if iters > 0 && iters > limit/t {
		return fmt.Errorf("%s: T×max_iter = %d×%d is over the limit of %d (%s); lower T or max_iter",
			what, t, iters, limit, why)
	}
	return nil
}

// lossAndGrad evaluates the loss and its gradient with respect to X and U.
func lossAndGrad(l *Loss, x, u []float64, t, n, m int) (float64, []float64, []float64, error) {
	dX := make([]float64, len(x))
	dU := make([]float64, len(u))
	var loss float64
	switch l.Kind {
	case "sum_sq_u":
		for i, v := range u {
			loss += v * v
			dU[i] = 2 * v
		}
	case "linear":
		wx, err := matrix(l.WX, "wx", t, n)
		if err != nil {
			return 0, nil, nil, err
		}
		wu, err := matrix(l.WU, "wu", t, m)
		if err != nil {
			return 0, nil, nil, err
		}
		for i, v := range x {
			loss += wx[i] * v
		}
		for i, v := range u {
			loss += wu[i] * v
		}
		copy(dX, wx)
		copy(dU, wu)
	default:
		return 0, nil, nil, fmt.Errorf("loss.kind %q: want sum_sq_u or linear", clip(l.Kind))
	}
	return loss, dX, dU, nil
}

// mlpSpec is a residual network as given: its hidden widths and its
// weights, flat in the layout of models.NewResidualDynamics.
type mlpSpec struct {
	hidden  []int
	weights []float64
}

// The network's size limits: maxWidth and maxHidden are the models
// package's own (models.NewResidualDynamics refuses more); the number of
// weights is limited by limits.mlpWeights.
const (
	maxWidth  = 1 << 16
	maxHidden = 64
)

// readMLP reads the optional field mlp for n states and m controls: nil
// when absent or null; else its widths and exactly as many weights as
// their layout has, at most limit.
func readMLP(raw json.RawMessage, n, m, limit int) (*mlpSpec, error) {
	if !given(raw) {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var r struct {
		Hidden  json.RawMessage `json:"hidden"`
		Weights json.RawMessage `json:"weights"`
	}
	if err := dec.Decode(&r); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field == "" {
			return nil, fmt.Errorf(`mlp is a JSON %s, want an object {"hidden": [H_1, ...], "weights": [...]}`, te.Value)
		}
		return nil, fmt.Errorf("mlp: %s", jsonError(err))
	}
	if !given(r.Hidden) {
		return nil, errors.New("mlp.hidden is missing: want the list of hidden layer widths ([] for none)")
	}
	hidden, err := readWidths(r.Hidden)
	if err != nil {
		return nil, err
	}
	sizes := slices.Concat([]int{n + m}, hidden, []int{n})
	count := 0 // at most 65 layers of 2¹⁶×(2¹⁶+1): no overflow
	for l := 1; l < len(sizes); l++ {
		count += sizes[l] * (sizes[l-1] + 1)
	}
	widths := make([]string, len(hidden))
	for i, h := range hidden {
		widths[i] = strconv.Itoa(h)
	}
	layout := fmt.Sprintf("hidden [%s] on n=%d, m=%d", clip(strings.Join(widths, ", ")), n, m)
	if count > limit {
		return nil, fmt.Errorf("mlp.hidden: %s has %d weights, over the limit of %d", layout, count, limit)
	}
	if !given(r.Weights) {
		return nil, fmt.Errorf("mlp.weights is missing: want %d numbers (%s: %s)", count, layout, layerList(sizes))
	}
	a, err := readArray(r.Weights, "mlp.weights", 1)
	if err != nil {
		return nil, err
	}
	if !slices.Equal(a.dims, []int{count}) {
		return nil, fmt.Errorf("mlp.weights is %s, want %d numbers (%s: %s)", describe(a.dims), count, layout, layerList(sizes))
	}
	return &mlpSpec{hidden: hidden, weights: a.data}, nil
}

// readWidths reads mlp.hidden: a list of at most maxHidden whole numbers
// from 1 to maxWidth.
func readWidths(raw json.RawMessage) ([]int, error) {
	a, err := readArray(raw, "mlp.hidden", 1)
	if err != nil {
		return nil, err
	}
	if len(a.dims) != 1 {
		return nil, fmt.Errorf("mlp.hidden is %s, want a list of hidden layer widths", describe(a.dims))
	}
	if len(a.data) > maxHidden {
		return nil, fmt.Errorf("mlp.hidden has %d layers, at most %d", len(a.data), maxHidden)
	}
	hidden := make([]int, len(a.data))
	for i, v := range a.data {
		if v != math.Trunc(v) || v < 1 || v > maxWidth {
			return nil, fmt.Errorf("mlp.hidden[%d] = %v: a width must be a whole number from 1 to %d", i, v, maxWidth)
		}
		hidden[i] = int(v)
	}
	return hidden, nil
}

// layerList names the blocks of the weights' layout for the layer sizes
// (in, hidden…, out): "W_1 2×4, b_1 2, W_2 3×2, b_2 3", the first three
// layers and the last when there are more.
func layerList(sizes []int) string {
	var parts []string
	for l := 1; l < len(sizes); l++ {
		if len(sizes) > 5 && l == 4 {
			parts = append(parts, "…")
			l = len(sizes) - 1
		}
		parts = append(parts, fmt.Sprintf("W_%d %d×%d, b_%d %d", l, sizes[l], sizes[l-1], l, sizes[l]))
	}
	return strings.Join(parts, ", ")
}
