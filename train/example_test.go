package train_test

import (
	"context"
	"fmt"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/train"
)

// Learn the pendulum's dynamics parameters through the planner from 16
// expert demonstrations drawn from the reference experiments' ranges.
func Example() {
	env, err := envs.New("pendulum")
	if err != nil {
		panic(err)
	}
	ranges, err := train.ReferenceRanges("pendulum")
	if err != nil {
		panic(err)
	}
	ds, err := train.GenerateDataset(env, ranges, &envs.DatasetOptions{NTrain: 16, NVal: 8, NTest: 8, Seed: 1})
	if err != nil {
		panic(err)
	}
	res, err := train.Run(context.Background(), ds, train.Config{
		Method: train.DiLQRDx, // exact implicit gradient through the planner
		Epochs: 10, BatchSize: 8, Seed: 1,
		// Dir: "out", Resume: true, // log.csv and checkpoint.json, resumable
		// Progress: os.Stderr,      // a bar with ETA on a terminal, plain lines elsewhere
	})
	if err != nil {
		panic(err)
	}
	first, last := res.History[0], res.Final()
	fmt.Println("parameters:", res.Names, "start:", res.Initial, "truth:", res.True)
	fmt.Println("epochs:", last.Epoch)
	fmt.Println("closer to the truth:", last.Model < first.Model)
	// Output:
	// parameters: [g m l] start: [15 3 0.5] truth: [10 1 1]
	// epochs: 10
	// closer to the truth: true
}
