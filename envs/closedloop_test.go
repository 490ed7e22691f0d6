package envs

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// fixedStart returns a sampler that always gives the state with physical
// coordinates q.
func fixedStart(e *Env, q ...float64) Sampler {
	return SamplerFunc(func(dst []float64, _ *rand.Rand) { e.StateFromCoords(dst, q) })
}

// evalMPC evaluates on env, with cfg, an MPC configured by mc.
func evalMPC(t *testing.T, env *Env, mc *MPCConfig, cfg *EvalConfig) *Evaluation {
	t.Helper()
	p, err := NewMPC(env, mc)
	if err != nil {
		t.Fatal(err)
	}
	return mustEvaluate(t, env, p, cfg)
}

// mustEvaluate returns Evaluate(env, p, cfg), failing t on an error.
func mustEvaluate(t *testing.T, env *Env, p Policy, cfg *EvalConfig) *Evaluation {
	t.Helper()
	ev, err := Evaluate(env, p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestMPCSwingsUpPendulum: the true-model MPC brings the pendulum from
// almost hanging (0.01 rad off, at rest) to upright and holds it over the
// last second; exactly hanging at rest is a stationary point of every plan
// (zero controls stay optimal to first order), so the start is nudged.
func TestMPCSwingsUpPendulum(t *testing.T) {
	env := mustEnv(t, "pendulum")
	ev := evalMPC(t, env, nil, &EvalConfig{Episodes: 1, Steps: 100, Starts: fixedStart(env, math.Pi-0.01, 0), Keep: true})
	ep := ev.Episodes[0]
	if !ep.Success || ev.SuccessRate != 1 {
		t.Fatalf("no swing-up: final angle %.3f, rate %.3f, reached %d", ep.FinalAngle, ep.FinalRate, ep.Reached)
	}
	// Held: every state of the last second is within 0.1 rad and 0.5 rad/s.
	for k := 100 - 19; k <= 100; k++ {
		x := ep.X[3*k : 3*k+3]
		if th := math.Atan2(x[1], x[0]); math.Abs(th) >= 0.1 || math.Abs(x[2]) >= 0.5 {
			t.Errorf("state %d: θ=%.3f ω=%.3f outside the success box", k, th, x[2])
		}
	}
	// It had to swing: the torque limit (2, against 15 rad/s² of gravity
	// at the horizontal) forbids lifting the pole straight up, so the pole
	// must have gone through both sides of hanging at least once.
	var minS, maxS float64
	for k := 0; k <= 100; k++ {
		minS, maxS = min(minS, ep.X[3*k+1]), max(maxS, ep.X[3*k+1])
	}
	if !(minS < -0.3 && maxS > 0.3) {
		t.Errorf("sin θ stayed within [%.2f, %.2f]: no swing", minS, maxS)
	}
	if ep.Reached < 20 || ep.Reached > 100-19 {
		t.Errorf("reached upright at step %d", ep.Reached)
	}
	if ep.Solves != 100 || ep.Converged == 0 || ep.BadControls != 0 {
		t.Errorf("solves %d, converged %d, bad controls %d", ep.Solves, ep.Converged, ep.BadControls)
	}
	if len(ep.X) != 101*3 || len(ep.U) != 100 {
		t.Errorf("kept %d state and %d control entries, want 303 and 100", len(ep.X), len(ep.U))
	}
	for _, u := range ep.U {
		if math.Abs(u) > 2 {
			t.Fatalf("control %g outside the bounds", u)
		}
	}
}

// TestMPCBeatsZeroPolicy: from the envs' starts, the expert MPC succeeds
// on most pendulum and cart-pole episodes and the zero-control policy on
// none; the expert's cost ratio to itself is 1 and the zero policy's is
// larger.
func TestMPCBeatsZeroPolicy(t *testing.T) {
	for _, name := range []string{"pendulum", "cartpole"} {
		env := mustEnv(t, name)
		cfg := &EvalConfig{Episodes: 6, Steps: 100, Seed: 3}
		if testing.Short() {
			cfg.Episodes = 2
		}
		expert := evalMPC(t, env, nil, cfg)
		zero := mustEvaluate(t, env, ZeroPolicy(), cfg)
		// 100% at this seed; the measured rate over 60 episodes is 100%
		// for both (see DefaultMPCHorizon), so at most one miss is allowed.
		if expert.SuccessRate < 1-1/float64(cfg.Episodes)-1e-9 {
			t.Errorf("%s: expert success %.2f", name, expert.SuccessRate)
		}
		if zero.SuccessRate != 0 {
			t.Errorf("%s: zero policy success %.2f", name, zero.SuccessRate)
		}
		if r, err := CostRatio(expert, expert); err != nil || r != 1 {
			t.Errorf("%s: expert's cost ratio to itself %g, %v", name, r, err)
		}
		if r, err := CostRatio(zero, expert); err != nil || !(r > 1) {
			t.Errorf("%s: zero policy's cost ratio %g, %v", name, r, err)
		}
		if !math.IsNaN(zero.ConvergedShare) || zero.Episodes[0].Solves != 0 {
			t.Errorf("%s: zero policy converged share %g, solves %d", name, zero.ConvergedShare, zero.Episodes[0].Solves)
		}
		if !(expert.ConvergedShare > 0 && expert.ConvergedShare <= 1) || expert.StepP50 <= 0 || expert.StepP99 < expert.StepP50 {
			t.Errorf("%s: converged share %g, step times p50 %v p99 %v", name, expert.ConvergedShare, expert.StepP50, expert.StepP99)
		}
	}
}

// TestEvaluateHandChecked checks the metrics on cases worked out by hand.
// The pendulum's cost is ½(c² + s² + 0.1ω² + 0.001u²) − c, so resting
// upright (c = 1) costs −½ per step and hanging at rest (c = −1) 3/2: an
// excess of exactly 2 per step. With zero controls both are equilibria of
// the discrete dynamics (s = 0 gives ω′ = 0).
func TestEvaluateHandChecked(t *testing.T) {
	env := mustEnv(t, "pendulum")
	const steps = 10
	hang := mustEvaluate(t, env, ZeroPolicy(), &EvalConfig{Episodes: 2, Steps: steps, Starts: fixedStart(env, math.Pi, 0)})
	for _, ep := range hang.Episodes {
		// sin π rounds to 1.2e-16, not 0: the pendulum drifts by round-off.
		if math.Abs(ep.Cost-2*steps) > 1e-12 || ep.Success || ep.Reached != -1 ||
			math.Abs(math.Abs(ep.FinalAngle)-math.Pi) > 1e-12 || math.Abs(ep.FinalRate) > 1e-12 {
			t.Errorf("hanging: cost %g (want 20), success %v, reached %d, final angle %g, rate %g",
				ep.Cost, ep.Success, ep.Reached, ep.FinalAngle, ep.FinalRate)
		}
		if len(ep.StepTimes) != steps || ep.X != nil {
			t.Errorf("hanging: %d step times, kept states %v", len(ep.StepTimes), ep.X != nil)
		}
	}
	if hang.SuccessRate != 0 || math.Abs(hang.MeanCost-2*steps) > 1e-12 {
		t.Errorf("hanging: success rate %g, mean cost %g", hang.SuccessRate, hang.MeanCost)
	}
	up := mustEvaluate(t, env, ZeroPolicy(), &EvalConfig{Episodes: 1, Steps: steps, Starts: fixedStart(env, 0, 0)})
	if ep := up.Episodes[0]; ep.Cost != 0 || !ep.Success || ep.Reached != 0 || up.SuccessRate != 1 {
		t.Errorf("upright: cost %g, success %v, reached %d", ep.Cost, ep.Success, ep.Reached)
	}
	if r, err := CostRatio(hang, hang); err != nil || r != 1 {
		t.Errorf("cost ratio to itself: %g, %v", r, err)
	}
	if _, err := CostRatio(up, up); err == nil {
		t.Error("a reference of zero cost gave a ratio")
	}
	if _, err := CostRatio(up, hang); err == nil {
		t.Error("evaluations of different starts gave a ratio")
	}

	// Success needs the whole hold window. From θ = 0.05, ω = 0.6 (outside:
	// ω > 0.5) a policy that brakes as hard as the bounds allow, aiming at
	// ω′ = ω + dt(15 s + 3u) = 0, gives ω₁ = 0.6 + 0.05(15 sin 0.05 − 6) ≈
	// 0.34 (inside), then 0.088, then 0 (up to round-off), θ staying below
	// 0.072: states 1…10 are inside, so with 10 steps (11 states) the
	// episode succeeds with HoldSteps 10 and fails with 11.
	settle := PolicyFunc(func(u, x []float64, t int) (StepInfo, error) {
		u[0] = -(x[2]/0.05 + 15*x[1]) / 3 // clamped to [−2, 2] by Evaluate
		return StepInfo{Solved: true, Converged: t%2 == 0, Iterations: 1}, nil
	})
	for _, c := range []struct {
		hold int
		want bool
	}{{10, true}, {11, false}} {
		ev, err := Evaluate(env, settle, &EvalConfig{Episodes: 1, Steps: steps,
			Starts: fixedStart(env, 0.05, 0.6), Success: &Success{HoldSteps: c.hold}, Keep: true})
		if err != nil {
			t.Fatal(err)
		}
		ep := ev.Episodes[0]
		if ep.Reached != 1 || ep.Success != c.want || math.Abs(ep.X[3*steps+2]) > 1e-12 || ep.U[1] != -2 {
			t.Errorf("hold %d: reached %d, success %v (want %v)", c.hold, ep.Reached, ep.Success, c.want)
		}
		if ep.Solves != steps || ep.Converged != steps/2 || ev.ConvergedShare != 0.5 {
			t.Errorf("solves %d, converged %d, share %g", ep.Solves, ep.Converged, ev.ConvergedShare)
		}
	}
}

// TestEvaluateCartTrack: a cart-pole at rest upright but off its track
// (x = 3 m > 2.4 m) fails; on the track it succeeds.
func TestEvaluateCartTrack(t *testing.T) {
	env := mustEnv(t, "cartpole")
	for _, c := range []struct {
		x    float64
		want bool
	}{{0, true}, {2.3, true}, {3, false}} {
		ev := mustEvaluate(t, env, ZeroPolicy(), &EvalConfig{Episodes: 1, Steps: 30, Starts: fixedStart(env, c.x, 0, 0, 0)})
		if ep := ev.Episodes[0]; ep.Success != c.want || ep.OffTrack == c.want || ep.Cost < 0 {
			t.Errorf("x=%g: success %v, off track %v, cost %g", c.x, ep.Success, ep.OffTrack, ep.Cost)
		}
	}
}

// TestEvaluateClampsControls: controls beyond the bounds are clamped,
// non-finite ones replaced by zero and counted.
func TestEvaluateClampsControls(t *testing.T) {
	env := mustEnv(t, "pendulum")
	vals := []float64{5, -7, math.NaN(), math.Inf(1), 1.5}
	p := PolicyFunc(func(u, _ []float64, t int) (StepInfo, error) {
		u[0] = vals[t]
		return StepInfo{}, nil
	})
	ev := mustEvaluate(t, env, p, &EvalConfig{Episodes: 1, Steps: len(vals), Keep: true})
	ep := ev.Episodes[0]
	if want := []float64{2, -2, 0, 0, 1.5}; !slices.Equal(ep.U, want) || ep.BadControls != 2 {
		t.Errorf("applied %v (want %v), bad controls %d", ep.U, want, ep.BadControls)
	}
	// The kept states are the simulator's rollout of the applied controls.
	x := make([]float64, 3*(len(vals)+1))
	if err := env.Rollout(x, ep.X0, append(slices.Clone(ep.U), 0)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(x, ep.X) {
		t.Errorf("states %v, rollout %v", ep.X, x)
	}
}

// TestEvaluateDeterministic: the same seed gives the same episodes (all
// but the step times), another seed other starts.
func TestEvaluateDeterministic(t *testing.T) {
	env := mustEnv(t, "cartpole")
	run := func(seed uint64) *Evaluation {
		return evalMPC(t, env, &MPCConfig{Horizon: 20}, &EvalConfig{Episodes: 2, Steps: 30, Seed: seed, Keep: true})
	}
	a, b, c := run(5), run(5), run(6)
	for k := range a.Episodes {
		ea, eb := a.Episodes[k], b.Episodes[k]
		if !slices.Equal(ea.X, eb.X) || !slices.Equal(ea.U, eb.U) || ea.Cost != eb.Cost || ea.Success != eb.Success ||
			ea.Converged != eb.Converged {
			t.Errorf("episode %d differs between two runs with the same seed", k)
		}
		if slices.Equal(ea.X0, c.Episodes[k].X0) {
			t.Errorf("episode %d: seeds 5 and 6 drew the same start", k)
		}
	}
}

// TestMPCUsesGivenModel: a planner with a wrong model controls worse than
// the true one, and the true parameters passed explicitly give exactly
// the default planner's episode.
func TestMPCUsesGivenModel(t *testing.T) {
	env := mustEnv(t, "pendulum")
	cfg := &EvalConfig{Episodes: 2, Steps: 60, Seed: 2, Keep: true}
	eval := func(mc *MPCConfig) *Evaluation { return evalMPC(t, env, mc, cfg) }
	def := eval(nil)
	explicit := eval(&MPCConfig{Theta: env.Params(), Phi: env.CostParams(), Horizon: DefaultMPCHorizon})
	wrong := eval(&MPCConfig{Theta: []float64{15, 3, 0.5}}) // train's initial guess
	for k := range def.Episodes {
		if !slices.Equal(def.Episodes[k].U, explicit.Episodes[k].U) {
			t.Errorf("episode %d: explicit true parameters changed the controls", k)
		}
	}
	if r, err := CostRatio(wrong, def); err != nil || !(r > 1) {
		t.Errorf("wrong model's cost ratio %g, %v", r, err)
	}
}

func TestMPCBadInput(t *testing.T) {
	env := mustEnv(t, "pendulum")
	for name, cfg := range map[string]*MPCConfig{
		"negative horizon": {Horizon: -1},
		"short theta":      {Theta: []float64{10, 1}},
		"NaN theta":        {Theta: []float64{10, math.NaN(), 1}},
		"long phi":         {Phi: make([]float64, 9)},
		"Inf phi":          {Phi: []float64{1, 1, 0.1, math.Inf(1), -1, 0, 0, 0}},
	} {
		if _, err := NewMPC(env, cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := NewMPC(nil, nil); err == nil {
		t.Error("nil env: no error")
	}
	p, err := NewMPC(env, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Control(make([]float64, 2), make([]float64, 3), 0); err == nil {
		t.Error("wrong control length: no error")
	}
	if _, err := p.Control(make([]float64, 1), []float64{math.NaN(), 0, 0}, 0); err == nil {
		t.Error("NaN state: no error")
	}
	if _, err := Evaluate(env, nil, nil); err == nil {
		t.Error("nil policy: no error")
	}
	if _, err := Evaluate(env, ZeroPolicy(), &EvalConfig{Steps: -1}); err == nil {
		t.Error("negative steps: no error")
	}
	if _, err := Evaluate(env, ZeroPolicy(), &EvalConfig{Success: &Success{AngleTol: -1}}); err == nil {
		t.Error("negative tolerance: no error")
	}
	boom := errors.New("boom")
	fail := PolicyFunc(func(_, _ []float64, t int) (StepInfo, error) {
		if t == 3 {
			return StepInfo{}, boom
		}
		return StepInfo{}, nil
	})
	if _, err := Evaluate(env, fail, &EvalConfig{Episodes: 1, Steps: 10}); !errors.Is(err, boom) {
		t.Errorf("policy error: got %v", err)
	}
}

func TestOutside(t *testing.T) {
	env := mustEnv(t, "pendulum")
	in := []Range{{"theta", -math.Pi / 2, math.Pi / 2}, {"omega", -1, 1}}
	s, err := env.Outside(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Range{{"theta", -math.Pi, math.Pi}, {"omega", -2, 2}}; !slices.Equal(s.Ranges(), want) {
		t.Errorf("widened ranges %v, want %v", s.Ranges(), want)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float64, 3)
	hanging := 0
	const n = 2000
	for range n {
		s.Sample(x, rng)
		th, w := math.Atan2(x[1], x[0]), x[2]
		if math.Abs(th) <= math.Pi/2 && math.Abs(w) <= 1 {
			t.Fatalf("start θ=%g ω=%g inside the excluded box", th, w)
		}
		if math.Abs(w) > 2 || math.Abs(x[0]*x[0]+x[1]*x[1]-1) > 1e-12 {
			t.Fatalf("start %v outside the widened box", x)
		}
		if math.Abs(th) > math.Pi/2 {
			hanging++
		}
	}
	// Outside the box: ¾ of the widened box; the hanging half is ½ of it,
	// so ⅔ of the starts hang (binomial s.d. about 0.011 at n = 2000).
	if f := float64(hanging) / n; math.Abs(f-2.0/3) > 0.05 {
		t.Errorf("share of hanging starts %.3f, want about 2/3", f)
	}
	cp := mustEnv(t, "cartpole")
	if _, err := cp.Outside(cp.InitialRanges()); err != nil {
		t.Errorf("cart-pole: %v", err)
	}
	if _, err := env.Outside([]Range{{"theta", 0, 0}, {"omega", 0, 0}}); err == nil {
		t.Error("a box of zero width: no error")
	}
	if _, err := env.Outside(in[:1]); err == nil {
		t.Error("one range for two coordinates: no error")
	}
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	for _, c := range []struct {
		v    []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(1, 2, 3, 4), 50, 2 * time.Millisecond},        // ⌈2⌉ = 2nd
		{ms(1, 2, 3, 4, 5), 50, 3 * time.Millisecond},     // ⌈2.5⌉ = 3rd
		{ms(1, 2, 3, 4, 5), 99, 5 * time.Millisecond},     // ⌈4.95⌉ = 5th
		{ms(make([]int, 99)...), 99, 0},                   // 99 zeros
		{append(ms(make([]int, 99)...), ms(9)...), 99, 0}, // ⌈99⌉ = 99th of 100
		{append(ms(make([]int, 98)...), ms(9, 9)...), 99, 9 * time.Millisecond},
	} {
		if got := percentile(c.v, c.p); got != c.want {
			t.Errorf("percentile(%v, %g) = %v, want %v", c.v, c.p, got, c.want)
		}
	}
}

// TestEvalDefaultSteps: episodes last 100 steps by default, the rocket's
// RocketSteps (at 100 even the expert lands in a minority of episodes).
func TestEvalDefaultSteps(t *testing.T) {
	for name, want := range map[string]int{"pendulum": 100, "cartpole": 100, "rocket": RocketSteps} {
		env, err := New(name)
		if err != nil {
			t.Fatal(err)
		}
		c, err := evalDefaults(env, nil)
		if err != nil || c.Steps != want {
			t.Errorf("%s: default Steps %d (%v), want %d", name, c.Steps, err, want)
		}
	}
}
