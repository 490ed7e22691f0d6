package envs

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// testStates returns a few states of each env, in physical coordinates
// turned into model states.
func testStates() map[string][][]float64 {
	out := map[string][][]float64{}
	for _, th := range []float64{0, math.Pi / 4, math.Pi / 2, 3 * math.Pi / 4, math.Pi, -math.Pi / 3} {
		out["pendulum"] = append(out["pendulum"], []float64{math.Cos(th), math.Sin(th), 0.3})
	}
	for _, s := range [][2]float64{{0, 0}, {1, math.Pi / 4}, {-1.8, -math.Pi / 2}, {0.5, math.Pi}, {1.5, 0.3}, {-1, 2.5}} {
		out["cartpole"] = append(out["cartpole"], []float64{s[0], 0.1, math.Cos(s[1]), math.Sin(s[1]), -0.2})
	}
	for _, s := range [][3]float64{{0, 0, 0}, {0.5, 0.3, -0.4}, {-1, -0.6, 0.6}, {1, math.Pi / 2, math.Pi}, {0, 2.5, -2}, {-0.3, 0.2, 1.2}} {
		out["double_pendulum"] = append(out["double_pendulum"],
			[]float64{s[0], 0, math.Cos(s[1]), math.Sin(s[1]), 0, math.Cos(s[2]), math.Sin(s[2]), 0})
	}
	return out
}

