package ilqr

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/internal/fdtest"
	"github.com/dilqr/dilqr/models"
)

// panicky is the pendulum with an evaluator that panics when the state's
// ω entry equals trigger, in the method named by where.
type panicky struct {
	*models.Pendulum
	trigger float64
	where   string
}

func (p panicky) NewEvaluator() models.DynamicsEvaluator {
	return &panickyEval{DynamicsEvaluator: p.Pendulum.NewEvaluator(), p: p}
}

type panickyEval struct {
	models.DynamicsEvaluator
	p panicky
}

func (e *panickyEval) check(where string, x []float64) {
	if where == e.p.where && x[2] == e.p.trigger {
		panic("model bug")
	}
}

func (e *panickyEval) Step(next, x, u, th []float64) {
	e.check("Step", x)
	e.DynamicsEvaluator.Step(next, x, u, th)
}

func (e *panickyEval) LagrangianHessian(h, lam, x, u, th []float64) {
	e.check("LagrangianHessian", x)
	e.DynamicsEvaluator.LagrangianHessian(h, lam, x, u, th)
}

// TestPanicsRecovered runs a batch of 8 on 2 workers whose example 5
// makes the model (or the Trace callback) panic: the call returns an
// error wrapping ErrPanic that names example 5, and the process lives.
func TestPanicsRecovered(t *testing.T) {
	task := models.PendulumTask()
	const b, bad = 8, 5
	x0 := pendulumStarts(rand.New(rand.NewPCG(3, 3)), b)
	x0[bad*3+2] = 0.123456789 // the trigger
	for _, where := range []string{"Step", "LagrangianHessian", "Trace"} {
		t.Run(where, func(t *testing.T) {
			p := taskProblem(task, 10)
			p.Dynamics = panicky{Pendulum: task.Dynamics.(*models.Pendulum), trigger: x0[bad*3+2], where: where}
			set := &Settings{Workers: 2}
			armed := true // the Trace case disarms it for the second solve
			if where == "Trace" {
				set.Trace = func(ev TraceEvent) {
					if ev.Example == bad && armed {
						panic("trace bug")
					}
				}
			}
			sv, err := NewSolver(p, set)
			if err != nil {
				t.Fatal(err)
			}
			var r Result
			in := Inputs{X0: x0}
			err = sv.Solve(&r, in)
			if where == "LagrangianHessian" { // only the gradient calls it
				if err != nil {
					t.Fatal(err)
				}
				var g Grads
				dX, dU := make([]float64, b*10*3), make([]float64, b*10)
				err = sv.Gradient(&g, &r, in, dX, dU, GradOptions{Unconverged: GradientAnyway})
			}
			if !errors.Is(err, ErrPanic) || !strings.Contains(err.Error(), "example 5") {
				t.Fatalf("error %v, want ErrPanic naming example 5", err)
			}
			// The solver stays usable.
			in.X0 = slices.Clone(x0)
			in.X0[bad*3+2] = 0
			armed = false
			if err := sv.Solve(&r, in); err != nil {
				t.Fatalf("after a panic: %v", err)
			}
		})
	}
}

// TestHugeSizesRefused checks that sizes whose workspaces would exceed
// MaxFloats (or overflow int) are refused with ErrBadInput, not a panic.
func TestHugeSizesRefused(t *testing.T) {
	task := models.PendulumTask()
	for _, T := range []int{1 << 28, 1 << 40, math.MaxInt / 2} {
		_, err := NewSolver(taskProblem(task, T), nil)
		if !errors.Is(err, ErrBadInput) {
			t.Errorf("T = %d: error %v, want ErrBadInput", T, err)
		}
	}
	// A batch whose result would exceed the limit: B·T·(2N+M) > MaxFloats.
	sv, err := NewSolver(taskProblem(task, 1<<20), nil)
	if err != nil {
		t.Fatal(err)
	}
	var r Result
	err = sv.Solve(&r, Inputs{X0: make([]float64, 3*200)})
	if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "MaxFloats") {
		t.Errorf("B = 200, T = 2^20: error %v, want ErrBadInput naming the limit", err)
	}
}

// TestConvergedMeetsTolGrad checks the meaning of the statuses: every
// Converged example's projected gradient is within TolGrad, for default
// and tight tolerances, and Stalled occurs only with a looser
// TolGradLoose, with the gradient within it.
func TestConvergedMeetsTolGrad(t *testing.T) {
	for _, c := range []struct {
		taskCase
		set Settings
	}{
		{taskCase{"pendulum/default", models.PendulumTask(), 20, pendulumStarts}, Settings{}},
		{taskCase{"pendulum/1e-12", models.PendulumTask(), 20, pendulumStarts}, Settings{TolGrad: 1e-12, MaxIter: 2000}},
		{taskCase{"cartpole/default", models.CartpoleTask(), 10, cartpoleStarts}, Settings{}},
		{taskCase{"cartpole/1e-12", models.CartpoleTask(), 10, cartpoleStarts}, Settings{TolGrad: 1e-12, MaxIter: 2000}},
		{taskCase{"cartpole/loose", models.CartpoleTask(), 10, cartpoleStarts}, Settings{TolGradLoose: 1e-8}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := Solve(taskProblem(c.task, c.T), Inputs{X0: c.starts(rand.New(rand.NewPCG(4, 4)), 30)}, &c.set)
			if err != nil {
				t.Fatal(err)
			}
			set := c.set.withDefaults()
			count := map[Status]int{}
			for i, st := range r.Status {
				count[st]++
				switch {
				case st == Converged && !(r.GradNorm[i] <= set.TolGrad):
					t.Errorf("example %d: converged with projected gradient %g > TolGrad %g", i, r.GradNorm[i], set.TolGrad)
				case st == Stalled && (set.TolGradLoose == set.TolGrad || !(r.GradNorm[i] <= set.TolGradLoose)):
					t.Errorf("example %d: stalled at %g (TolGrad %g, TolGradLoose %g)", i, r.GradNorm[i], set.TolGrad, set.TolGradLoose)
				}
			}
			t.Logf("statuses %v", count)
			if count[Converged]+count[Stalled] < 25 {
				t.Errorf("only %d of 30 ended at a stationary point", count[Converged]+count[Stalled])
			}
		})
	}
}

