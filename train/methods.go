package train

import (
	"fmt"
	"slices"

	"github.com/dilqr/dilqr/op/ilqr"
)

// Method names one imitation-learning method (see the package
// documentation for what each learns and how).
type Method string

// The methods of the paper's imitation experiments (sec. 4.2).
const (
	// NN is an LSTM policy mapping the initial state to the control
	// sequence, trained with Adam.
	NN Method = "nn"
	// SysID learns the dynamics parameters by one-step next-state
	// prediction on the demonstrations and plans with them and the known
	// cost.
	SysID Method = "sysid"
	// DiffMPCDx learns the dynamics parameters through the planner with
	// the fixed-point gradient of DiffMPC (ilqr.FixedPoint), cost known.
	DiffMPCDx Method = "diffmpc.dx"
	// DiffMPCCost learns the cost through the planner with the fixed-point
	// gradient, dynamics known.
	DiffMPCCost Method = "diffmpc.cost"
	// DiLQRDx learns the dynamics parameters through the planner with the
	// exact implicit gradient (ilqr.Implicit), cost known.
	DiLQRDx Method = "dilqr.dx"
	// DiLQRCost learns the cost through the planner with the exact implicit
	// gradient, dynamics known.
	DiLQRCost Method = "dilqr.cost"
)

var allMethods = []Method{NN, SysID, DiffMPCDx, DiffMPCCost, DiLQRDx, DiLQRCost}

// Methods returns the methods in a fixed order: nn, sysid, diffmpc.dx,
// diffmpc.cost, dilqr.dx, dilqr.cost.
func Methods() []Method { return slices.Clone(allMethods) }

// ParseMethod returns the method called s.
func ParseMethod(s string) (Method, error) {
	m := Method(s)
	if !slices.Contains(allMethods, m) {
		return "", fmt.Errorf("train: unknown method %q (known: %v)", s, allMethods)
	}
	return m, nil
}

// ParseMethods returns the methods called names, in their order.
func ParseMethods(names []string) ([]Method, error) {
	ms := make([]Method, len(names))
	for i, s := range names {
		m, err := ParseMethod(s)
		if err != nil {
			return nil, err
		}
		ms[i] = m
	}
	return ms, nil
}

// LearnsDynamics reports whether m estimates the dynamics parameters θ.
func (m Method) LearnsDynamics() bool {
	return m == SysID || m == DiffMPCDx || m == DiLQRDx
}

// LearnsCost reports whether m estimates the cost parameters.
func (m Method) LearnsCost() bool { return m == DiffMPCCost || m == DiLQRCost }

// ThroughPlanner reports whether m differentiates the imitation loss
// through the iLQR planner.
func (m Method) ThroughPlanner() bool {
	return m == DiffMPCDx || m == DiffMPCCost || m == DiLQRDx || m == DiLQRCost
}

// GradMode returns the planner gradient m uses: ilqr.FixedPoint for the
// DiffMPC methods, ilqr.Implicit otherwise.
func (m Method) GradMode() ilqr.GradMode {
	if m == DiffMPCDx || m == DiffMPCCost {
		return ilqr.FixedPoint
	}
	return ilqr.Implicit
}

// initialGuesses are the dynamics parameters the dynamics-learning methods
// start from, away from the truth. Pendulum and cart-pole are those of the
// reference experiments (mpc.pytorch's imitation_nonconvex/il_exp.py); the
// double pendulum's are ours, in the same spirit: gravity 22% high, the cart
// twice as heavy, the second link a third heavier, the first link twice as
// long and the second a third shorter.
var initialGuesses = map[string][]float64{
	// (g, m, l), truth (10, 1, 1)
	"pendulum": {15, 3, 0.5},
	// (g, m_c, m_p, l), truth (9.8, 1.0, 0.1, 0.5)
	"cartpole": {9.8, 3.0, 0.1, 1.0},
	// (g, m₀, m₁, m₂, L₁, L₂), truth (9.8, 1.5, 0.5, 0.75, 0.5, 0.75)
	"double_pendulum": {12, 3.0, 0.5, 1.0, 1.0, 0.5},
	// (g, m, ℓ), truth (9.81, 1, 1): gravity 22% high, the rocket half as
	// heavy again and half as long; its hover thrust m g = 18 N stays
	// within the 20 N the engine gives.
	"rocket": {12, 1.5, 0.5},
}

// paramNames label the dynamics parameters in reports and plots.
var paramNames = map[string][]string{
	"pendulum":        {"g", "m", "l"},
	"cartpole":        {"g", "m_c", "m_p", "l"},
	"double_pendulum": {"g", "m0", "m1", "m2", "L1", "L2"},
	"rocket":          {"g", "m", "l"},
}

// InitialGuess returns the dynamics parameters that dynamics learning
// starts from for env: pendulum (g, m, l) = (15, 3, 0.5); cart-pole
// (g, m_c, m_p, l) = (9.8, 3.0, 0.1, 1.0); double pendulum
// (g, m₀, m₁, m₂, L₁, L₂) = (12, 3.0, 0.5, 1.0, 1.0, 0.5) (truth
// (9.8, 1.5, 0.5, 0.75, 0.5, 0.75)); rocket (g, m, ℓ) = (12, 1.5, 0.5)
// (truth (9.81, 1, 1)).
func InitialGuess(env string) ([]float64, error) {
	g, ok := initialGuesses[env]
	if !ok {
		return nil, fmt.Errorf("train: no initial guess for env %q", env)
	}
	return slices.Clone(g), nil
}

// DynamicsParamNames returns the names of env's dynamics parameters, e.g.
// (g, m, l) for the pendulum.
func DynamicsParamNames(env string) ([]string, error) {
	n, ok := paramNames[env]
	if !ok {
		return nil, fmt.Errorf("train: unknown env %q", env)
	}
	return slices.Clone(n), nil
}
