package main

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// plotRows draws backward time against iterations, one line per mode and
// horizon, on a log scale, like the paper's Figure 2.
func plotRows(path string, rows []row, horizons []int) error {
	p := plot.New()
	p.Title.Text = "Backward time, pendulum, batch 20"
	p.X.Label.Text = "iLQR iterations"
	p.Y.Label.Text = "backward time (s)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = iterationTicks(rows)
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	p.Legend.Left = true
	colors := map[string]color.RGBA{
		"implicit":    {R: 0x1f, G: 0x77, B: 0xb4, A: 255},
		"fixed_point": {R: 0x2c, G: 0xa0, B: 0x2c, A: 255},
		"unrolled":    {R: 0xd6, G: 0x27, B: 0x28, A: 255},
	}
	dashes := [][]vg.Length{nil, {vg.Points(6), vg.Points(3)}, {vg.Points(2), vg.Points(2)}}
	for _, mode := range []string{"implicit", "fixed_point", "unrolled"} {
		for hi, t := range horizons {
			var pts plotter.XYs
			for _, r := range rows {
				if r.mode == mode && r.t == t && r.note == "" && r.backward > 0 {
					pts = append(pts, plotter.XY{X: float64(r.iters), Y: r.backward})
				}
			}
			if len(pts) == 0 {
				continue
			}
			l, s, err := plotter.NewLinePoints(pts)
			if err != nil {
				return err
			}
			l.Color = colors[mode]
			l.Dashes = dashes[hi%len(dashes)]
			s.Color = colors[mode]
			s.Shape = draw.CircleGlyph{}
			p.Add(l, s)
			p.Legend.Add(fmt.Sprintf("%s T=%d", mode, t), l, s)
		}
	}
	// Whole decades, so the log axis always has labelled ticks.
	lo, hi := math.Inf(1), 0.0
	for _, r := range rows {
		if r.note == "" && r.backward > 0 {
			lo, hi = math.Min(lo, r.backward), math.Max(hi, r.backward)
		}
	}
	if hi > 0 {
		p.Y.Min = 0.999 * math.Pow(10, math.Floor(math.Log10(lo)))
		// Two decades of headroom for the legend in the top left corner.
		p.Y.Max = 1.001 * math.Pow(10, math.Ceil(math.Log10(hi)+1e-9)+2)
	}
	return p.Save(7*vg.Inch, 5*vg.Inch, path)
}

// iterationTicks labels the x axis at the measured iteration counts.
func iterationTicks(rows []row) plot.ConstantTicks {
	var ticks plot.ConstantTicks
	seen := map[int]bool{}
	for _, r := range rows {
		if !seen[r.iters] {
			seen[r.iters] = true
			ticks = append(ticks, plot.Tick{Value: float64(r.iters), Label: fmt.Sprint(r.iters)})
		}
	}
	return ticks
}
