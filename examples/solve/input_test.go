package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// result is what one run of the command left behind.
type result struct {
	code           int
	stdout, stderr string
}

// runCmd runs the command with args on stdin under lim.
func runCmd(lim limits, args []string, stdin io.Reader) result {
	var out, errb bytes.Buffer
	code := runLimited(lim, args, stdin, &out, &errb)
	return result{code, out.String(), errb.String()}
}

// wantFailure checks that r is a failure reported as the command promises:
// exit status 2, nothing on stdout, one line on stderr that starts with
// "solve: " and contains every string in want.
func wantFailure(t *testing.T, r result, want ...string) {
	t.Helper()
	if r.code != 2 {
		t.Fatalf("exit status %d, want 2 (stderr %.200q)", r.code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout %.200q on failure", r.stdout)
	}
	if !strings.HasPrefix(r.stderr, "solve: ") || !strings.HasSuffix(r.stderr, "\n") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("stderr is not one line starting with \"solve: \": %.300q", r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr %.300q does not contain %q", r.stderr, w)
		}
	}
}

// wantSolution checks that r is a success and returns its output.
func wantSolution(t *testing.T, r result) *Output {
	t.Helper()
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit status %d, stderr %.300q", r.code, r.stderr)
	}
	var o Output
	if err := json.Unmarshal([]byte(r.stdout), &o); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	return &o
}

// problem returns pendulumJSON with the given fields replaced or added.
func problem(t *testing.T, fields map[string]any) string {
	t.Helper()
	var pr map[string]any
	if err := json.Unmarshal([]byte(pendulumJSON), &pr); err != nil {
		t.Fatal(err)
	}
	for k, v := range fields {
		pr[k] = v
	}
	b, err := json.Marshal(pr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestHorizonLimit: a horizon of 10⁷ is refused before anything of its size
// is allocated.
func TestHorizonLimit(t *testing.T) {
	r := runCmd(defaultLimits, nil, strings.NewReader(problem(t, map[string]any{"T": 10_000_000})))
	wantFailure(t, r, "T=10000000", "at most 100000")
	// The limit itself is allowed (checked on a small limit, to stay fast).
	lim := defaultLimits
	lim.t = 8
	wantSolution(t, runCmd(lim, nil, strings.NewReader(pendulumJSON)))
	lim.t = 7
	wantFailure(t, runCmd(lim, nil, strings.NewReader(pendulumJSON)), "T=8", "at most 7")
}

// TestUnrolledLimit: grad_mode unrolled refuses T × iterations over 20000,
// counting the default of 100 iterations, without overflowing on a huge
// max_iter.
func TestUnrolledLimit(t *testing.T) {
	cases := []struct {
		name   string
		fields map[string]any
		want   []string
	}{
		{"max_iter", map[string]any{"max_iter": 5000}, []string{"grad_mode unrolled", "8×5000", "limit of 20000"}},
		{"default iterations", map[string]any{"T": 201}, []string{"201×100", "limit of 20000"}},
		{"huge max_iter", map[string]any{"max_iter": int64(1) << 62}, []string{"limit of 20000"}},
		{"huge T", map[string]any{"T": 100000, "max_iter": 1}, []string{"100000×1", "limit of 20000"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := map[string]any{"grad_mode": "unrolled", "tol": 0}
			for k, v := range c.fields {
				f[k] = v
			}
			wantFailure(t, runCmd(defaultLimits, nil, strings.NewReader(problem(t, f))), c.want...)
		})
	}
}

// TestTrailingData: the input is one JSON document, optionally followed by
// white space.
func TestTrailingData(t *testing.T) {
	wantSolution(t, runCmd(defaultLimits, nil, strings.NewReader(pendulumJSON+" \n\t\r\n")))
	for name, tail := range map[string]string{
		"second document": "\n" + pendulumJSON,
		"empty object":    " {}",
		"garbage":         "x",
		"closing brace":   "}",
		"number":          " 1",
	} {
		t.Run(name, func(t *testing.T) {
			wantFailure(t, runCmd(defaultLimits, nil, strings.NewReader(pendulumJSON+tail)), "data after the JSON document")
		})
	}
	wantFailure(t, runCmd(defaultLimits, nil, strings.NewReader("  \n")), "empty")
}

// TestFileArgument: a positional argument names the problem file, like -in;
// stdin is then not read.
func TestFileArgument(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "problem.json")
	if err := os.WriteFile(path, []byte(pendulumJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	want := wantSolution(t, runCmd(defaultLimits, nil, strings.NewReader(pendulumJSON)))
	for _, args := range [][]string{{path}, {"-in", path}} {
		o := wantSolution(t, runCmd(defaultLimits, args, errReader{}))
		if o.Loss != want.Loss || len(o.U) != len(want.U) {
			t.Errorf("%v: loss %g, %d controls; from stdin %g, %d", args, o.Loss, len(o.U), want.Loss, len(want.U))
		}
	}
	wantFailure(t, runCmd(defaultLimits, []string{"-in", path, path}, errReader{}), "not both")
	wantFailure(t, runCmd(defaultLimits, []string{path, path}, errReader{}), "2 file arguments")
	wantFailure(t, runCmd(defaultLimits, []string{filepath.Join(dir, "missing.json")}, errReader{}), "missing.json")
	wantFailure(t, runCmd(defaultLimits, []string{"-bogus"}, errReader{}), "bad arguments")
}

// errReader fails the run that reads it.
type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("stdin must not be read") }

// endless is an input that never ends: a valid start, then digits forever.
// It counts the bytes read.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	const head = `{"model": "pendulum", "T": 1`
	for i := range p {
		if e.n < int64(len(head)) {
			p[i] = head[e.n]
		} else {
			p[i] = '1'
		}
		e.n++
	}
	return len(p), nil
}

// TestInputLimit: an endless input is read up to the 64 MiB limit and no
// further, then refused.
func TestInputLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 64 MiB")
	}
	var in endless
	wantFailure(t, runCmd(defaultLimits, nil, &in), "larger than the limit of 64 MiB")
	if max := int64(64<<20) + 64<<10; in.n > max {
		t.Errorf("read %d bytes, want at most the limit and one buffer", in.n)
	}
}

