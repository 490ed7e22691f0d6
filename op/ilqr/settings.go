package ilqr

import (
	"fmt"
	"math"
)

// Settings control the iLQR solver. A nil *Settings means all defaults; a
// zero field means that field's default.
type Settings struct {
	// MaxIter is the largest number of iLQR iterations (linearize, backward
	// pass, line search) per example. Default 200.
	MaxIter int
	// ExactIter makes every example run exactly MaxIter iterations: the
	// convergence tests and line-search failures do not stop it (a failed
	// line search raises the regularization and goes on). Statuses are still
	// reported from the final iterate. Meant for benchmarks of
	// unconstrained problems: NewSolver refuses it with a path constraint,
	// whose outer iterations need inner solves that stop.
	ExactIter bool
	// Newton adds the dynamics' second derivatives, contracted with the
	// costates of the current trajectory, to the quadratic model of the
	// backward pass: Newton's method on J(U) instead of iLQR's Gauss-Newton,
	// converging quadratically near a strict minimum at the price of one
	// Lagrangian Hessian per step and iteration. Default false (iLQR).
	// A constrained problem always takes Newton steps: its costates grow
	// with the multipliers, and with them the curvature that the
	// Gauss-Newton model leaves out (on a cart-pole with an active track
	// limit, 36 iterations instead of over 200).
	Newton bool
	// TolGrad is the convergence tolerance on the projected gradient of the
	// total cost with respect to the controls, ‖u − Π(u − ∇_U J)‖_∞, where Π
	// projects onto the bounds. A Converged example meets it. Default 1e-9.
	TolGrad float64
	// TolCost is the relative cost change below which the solver no longer
	// expects progress: when an accepted step, or the quadratic model's
	// predicted step, changes the cost by less than TolCost·(1 + |J|) while
	// the projected gradient is above TolGrad but within TolGradLoose, the
	// solve ends with status Stalled. Default 1e-14.
	TolCost float64
	// TolGradLoose is the projected-gradient bound of a Stalled stop. By
	// default it equals TolGrad: the solver keeps iterating past small cost
	// changes (its line search accepts steps within round-off) until
	// TolGrad is met or another rule stops it. A larger value trades
	// accuracy for iterations. Default TolGrad.
	TolGradLoose float64
	// RegInit is the initial Levenberg–Marquardt regularization μ added to
	// Q_uu in the backward pass. Default RegMin.
	RegInit float64
	// RegMin is the smallest nonzero μ; a decrease below it sets μ to 0.
	// Default 1e-6.
	RegMin float64
	// RegMax is the largest μ; exceeding it ends the solve with status
	// LineSearchFailed (or RegularizationFailed from the backward pass).
	// Default 1e10.
	RegMax float64
	// RegFactor is the base factor of Tassa's regularization schedule
	// (the multiplier itself grows geometrically). Default 1.6.
	RegFactor float64
	// LineSearchSteps is the number of step lengths tried, geometrically
	// spaced from 1 down to LineSearchMin. Default 11.
	LineSearchSteps int
	// LineSearchMin is the smallest step length tried. Default 1e-3.
	LineSearchMin float64
	// Trace, when not nil, is called after the line search of every
	// iteration of every example (an iteration that ends before its line
	// search, on convergence or a regularization failure, is not traced).
	// It is called from the worker goroutines, concurrently for different
	// examples; a panic in it is reported as an error of the example.
	Trace func(TraceEvent)
	// IsolateNonFinite makes an example whose inputs are not finite (x0, θ,
	// φ or the warm start), or whose θ lies outside the model's domain, a
	// per-example outcome: it is not solved, its status is NonFinite, its
	// states hold x0 and its controls are zero, and the other examples are
	// solved as if alone. Default false: such an input is an error for the
	// whole call, naming the example.
	IsolateNonFinite bool
	// TolViolation is the largest constraint violation max(0, c) of a
	// Converged example of a constrained problem (Problem.Constraint).
	// Default 1e-9.
	TolViolation float64
	// PenaltyInit, PenaltyFactor and PenaltyMax set the augmented
	// Lagrangian's penalty ρ: it starts at PenaltyInit, is multiplied by
	// PenaltyFactor after an outer iteration that did not cut the
	// violation by 4, and an example whose violation stops falling with ρ
	// at PenaltyMax ends Infeasible. Defaults 1, 10, 1e9.
	PenaltyInit, PenaltyFactor, PenaltyMax float64
	// MaxOuter is the largest number of augmented-Lagrangian outer
	// iterations (multiplier updates) per example; MaxIter still bounds
	// the iLQR iterations of all of them together. Default 50.
	MaxOuter int
	// Workers is the number of goroutines the batch is spread over.
	// Default runtime.GOMAXPROCS(0). Results do not depend on it.
	Workers int
}

