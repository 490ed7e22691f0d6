package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

// TestRun fits the pendulum for a few iterations and checks that the
// report has its parts; bad flags are errors.
func TestRun(t *testing.T) {
	var out strings.Builder
	o := options{env: "pendulum", ntrain: 10, seed: 1, maxIter: 3, damping: "marquardt", stateWeight: 1}
	if err := run(context.Background(), o, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"iteration limit after 3 iterations", "3g/(2l)", "3/(ml²)",
		"not determined by the data", "imitation loss (control MSE)", "next-state prediction error"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, bad := range []options{
		{env: "pendulum", ntrain: 10, maxIter: 3, damping: "newton"},
		{env: "pendulum", ntrain: 10, maxIter: 0, damping: "marquardt"},
		{env: "pendulum", ntrain: 10, maxIter: 3, damping: "marquardt", init: "15,x,1"},
		{env: "acrobot", ntrain: 10, maxIter: 3, damping: "marquardt"},
	} {
		if err := run(context.Background(), bad, io.Discard, io.Discard); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
