package train

import (
	"errors"
	"fmt"
	"image/color"
	"math"

	"github.com/dilqr/dilqr/internal/palette"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Series is one curve of a plot: a name and its (x, y) points.
type Series struct {
	Name string
	X, Y []float64
}

// curveColours are the curves' colours, in order: the Okabe–Ito set.
var curveColours = []color.RGBA{palette.Blue, palette.Vermillion, palette.BluishGreen, palette.ReddishPurple,
	palette.Orange, palette.SkyBlue, palette.Black, palette.Yellow}

// errNoData is returned when no point of any series can be drawn.
var errNoData = errors.New("train: plot: no positive, finite values to draw")

// PlotSeries draws the series as lines against the x axis, the y axis on a
// log scale when logY, and saves a PNG (or another format gonum/plot knows
// from the extension) at path. Points that the scale cannot show (NaN,
// ±Inf, and y ≤ 0 on a log scale) are left out; a series with no point left
// is skipped, and if none is left it is an error.
func PlotSeries(path, title, xlabel, ylabel string, logY bool, series []Series) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Legend.Top = true
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = decadeTicks{}
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	drawn := 0
	for i, s := range series {
		var pts plotter.XYs
		for j := range s.X {
			x, y := s.X[j], s.Y[j]
			if math.IsNaN(x) || math.IsInf(x, 0) || math.IsNaN(y) || math.IsInf(y, 0) || (logY && y <= 0) {
				continue
			}
			pts = append(pts, plotter.XY{X: x, Y: y})
			lo, hi = math.Min(lo, y), math.Max(hi, y)
		}
		if len(pts) == 0 {
			continue
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("train: plot %s: %w", s.Name, err)
		}
		l.Color = curveColours[i%len(curveColours)]
		l.Width = vg.Points(1.5)
		if i >= len(curveColours) {
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(l)
		p.Legend.Add(s.Name, l)
		drawn++
	}
	if drawn == 0 {
		return errNoData
	}
	if logY {
		// Whole decades, so that the log axis always has labelled ticks.
		p.Y.Min = math.Pow(10, math.Floor(math.Log10(lo)))
		p.Y.Max = math.Pow(10, math.Ceil(math.Log10(hi)+1e-12))
	}
	p.Add(plotter.NewGrid())
	if err := p.Save(7*vg.Inch, 4.5*vg.Inch, path); err != nil {
		return fmt.Errorf("train: saving plot %s: %w", path, err)
	}
	return nil
}

// column returns the epochs and one value of each row.
func column(rows []Row, f func(Row) float64) (x, y []float64) {
	for _, r := range rows {
		x = append(x, float64(r.Epoch))
		y = append(y, f(r))
	}
	return x, y
}

// PlotLosses draws the train, validation and test imitation losses of a log
// against the epoch on a log scale (the paper's Figure 3a for one run) and
// saves the image at path.
func PlotLosses(path, title string, rows []Row) error {
	var ss []Series
	for _, c := range []struct {
		name string
		f    func(Row) float64
	}{
		{"train", func(r Row) float64 { return r.Train }},
		{"validation", func(r Row) float64 { return r.Val }},
		{"test", func(r Row) float64 { return r.Test }},
	} {
		x, y := column(rows, c.f)
		ss = append(ss, Series{Name: c.name, X: x, Y: y})
	}
	return PlotSeries(path, title, "epoch", "imitation loss (MSE of controls)", true, ss)
}

// PlotModelLoss draws the model loss MSE(θ − θ_true) of a log against the
// epoch on a log scale (the paper's Figure 3b for one run) and saves it at
// path. It is an error for a log without model losses (nn).
func PlotModelLoss(path, title string, rows []Row) error {
	x, y := column(rows, func(r Row) float64 { return r.Model })
	return PlotSeries(path, title, "epoch", "model loss MSE(θ − θ_true)", true, []Series{{Name: "model loss", X: x, Y: y}})
}

// PlotParams draws each estimated parameter divided by its true value
// against the epoch (1 is the truth), from the Params of the rows, and
// saves it at path. Parameters whose true value is zero are drawn as they
// are, labelled so.
func PlotParams(path, title string, rows []Row, names []string, truth []float64) error {
	if len(rows) == 0 {
		return errNoData
	}
	for _, r := range rows {
		if len(r.Params) != len(names) || len(truth) != len(names) {
			return fmt.Errorf("train: plot params: %d names, %d true values, epoch %d has %d parameters",
				len(names), len(truth), r.Epoch, len(r.Params))
		}
	}
	var ss []Series
	for i, n := range names {
		label, scale := n+" / true", truth[i]
		if truth[i] == 0 {
			label, scale = n+" (true 0)", 1
		}
		x, y := column(rows, func(r Row) float64 { return r.Params[i] / scale })
		ss = append(ss, Series{Name: label, X: x, Y: y})
	}
	return PlotSeries(path, title, "epoch", "estimate / true value", false, ss)
}

// decadeTicks labels every power of ten of a log axis as 1e±k (gonum's
// LogTicks prints rounding noise such as 9.999999999999999e-05).
type decadeTicks struct{}

// Ticks implements plot.Ticker.
func (decadeTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		v := math.Pow(10, e)
		if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
			continue
		}
		ts = append(ts, plot.Tick{Value: v, Label: fmt.Sprintf("1e%+03d", int(e))})
	}
	return ts
}
