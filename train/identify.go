package train

// What trajectories can tell about the dynamics parameters: the
// identifiable combinations of θ and the next-state prediction error of
// an estimate.

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/models"
)

// Combination is a function of the dynamics parameters θ.
type Combination struct {
	// Name labels it in reports, e.g. "3g/(2l)".
	Name string
	// Of evaluates it at θ.
	Of func(theta []float64) float64
}

// identifiable lists, per env, combinations of θ that determine the
// dynamics and that the dynamics determine.
var identifiable = map[string][]Combination{
	// ω′ = ω + dt·(3g/(2l)·s + 3ū/(ml²)): the step depends on (g, m, l)
	// only through these two, so (g, m, l) is determined up to the curve
	// (g, m, l)·(k, 1/k², k), k > 0.
	"pendulum": {
		{"3g/(2l)", func(th []float64) float64 { return 3 * th[0] / (2 * th[2]) }},
		{"3/(ml²)", func(th []float64) float64 { return 3 / (th[1] * th[2] * th[2]) }},
	},
	// The step depends on 1/M, m_p/M, m_p l/M and g/l (M = m_c + m_p),
	// from which M, m_p, l and g follow: every parameter is identifiable.
	"cartpole": paramCombinations("cartpole"),
	// Its stacked parameter Jacobian has full rank (TestIdentifiable):
	// every parameter is identifiable.
	"double_pendulum": paramCombinations("double_pendulum"),
	// The step depends on g, 1/m and 6/(m ℓ) (models.NewRocket): every
	// parameter is identifiable.
	"rocket": paramCombinations("rocket"),
}

// paramCombinations returns the parameters of env themselves as
// combinations.
func paramCombinations(env string) []Combination {
	var c []Combination
	for i, n := range paramNames[env] {
		c = append(c, Combination{n, func(th []float64) float64 { return th[i] }})
	}
	return c
}

// IdentifiableCombinations returns functions of env's dynamics parameters
// that its dynamics f(x, u; θ) determine and that determine f: what
// demonstrations can identify, however many. For the pendulum they are
// 3g/(2l) and 3/(ml²) (its (g, m, l) are not identifiable); for the
// cart-pole and the double pendulum the parameters themselves.
func IdentifiableCombinations(env string) ([]Combination, error) {
	c, ok := identifiable[env]
	if !ok {
		return nil, fmt.Errorf("train: no identifiable combinations known for env %q", env)
	}
	return c, nil
}

// Identified compares an estimate of env's dynamics parameters with the
// truth in the identifiable combinations: their names, their values at
// theta and at truth, and the relative errors |c(θ) − c(θ*)| / |c(θ*)|.
func Identified(env string, theta, truth []float64) (names []string, est, tru, relErr []float64, err error) {
	cs, err := IdentifiableCombinations(env)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if len(theta) != len(paramNames[env]) || len(truth) != len(theta) {
		return nil, nil, nil, nil, fmt.Errorf("train: %s has %d parameters, have %d and %d", env, len(paramNames[env]), len(theta), len(truth))
	}
	for _, c := range cs {
		a, b := c.Of(theta), c.Of(truth)
		names, est, tru, relErr = append(names, c.Name), append(est, a), append(tru, b), append(relErr, math.Abs(a-b)/math.Abs(b))
	}
	return names, est, tru, relErr, nil
}

// PredictionError returns the next-state prediction error of the
// dynamics parameters theta against truth over the state–control pairs
// (x_t, u_t), t = 0…T−1, of the demonstrations d:
//
//	1/(B T N) Σ_b Σ_t ‖f(x_t, u_t; θ) − f(x_t, u_t; θ*)‖²,
//
// the mean squared error of the model's one-step predictions where the
// expert went, which, unlike MSE(θ − θ*), is zero for every θ that
// imitation cannot tell from the truth. theta and truth have length P,
// d holds states and controls of dyn's sizes.
func PredictionError(dyn models.Dynamics, theta, truth []float64, d *envs.Demos) (float64, error) {
	dm := dyn.Dims()
	if len(theta) != dm.P || len(truth) != dm.P || d.N != dm.N || d.M != dm.M ||
		len(d.X) != d.B*d.T*d.N || len(d.U) != d.B*d.T*d.M || d.B*d.T == 0 {
		return 0, fmt.Errorf("train: prediction error: θ of length %d and %d, demonstrations B=%d T=%d N=%d M=%d, for a model with N=%d M=%d P=%d",
			len(theta), len(truth), d.B, d.T, d.N, d.M, dm.N, dm.M, dm.P)
	}
	ev := dyn.NewEvaluator()
	a, b := make([]float64, dm.N), make([]float64, dm.N)
	var s float64
	for k := range d.B * d.T {
		x, u := d.X[k*d.N:(k+1)*d.N], d.U[k*d.M:(k+1)*d.M]
		ev.Step(a, x, u, theta)
		ev.Step(b, x, u, truth)
		for i := range a {
			e := a[i] - b[i]
			s += e * e
		}
	}
	return s / float64(d.B*d.T*d.N), nil
}

