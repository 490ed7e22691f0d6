package main

import (
	"bytes"
	"fmt"
	"image/color"
	"io"
	"math"
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
	mInit:       "constrained planner at the first guess of ψ, untrained",
	mUncon:      "planner without the constraint, true cost, untrained",
	mDiLQRPsi:   "(a) learns ψ, exact implicit gradient",
	mDiffMPCPsi: "(b) learns ψ, fixed-point (DiffMPC) gradient",
	mDiLQRCost:  "(c) no constraint, learns the cost (q, p), exact gradient",
}

// colours are the methods' colours, in allMethods order.
var colours = map[string]color.RGBA{
	mInit: {R: 0x99, G: 0x99, B: 0x99, A: 255}, mUncon: palette.Orange,
	mDiLQRPsi: palette.Blue, mDiffMPCPsi: palette.SkyBlue, mDiLQRCost: palette.Vermillion,
}

// csvHeader is the header of the per-run CSV.
const csvHeader = "task,method,seed,k,psi_error,centre_error,radius_error,test_imitation,max_violation,frac_violating,test_failures,train_unstationary,train_grads_zeroed,restart,seconds"

// g6 formats v for a CSV cell: empty for NaN.
func g6(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// joinK formats learned entries as "a;b;c".
func joinK(k []float64) string {
	s := make([]string, len(k))
	for i, v := range k {
		s[i] = g6(v)
	}
	return strings.Join(s, ";")
}

// writeCSV writes one row per run.
func writeCSV(path string, outs []*outcome) error {
	var recs [][]string
	for _, o := range outs {
		recs = append(recs, []string{o.task, o.method, strconv.FormatUint(o.seed, 10), joinK(o.k),
			g6(o.psiErr), g6(o.centreErr), g6(o.radiusErr), g6(o.test), g6(o.maxViol), g6(o.fracViol),
			strconv.Itoa(o.failures), strconv.Itoa(o.trainFail), strconv.Itoa(o.gradZero), strconv.Itoa(o.restart), strconv.FormatFloat(o.seconds, 'f', 1, 64)})
	}
	return cli.WriteCSV(path, strings.Split(csvHeader, ","), recs)
}

// writeCurves writes the training curves: task,method,seed,epoch,loss,psi_error,k.
func writeCurves(path string, outs []*outcome) error {
	var recs [][]string
	for _, o := range outs {
		for _, r := range o.curve {
			recs = append(recs, []string{o.task, o.method, strconv.FormatUint(o.seed, 10), strconv.Itoa(r.epoch),
				g6(r.loss), g6(r.psiErr), joinK(r.k)})
		}
	}
	return cli.WriteCSV(path, []string{"task", "method", "seed", "epoch", "train_imitation", "psi_error", "k"}, recs)
}

// summary is one method's results on one problem over the seeds.
type summary struct {
	task, method         string
	seeds                int
	k                    []float64 // mean over the seeds
	psiErr, psiErrHi     float64   // mean and max over the seeds
	test, testLo, testHi float64   // held-out imitation: mean, min, max
	maxViol              float64   // max over the seeds
	fracViol             float64   // mean over the seeds
	failures, trainFail  int       // sums over the seeds
	gradZero             int
	seconds              float64 // mean
}

// summarize groups the outcomes by problem and method, in table order.
func summarize(tasks, methods []string, outs []*outcome) []summary {
	var sums []summary
	for _, task := range tasks {
		for _, meth := range methods {
			s := summary{task: task, method: meth, testLo: math.Inf(1), testHi: math.Inf(-1), psiErrHi: math.Inf(-1)}
			for _, o := range outs {
				if o.task != task || o.method != meth {
					continue
				}
				s.seeds++
				if o.k != nil {
					if s.k == nil {
						s.k = make([]float64, len(o.k))
					}
					for i, v := range o.k {
						s.k[i] += v
					}
				}
				s.psiErr += o.psiErr
				s.psiErrHi = math.Max(s.psiErrHi, o.psiErr)
				s.test += o.test
				s.testLo, s.testHi = math.Min(s.testLo, o.test), math.Max(s.testHi, o.test)
				s.maxViol = math.Max(s.maxViol, o.maxViol)
				s.fracViol += o.fracViol
				s.failures += o.failures
				s.trainFail += o.trainFail
				s.gradZero += o.gradZero
				s.seconds += o.seconds
			}
			if s.seeds == 0 {
				continue
			}
			n := float64(s.seeds)
			for i := range s.k {
				s.k[i] /= n
			}
			s.psiErr, s.test, s.fracViol, s.seconds = s.psiErr/n, s.test/n, s.fracViol/n, s.seconds/n
			sums = append(sums, s)
		}
	}
	return sums
}

// tableHeader are the columns of the summary table and CSV.
var tableHeader = []string{"task", "method", "learned k (mean)", "true k", "ψ error mean", "ψ error max",
	"held-out imitation mean", "min", "max", "max violation (true constraint)", "held-out violating > 1e-3",
	"held-out failures", "training solves not stationary", "training gradients zeroed", "s per run"}

// tableRows returns the summary table's cells.
func tableRows(sums []summary, trueK map[string][]float64) [][]string {
	num := func(v float64) string {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "–"
		}
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	ks := func(k []float64) string {
		if k == nil {
			return "–"
		}
		s := make([]string, len(k))
		for i, v := range k {
			s[i] = strconv.FormatFloat(v, 'f', 3, 64)
		}
		return "(" + strings.Join(s, ", ") + ")"
	}
	var rows [][]string
	for _, s := range sums {
		rows = append(rows, []string{s.task, s.method, ks(s.k), ks(trueK[s.task]), num(s.psiErr), num(s.psiErrHi),
			num(s.test), num(s.testLo), num(s.testHi), num(s.maxViol), fmt.Sprintf("%.0f%%", 100*s.fracViol),
			strconv.Itoa(s.failures), strconv.Itoa(s.trainFail), strconv.Itoa(s.gradZero), fmt.Sprintf("%.1f", s.seconds)})
	}
	return rows
}

// writeTable writes the summary as a markdown table.
func writeTable(w io.Writer, rows [][]string) {
	fmt.Fprintf(w, "| %s |\n", strings.Join(tableHeader, " | "))
	fmt.Fprintf(w, "|%s\n", strings.Repeat("---|", len(tableHeader)))
	for _, r := range rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
	}
}