func mustEnv(t testing.TB, name string) *Env {
	t.Helper()
	e, err := New(name)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestRenderBasics: deterministic, values in [0, 1], something drawn,
// different states give different images, and RenderBatch agrees with
// Render, at 32 and 64 pixels.
func TestRenderBasics(t *testing.T) {
	for name, states := range testStates() {
		e := mustEnv(t, name)
		for _, size := range []int{32, 64} {
			opts := &RenderOptions{Size: size}
			var imgs [][]float64
			var flat []float64
			for _, x := range states {
				a, err := e.Render(nil, x, opts)
				if err != nil {
					t.Fatal(err)
				}
				b, err := e.Render(make([]float64, size*size), x, opts)
				if err != nil {
					t.Fatal(err)
				}
				if len(a) != size*size || !slices.Equal(a, b) {
					t.Errorf("%s %d: rendering the same state twice differs", name, size)
				}
				lit := 0
				for _, v := range a {
					if !(v >= 0 && v <= 1) {
						t.Fatalf("%s %d: pixel value %g outside [0, 1]", name, size, v)
					}
					if v > 0 {
						lit++
					}
				}
				if lit < size/4 {
					t.Errorf("%s %d: only %d pixels lit for state %v", name, size, lit, x)
				}
				for k, prev := range imgs {
					if slices.Equal(prev, a) {
						t.Errorf("%s %d: states %v and %v give the same image", name, size, states[k], x)
					}
				}
				imgs = append(imgs, a)
				flat = append(flat, x...)
			}
			batch, err := e.RenderBatch(nil, flat, opts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(batch, slices.Concat(imgs...)) {
				t.Errorf("%s %d: RenderBatch differs from Render", name, size)
			}
		}
	}
}

// TestRenderVelocityInvisible: velocities are not drawn (one image shows a
// configuration), so states that differ only in velocity look the same.
func TestRenderVelocityInvisible(t *testing.T) {
	e := mustEnv(t, "cartpole")
	a, _ := e.Render(nil, []float64{0.3, 0, 1, 0, 0}, nil)
	b, _ := e.Render(nil, []float64{0.3, 2, 1, 0, -3}, nil)
	if !slices.Equal(a, b) {
		t.Errorf("velocity changed the image")
	}
}

// centroidAngle returns the angle, from the upward vertical towards +x,
// of the intensity centroid of a size×size image relative to its centre.
func centroidAngle(img []float64, size int) float64 {
	var sx, sy float64
	c := float64(size) / 2
	for i := range size {
		for j := range size {
			v := img[i*size+j]
			sx += v * (float64(j) + 0.5 - c) // world x: right
			sy += v * (c - float64(i) - 0.5) // world y: up
		}
	}
	return math.Atan2(sx, sy)
}

// TestPendulumCentroid: the pendulum image's mass lies in the direction of
// the pole, so a network can recover the angle: the centroid's angle
// matches θ to within 1° at 32 and 64 pixels for 72 angles round the
// circle (the anti-aliased pole is symmetric about its axis up to the
// pixel grid).
func TestPendulumCentroid(t *testing.T) {
	e := mustEnv(t, "pendulum")
	for _, size := range []int{32, 64} {
		var worst float64
		for k := range 72 {
			th := -math.Pi + 2*math.Pi*float64(k)/72 + 0.01
			img, err := e.Render(nil, []float64{math.Cos(th), math.Sin(th), 0}, &RenderOptions{Size: size})
			if err != nil {
				t.Fatal(err)
			}
			got := centroidAngle(img, size)
			d := math.Abs(math.Remainder(got-th, 2*math.Pi))
			worst = max(worst, d)
			if d > math.Pi/180 {
				t.Errorf("size %d, θ=%.3f: centroid at angle %.3f", size, th, got)
			}
			// Every lit pixel lies on the pole: its centre is within the
			// half line width plus one pixel (the soft edge) of the segment
			// from the centre along θ.
			r := 0.5*DefaultLineWidth*float64(size) + 1
			length := float64(size) / 2 / 1.25 // l = 1 m in a half width of 1.25 m
			for i, v := range img {
				if v == 0 {
					continue
				}
				px := float64(i%size) + 0.5 - float64(size)/2
				py := float64(size)/2 - float64(i/size) - 0.5
				along := px*math.Sin(th) + py*math.Cos(th)
				across := px*math.Cos(th) - py*math.Sin(th)
				if along < -r || along > length+r || math.Abs(across) > r {
					t.Errorf("size %d, θ=%.3f: pixel %d (value %.2f) is off the pole", size, th, i, v)
					break
				}
			}
		}
		t.Logf("size %d: worst centroid angle error %.3g°", size, worst*180/math.Pi)
	}
}

// TestRenderSmooth: a small change of state changes the image a little: a
// rotation of 1e-3 rad moves the pole tip by 0.013 pixels at 32×32, and the
// smoothstep edge (slope ≤ 1.5 per pixel) changes no pixel by more than
// 0.02; the bound used is 0.05. Some pixel must change (the image is not
// piecewise constant in the state).
func TestRenderSmooth(t *testing.T) {
	for name, states := range testStates() {
		e := mustEnv(t, name)
		for _, x := range states {
			y := slices.Clone(x)
			// Rotate the first angle by 1e-3 and move a cart by 1e-3 m.
			ci := map[string]int{"pendulum": 0, "cartpole": 2, "double_pendulum": 2}[name]
			th := math.Atan2(x[ci+1], x[ci]) + 1e-3
			y[ci], y[ci+1] = math.Cos(th), math.Sin(th)
			if name != "pendulum" {
				y[0] += 1e-3
			}
			a, _ := e.Render(nil, x, nil)
			b, _ := e.Render(nil, y, nil)
			var most float64
			for i := range a {
				most = max(most, math.Abs(a[i]-b[i]))
			}
			if most > 0.05 || most == 0 {
				t.Errorf("%s %v: a change of 1e-3 changes pixels by up to %g", name, x, most)
			}
		}
	}
}

func TestRenderErrors(t *testing.T) {
	e := mustEnv(t, "pendulum")
	x := []float64{1, 0, 0}
	cases := []struct {
		name string
		f    func() error
		msg  string
	}{
		{"size too small", func() error { _, err := e.Render(nil, x, &RenderOptions{Size: 4}); return err }, "size 4"},
		{"size too large", func() error { _, err := e.Render(nil, x, &RenderOptions{Size: 5000}); return err }, "size 5000"},
		{"negative half width", func() error { _, err := e.Render(nil, x, &RenderOptions{HalfWidth: -1}); return err }, "HalfWidth"},
		{"NaN half width", func() error { _, err := e.Render(nil, x, &RenderOptions{HalfWidth: math.NaN()}); return err }, "HalfWidth"},
		{"line width", func() error { _, err := e.Render(nil, x, &RenderOptions{LineWidth: 2}); return err }, "LineWidth"},
		{"short state", func() error { _, err := e.Render(nil, x[:2], nil); return err }, "length 2"},
		{"NaN state", func() error { _, err := e.Render(nil, []float64{math.NaN(), 0, 0}, nil); return err }, "entry 0"},
		{"Inf state", func() error { _, err := e.Render(nil, []float64{1, 0, math.Inf(1)}, nil); return err }, "entry 2"},
		{"short dst", func() error { _, err := e.Render(make([]float64, 10), x, nil); return err }, "dst"},
		{"batch length", func() error { _, err := e.RenderBatch(nil, []float64{1, 0, 0, 1}, nil); return err }, "multiple of N=3"},
		{"batch empty", func() error { _, err := e.RenderBatch(nil, nil, nil); return err }, "multiple of N=3"},
		{"batch NaN", func() error { _, err := e.RenderBatch(nil, []float64{1, 0, 0, math.NaN(), 0, 0}, nil); return err }, "state 1"},
		{"batch dst", func() error { _, err := e.RenderBatch(make([]float64, 3), []float64{1, 0, 0}, nil); return err }, "dst"},
		{"gray size", func() error { _, err := GrayImage(make([]float64, 10), 3); return err }, "size 3"},
	}
	for _, c := range cases {
		err := c.f()
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.msg)
		}
	}
}

