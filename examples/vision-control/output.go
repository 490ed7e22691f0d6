package main

import (
	"fmt"
	"image/color"
	"math"
	"strconv"

	"github.com/dilqr/dilqr/examples/internal/cli"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// csvHeader is the header of the learning-curve file.
var csvHeader = []string{"epoch", "model", "train_loss", "test_loss"}

// writeCSV writes the learning curves to path (whole or not at all, by
// cli.WriteFile): one row per epoch (0: before training) and model,
// losses in the shortest form that reads back exactly.
func writeCSV(path string, rows []row) error {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	recs := make([][]string, len(rows))
	for i, r := range rows {
		recs[i] = []string{strconv.Itoa(r.epoch), r.model, f(r.train), f(r.test)}
	}
	return cli.WriteCSV(path, csvHeader, recs)
}

// plotCurves draws the train and test imitation losses of both models
// against the epoch on a log scale and saves the plot as a PNG.
func plotCurves(path string, rows []row, title string) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = "imitation loss (MSE)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	// Bottom left: the curves start high and fall to the right.
	p.Legend.Left = true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), vg.Points(8)
	colors := map[string]color.RGBA{
		planModel: {R: 0x1f, G: 0x77, B: 0xb4, A: 255},
		mlpModel:  {R: 0xd6, G: 0x27, B: 0x28, A: 255},
	}
	names := map[string]string{planModel: "conv → iLQR", mlpModel: "conv → MLP"}
	lo, hi := math.Inf(1), 0.0
	for _, model := range []string{planModel, mlpModel} {
		for _, part := range []string{"train", "test"} {
			var pts plotter.XYs
			for _, r := range rows {
				if r.model != model {
					continue
				}
				v := r.train
				if part == "test" {
					v = r.test
				}
				if v > 0 {
					pts = append(pts, plotter.XY{X: float64(r.epoch), Y: v})
					lo, hi = math.Min(lo, v), math.Max(hi, v)
				}
			}
			if len(pts) == 0 {
				continue
			}
			l, s, err := plotter.NewLinePoints(pts)
			if err != nil {
				return err
			}
			l.Color, s.Color = colors[model], colors[model]
			l.Width = vg.Points(1.5)
			s.Shape, s.Radius = draw.CircleGlyph{}, vg.Points(2)
			if part == "train" {
				l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
				s.Shape = draw.RingGlyph{}
			}
			p.Add(l, s)
			p.Legend.Add(fmt.Sprintf("%s %s", names[model], part), l, s)
		}
	}
	if hi > 0 {
		// Whole decades, so the log axis always has labelled ticks.
		p.Y.Min = 0.999 * math.Pow(10, math.Floor(math.Log10(lo)))
		p.Y.Max = 1.001 * math.Pow(10, math.Ceil(math.Log10(hi)+1e-9))
	}
	p.Add(plotter.NewGrid())
	return p.Save(7*vg.Inch, 4.5*vg.Inch, path)
}
