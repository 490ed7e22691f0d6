package layer

import (
	"math"

	"github.com/dilqr/dilqr/op"
)

// Health returns Stats().Health() of the planner's most recent run: the
// shares of the batch whose solve did not converge, whose path constraint
// could not be met, whose gradient sweep was indefinite, whose inputs or
// rollout were not finite, and of the controls on a bound, and the
// largest constraint violation (see op.Health, and the package
// documentation for what to do about each). All zero before any run; the gradient's share
// is zero until a backward pass.
func (l *ILQR) Health() op.Health { return l.Stats().Health() }

// HealthMean averages op.Health over runs, e.g. the training steps of an
// epoch: each field of Mean is the mean of that share (for Violation, of
// each run's largest violation) over the runs added since the last Reset,
// every run weighing the same whatever its batch size. The zero value is
// ready to use.
type HealthMean struct {
	sum op.Health
	n   int
}

// Add adds the health of one run.
func (m *HealthMean) Add(h op.Health) {
	m.sum.Unconverged += h.Unconverged
	m.sum.Infeasible += h.Infeasible
	m.sum.Violation += h.Violation
	m.sum.Indefinite += h.Indefinite
	m.sum.NonFinite += h.NonFinite
	m.sum.OnBound += h.OnBound
	m.n++
}

// Runs returns the number of runs added since the last Reset.
func (m *HealthMean) Runs() int { return m.n }

// Mean returns the mean shares of the runs added since the last Reset;
// every field is NaN when there were none (a model without a planner, an
// epoch without steps), so that "not measured" does not read as healthy.
func (m *HealthMean) Mean() op.Health {
	if m.n == 0 {
		nan := math.NaN()
		return op.Health{Unconverged: nan, Infeasible: nan, Violation: nan, Indefinite: nan, NonFinite: nan, OnBound: nan}
	}
	k := float64(m.n)
	return op.Health{Unconverged: m.sum.Unconverged / k, Infeasible: m.sum.Infeasible / k, Violation: m.sum.Violation / k,
		Indefinite: m.sum.Indefinite / k, NonFinite: m.sum.NonFinite / k, OnBound: m.sum.OnBound / k}
}

// Reset forgets the runs added so far.
func (m *HealthMean) Reset() { *m = HealthMean{} }
