package main

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/dilqr/dilqr/examples/internal/cli"
	"github.com/dilqr/dilqr/internal/palette"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// describe says in a few words what each method is.
var describe = map[string]string{
	mNominal:       "nominal pendulum, no network",
	mHybridDiLQR:   "(a) pendulum + residual MLP through the planner, exact gradient",
	mHybridDiLQRX:  "(a) the same, states in the loss too",
	mHybridDiffMPC: "(b) pendulum + residual MLP through the planner, fixed-point gradient",
	mMLPDiLQR:      "(c) passthrough MLP through the planner, exact gradient",
	mHybridSysID:   "(d) pendulum + residual MLP, next-state prediction",
	mMLPSysID:      "(d) passthrough MLP, next-state prediction",
	mLSTM:          "(e) LSTM policy",
}

// csvHeader is the header of the results CSV, one row per method and seed.
const csvHeader = "method,seed,params,best_epoch,test_imitation,test_imitation_p90,test_imitation_last,test_converged,pred_error_demos,pred_error_random,train_unconverged,seconds"

// writeCSV writes one row per outcome.
func writeCSV(path string, outs []*outcome) error {
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	var recs [][]string
	for _, o := range outs {
		recs = append(recs, []string{o.method, strconv.FormatUint(o.seed, 10), strconv.Itoa(o.params), strconv.Itoa(o.bestEpoch),
			g(o.test), g(o.p90), g(o.testLast), g(o.converged), g(o.predDemo), g(o.predRand), g(o.unconverged),
			strconv.FormatFloat(o.seconds, 'f', 1, 64)})
	}
	return cli.WriteCSV(path, strings.Split(csvHeader, ","), recs)
}

// writeCurves writes the learning curves: epoch,method,seed,train,val
// (val empty between validations).
func writeCurves(path string, outs []*outcome) error {
	g := func(v float64) string {
		if math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'g', 6, 64)
	}
	var recs [][]string
	for _, o := range outs {
		for _, r := range o.curve {
			recs = append(recs, []string{strconv.Itoa(r.epoch), o.method, strconv.FormatUint(o.seed, 10), g(r.train), g(r.val)})
		}
	}
	return cli.WriteCSV(path, []string{"epoch", "method", "seed", "train_loss", "val_imitation"}, recs)
}

// summary is one method's results over the seeds.
type summary struct {
	method               string
	params               int
	test, testLo, testHi float64 // mean, min and max over the seeds
	p90                  float64 // mean over the seeds of the per-start 90th percentile
	predDemo, predRand   float64 // means over the seeds
	converged, seconds   float64
	seeds                int
}

// summarize groups the outcomes by method, in the order of methods.
func summarize(methods []string, outs []*outcome) []summary {
	var out []summary
	for _, meth := range methods {
		s := summary{method: meth, testLo: math.Inf(1), testHi: math.Inf(-1)}
		for _, o := range outs {
			if o.method != meth {
				continue
			}
			s.seeds++
			s.params = o.params
			s.test += o.test
			s.testLo, s.testHi = math.Min(s.testLo, o.test), math.Max(s.testHi, o.test)
			s.p90 += o.p90
			s.predDemo += o.predDemo
			s.predRand += o.predRand
			s.converged += o.converged
			s.seconds += o.seconds
		}
		if s.seeds == 0 {
			continue
		}
		k := float64(s.seeds)
		s.test, s.p90, s.predDemo, s.predRand, s.converged, s.seconds =
			s.test/k, s.p90/k, s.predDemo/k, s.predRand/k, s.converged/k, s.seconds/k
		out = append(out, s)
	}
	return out
}

// writeTable writes the markdown table of the summaries.
func writeTable(w io.Writer, sums []summary) {
	num := func(v float64) string {
		if math.IsNaN(v) {
			return "–"
		}
		return strconv.FormatFloat(v, 'g', 2, 64)
	}
	fmt.Fprintln(w, "| method | model | weights | test imitation loss | min–max over seeds | 90th percentile per start | next-state error, test | next-state error, wide box | test solves converged | s per run |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, s := range sums {
		conv := "–" // a policy without a planner
		if !math.IsNaN(s.converged) {
			conv = fmt.Sprintf("%.0f%%", 100*s.converged)
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s–%s | %s | %s | %s | %s | %.0f |\n", s.method, describe[s.method], s.params,
			num(s.test), num(s.testLo), num(s.testHi), num(s.p90), num(s.predDemo), num(s.predRand), conv, s.seconds)
	}
}

// colours are the methods' colours, in order: the Okabe–Ito set, its
// yellow (faint on white) replaced by grey.
var colours = []color.RGBA{palette.Black, palette.Blue, palette.SkyBlue, palette.Vermillion, palette.BluishGreen,
	palette.ReddishPurple, palette.Orange, {R: 0x99, G: 0x99, B: 0x99, A: 255}}