// ModelErrors returns the errors, in terms the data identify, of the
// model that method m estimated in the log row row of a run on ds:
//
//   - ident, the largest relative error of the identifiable combinations
//     (Identified) of the dynamics parameters row.Params against
//     ds.Theta, for the methods that learn the dynamics; NaN for the
//     others (nn has no dynamics model, the cost learners plan with the
//     true dynamics and are judged by the model loss of their cost);
//   - pred, the next-state prediction error (PredictionError) on ds's
//     test split: that of row.Params for the methods that learn the
//     dynamics, 0 for the cost learners (the true dynamics predict
//     exactly), NaN for nn.
func ModelErrors(ds *envs.Dataset, m Method, row Row) (ident, pred float64, err error) {
	switch {
	case m.LearnsCost():
		return math.NaN(), 0, nil
	case !m.LearnsDynamics():
		return math.NaN(), math.NaN(), nil
	}
	task, err := models.TaskByName(ds.Env)
	if err != nil {
		return 0, 0, fmt.Errorf("train: %w", err)
	}
	_, _, _, rel, err := Identified(ds.Env, row.Params, ds.Theta)
	if err != nil {
		return 0, 0, err
	}
	for _, v := range rel {
		ident = max(ident, v)
	}
	pred, err = PredictionError(task.Dynamics, row.Params, ds.Theta, &ds.Test)
	return ident, pred, err
}

// WriteIdentified writes, for a run that learned the dynamics on ds, a
// table of the identifiable combinations of the initial, learned
// (last epoch), best (best validation epoch) and true parameters with
// their relative errors, and the next-state prediction errors of the
// three estimates on the test split; for a cost learner the prediction
// error (0: the true dynamics); nothing for nn.
func (r *Result) WriteIdentified(w io.Writer, ds *envs.Dataset) error {
	if r.Method.LearnsCost() {
		_, err := fmt.Fprintf(w, "next-state prediction error on the test demonstrations: 0 (%s plans with the true dynamics)\n", r.Method)
		return err
	}
	if !r.Method.LearnsDynamics() {
		return nil
	}
	task, err := models.TaskByName(ds.Env)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	ests := [][]float64{r.Initial, r.Learned, r.Best}
	var vals, rels [3][]float64
	var pred [3]float64
	var truth []float64
	var labels []string
	for k, th := range ests {
		if labels, vals[k], truth, rels[k], err = Identified(r.Env, th, r.True); err != nil {
			return err
		}
		if pred[k], err = PredictionError(task.Dynamics, th, ds.Theta, &ds.Test); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "identifiable\tinitial\tlearned (epoch %d)\tbest val (epoch %d)\ttrue\t\n", r.Final().Epoch, r.BestEpoch)
	for i, n := range labels {
		fmt.Fprintf(tw, "%s\t%.6g\t%.6g\t%.6g\t%.6g\t\n", n, vals[0][i], vals[1][i], vals[2][i], truth[i])
	}
	for i, n := range labels {
		fmt.Fprintf(tw, "rel. error %s\t%.3g\t%.3g\t%.3g\t\t\n", n, rels[0][i], rels[1][i], rels[2][i])
	}
	fmt.Fprintf(tw, "next-state MSE (test)\t%.3g\t%.3g\t%.3g\t\t\n", pred[0], pred[1], pred[2])
	return tw.Flush()
}
