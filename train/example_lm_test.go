package train_test

import (
	"context"
	"fmt"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/train"
)

// ExampleFitLM fits the pendulum's (g, m, l) from the wrong guess
// (15, 3, 0.5) to 10 expert demonstrations by Levenberg–Marquardt. The
// data determine only 3g/(2l) and 3/(ml²) (truth 15 and 3); the fit
// recovers those and reports the one direction of log θ it cannot
// determine.
func ExampleFitLM() {
	env, _ := envs.New("pendulum")
	ranges, _ := train.ReferenceRanges("pendulum")
	ds, err := train.GenerateDataset(env, ranges, &envs.DatasetOptions{NTrain: 10, NVal: 1, NTest: 10, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := train.FitLM(context.Background(), ds, train.LMConfig{MaxIter: 30})
	if err != nil {
		fmt.Println(err)
		return
	}
	names, est, _, rel, _ := train.Identified("pendulum", res.Theta, ds.Theta)
	for i, n := range names {
		fmt.Printf("%s = %.6f (relative error below 1e-6: %v)\n", n, est[i], rel[i] < 1e-6)
	}
	fmt.Printf("rank %d, undetermined direction of log θ: %.4f\n", res.Rank, res.NullSpace[0])
	// Output:
	// 3g/(2l) = 15.000000 (relative error below 1e-6: true)
	// 3/(ml²) = 3.000000 (relative error below 1e-6: true)
	// rank 2, undetermined direction of log θ: [-0.4082 0.8165 -0.4082]
}
