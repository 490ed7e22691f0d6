package envs_test

import (
	"fmt"

	"github.com/dilqr/dilqr/envs"
)

// ExampleEvaluate runs the pendulum in closed loop under receding-horizon
// MPC with the true model (the expert) and under no control, from the
// same five starts on the whole circle, and compares them.
func ExampleEvaluate() {
	env, err := envs.New("pendulum")
	if err != nil {
		fmt.Println(err)
		return
	}
	mpc, err := envs.NewMPC(env, nil) // true θ and φ, horizon 40
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg := &envs.EvalConfig{Episodes: 5, Steps: 100, Seed: 1}
	expert, err := envs.Evaluate(env, mpc, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	zero, err := envs.Evaluate(env, envs.ZeroPolicy(), cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	ratio, err := envs.CostRatio(zero, expert)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("MPC: %.0f%% upright and held; no control: %.0f%%, %.1f× the cost\n",
		100*expert.SuccessRate, 100*zero.SuccessRate, ratio)
	// Output:
	// MPC: 100% upright and held; no control: 0%, 3.4× the cost
}
