// Command solve reads one box-constrained optimal control problem as JSON,
// solves it with the iLQR solver and writes the solution and the gradient of
// a loss through it as JSON, so a problem can be checked against an
// independent implementation.
//
//	go run ./examples/solve < problem.json
//	go run ./examples/solve problem.json
//	go run ./examples/solve -in problem.json
//
// Input fields:
//
//	model       "pendulum", "cartpole" or "double_pendulum"
//	params      dynamics parameters in the model's documented order
//	            (optional: the model's nominal values)
//	T           horizon: T states x_0..x_{T-1} and T controls
//	x0          initial state
//	q, p        cost ½τᵀdiag(q)τ + pᵀτ per step, τ = (x, u)
//	            (optional: the task's default cost)
//	u_lower, u_upper  bounds: a number or one per control component
//	            (optional: the task's default bounds)
//	loss        {"kind": "sum_sq_u"}: L = Σ u²; or
//	            {"kind": "linear", "wx": T×n, "wu": T×m}: L = Σ wx·X + Σ wu·U
//	grad_mode   "implicit" (default), "unrolled" or "fixed_point"
//	max_iter    iteration limit (default 500; for "unrolled" the exact
//	            number of unrolled iterations, default 100)
//	tol         projected-gradient tolerance (default 1e-10)
//
// Output fields: X (T×n), U (T×m), cost, status, iterations, loss and grad
// with params, q, p and x0.
//
// The input is exactly one JSON document (white space may follow it, nothing
// else) of at most 64 MiB. T is at most 100000, and for grad_mode "unrolled"
// T × iterations is at most 20000 (the unrolled graph grows by about 1.3 MB
// per iteration). The parameters must lie in the model's domain (positive
// masses and lengths, finite gravity).
//
// Exit status 0 on success. Bad JSON, an input over these limits, an
// impossible problem or a solution that is not finite (a NaN or an infinity
// anywhere in the output): exit status 2 and a one-line message on stderr,
// which quotes at most 100 characters of any input value.
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
	"strconv"
	"strings"

	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
)

// Problem is the JSON input.
type Problem struct {
	Model   string          `json:"model"`
	Params  []float64       `json:"params"`
	T       int             `json:"T"`
	X0      []float64       `json:"x0"`
	Q       []float64       `json:"q"`
	P       []float64       `json:"p"`
	ULower  json.RawMessage `json:"u_lower"`
	UUpper  json.RawMessage `json:"u_upper"`
	Loss    Loss            `json:"loss"`
	Mode    string          `json:"grad_mode"`
	MaxIter int             `json:"max_iter"`
	Tol     float64         `json:"tol"`
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
}

// Grad holds dL with respect to each input.
type Grad struct {
	Params []float64 `json:"params"`
	Q      []float64 `json:"q"`
	P      []float64 `json:"p"`
	X0     []float64 `json:"x0"`
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
}

// defaultLimits are the limits stated in the command's documentation.
var defaultLimits = limits{inputBytes: 64 << 20, t: 100000, unrolledWork: 20000}

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
	seeList("grad.q", out.Grad.Q)
	seeList("grad.p", out.Grad.P)
	seeList("grad.x0", out.Grad.X0)
	switch count {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("solution is not finite: %s", first)
	}
	return fmt.Errorf("solution is not finite: %s and %d more non-finite numbers", first, count-1)
}

// bounds decodes a number or a list of m numbers; empty means def.
func bounds(raw json.RawMessage, name string, m int, def []float64) ([]float64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return def, nil
	}
	var x float64
	if err := json.Unmarshal(raw, &x); err == nil {
		b := make([]float64, m)
		for i := range b {
			b[i] = x
		}
		return b, nil
	}
	var xs []float64
	if err := json.Unmarshal(raw, &xs); err != nil {
		return nil, fmt.Errorf("%s must be a number or a list of %d numbers", name, m)
	}
	if len(xs) != m {
		return nil, fmt.Errorf("%s has %d entries, want %d", name, len(xs), m)
	}
	return xs, nil
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

// solve checks the problem against the model and the limits, solves it and
// differentiates the loss.
func solve(pr *Problem, lim limits) (*Output, error) {
	task, err := models.TaskByName(pr.Model)
	if err != nil {
		return nil, fmt.Errorf("unknown model %q (known: %s)", clip(pr.Model), strings.Join(models.TaskNames(), ", "))
	}
	d := task.Dynamics.Dims()
	n, m, k := d.N, d.M, d.N+d.M
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
	phi := task.Cost.DefaultParams()
	if pr.Q != nil {
		if len(pr.Q) != k {
			return nil, fmt.Errorf("q has %d entries, want n+m=%d", len(pr.Q), k)
		}
		copy(phi[:k], pr.Q)
	}
	if pr.P != nil {
		if len(pr.P) != k {
			return nil, fmt.Errorf("p has %d entries, want n+m=%d", len(pr.P), k)
		}
		copy(phi[k:], pr.P)
	}
	cost, err := models.NewQuadCost(n, m, phi[:k], phi[k:])
	if err != nil {
		return nil, err
	}
	lo, err := bounds(pr.ULower, "u_lower", m, task.Lower)
	if err != nil {
		return nil, err
	}
	hi, err := bounds(pr.UUpper, "u_upper", m, task.Upper)
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
		iters := pr.MaxIter
		if iters == 0 {
			iters = defaultUnrolledIters
		}
		if err := checkWork(pr.T, iters, lim.unrolledWork, "grad_mode unrolled", "the unrolled graph holds every iteration"); err != nil {
			return nil, err
		}
		return solveUnrolled(pr, task, cost, theta, phi, lo, hi)
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
	prob := ilqr.Problem{Task: models.Task{Dynamics: task.Dynamics, Cost: cost, Lower: lo, Upper: hi}, T: pr.T}
	sv, err := ilqr.NewSolver(prob, &ilqr.Settings{MaxIter: maxIter, TolGrad: tol})
	if err != nil {
		return nil, err
	}
	in := ilqr.Inputs{X0: pr.X0, Theta: theta, Phi: phi}
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
	return &Output{
		X: rows(res.X, n), U: rows(res.U, m), Cost: res.Cost[0],
		Status: res.Status[0].String(), Iterations: res.Iterations[0],
		Loss: loss, GradStatus: g.Status[0].String(),
		Grad: Grad{Params: g.Theta, Q: g.Phi[:k], P: g.Phi[k:], X0: g.X0},
	}, nil
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