// TestIsolateNonFinite checks Settings.IsolateNonFinite: examples with NaN
// in x0 or θ, or θ outside the model's domain, are NonFinite, hold x0 with
// zero controls and get zero gradients, while the others get exactly what
// they get when solved alone; without the setting the error names the
// first bad example.
func TestIsolateNonFinite(t *testing.T) {
	task := models.PendulumTask()
	const b, T = 5, 10
	x0 := pendulumStarts(rand.New(rand.NewPCG(6, 6)), b)
	theta := slices.Repeat(task.Dynamics.DefaultParams(), b)
	x0[1*3+0] = math.NaN()     // example 1: x0
	theta[3*3+1] = math.Inf(1) // example 3: θ
	theta[4*3+2] = 0           // example 4: l = 0, outside the domain
	in := Inputs{X0: x0, Theta: theta}
	p := taskProblem(task, T)

	_, err := Solve(p, in, nil)
	if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "example 1") {
		t.Fatalf("without isolation: error %v, want ErrBadInput naming example 1", err)
	}
	sv, err := NewSolver(p, &Settings{IsolateNonFinite: true})
	if err != nil {
		t.Fatal(err)
	}
	var r Result
	if err := sv.Solve(&r, in); err != nil {
		t.Fatal(err)
	}
	dX, dU := make([]float64, b*T*3), make([]float64, b*T)
	for i := range dU {
		dU[i] = 1
	}
	var g Grads
	if err := sv.Gradient(&g, &r, in, dX, dU, GradOptions{}); err != nil {
		t.Fatal(err)
	}
	for e := range b {
		bad := e == 1 || e == 3 || e == 4
		if bad {
			if r.Status[e] != NonFinite || g.Status[e] != GradNonFinite {
				t.Errorf("example %d: status %v, gradient %v", e, r.Status[e], g.Status[e])
			}
			for s := range T {
				if !slices.Equal(r.X[(e*T+s)*3:(e*T+s+1)*3], x0[e*3:(e+1)*3]) && e != 1 {
					t.Errorf("example %d: x_%d = %v, want x0 held", e, s, r.X[(e*T+s)*3:(e*T+s+1)*3])
				}
			}
			if slices.ContainsFunc(r.U[e*T:(e+1)*T], func(u float64) bool { return u != 0 }) ||
				slices.ContainsFunc(g.X0[e*3:(e+1)*3], func(v float64) bool { return v != 0 }) {
				t.Errorf("example %d: controls %v, dL/dx0 %v, want zeros", e, r.U[e*T:(e+1)*T], g.X0[e*3:(e+1)*3])
			}
			continue
		}
		alone, err := Solve(p, Inputs{X0: x0[e*3 : (e+1)*3], Theta: theta[e*3 : (e+1)*3]}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(alone.U, r.U[e*T:(e+1)*T]) || alone.Status[0] != r.Status[e] {
			t.Errorf("example %d: solved with bad neighbours differs from solved alone", e)
		}
	}
}

// TestRegularizeIndefinite solves swing-ups from the whole circle, where
// some converged solutions have an indefinite sweep: with ZeroIndefinite
// they get zero gradients (GradIndefinite); with RegularizeIndefinite the
// same examples get finite, nonzero gradients of the damped sweep
// (GradRegularized), and every other example's gradient is unchanged.
func TestRegularizeIndefinite(t *testing.T) {
	task := models.PendulumTask()
	const b, T = 400, 20
	rng := rand.New(rand.NewPCG(8, 8))
	x0 := make([]float64, 0, 3*b)
	for range b {
		th := math.Pi * (2*rng.Float64() - 1)
		x0 = append(x0, math.Cos(th), math.Sin(th), 2*rng.Float64()-1)
	}
	sv, err := NewSolver(taskProblem(task, T), nil)
	if err != nil {
		t.Fatal(err)
	}
	var r Result
	in := Inputs{X0: x0}
	if err := sv.Solve(&r, in); err != nil {
		t.Fatal(err)
	}
	dX, dU := fdtest.Normals(9, b*T*3), fdtest.Normals(10, b*T)
	var zero, reg Grads
	if err := sv.Gradient(&zero, &r, in, dX, dU, GradOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := sv.Gradient(&reg, &r, in, dX, dU, GradOptions{Indefinite: RegularizeIndefinite}); err != nil {
		t.Fatal(err)
	}
	indefinite := 0
	for e := range b {
		switch zero.Status[e] {
		case GradIndefinite:
			indefinite++
			g := reg.Theta[e*3 : (e+1)*3]
			if reg.Status[e] != GradRegularized || !allFinite(g) || slices.Equal(g, []float64{0, 0, 0}) {
				t.Errorf("example %d: regularized status %v, dL/dθ %v", e, reg.Status[e], g)
			}
		default:
			if reg.Status[e] != zero.Status[e] || !slices.Equal(reg.Theta[e*3:(e+1)*3], zero.Theta[e*3:(e+1)*3]) {
				t.Errorf("example %d: status %v → %v, gradient changed", e, zero.Status[e], reg.Status[e])
			}
		}
	}
	t.Logf("%d of %d examples indefinite", indefinite, b)
	if indefinite == 0 {
		t.Fatal("no indefinite example in this batch: the test exercises nothing")
	}
}
