package envs

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// BenchmarkRender renders one pendulum or cart-pole state per op at 32 and
// 64 pixels, into a reused destination.
func BenchmarkRender(b *testing.B) {
	for _, name := range []string{"pendulum", "cartpole"} {
		e := mustEnv(b, name)
		x := map[string][]float64{
			"pendulum": {math.Cos(0.7), math.Sin(0.7), 0},
			"cartpole": {0.4, 0, math.Cos(0.7), math.Sin(0.7), 0},
		}[name]
		for _, size := range []int{32, 64} {
			b.Run(fmt.Sprintf("%s/size=%d", name, size), func(b *testing.B) {
				opts := &RenderOptions{Size: size}
				dst := make([]float64, size*size)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := e.Render(dst, x, opts); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkCollect times the expert: 20 demonstrations per op at each
// env's default horizon.
func BenchmarkCollect(b *testing.B) {
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			ex, err := NewExpert(mustEnv(b, name), nil)
			if err != nil {
				b.Fatal(err)
			}
			var seed uint64
			for b.Loop() {
				seed++
				if _, err := ex.Collect(20, nil, rand.New(rand.NewPCG(seed, 0)), -1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
