package models

import (
	"maps"
	"math"
	"slices"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
)

// errLog compares derivatives by fdtest.MaxMixedErr, reports those beyond
// their tolerance and keeps the largest error of each named check, for the
// log of the finite-difference tests.
type errLog struct {
	t     *testing.T
	at    string // the point being checked, for the failure messages
	worst map[string]float64
}

func newErrLog(t *testing.T) *errLog { return &errLog{t: t, worst: map[string]float64{}} }

// check compares got with want at the current point.
func (l *errLog) check(what string, got, want []float64, tol float64) {
	l.t.Helper()
	e, i := fdtest.MaxMixedErr(got, want)
	l.worst[what] = math.Max(l.worst[what], e)
	if e > tol {
		l.t.Errorf("%s at %s: entry %d: got %.12g, want %.12g (err %.3g)", what, l.at, i, got[i], want[i], e)
	}
}

// log writes the largest error of each check, in the order of their names.
func (l *errLog) log() {
	for _, what := range slices.Sorted(maps.Keys(l.worst)) {
		l.t.Logf("largest error %-28s %.2e", what, l.worst[what])
	}
}