// TestInputLimitEdge: an input of exactly the limit is read, one byte more
// is refused.
func TestInputLimitEdge(t *testing.T) {
	lim := defaultLimits
	lim.inputBytes = int64(len(pendulumJSON) + 10)
	padded := pendulumJSON + strings.Repeat(" ", 10)
	wantSolution(t, runCmd(lim, nil, strings.NewReader(padded)))
	wantFailure(t, runCmd(lim, nil, strings.NewReader(padded+" ")), "larger than the limit of")
}

// TestNoLongEcho: an error about a huge input value quotes at most 100
// characters of it.
func TestNoLongEcho(t *testing.T) {
	const size = 8 << 20
	huge := strings.Repeat("A", size)
	digits := "1" + strings.Repeat("0", size)
	base := `"T": 3, "x0": [1,0,0], "loss": {"kind": "sum_sq_u"}`
	cases := []struct{ name, in, want string }{
		{"unknown field", `{"model": "pendulum", ` + base + `, "` + huge + `": 1}`, "unknown field"},
		{"model", `{"model": "` + huge + `", ` + base + `}`, "unknown model"},
		{"grad_mode", `{"model": "pendulum", ` + base + `, "grad_mode": "` + huge + `"}`, "grad_mode"},
		{"loss kind", `{"model": "pendulum", "T": 3, "x0": [1,0,0], "loss": {"kind": "` + huge + `"}}`, "loss.kind"},
		{"loss kind unrolled", `{"model": "pendulum", "T": 3, "x0": [1,0,0], "grad_mode": "unrolled", "loss": {"kind": "` + huge + `"}}`, "loss.kind"},
		{"integer", `{"model": "pendulum", "T": ` + digits + `, "x0": [1,0,0]}`, "T"},
		{"float", `{"model": "pendulum", "T": 3, "x0": [1,0,` + digits + `]}`, "x0"},
		{"string for number", `{"model": "pendulum", "T": "` + huge + `"}`, "T"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runCmd(defaultLimits, nil, strings.NewReader(c.in))
			wantFailure(t, r, c.want)
			if len(r.stderr) > 300 {
				t.Errorf("message of %d bytes: %.400q", len(r.stderr), r.stderr)
			}
			if strings.Contains(r.stderr, strings.Repeat("A", 101)) || strings.Contains(r.stderr, strings.Repeat("0", 101)) {
				t.Errorf("message quotes more than 100 characters of the input: %q", r.stderr)
			}
		})
	}
}

// TestOneLineMessage: a message is one line of bounded length whatever it
// contains.
func TestOneLineMessage(t *testing.T) {
	if got := oneLine("a\nb\t c\r\n"); got != "a b c" {
		t.Errorf("oneLine = %q", got)
	}
	long := strings.Repeat("é", 1000)
	got := oneLine(long)
	if want := strings.Repeat("é", maxMessage) + "…"; got != want {
		t.Errorf("oneLine of 1000 characters has %d bytes, want %d", len(got), len(want))
	}
	if got := clip(strings.Repeat("x", 150)); got != strings.Repeat("x", 100)+"… (150 bytes)" {
		t.Errorf("clip = %q", got)
	}
	if got := clip("short"); got != "short" {
		t.Errorf("clip = %q", got)
	}
}