// withDefaults returns a copy of s with zero fields set to their defaults.
func (s *Settings) withDefaults() Settings {
	var d Settings
	if s != nil {
		d = *s
	}
	orDefault(&d.MaxIter, 200)
	orDefault(&d.TolGrad, 1e-9)
	orDefault(&d.TolCost, 1e-14)
	orDefault(&d.TolGradLoose, d.TolGrad)
	orDefault(&d.RegMin, 1e-6)
	orDefault(&d.RegInit, d.RegMin)
	orDefault(&d.RegMax, 1e10)
	orDefault(&d.RegFactor, 1.6)
	orDefault(&d.LineSearchSteps, 11)
	orDefault(&d.LineSearchMin, 1e-3)
	orDefault(&d.TolViolation, 1e-9)
	orDefault(&d.PenaltyInit, 1)
	orDefault(&d.PenaltyFactor, 10)
	orDefault(&d.PenaltyMax, 1e9)
	orDefault(&d.MaxOuter, 50)
	return d
}

// orDefault sets *p to def where *p is zero.
func orDefault[T int | float64](p *T, def T) {
	if *p == 0 {
		*p = def
	}
}

// validate rejects settings no solve can use.
func (s *Settings) validate() error {
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) || v < 0 }
	switch {
	case s.MaxIter < 0:
		return badInput("settings: MaxIter %d < 0", s.MaxIter)
	case bad(s.TolGrad), bad(s.TolCost), bad(s.TolGradLoose):
		return badInput("settings: tolerances must be finite and non-negative")
	case s.TolGradLoose < s.TolGrad:
		return badInput("settings: TolGradLoose %g below TolGrad %g", s.TolGradLoose, s.TolGrad)
	case bad(s.RegInit), bad(s.RegMin), bad(s.RegMax) || s.RegMax < s.RegMin:
		return badInput("settings: regularization bounds must satisfy 0 ≤ RegMin ≤ RegMax < ∞")
	case bad(s.RegFactor) || s.RegFactor <= 1:
		return badInput("settings: RegFactor %g must exceed 1", s.RegFactor)
	case s.LineSearchSteps < 1:
		return badInput("settings: LineSearchSteps %d < 1", s.LineSearchSteps)
	case bad(s.LineSearchMin) || s.LineSearchMin > 1 || s.LineSearchMin == 0:
		return badInput("settings: LineSearchMin %g outside (0, 1]", s.LineSearchMin)
	case bad(s.TolViolation), bad(s.PenaltyInit) || s.PenaltyInit == 0, bad(s.PenaltyMax) || s.PenaltyMax < s.PenaltyInit:
		return badInput("settings: need TolViolation ≥ 0 and 0 < PenaltyInit ≤ PenaltyMax < ∞")
	case bad(s.PenaltyFactor) || s.PenaltyFactor <= 1:
		return badInput("settings: PenaltyFactor %g must exceed 1", s.PenaltyFactor)
	case s.MaxOuter < 0:
		return badInput("settings: MaxOuter %d < 0", s.MaxOuter)
	case s.Workers < 0:
		return badInput("settings: Workers %d < 0", s.Workers)
	}
	return nil
}

// TraceEvent describes one iteration of one example, for Settings.Trace.
type TraceEvent struct {
	// Example is the index in the batch; Iter the iteration number, from 1.
	Example, Iter int
	// Cost is the cost of the iterate after the line search.
	Cost float64
	// GradNorm is the projected-gradient norm at the start of the iteration.
	GradNorm float64
	// Accepted says whether the line search took a step, of length Step.
	Accepted bool
	Step     float64
	// Reg is the regularization μ of the iteration's backward pass.
	Reg float64
}

// Status says how the solve of one example ended.
type Status uint8

const (
	// Converged: the projected gradient is within TolGrad (of the
	// Lagrangian, for a constrained problem, whose violation is then
	// within TolViolation).
	Converged Status = iota
	// IterationLimit: MaxIter iterations ran without convergence.
	IterationLimit
	// LineSearchFailed: no step length decreased the cost even at the
	// largest regularization.
	LineSearchFailed
	// RegularizationFailed: Q_uu stayed indefinite up to the largest
	// regularization.
	RegularizationFailed
	// NonFinite: the rollout of the initial controls produced NaN or Inf.
	NonFinite
	// Stalled: the cost stopped changing (see TolCost) with the projected
	// gradient within TolGradLoose but not TolGrad: a stationary point as
	// far as round-off lets the solver tell. With a path constraint the
	// bound is at least the round-off of the multiplier terms,
	// 1e-12·(1 + max ν). Gradients treat it as converged.
	Stalled
	// Infeasible: the constraint violation stopped falling with the
	// augmented Lagrangian's penalty at PenaltyMax (Stats.Violation says
	// by how much it is violated).
	Infeasible
)

var statusNames = [...]string{"converged", "iteration limit", "line search failed", "regularization failed", "non-finite", "stalled", "infeasible"}

// String returns a lower-case description of s.
func (s Status) String() string { return enumName(statusNames[:], s, "Status") }

// enumName returns names[v], or typ(v) for a value without a name: the
// String method of the package's uint8 enumerations.
func enumName[E ~uint8](names []string, v E, typ string) string {
	if int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", typ, uint8(v))
}

// Stationary reports whether the solve ended at a stationary point:
// Converged, or Stalled (see Stalled for its bound).
func (s Status) Stationary() bool { return s == Converged || s == Stalled }
