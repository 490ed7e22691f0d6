package envs

import (
	"bufio"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"io"
	"math"
)

// GIFOptions control WriteGIF. A zero field means its default.
type GIFOptions struct {
	// Size is the side of one panel in pixels. Default 96.
	Size int
	// Every keeps every Every-th state as a frame (the last state is
	// always kept). Default 1.
	Every int
	// Delay is the time between frames in hundredths of a second. Default
	// 5·Every: real time at the envs' 0.05 s step.
	Delay int
	// HalfWidth is the half side of the viewed square in metres, as
	// RenderOptions.HalfWidth. Default the env's.
	HalfWidth float64
	// Success sets the tolerances of the status strip under each panel:
	// green while every pole is within them, dark red otherwise. Nil means
	// the defaults of Success.
	Success *Success
}

// The palette of WriteGIF: gifGrays gray levels from black to white, then
// the strip's colours and the background between panels.
const gifGrays = 64

var gifPalette = func() color.Palette {
	p := make(color.Palette, 0, gifGrays+3)
	for i := range gifGrays {
		v := uint8(math.Round(float64(i) * 255 / (gifGrays - 1)))
		p = append(p, color.Gray{Y: v})
	}
	return append(p,
		color.RGBA{R: 40, G: 200, B: 60, A: 255}, // upright
		color.RGBA{R: 150, G: 30, B: 30, A: 255}, // not upright
		color.RGBA{R: 40, G: 40, B: 90, A: 255})  // gaps between panels
}()

const (
	gifGreen = gifGrays + iota
	gifRed
	gifGap
)

// Layout of a WriteGIF frame: each panel is Size×Size pixels with a strip
// of gifStrip pixels under it, panels are gifGap pixels apart.
const (
	gifStrip  = 4
	gifMargin = 2
)

// WriteGIF writes an animated GIF of state sequences side by side: panels
// holds one trajectory per panel (rows of length N, e.g. the states of an
// Episode kept by Evaluate), laid out row by row, cols panels per row.
// Frame k shows state k of every panel (a shorter trajectory holds its
// last state), drawn as Render draws it, with a strip under each panel
// that is green while the state is within the success tolerances (every
// pole within AngleTol of upright and RateTol of rest) and dark red
// otherwise. The animation loops. The output is deterministic, 64 gray
// levels and three colours.
//
// It fails if panels is empty, a trajectory is empty, of a length not a
// multiple of N or not finite, cols < 1, or the options are invalid.
func (e *Env) WriteGIF(w io.Writer, panels [][]float64, cols int, opts *GIFOptions) error {
	o, err := e.gifOptions(opts)
	if err != nil {
		return err
	}
	n := e.Dims().N
	if len(panels) == 0 || cols < 1 {
		return fmt.Errorf("envs: gif: %d panels in %d columns", len(panels), cols)
	}
	frames := 0
	for i, p := range panels {
		if len(p) == 0 || len(p)%n != 0 {
			return fmt.Errorf("envs: gif: panel %d has %d entries, want a positive multiple of N=%d", i, len(p), n)
		}
		if !finite(p) {
			return fmt.Errorf("envs: gif: panel %d is not finite", i)
		}
		frames = max(frames, len(p)/n)
	}
	succ, err := o.Success.withDefaults()
	if err != nil {
		return err
	}
	rows := (len(panels) + cols - 1) / cols
	cols = min(cols, len(panels))
	cell := image.Pt(o.Size+gifMargin, o.Size+gifStrip+gifMargin)
	bounds := image.Rect(0, 0, cols*cell.X+gifMargin, rows*cell.Y+gifMargin)
	ro := RenderOptions{Size: o.Size, HalfWidth: o.HalfWidth}
	pix := make([]float64, o.Size*o.Size)
	anim := &gif.GIF{LoopCount: 0}
	var keep []int
	for k := 0; k < frames; k += o.Every {
		keep = append(keep, k)
	}
	if keep[len(keep)-1] != frames-1 {
		keep = append(keep, frames-1) // always end on the last state
	}
	for _, k := range keep {
		img := image.NewPaletted(bounds, gifPalette)
		for i := range img.Pix {
			img.Pix[i] = gifGap
		}
		for i, p := range panels {
			x := p[min(k, len(p)/n-1)*n:][:n]
			if _, err := e.Render(pix, x, &ro); err != nil {
				return err
			}
			org := image.Pt(gifMargin+(i%cols)*cell.X, gifMargin+(i/cols)*cell.Y)
			drawPanel(img, org, o.Size, pix, e.upright(x, &succ))
		}
		anim.Image = append(anim.Image, img)
		anim.Delay = append(anim.Delay, o.Delay)
	}
	bw := bufio.NewWriter(w)
	if err := gif.EncodeAll(bw, anim); err != nil {
		return fmt.Errorf("envs: gif: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("envs: gif: %w", err)
	}
	return nil
}

// drawPanel copies a size×size image with values in [0, 1] to img at org,
// and the status strip under it.
func drawPanel(img *image.Paletted, org image.Point, size int, pix []float64, ok bool) {
	for i := range size {
		row := img.Pix[img.PixOffset(org.X, org.Y+i):][:size]
		for j, v := range pix[i*size : (i+1)*size] {
			row[j] = uint8(math.Round(min(max(v, 0), 1) * (gifGrays - 1)))
		}
	}
	c := uint8(gifRed)
	if ok {
		c = gifGreen
	}
	for i := range gifStrip {
		row := img.Pix[img.PixOffset(org.X, org.Y+size+i):][:size]
		for j := range row {
			row[j] = c
		}
	}
}

// gifOptions fills the defaults of o and checks it.
func (e *Env) gifOptions(opts *GIFOptions) (GIFOptions, error) {
	o := deref(opts)
	setDefault(&o.Size, 96)
	setDefault(&o.Every, 1)
	setDefault(&o.Delay, 5*o.Every)
	setDefault(&o.HalfWidth, e.halfWidth)
	if o.Size < MinImageSize || o.Size > MaxImageSize || o.Every < 1 || o.Delay < 1 ||
		!(o.HalfWidth > 0) || math.IsInf(o.HalfWidth, 0) {
		return o, fmt.Errorf("envs: gif: size %d (want [%d, %d]), every %d, delay %d, half width %g",
			o.Size, MinImageSize, MaxImageSize, o.Every, o.Delay, o.HalfWidth)
	}
	return o, nil
}
