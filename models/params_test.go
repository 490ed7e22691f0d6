package models

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// TestCheckParamsDefaults checks that every registered model declares a
// domain and that its nominal parameters lie in it.
func TestCheckParamsDefaults(t *testing.T) {
	for _, name := range TaskNames() {
		task, err := TaskByName(name)
		if err != nil {
			t.Fatal(err)
		}
		pc, ok := task.Dynamics.(ParamChecker)
		if !ok {
			t.Errorf("%s: no ParamChecker", name)
			continue
		}
		if err := pc.CheckParams(task.Dynamics.DefaultParams()); err != nil {
			t.Errorf("%s: nominal parameters rejected: %v", name, err)
		}
	}
}

// TestCheckParamsRejects changes one nominal parameter at a time and checks
// that the error names the parameter, its value and the rule.
func TestCheckParamsRejects(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	cases := []struct {
		name  string
		dyn   Dynamics
		index int
		value float64
		want  string
	}{
		{"pendulum l=0", NewPendulum(), 2, 0, "models: pendulum: parameter l = 0 must be > 0"},
		{"pendulum m<0", NewPendulum(), 1, -1, "parameter m = -1 must be > 0"},
		{"pendulum g NaN", NewPendulum(), 0, nan, "parameter g = NaN must be finite"},
		{"pendulum l Inf", NewPendulum(), 2, inf, "parameter l = +Inf must be finite"},
		{"pendulum m -0", NewPendulum(), 1, math.Copysign(0, -1), "parameter m = -0 must be > 0"},
		{"cartpole m_c<0", NewCartpole(), 1, -1, "models: cartpole: parameter m_c = -1 must be > 0"},
		{"cartpole m_p<0", NewCartpole(), 2, -0.1, "parameter m_p = -0.1 must be > 0"},
		{"cartpole l=0", NewCartpole(), 3, 0, "parameter l = 0 must be > 0"},
		{"cartpole g -Inf", NewCartpole(), 0, math.Inf(-1), "parameter g = -Inf must be finite"},
		{"double pendulum m0<0", NewDoublePendulum(), 1, -1.5, "models: double pendulum: parameter m0 = -1.5 must be > 0"},
		{"double pendulum m1=0", NewDoublePendulum(), 2, 0, "parameter m1 = 0 must be > 0"},
		{"double pendulum m2<0", NewDoublePendulum(), 3, -2, "parameter m2 = -2 must be > 0"},
		{"double pendulum L1=0", NewDoublePendulum(), 4, 0, "parameter L1 = 0 must be > 0"},
		{"double pendulum L2<0", NewDoublePendulum(), 5, -0.75, "parameter L2 = -0.75 must be > 0"},
		{"double pendulum g NaN", NewDoublePendulum(), 0, nan, "parameter g = NaN must be finite"},
		{"rocket m=0", NewRocket(), 1, 0, "models: rocket: parameter m = 0 must be > 0"},
		{"rocket l<0", NewRocket(), 2, -1, "parameter l = -1 must be > 0"},
		{"rocket g Inf", NewRocket(), 0, inf, "parameter g = +Inf must be finite"},
		{"vehicle k_a=0", NewVehicle(), 0, 0, "models: vehicle: parameter k_a = 0 must be > 0"},
		{"vehicle k_w<0", NewVehicle(), 1, -1, "parameter k_w = -1 must be > 0"},
		{"vehicle c_d<0", NewVehicle(), 2, -0.1, "parameter c_d = -0.1 must be >= 0"},
		{"vehicle c_d NaN", NewVehicle(), 2, nan, "parameter c_d = NaN must be finite"},
		{"vehicle k_a Inf", NewVehicle(), 0, inf, "parameter k_a = +Inf must be finite"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			theta := c.dyn.DefaultParams()
			theta[c.index] = c.value
			before := slices.Clone(theta)
			err := c.dyn.(ParamChecker).CheckParams(theta)
			if err == nil {
				t.Fatalf("θ = %v accepted", theta)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
			for i := range theta {
				if math.Float64bits(theta[i]) != math.Float64bits(before[i]) {
					t.Fatalf("θ modified: %v, was %v", theta, before)
				}
			}
		})
	}
}

