package train

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress reports the optimizer steps of a run to Config.Progress.
type progress interface {
	// describe sets the text that leads the report (env, method, epoch).
	describe(text string)
	// add counts n more steps done.
	add(n int)
	// finish ends the report; ok is false when the run stopped on an error
	// or a cancellation.
	finish(ok bool)
}

// defaultProgressEvery is the period of the plain progress lines.
const defaultProgressEvery = 10 * time.Second

// newProgress returns a progress report of total steps to w: a progress
// bar with ETA when w is a terminal, or else plain lines, one at the
// start, at most one per every (default defaultProgressEvery when zero)
// and one at the end, with no control sequences, so that a log file or a
// pipe reads cleanly.
func newProgress(w io.Writer, total int, desc string, every time.Duration) progress {
	if isTerminal(w) {
		return newProgressBar(w, total, desc)
	}
	if every <= 0 {
		every = defaultProgressEvery
	}
	p := &progressLines{w: w, total: total, desc: desc, every: every, start: time.Now()}
	p.last = p.start
	fmt.Fprintf(w, "%s: %d steps\n", desc, total)
	return p
}

// isTerminal reports whether w is a file that is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressBar is the report on a terminal.
type progressBar struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func newProgressBar(w io.Writer, total int, desc string) *progressBar {
	return &progressBar{w: w, bar: progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetItsString("steps"),
		progressbar.OptionSetWidth(24),
		progressbar.OptionThrottle(250*time.Millisecond),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)}
}

func (p *progressBar) describe(text string) { p.bar.Describe(text) }
func (p *progressBar) add(n int)            { p.bar.Add(n) }

func (p *progressBar) finish(ok bool) {
	if p.bar.IsFinished() {
		return
	}
	if ok {
		p.bar.Finish()
	} else {
		fmt.Fprintln(p.w) // leave the bar's line
	}
}

// progressLines is the report anywhere else: plain lines.
type progressLines struct {
	w           io.Writer
	total, done int
	desc        string
	every       time.Duration
	start, last time.Time
}

func (p *progressLines) describe(text string) { p.desc = text }

func (p *progressLines) add(n int) {
	p.done += n
	now := time.Now()
	if now.Sub(p.last) < p.every || p.done >= p.total {
		return
	}
	p.last = now
	el := now.Sub(p.start)
	eta := time.Duration(float64(el) * float64(p.total-p.done) / float64(p.done))
	fmt.Fprintf(p.w, "%s: step %d/%d (%d%%), %v elapsed, about %v left\n", p.desc, p.done, p.total,
		100*p.done/p.total, el.Round(100*time.Millisecond), eta.Round(100*time.Millisecond))
}

func (p *progressLines) finish(ok bool) {
	el := time.Since(p.start).Round(100 * time.Millisecond)
	if ok {
		fmt.Fprintf(p.w, "%s: done, %d steps in %v\n", p.desc, p.done, el)
		return
	}
	fmt.Fprintf(p.w, "%s: stopped after %d of %d steps (%v)\n", p.desc, p.done, p.total, el)
}
