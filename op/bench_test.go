package op

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// BenchmarkOpBackward times the Op's backward pass (what a TapeMachine's
// backward node or a LispMachine's DoDiff runs) after a forward run of the
// pendulum swing-up, B = 20: from the values of x0, θ, φ, the output and
// its gradient to the packed input gradients.
func BenchmarkOpBackward(b *testing.B) {
	task := models.PendulumTask()
	const bs = 20
	for _, T := range []int{10, 20, 50} {
		b.Run(fmt.Sprintf("B=%d/T=%d", bs, T), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(uint64(T), 13))
			x0 := make([]float64, 0, bs*3)
			for range bs {
				th := math.Pi * (2*rng.Float64() - 1)
				x0 = append(x0, math.Cos(th), math.Sin(th), 2*rng.Float64()-1)
			}
			cfg := OpConfig{Problem: ilqr.Problem{Task: task, T: T}}
			op, err := NewILQROp(cfg, Batch{B: bs, ThetaShared: true, PhiShared: true})
			if err != nil {
				b.Fatal(err)
			}
			in := []G.Value{
				tensor.New(tensor.WithShape(bs, 3), tensor.WithBacking(x0)),
				tensor.New(tensor.WithShape(3), tensor.WithBacking(task.Dynamics.DefaultParams())),
				tensor.New(tensor.WithShape(8), tensor.WithBacking(task.Cost.DefaultParams())),
			}
			out, err := op.Do(in...)
			if err != nil {
				b.Fatal(err)
			}
			dout := make([]float64, bs*T*4)
			for i := range dout {
				dout[i] = rng.NormFloat64()
			}
			vals := append(in, out, tensor.New(tensor.WithShape(bs, T, 4), tensor.WithBacking(dout)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := op.backward(vals); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