// plotResults draws two panels into one PNG: the validation imitation loss
// against the epoch (mean over seeds, validated epochs only), and every
// run's test imitation loss against its next-state error on the test
// demonstrations' pairs (the LSTM, which has no model, as a dashed line).
func plotResults(path string, methods []string, outs []*outcome) error {
	curves := plot.New()
	curves.Title.Text = "validation imitation loss (mean over seeds)"
	curves.X.Label.Text = "epoch"
	curves.Y.Label.Text = "mean (û − u)²"
	curves.Y.Scale = plot.LogScale{}
	curves.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	curves.Legend.Top = true
	curves.Legend.Left = false
	scatter := plot.New()
	scatter.Title.Text = "test: imitation loss against model error"
	scatter.X.Label.Text = "next-state error on the test demonstrations' (x, u)"
	scatter.Y.Label.Text = "test imitation loss"
	scatter.X.Scale, scatter.Y.Scale = plot.LogScale{}, plot.LogScale{}
	scatter.X.Tick.Marker, scatter.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	scatter.Legend.Top = true
	var xlo, xhi = math.Inf(1), math.Inf(-1)
	var lstmY []float64
	for i, meth := range methods {
		col := colours[i%len(colours)]
		pts := meanCurve(meth, outs)
		if meth == mNominal {
			pts = flatCurve(meth, outs)
		}
		if len(pts) > 0 {
			l, err := plotter.NewLine(pts)
			if err != nil {
				return err
			}
			l.Color, l.Width = col, vg.Points(1.5)
			if meth == mNominal {
				l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			}
			curves.Add(l)
			curves.Legend.Add(meth, l)
		}
		var sp plotter.XYs
		for _, o := range outs {
			if o.method != meth {
				continue
			}
			if meth == mLSTM {
				lstmY = append(lstmY, o.test)
				continue
			}
			if o.predDemo > 0 && o.test > 0 && !math.IsInf(o.predDemo, 0) && !math.IsNaN(o.predDemo) {
				sp = append(sp, plotter.XY{X: o.predDemo, Y: o.test})
				xlo, xhi = math.Min(xlo, o.predDemo), math.Max(xhi, o.predDemo)
			}
		}
		if len(sp) > 0 {
			s, err := plotter.NewScatter(sp)
			if err != nil {
				return err
			}
			s.Color, s.Shape, s.Radius = col, draw.CircleGlyph{}, vg.Points(3.5)
			scatter.Add(s)
			scatter.Legend.Add(meth, s)
		}
		if meth == mLSTM && len(lstmY) > 0 && xhi > xlo {
			var mean float64
			for _, y := range lstmY {
				mean += y / float64(len(lstmY))
			}
			l, err := plotter.NewLine(plotter.XYs{{X: xlo, Y: mean}, {X: xhi, Y: mean}})
			if err != nil {
				return err
			}
			l.Color, l.Width, l.Dashes = col, vg.Points(1.5), []vg.Length{vg.Points(5), vg.Points(3)}
			scatter.Add(l)
			scatter.Legend.Add(meth+" (no model; mean)", l)
		}
	}
	// Room above the data for the legends.
	curves.Y.Max *= 30
	scatter.Y.Max *= 30
	const w, h = 13 * vg.Inch, 5.5 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Points(24), PadTop: vg.Points(6), PadBottom: vg.Points(6),
		PadLeft: vg.Points(6), PadRight: vg.Points(12)}
	cs := plot.Align([][]*plot.Plot{{curves, scatter}}, tiles, dc)
	curves.Draw(cs[0][0])
	scatter.Draw(cs[0][1])
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return err
	}
	return cli.WriteFile(path, buf.Bytes(), 0o644)
}

// meanCurve returns the validation imitation loss of meth against the
// epoch, averaged over the seeds at the epochs validated in every run.
func meanCurve(meth string, outs []*outcome) plotter.XYs {
	sum := map[int]float64{}
	cnt := map[int]int{}
	runs := 0
	for _, o := range outs {
		if o.method != meth {
			continue
		}
		runs++
		for _, r := range o.curve {
			if !math.IsNaN(r.val) {
				sum[r.epoch] += r.val
				cnt[r.epoch]++
			}
		}
	}
	var epochs []int
	for e, k := range cnt {
		if k == runs {
			epochs = append(epochs, e)
		}
	}
	slices.Sort(epochs)
	var pts plotter.XYs
	for _, e := range epochs {
		if v := sum[e] / float64(runs); v > 0 && !math.IsInf(v, 0) {
			pts = append(pts, plotter.XY{X: float64(e), Y: v})
		}
	}
	if len(pts) < 2 {
		return nil
	}
	return pts
}

// flatCurve returns the mean over the seeds of meth's validation loss at
// epoch 0 as a line across the epochs of the other runs: the untrained
// nominal model's level.
func flatCurve(meth string, outs []*outcome) plotter.XYs {
	var sum float64
	runs, last := 0, 0
	for _, o := range outs {
		if o.method == meth && len(o.curve) > 0 {
			sum += o.curve[0].val
			runs++
		}
		last = max(last, len(o.curve)-1)
	}
	if runs == 0 || last == 0 || !(sum > 0) {
		return nil
	}
	v := sum / float64(runs)
	return plotter.XYs{{X: 0, Y: v}, {X: float64(last), Y: v}}
}