// TestCheckParamsDomainEdges checks values just inside the domains: a
// negative g is a valid (inverted) gravity and tiny positive masses are
// allowed.
func TestCheckParamsDomainEdges(t *testing.T) {
	for _, c := range []struct {
		dyn   Dynamics
		theta []float64
	}{
		{NewPendulum(), []float64{-10, 1e-300, 1e-300}},
		{NewCartpole(), []float64{0, 1e-3, 1e-3, 1e-3}},
		{NewDoublePendulum(), []float64{-9.8, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3}},
	} {
		if err := c.dyn.(ParamChecker).CheckParams(c.theta); err != nil {
			t.Errorf("%s: θ = %v rejected: %v", c.dyn.Name(), c.theta, err)
		}
	}
}

func TestCheckParamsLength(t *testing.T) {
	for _, dyn := range []Dynamics{NewPendulum(), NewCartpole(), NewDoublePendulum(), NewRocket(), NewVehicle()} {
		p := dyn.Dims().P
		for _, theta := range [][]float64{nil, make([]float64, p-1), make([]float64, p+1)} {
			err := dyn.(ParamChecker).CheckParams(theta)
			if err == nil || !strings.Contains(err.Error(), "parameters, want") {
				t.Errorf("%s: %d parameters: error %v, want a length error", dyn.Name(), len(theta), err)
			}
		}
	}
}

// TestLinearHasNoDomain: every finite A and B is a valid linear model.
func TestLinearHasNoDomain(t *testing.T) {
	lin, err := NewLinear(1, 1, []float64{1}, []float64{1})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := lin.(ParamChecker); ok {
		t.Error("the linear model declares a parameter domain")
	}
}

func TestAutoWithParamCheck(t *testing.T) {
	step := StepFuncs{Float: paramSpringStep[Float], Dual: paramSpringStep[Dual], HyperDual: paramSpringStep[HyperDual]}
	a, err := NewAuto("spring", Dims{N: 2, M: 1, P: 1}, []float64{4}, step)
	if err != nil {
		t.Fatal(err)
	}
	// Without a check, any θ of the right length is accepted.
	if err := a.CheckParams([]float64{-1}); err != nil {
		t.Errorf("no check: %v", err)
	}
	if err := a.CheckParams([]float64{1, 2}); err == nil || !strings.Contains(err.Error(), "models: spring: 2 parameters, want 1") {
		t.Errorf("wrong length: error %v", err)
	}
	errStiff := errors.New("spring: parameter k must be > 0")
	var seen []float64
	b := a.WithParamCheck(func(theta []float64) error {
		seen = slices.Clone(theta)
		if theta[0] <= 0 {
			return errStiff
		}
		return nil
	})
	if err := b.CheckParams([]float64{-1}); !errors.Is(err, errStiff) {
		t.Errorf("k = -1: error %v, want %v", err, errStiff)
	}
	if !slices.Equal(seen, []float64{-1}) {
		t.Errorf("check saw θ = %v, want [-1]", seen)
	}
	if err := b.CheckParams([]float64{2}); err != nil {
		t.Errorf("k = 2: %v", err)
	}
	// The length is checked before the user's check sees θ.
	seen = nil
	if err := b.CheckParams(nil); err == nil || seen != nil {
		t.Errorf("empty θ: error %v, check called with %v", err, seen)
	}
	// a is unchanged, and the copy keeps everything else.
	if err := a.CheckParams([]float64{-1}); err != nil {
		t.Errorf("WithParamCheck changed the original: %v", err)
	}
	if b.Name() != a.Name() || b.Dims() != a.Dims() || !slices.Equal(b.DefaultParams(), a.DefaultParams()) {
		t.Errorf("copy differs: %s %+v %v", b.Name(), b.Dims(), b.DefaultParams())
	}
	// A nil check removes the domain.
	if err := b.WithParamCheck(nil).CheckParams([]float64{-1}); err != nil {
		t.Errorf("nil check: %v", err)
	}
}

// paramSpringStep is a unit mass on a spring of stiffness k = θ₀, the example of
// the package documentation.
func paramSpringStep[T Scalar[T]](next, x, u, th []T) {
	const dt = 0.1
	v1 := x[1].Add(u[0].Sub(th[0].Mul(x[0])).MulC(dt))
	next[0] = x[0].Add(v1.MulC(dt))
	next[1] = v1
}
