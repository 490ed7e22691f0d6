package envs

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// TestRocketExpertLands: the expert (MPC with the true model, default
// horizon 40) lands the rocket from the corners of its start box (highest,
// fastest descent, farthest from the pad, drifting away from it) and from
// seeded draws, in 8 s; at touchdown it is far inside every limit (a
// tenth of each), and Evaluate gives the same episodes as EvaluateLanding.
func TestRocketExpertLands(t *testing.T) {
	env := mustEnv(t, "rocket")
	corners := [][]float64{
		{-5, 15, -1, -2, 0.1, 0.1},
		{5, 15, 1, 0, -0.1, -0.1},
		{5, 5, 1, -2, 0.1, -0.1},
		{0, 5, 0, 0, 0, 0},
	}
	steps := 160
	if testing.Short() {
		corners = corners[:2]
	}
	for _, q := range corners {
		p, err := NewMPC(env, nil)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := EvaluateLanding(env, p, &EvalConfig{Episodes: 1, Steps: steps, Starts: fixedStart(env, q...)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		td := ev.Touchdowns[0]
		if !ev.Episodes[0].Success || ev.SuccessRate != 1 || td.Step < 0 || td.Why != "" {
			t.Errorf("start %v: no landing: touchdown %+v", q, td)
			continue
		}
		strict := Landing{MaxSpeedX: 0.05, MaxSpeedZ: 0.1, MaxAngle: 0.01, MaxRate: 0.05, PadHalfWidth: 0.1}
		if why := strict.check(td.State); why != "" {
			t.Errorf("start %v: touchdown %v is not within a tenth of the limits: %s", q, td.State, why)
		}
		if ep := ev.Episodes[0]; ep.Reached != td.Step || ep.Solves != steps || ep.X != nil {
			t.Errorf("start %v: reached %d (touchdown %d), %d solves, kept states %d", q, ep.Reached, td.Step, ep.Solves, len(ep.X))
		}
	}
	if testing.Short() {
		return
	}
	// Seeded draws from the env's own ranges, through Evaluate.
	p, err := NewMPC(env, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &EvalConfig{Episodes: 2, Steps: steps, Seed: 3, Keep: true}
	ev, err := Evaluate(env, p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	le, err := EvaluateLanding(env, p, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ev.SuccessRate != 1 || le.SuccessRate != 1 {
		t.Errorf("success %g (Evaluate), %g (EvaluateLanding), want 1", ev.SuccessRate, le.SuccessRate)
	}
	for k := range ev.Episodes {
		if !slices.Equal(ev.Episodes[k].X, le.Episodes[k].X) || ev.Episodes[k].Cost != le.Episodes[k].Cost {
			t.Errorf("episode %d: Evaluate and EvaluateLanding differ", k)
		}
	}
}

// TestRocketZeroPolicyCrashes: with the engine at its idle thrust (zero
// clamped to 2 N) the rocket falls; it touches down at the first state
// with z ≤ 0, too fast, and the evaluation says so. Its excess cost is
// positive and far above the expert's.
func TestRocketZeroPolicyCrashes(t *testing.T) {
	env := mustEnv(t, "rocket")
	start := fixedStart(env, 0, 10, 0, 0, 0, 0)
	ev, err := EvaluateLanding(env, ZeroPolicy(), &EvalConfig{Episodes: 1, Steps: 100, Starts: start, Keep: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	td := ev.Touchdowns[0]
	ep := ev.Episodes[0]
	if ep.Success || td.Step < 1 || !strings.HasPrefix(td.Why, "|ż|") {
		t.Fatalf("touchdown %+v, success %v; want a crash on |ż|", td, ep.Success)
	}
	if ep.X[td.Step*6+1] > 0 || ep.X[(td.Step-1)*6+1] <= 0 {
		t.Errorf("touchdown at step %d is not the first state with z ≤ 0", td.Step)
	}
	// Free fall at (2/m − g) = −7.81 m/s² from 10 m reaches the ground
	// after √(2·10/7.81) = 1.6 s at about 12.5 m/s (Euler's steps differ
	// by a few per cent).
	if v := -td.State[3]; v < 11 || v > 14 {
		t.Errorf("touchdown speed %g m/s, want about 12.5", v)
	}
	if ep.Reached != -1 || ep.Cost <= 0 {
		t.Errorf("reached %d, cost %g", ep.Reached, ep.Cost)
	}
	expert, err := NewMPC(env, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := EvaluateLanding(env, expert, &EvalConfig{Episodes: 1, Steps: 100, Starts: start}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := CostRatio(&ev.Evaluation, &ref.Evaluation); err != nil || r < 2 {
		t.Errorf("cost ratio of the falling rocket to the expert %g (%v), want > 2", r, err)
	}
}

// TestLandingTouchdown checks the touchdown rule and every limit on
// hand-made trajectories (rows (x, z, ẋ, ż, φ, ω)).
func TestLandingTouchdown(t *testing.T) {
	l, err := (*Landing)(nil).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	soft := []float64{0.2, -0.01, 0.1, -0.5, 0.02, 0.1}
	for _, tc := range []struct {
		name   string
		states [][]float64
		step   int
		why    string // prefix; "" for a landing
	}{
		{"soft", [][]float64{{0, 1, 0, -0.5, 0, 0}, soft, {9, -5, 9, -9, 1, 1}}, 1, ""},
		{"hovering just above at the end", [][]float64{{0, 1, 0, -0.5, 0, 0}, {0.1, 0.08, 0, -0.05, 0, 0}}, 1, ""},
		{"still in the air", [][]float64{{0, 3, 0, 0, 0, 0}, {0, 2, 0, 0, 0, 0}}, -1, "no touchdown (z = 2"},
		{"fast", [][]float64{{0, 1, 0, -2, 0, 0}, {0, -0.1, 0, -2, 0, 0}}, 1, "|ż| = 2 > 1"},
		{"sliding", [][]float64{{0, 0, 0.6, 0, 0, 0}}, 0, "|ẋ| = 0.6 > 0.5"},
		{"off the pad", [][]float64{{-1.5, 0, 0, 0, 0, 0}}, 0, "|x| = 1.5 > 1"},
		{"tilted", [][]float64{{0, 0, 0, 0, -0.2, 0}}, 0, "|φ| = 0.2 > 0.1"},
		{"turning", [][]float64{{0, 0, 0, 0, 0, 0.7}}, 0, "|ω| = 0.7 > 0.5"},
		{"NaN", [][]float64{{0, 0, math.NaN(), 0, 0, 0}}, 0, "|ẋ| = NaN"},
	} {
		td := l.touchdown(slices.Concat(tc.states...))
		if td.Step != tc.step || td.Landed != (tc.why == "") || !strings.HasPrefix(td.Why, tc.why) {
			t.Errorf("%s: touchdown %+v, want step %d, why %q", tc.name, td, tc.step, tc.why)
		}
	}
}

// TestLandingBadInput: limits that are negative or not finite, a
// non-rocket env and nil arguments are errors.
func TestLandingBadInput(t *testing.T) {
	env := mustEnv(t, "rocket")
	for _, l := range []Landing{{MaxSpeedZ: -1}, {MaxAngle: math.Inf(1)}, {Contact: math.NaN()}} {
		if _, err := EvaluateLanding(env, ZeroPolicy(), &EvalConfig{Episodes: 1, Steps: 2}, &l); err == nil {
			t.Errorf("limits %+v: no error", l)
		}
	}
	if _, err := EvaluateLanding(mustEnv(t, "pendulum"), ZeroPolicy(), nil, nil); err == nil {
		t.Errorf("pendulum: no error")
	}
	if _, err := EvaluateLanding(nil, ZeroPolicy(), nil, nil); err == nil {
		t.Errorf("nil env: no error")
	}
	if _, err := EvaluateLanding(env, nil, nil, nil); err == nil {
		t.Errorf("nil policy: no error")
	}
}

// TestRocketRender: the body is drawn where the state says: its bright
// pixels move right with x, up with z, and lean with φ; the ground line
// and the pad are drawn; GIF frames of the rocket mark it down on the pad.
func TestRocketRender(t *testing.T) {
	env := mustEnv(t, "rocket")
	const size = 96
	body := func(x []float64) (cx, cy, top float64) {
		img, err := env.Render(nil, x, &RenderOptions{Size: size})
		if err != nil {
			t.Fatal(err)
		}
		var w float64
		top = size
		for i := 0; i < size; i++ {
			for j := 0; j < size; j++ {
				if v := img[i*size+j]; v > 0.9 { // the body alone is at gray 1
					cx, cy, w = cx+float64(j), cy+float64(i), w+1
					top = min(top, float64(i))
				}
			}
		}
		if w == 0 {
			t.Fatalf("state %v: no body drawn", x)
		}
		return cx / w, cy / w, top
	}
	x0, y0, _ := body([]float64{0, 0, 0, 0, 0, 0})
	xr, _, _ := body([]float64{4, 0, 0, 0, 0, 0})
	_, yu, _ := body([]float64{0, 6, 0, 0, 0, 0})
	xl, _, _ := body([]float64{0, 6, 0, 0, 0.5, 0})
	scale := size / (2 * rocketHalfWidth) // pixels per metre
	if math.Abs(xr-x0-4*scale) > 1 {
		t.Errorf("moving 4 m right moves the body %g pixels, want %g", xr-x0, 4*scale)
	}
	if math.Abs(y0-yu-6*scale) > 1 {
		t.Errorf("climbing 6 m moves the body %g pixels up, want %g", y0-yu, 6*scale)
	}
	if !(xl > x0+2) {
		t.Errorf("leaning towards +x moves the body's centre from column %g to %g only", x0, xl)
	}
	img, err := env.Render(nil, []float64{0, 10, 0, 0, 0, 0}, &RenderOptions{Size: size})
	if err != nil {
		t.Fatal(err)
	}
	// The ground, rocketGroundMargin above the lower edge, is a line
	// across the whole image at gray 0.5 or brighter (the pad).
	ground := size - int(rocketGroundMargin*scale)
	if row := img[ground*size:][:size]; !(slices.Min(row) >= 0.9*cartLevel) {
		t.Errorf("row %d (the ground) has a pixel at %g", ground, slices.Min(row))
	}
	if !rocketDown([]float64{0.5, 0.05, 0, 0, 0, 0}) || rocketDown([]float64{0, 0.5, 0, 0, 0, 0}) ||
		rocketDown([]float64{0, 0, 0, -2, 0, 0}) {
		t.Errorf("rocketDown: wrong status of the GIF strip")
	}
	if !env.upright([]float64{0, 0, 0, 0, 0, 0}, nil) {
		t.Errorf("the GIF strip is not green for the rocket standing on the pad")
	}
}