// TestRenderPNG writes the rendered test states as PNG contact sheets
// (32×32 and 64×64 cells, one env per row) and checks that they decode to
// the gray levels of GrayImage. With ENVS_PNG_DIR set the sheets, 3×
// enlarged, are kept there for people to look at.
func TestRenderPNG(t *testing.T) {
	dir, keep := os.LookupEnv("ENVS_PNG_DIR")
	if !keep {
		dir = t.TempDir()
	}
	states := testStates()
	for _, size := range []int{32, 64} {
		sheet := image.NewGray(image.Rect(0, 0, 6*(size+2), 3*(size+2)))
		for row, name := range []string{"pendulum", "cartpole", "double_pendulum"} {
			e := mustEnv(t, name)
			for k, x := range states[name] {
				pix, err := e.Render(nil, x, &RenderOptions{Size: size})
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				if err := WritePNG(&buf, pix, size); err != nil {
					t.Fatal(err)
				}
				dec, err := png.Decode(&buf)
				if err != nil {
					t.Fatal(err)
				}
				img, err := e.RenderImage(x, &RenderOptions{Size: size})
				if err != nil {
					t.Fatal(err)
				}
				if g, ok := dec.(*image.Gray); !ok || !bytes.Equal(g.Pix, img.Pix) {
					t.Errorf("%s: the PNG does not decode to RenderImage's pixels", name)
				}
				r := image.Rect(0, 0, size, size).Add(image.Pt(k*(size+2), row*(size+2)))
				draw.Draw(sheet, r, img, image.Point{}, draw.Src)
			}
		}
		out := image.Image(sheet)
		if keep {
			out = enlarge(sheet, 3)
		}
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("envs_sheet_%d.png", size)))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, out); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// enlarge scales a gray image by k with nearest-neighbour sampling.
func enlarge(g *image.Gray, k int) *image.Gray {
	b := g.Bounds()
	big := image.NewGray(image.Rect(0, 0, k*b.Dx(), k*b.Dy()))
	for y := range big.Rect.Dy() {
		for x := range big.Rect.Dx() {
			big.Pix[y*big.Stride+x] = g.Pix[(y/k)*g.Stride+x/k]
		}
	}
	return big
}