// circle returns n+1 points around the circle of centre (cx, cy) and
// radius r, the last equal to the first.
func circle(cx, cy, r float64, n int) plotter.XYs {
	pts := make(plotter.XYs, n+1)
	for i := range pts {
		a := 2 * math.Pi * float64(i) / float64(n)
		pts[i] = plotter.XY{X: cx + r*math.Cos(a), Y: cy + r*math.Sin(a)}
	}
	return pts
}

// trajectory returns the positions (p_x, p_y) of held-out trajectory b
// of the vehicle's states x (B×T×4).
func trajectory(x []float64, b, t int) plotter.XYs {
	pts := make(plotter.XYs, t)
	for i := range pts {
		j := (b*t + i) * 4
		pts[i] = plotter.XY{X: x[j], Y: x[j+1]}
	}
	return pts
}

// maxDrawn is the number of held-out trajectories drawn per planner.
const maxDrawn = 8

// plotVehicle draws the vehicle's plane for one seed: the true obstacle
// (grey disc), the first guess (dotted) and each constraint learner's
// final obstacle (dashed) with the path of its centre during training,
// and the first held-out trajectories of the expert (thick grey) and of
// the learned planners.
func plotVehicle(path string, s *setup, test *demos, seed uint64, methods []string, outs []*outcome) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("vehicle: learned obstacle and held-out plans (seed %d)", seed)
	p.X.Label.Text = "p_x (m)"
	p.Y.Label.Text = "p_y (m)"
	p.Legend.Top = true
	p.Legend.Left = true
	truth, err := plotter.NewPolygon(circle(s.trueK[0], s.trueK[1], s.trueK[2], 120))
	if err != nil {
		return err
	}
	truth.Color = color.RGBA{R: 0xdd, G: 0xdd, B: 0xdd, A: 255}
	truth.LineStyle.Width = 0
	p.Add(truth)
	p.Legend.Add("true obstacle", truth)
	guess, err := plotter.NewLine(circle(s.initK[0], s.initK[1], s.initK[2], 120))
	if err != nil {
		return err
	}
	guess.Color, guess.Dashes = colours[mInit], []vg.Length{vg.Points(1), vg.Points(3)}
	p.Add(guess)
	p.Legend.Add("first guess", guess)
	nb := min(maxDrawn, test.b)
	for b := range nb {
		l, err := plotter.NewLine(trajectory(test.x, b, s.t))
		if err != nil {
			return err
		}
		l.Color, l.Width = color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 255}, vg.Points(4)
		p.Add(l)
		if b == 0 {
			p.Legend.Add("expert", l)
		}
	}
	for _, meth := range methods {
		if meth == mInit {
			continue
		}
		var o *outcome
		for _, c := range outs {
			if c.task == s.name && c.method == meth && c.seed == seed {
				o = c
			}
		}
		if o == nil {
			continue
		}
		col := colours[meth]
		for b := range nb {
			l, err := plotter.NewLine(trajectory(o.testX, b, s.t))
			if err != nil {
				return err
			}
			l.Color, l.Width = col, vg.Points(1.2)
			p.Add(l)
			if b == 0 {
				p.Legend.Add(meth, l)
			}
		}
		if o.k == nil {
			continue
		}
		disc, err := plotter.NewLine(circle(o.k[0], o.k[1], o.k[2], 120))
		if err != nil {
			return err
		}
		disc.Color, disc.Width, disc.Dashes = col, vg.Points(1.5), []vg.Length{vg.Points(5), vg.Points(3)}
		p.Add(disc)
		var centres plotter.XYs
		for _, r := range o.curve {
			centres = append(centres, plotter.XY{X: r.k[0], Y: r.k[1]})
		}
		if len(centres) > 1 {
			lp, sc, err := plotter.NewLinePoints(centres)
			if err != nil {
				return err
			}
			lp.Color, sc.Color, sc.Radius, sc.Shape = col, col, vg.Points(1.5), draw.CircleGlyph{}
			p.Add(lp, sc)
		}
	}
	// Equal scales: 7 m by 4 m on a 7:4 data area (plus the margins).
	p.X.Min, p.X.Max = -0.5, 6.5
	p.Y.Min, p.Y.Max = -2, 2
	return savePNG(path, p, 10*vg.Inch, 6.2*vg.Inch)
}

