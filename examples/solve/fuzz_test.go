package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// fuzzLimits keep every fuzzed input fast: the limits of the command, with
// short horizons and little solver work, so that a mutation of T or
// max_iter does not turn one input into minutes of solving.
var fuzzLimits = limits{inputBytes: 1 << 20, t: 64, unrolledWork: 160, solverWork: 20000, mlpWeights: 2000}

// fuzzSeeds are the valid inputs the other tests use, a few small variants
// and a few of the rejected ones.
func fuzzSeeds() []string {
	cartpole := `{"model": "cartpole", "T": 6, "x0": [0.1, 0.2, 0.995004165278, 0.0998334166468, -0.1],
	  "u_lower": -10, "u_upper": 10, "loss": {"kind": "linear",
	  "wx": [[1,0,0,0,1],[0,1,0,0,0],[0,0,1,0,0],[0,0,0,1,0],[1,1,1,1,1],[0,0,0,0,1]],
	  "wu": [[1],[0.5],[-1],[0],[2],[1]]}, "tol": 1e-12, "max_iter": 1000}`
	seeds := []string{
		pendulumJSON,
		strings.Replace(pendulumJSON, `"tol"`, `"grad_mode": "fixed_point", "tol"`, 1),
		strings.Replace(pendulumJSON, `"tol": 1e-12, "max_iter": 1000`, `"grad_mode": "unrolled", "max_iter": 20`, 1),
		cartpole,
		strings.Replace(cartpole, `"tol": 1e-12, "max_iter": 1000`, `"grad_mode": "unrolled", "max_iter": 20`, 1),
		`{"model": "double_pendulum", "T": 4, "x0": [0, 0, 1, 0, 0, 1, 0, 0], "loss": {"kind": "sum_sq_u"},
		  "params": [9.8, 1.5, 0.5, 0.75, 0.5, 0.75]}`,
		`{"model": "pendulum", "T": 2, "x0": [1,0,0], "loss": {"kind": "linear", "wx": [[1,2,3],[0,0,1]], "wu": [[1],[1]]}}`,
		`{"model": "pendulum", "T": 5, "x0": [1,0,1e300], "loss": {"kind": "sum_sq_u"}}`,
		`{"model": "pendulum", "T": 3, "x0": [1,0,0], "params": [10, 1, 0], "loss": {"kind": "sum_sq_u"}}`,
		`{"model": "pendulum", "T": 3, "x0": [1,0,0], "u_lower": 1, "u_upper": -1, "loss": {"kind": "sum_sq_u"}}`,
		`{"model": "pendulum", "T": 3, "x0": [1,0,0], "bogus": 1}`,
		`{"model": `,
		// Version 2: Q, q and p per step, bounds per step, and bad ones.
		`{"model": "pendulum", "T": 3, "x0": [1,0,0], "Q": [[1,0,0,0.1],[0,1,0,0],[0,0,0.1,0],[0.1,0,0,0.5]],
		  "p": [[-1,0,0,0],[-1,0,0,0.2],[-1,0,0,0]], "u_lower": [[-1],[-0.5],[-1]], "u_upper": 1,
		  "loss": {"kind": "sum_sq_u"}, "tol": 1e-12}`,
		`{"model": "cartpole", "T": 2, "x0": [0, 0, 1, 0, 0], "q": [[0.1,0.1,1,1,0.1,0.01],[0.2,0.1,1,1,0.1,0.02]],
		  "u_lower": [-4], "u_upper": [[4],[3]], "loss": {"kind": "sum_sq_u"}}`,
		`{"model": "pendulum", "T": 2, "x0": [1,0,0], "Q": [[[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]],
		  [[1,0,0,0],[0,1,0,0],[0,0,1,0.5],[0,0,0.5,1]]], "loss": {"kind": "sum_sq_u"}}`,
		`{"model": "pendulum", "T": 2, "x0": [1,0,0], "Q": [[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0.5,1]], "loss": {"kind": "sum_sq_u"}}`,
		`{"model": "pendulum", "T": 2, "x0": [1,0,0], "q": [[1,1,1,1],[1,1,1]], "p": [1e400,0,0,0], "loss": {"kind": "sum_sq_u"}}`,
		`{"model": "pendulum", "T": 2, "x0": [1,0,0], "q": [1,1,1,1], "Q": [1,1,1,1], "u_lower": [[[1]]], "loss": {"kind": "sum_sq_u"}}`,
	}
	return append(seeds, mlpSeeds()...)
}

// FuzzSolveInput runs the command on arbitrary bytes: it must not panic or
// hang, must exit with status 0 or 2, and must keep the promises of its
// documentation about what it then writes.
func FuzzSolveInput(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var out, errb bytes.Buffer
		code := runLimited(fuzzLimits, nil, bytes.NewReader(in), &out, &errb)
		switch code {
		case 0:
			if errb.Len() != 0 {
				t.Fatalf("exit status 0 with stderr %q", errb.String())
			}
			var o Output
			dec := json.NewDecoder(&out)
			dec.DisallowUnknownFields()
			if err := dec.Decode(&o); err != nil {
				t.Fatalf("output is not an Output: %v", err)
			}
			var pr Problem
			if err := json.Unmarshal(in, &pr); err != nil {
				t.Fatalf("accepted input that does not decode: %v", err)
			}
			if len(o.X) != pr.T || len(o.U) != pr.T || len(o.Grad.X0) != len(pr.X0) {
				t.Fatalf("output has %d states, %d controls and %d x0 gradients for T=%d, %d x0 entries",
					len(o.X), len(o.U), len(o.Grad.X0), pr.T, len(pr.X0))
			}
			var net struct {
				Weights []float64 `json:"weights"`
			}
			if given(pr.MLP) {
				if err := json.Unmarshal(pr.MLP, &net); err != nil {
					t.Fatalf("accepted mlp that does not decode: %v", err)
				}
			}
			if len(o.Grad.MLP) != len(net.Weights) {
				t.Fatalf("output has %d grad.mlp entries for %d weights", len(o.Grad.MLP), len(net.Weights))
			}
		case 2:
			msg := errb.String()
			if out.Len() != 0 {
				t.Fatalf("exit status 2 with output %.200q", out.String())
			}
			if !strings.HasPrefix(msg, "solve: ") || strings.Count(msg, "\n") != 1 || !strings.HasSuffix(msg, "\n") {
				t.Fatalf("stderr is not one line starting with \"solve: \": %.300q", msg)
			}
			// maxMessage characters of at most 4 bytes each, the prefix,
			// the ellipsis and the newline.
			if len(msg) > 4*maxMessage+16 {
				t.Fatalf("message of %d bytes", len(msg))
			}
		default:
			t.Fatalf("exit status %d, stderr %q", code, errb.String())
		}
	})
}
