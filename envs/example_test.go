package envs_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/dilqr/dilqr/envs"
)

// ExampleGenerate builds a tiny pendulum dataset, saves it and loads it
// back.
func ExampleGenerate() {
	env, err := envs.New("pendulum")
	if err != nil {
		fmt.Println(err)
		return
	}
	ds, err := envs.Generate(env, &envs.DatasetOptions{NTrain: 3, NVal: 2, NTest: 2, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	dir, err := os.MkdirTemp("", "envs-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "pendulum.npz")
	if err := ds.Save(path); err != nil {
		fmt.Println(err)
		return
	}
	back, err := envs.Load(path, env)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s: T=%d N=%d M=%d, splits %d/%d/%d, rejected %d\n", back.Env, back.T, back.N, back.M,
		back.Train.B, back.Val.B, back.Test.B, back.Train.Rejected+back.Val.Rejected+back.Test.Rejected)
	x0, _, U := back.Train.Example(0)
	fmt.Printf("first start (cos θ, sin θ, ω) = (%.3f, %.3f, %.3f), first torque %.3f\n", x0[0], x0[1], x0[2], U[0])
	// Output:
	// pendulum: T=20 N=3 M=1, splits 3/2/2, rejected 0
	// first start (cos θ, sin θ, ω) = (-0.073, 0.997, -0.002), first torque -2.000
}

// ExampleEnv_Render draws the pendulum lying horizontally (θ = π/2) into a
// 32×32 image and prints which quarter of the image is lit.
func ExampleEnv_Render() {
	env, err := envs.New("pendulum")
	if err != nil {
		fmt.Println(err)
		return
	}
	img, err := env.Render(nil, []float64{0, 1, 0}, nil) // (cos θ, sin θ, ω)
	if err != nil {
		fmt.Println(err)
		return
	}
	var left, right float64
	for i, v := range img {
		if i%32 < 16 {
			left += v
		} else {
			right += v
		}
	}
	fmt.Printf("%d pixels, %.0f%% of the ink on the right\n", len(img), 100*right/(left+right))
	// Output:
	// 1024 pixels, 94% of the ink on the right
}