// TestNonFiniteSolution: a problem whose solution overflows is reported as
// such, naming the first non-finite number, not as a JSON encoding error.
func TestNonFiniteSolution(t *testing.T) {
	r := runCmd(defaultLimits, nil, strings.NewReader(problem(t, map[string]any{"x0": []float64{1, 0, 1e300}})))
	wantFailure(t, r, "solution is not finite: ")
	if strings.Contains(r.stderr, "unsupported value") {
		t.Errorf("stderr %q", r.stderr)
	}

	o := &Output{
		X:    [][]float64{{1, 2}, {3, 4}},
		U:    [][]float64{{0}, {0}},
		Grad: Grad{Params: []float64{1}, Q: []float64{0, 0, nan()}, P: []float64{inf()}, X0: []float64{0}},
	}
	if err := checkFinite(o); err == nil || err.Error() != "solution is not finite: grad.q[2] = NaN and 1 more non-finite numbers" {
		t.Errorf("checkFinite: %v", err)
	}
	o.X[1][0] = -inf()
	if err := checkFinite(o); err == nil || !strings.HasPrefix(err.Error(), "solution is not finite: X[1][0] = -Inf and 2 more") {
		t.Errorf("checkFinite: %v", err)
	}
	o = &Output{X: [][]float64{{1}}, U: [][]float64{{0}}, Cost: nan()}
	if err := checkFinite(o); err == nil || err.Error() != "solution is not finite: cost = NaN" {
		t.Errorf("checkFinite: %v", err)
	}
	o.Cost = 1e308
	if err := checkFinite(o); err != nil {
		t.Errorf("finite output: %v", err)
	}
}

// TestParamDomain: parameters outside the model's domain are refused before
// solving, in every gradient mode, naming the parameter.
func TestParamDomain(t *testing.T) {
	cartpole := `{"model": "cartpole", "T": 4, "x0": [0, 0, 1, 0, 0], "loss": {"kind": "sum_sq_u"}, "params": %s}`
	double := `{"model": "double_pendulum", "T": 4, "x0": [0, 0, 1, 0, 0, 1, 0, 0], "loss": {"kind": "sum_sq_u"}, "params": %s}`
	cases := []struct{ name, in, want string }{
		{"pendulum l=0", problem(t, map[string]any{"params": []float64{10, 1, 0}}), "parameter l = 0 must be > 0"},
		{"pendulum l=0 unrolled", problem(t, map[string]any{"params": []float64{10, 1, 0}, "grad_mode": "unrolled", "tol": 0, "max_iter": 2}),
			"parameter l = 0 must be > 0"},
		{"pendulum m<0", problem(t, map[string]any{"params": []float64{10, -1, 1}}), "parameter m = -1 must be > 0"},
		{"cartpole m_c<0", strings.Replace(cartpole, "%s", "[9.8, -1, 0.1, 0.5]", 1), "parameter m_c = -1 must be > 0"},
		{"cartpole m_p<0", strings.Replace(cartpole, "%s", "[9.8, 1, -0.1, 0.5]", 1), "parameter m_p = -0.1 must be > 0"},
		{"double pendulum m1<0", strings.Replace(double, "%s", "[9.8, 1.5, -0.5, 0.75, 0.5, 0.75]", 1), "parameter m1 = -0.5 must be > 0"},
		{"double pendulum L2=0", strings.Replace(double, "%s", "[9.8, 1.5, 0.5, 0.75, 0.5, 0]", 1), "parameter L2 = 0 must be > 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantFailure(t, runCmd(defaultLimits, nil, strings.NewReader(c.in)), "params: ", c.want)
		})
	}
	// Valid parameters of every model still solve.
	for _, in := range []string{
		strings.Replace(cartpole, "%s", "[9.8, 1, 0.1, 0.5]", 1),
		strings.Replace(double, "%s", "[9.8, 1.5, 0.5, 0.75, 0.5, 0.75]", 1),
	} {
		wantSolution(t, runCmd(defaultLimits, nil, strings.NewReader(in)))
	}
}

// TestBadInputExitStatus: every rejected input of TestSolveJSONBadInput is
// reported with exit status 2 and one line.
func TestBadInputExitStatus(t *testing.T) {
	for _, in := range []string{`{"model": `, `{"model": "no_such_model", "T": 3}`, `[1, 2]`, `null`, "\xff"} {
		wantFailure(t, runCmd(defaultLimits, nil, strings.NewReader(in)))
	}
}

func nan() float64 { return math.NaN() }
func inf() float64 { return math.Inf(1) }