// plotCurves draws, per problem, the mean over the seeds of the training
// imitation loss and of the ψ error against the epoch, log scales.
func plotCurves(path string, tasks, methods []string, outs []*outcome) error {
	var row [][]*plot.Plot
	for _, task := range tasks {
		loss, perr := plot.New(), plot.New()
		loss.Title.Text = task + ": training imitation loss (mean over seeds)"
		perr.Title.Text = task + ": ψ error ‖k − k*‖ (mean over seeds)"
		for _, p := range []*plot.Plot{loss, perr} {
			p.X.Label.Text = "epoch"
			p.Y.Scale = plot.LogScale{}
			p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
			p.Legend.Top = true
		}
		for _, meth := range methods {
			if !trained(meth) {
				continue
			}
			for i, p := range []*plot.Plot{loss, perr} {
				pts := meanCurve(task, meth, outs, i == 1)
				if len(pts) < 2 {
					continue
				}
				l, err := plotter.NewLine(pts)
				if err != nil {
					return err
				}
				l.Color, l.Width = colours[meth], vg.Points(1.5)
				p.Add(l)
				p.Legend.Add(meth, l)
			}
		}
		row = append(row, []*plot.Plot{loss, perr})
	}
	if len(row) == 0 {
		return nil
	}
	const w = 12 * vg.Inch
	h := vg.Length(len(row)) * 4 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(row), Cols: 2, PadX: vg.Points(24), PadY: vg.Points(18), PadTop: vg.Points(6),
		PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(12)}
	cs := plot.Align(row, tiles, dc)
	for i := range row {
		for j := range row[i] {
			row[i][j].Draw(cs[i][j])
		}
	}
	return writePNG(path, img)
}

// meanCurve returns the mean over the seeds of meth's training loss (or
// ψ error) against the epoch; points that are not positive are left out
// (log scale).
func meanCurve(task, meth string, outs []*outcome, psi bool) plotter.XYs {
	var sum []float64
	runs := 0
	for _, o := range outs {
		if o.task != task || o.method != meth {
			continue
		}
		runs++
		for i, r := range o.curve {
			if i >= len(sum) {
				sum = append(sum, 0)
			}
			v := r.loss
			if psi {
				v = r.psiErr
			}
			sum[i] += v
		}
	}
	var pts plotter.XYs
	for i, v := range sum {
		if v /= float64(runs); v > 0 && !math.IsInf(v, 0) {
			pts = append(pts, plotter.XY{X: float64(i), Y: v})
		}
	}
	return pts
}

// savePNG draws p on a w×h canvas and writes it to path.
func savePNG(path string, p *plot.Plot, w, h vg.Length) error {
	img := vgimg.New(w, h)
	p.Draw(draw.New(img))
	return writePNG(path, img)
}

// writePNG encodes img and writes it to path whole.
func writePNG(path string, img *vgimg.Canvas) error {
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return err
	}
	return cli.WriteFile(path, buf.Bytes(), 0o644)
}
