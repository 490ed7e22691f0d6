package main

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dilqr/dilqr/envs"
	"github.com/dilqr/dilqr/examples/internal/cli"
	"github.com/dilqr/dilqr/internal/palette"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// csvHeader is the header of the -csv file.
var csvHeader = []string{"env", "method", "split", "episodes", "success_rate", "cost_ratio", "solve_ms_p50", "solve_ms_p99"}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'g', 4, 64)
}

// num4 formats a number with four significant digits ("NaN" for NaN).
func num4(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

// writeCSV writes the rows with csvHeader's columns.
func writeCSV(w io.Writer, rows []row) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, r := range rows {
		rec := []string{r.env, r.method, r.split, strconv.Itoa(r.episodes), num4(r.success), num4(r.costRatio), ms(r.p50), ms(r.p99)}
		if r.err != "" {
			rec[6], rec[7] = "NaN", "NaN"
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// writeTable writes the rows as an aligned text table.
func writeTable(w io.Writer, rows []row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "env\tmethod\tsplit\tepisodes\tsuccess\tcost ratio\tms p50\tms p99\tconverged\t")
	for _, r := range rows {
		if r.err != "" {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\tfailed: %.60s\t\t\t\t\t\n", r.env, r.method, r.split, r.episodes, r.err)
			continue
		}
		conv := "-"
		if !math.IsNaN(r.converged) {
			conv = fmt.Sprintf("%.1f%%", 100*r.converged)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.0f%%\t%s\t%s\t%s\t%s\t\n", r.env, r.method, r.split, r.episodes,
			100*r.success, num4(r.costRatio), ms(r.p50), ms(r.p99), conv)
	}
	return tw.Flush()
}

// columns returns the (env, split) pairs of rows, in order.
func columns(rows []row) [][2]string {
	var out [][2]string
	for _, r := range rows {
		c := [2]string{r.env, r.split}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// methods returns the method labels of rows, in order.
func methods(rows []row) []string {
	var out []string
	for _, r := range rows {
		if !slices.Contains(out, r.method) {
			out = append(out, r.method)
		}
	}
	return out
}

// find returns the row of (method, env, split).
func find(rows []row, method string, c [2]string) (row, bool) {
	for _, r := range rows {
		if r.method == method && r.env == c[0] && r.split == c[1] {
			return r, true
		}
	}
	return row{}, false
}

// writeMarkdown writes two tables: success rate and cost ratio per method
// and (env, split), and the median and 99th-percentile decision times.
func writeMarkdown(w io.Writer, rows []row) error {
	cols := columns(rows)
	var b strings.Builder
	b.WriteString("| method |")
	for _, c := range cols {
		fmt.Fprintf(&b, " %s %s |", c[0], c[1])
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(cols)) + "\n")
	for _, m := range methods(rows) {
		fmt.Fprintf(&b, "| %s |", m)
		for _, c := range cols {
			r, ok := find(rows, m, c)
			switch {
			case !ok:
				b.WriteString(" |")
			case r.err != "":
				b.WriteString(" failed |")
			default:
				fmt.Fprintf(&b, " %.0f%% · %s |", 100*r.success, num4(r.costRatio))
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("\nDecision time per step, ms, median / 99th percentile (split in):\n\n| method |")
	var envsSeen []string
	for _, c := range cols {
		if !slices.Contains(envsSeen, c[0]) {
			envsSeen = append(envsSeen, c[0])
			fmt.Fprintf(&b, " %s |", c[0])
		}
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(envsSeen)) + "\n")
	for _, m := range methods(rows) {
		if m == "zero" {
			continue
		}
		fmt.Fprintf(&b, "| %s |", m)
		for _, e := range envsSeen {
			if r, ok := find(rows, m, [2]string{e, "in"}); ok && r.err == "" {
				fmt.Fprintf(&b, " %s / %s |", ms(r.p50), ms(r.p99))
			} else {
				b.WriteString(" |")
			}
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeOutputs writes the files the flags ask for.
func writeOutputs(o options, rows []row, gifs []gifSet, stdout io.Writer) error {
	var written []string
	write := func(path string, f func(io.Writer) error) error {
		var buf bytes.Buffer
		if err := f(&buf); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if err := cli.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			return err
		}
		written = append(written, path)
		return nil
	}
	if o.csv != "" {
		if err := write(o.csv, func(w io.Writer) error { return writeCSV(w, rows) }); err != nil {
			return err
		}
	}
	if o.md != "" {
		if err := write(o.md, func(w io.Writer) error { return writeMarkdown(w, rows) }); err != nil {
			return err
		}
	}
	if o.plot != "" {
		if err := write(o.plot, func(w io.Writer) error { return plotSuccess(w, rows) }); err != nil {
			return err
		}
	}
	if o.gifDir != "" {
		for _, g := range gifs {
			path := filepath.Join(o.gifDir, g.env.Name()+".gif")
			labels := gifLabels(g)
			if len(labels) < 2 {
				continue
			}
			if err := write(path, func(w io.Writer) error { return writeGIF(w, g, labels) }); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s: columns %s; rows: the %d \"out\" episodes the expert takes longest to bring upright\n",
				path, strings.Join(labels, " | "), gifEpisodes)
		}
	}
	if len(written) > 0 {
		fmt.Fprintf(stdout, "wrote %s\n", strings.Join(written, ", "))
	}
	return nil
}

// gifEpisodes is the number of episodes (rows) per GIF.
const gifEpisodes = 3

// gifLabels picks the GIF's columns: the expert, the dilqr.dx planner and
// the nn policy at the largest n_train evaluated.
func gifLabels(g gifSet) []string {
	out := []string{"expert"}
	for _, m := range []string{"dilqr.dx", "nn"} {
		best, bestN := "", -1
		for l := range g.evals {
			var n int
			if k, err := fmt.Sscanf(l, m+"/n%d", &n); err == nil && k == 1 && n > bestN {
				best, bestN = l, n
			}
		}
		if best != "" {
			out = append(out, best)
		}
	}
	return out
}

// writeGIF writes gifEpisodes "out" episodes of each label, one row per
// episode, one column per label: the episodes the expert takes longest to
// bring upright (see gifPicks).
func writeGIF(w io.Writer, g gifSet, labels []string) error {
	var panels [][]float64
	for _, k := range gifPicks(g.evals["expert"], gifEpisodes) {
		for _, l := range labels {
			ev := g.evals[l]
			if k >= len(ev.Episodes) {
				return fmt.Errorf("%s has %d episodes", l, len(ev.Episodes))
			}
			panels = append(panels, ev.Episodes[k].X)
		}
	}
	return g.env.WriteGIF(w, panels, len(labels), &envs.GIFOptions{Size: 96})
}

// gifPicks returns the indices, in order, of the n episodes of the
// expert's evaluation that reach upright latest (an episode that never
// does counts as the latest; ties go to the earlier episode): the
// swing-ups rather than the starts that are nearly upright already.
func gifPicks(expert *envs.Evaluation, n int) []int {
	idx := make([]int, len(expert.Episodes))
	late := func(k int) int {
		if r := expert.Episodes[k].Reached; r >= 0 {
			return r
		}
		return math.MaxInt
	}
	for k := range idx {
		idx[k] = k
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(late(b), late(a)) })
	idx = idx[:min(n, len(idx))]
	slices.Sort(idx)
	return idx
}

// plotSuccess draws the success rates as grouped bars: one group per
// method (at the largest n_train, with the expert and the zero policy),
// one bar per env and split.
func plotSuccess(w io.Writer, rows []row) error {
	labels := []string{"expert", "zero"}
	largest := map[string]int{}
	for _, r := range rows {
		if m, n, ok := strings.Cut(r.method, "/n"); ok {
			v, _ := strconv.Atoi(n)
			largest[m] = max(largest[m], v)
		}
	}
	for _, m := range methods(rows) {
		if base, n, ok := strings.Cut(m, "/n"); ok && n == strconv.Itoa(largest[base]) {
			labels = append(labels, m)
		}
	}
	p := plot.New()
	p.Title.Text = "Closed-loop success rate"
	p.Y.Label.Text = "share of episodes upright and held"
	// Room above the bars for the legend.
	p.Y.Min, p.Y.Max = 0, 1.4
	p.Y.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "0"}, {Value: 0.25, Label: "0.25"},
		{Value: 0.5, Label: "0.5"}, {Value: 0.75, Label: "0.75"}, {Value: 1, Label: "1"}})
	cols := columns(rows)
	width := vg.Points(min(60/float64(len(cols)), 14))
	colours := []color.RGBA{palette.Blue, palette.SkyBlue, palette.Vermillion, palette.Orange,
		palette.BluishGreen, palette.ReddishPurple}
	for i, c := range cols {
		vals := make(plotter.Values, len(labels))
		for j, l := range labels {
			if r, ok := find(rows, l, c); ok && !math.IsNaN(r.success) {
				vals[j] = r.success
			}
		}
		bars, err := plotter.NewBarChart(vals, width)
		if err != nil {
			return err
		}
		bars.Color = colours[i%len(colours)]
		bars.LineStyle.Width = 0
		bars.Offset = width * vg.Length(float64(i)-float64(len(cols)-1)/2)
		p.Add(bars)
		p.Legend.Add(c[0]+" "+c[1], bars)
	}
	p.Legend.Top = true
	p.Legend.Left = false
	p.NominalX(labels...)
	p.Add(plotter.NewGrid())
	wt, err := p.WriterTo(vg.Length(1.1*float64(len(labels))+2)*vg.Inch, 4.5*vg.Inch, "png")
	if err != nil {
		return err
	}
	_, err = wt.WriteTo(w)
	return err
}
