package envs

import (
	"fmt"
	"image"
	"image/png"
	"io"
	"math"
)

// Rendering limits and defaults.
const (
	DefaultImageSize = 32   // pixels per side
	MinImageSize     = 8    // smallest Size Render accepts
	MaxImageSize     = 1024 // largest Size Render accepts
	DefaultLineWidth = 0.06 // pole width as a fraction of the image side
)

// Gray levels of the drawn parts, so a network can tell them apart.
const (
	poleLevel  = 1.0  // the pendulum, the cart-pole's pole, the first link
	link2Level = 0.75 // the double pendulum's second link
	cartLevel  = 0.5  // the cart
)

// Cart size in metres, drawn centred on the cart's position at height 0.
const (
	cartHalfWidth  = 0.3
	cartHalfHeight = 0.15
)

// RenderOptions configure Render. A nil *RenderOptions means all
// defaults; a zero field means that field's default.
type RenderOptions struct {
	// Size is the width and the height of the image in pixels, from
	// MinImageSize to MaxImageSize. Default DefaultImageSize (32); 64 gives
	// the same picture at twice the resolution.
	Size int
	// HalfWidth is half the side, in metres, of the square window of the
	// world shown, centred on the origin (the pendulum's pivot, or the
	// cart's rest position at the height of the pole's hinge); what lies
	// outside is clipped. Default: the env's, 1.25 for the pendulum (pole
	// length 1 m), 2.0 for the cart-pole (pole 1 m; 97.6% of the cart
	// positions in 1000 default expert demonstrations lie within ±2 m) and
	// 1.6 for the double pendulum (links 0.5 m and 0.75 m; 99.8% within
	// ±1.6 m).
	HalfWidth float64
	// LineWidth is the width of a pole as a fraction of the image side.
	// Default DefaultLineWidth (0.06: 1.9 pixels at 32×32).
	LineWidth float64
}

// renderOptions returns the options with defaults filled in, or an error.
func (e *Env) renderOptions(o *RenderOptions) (RenderOptions, error) {
	r := deref(o)
	setDefault(&r.Size, DefaultImageSize)
	setDefault(&r.HalfWidth, e.halfWidth)
	setDefault(&r.LineWidth, DefaultLineWidth)
	switch {
	case r.Size < MinImageSize || r.Size > MaxImageSize:
		return r, fmt.Errorf("envs: render: size %d outside [%d, %d]", r.Size, MinImageSize, MaxImageSize)
	case !(r.HalfWidth > 0) || math.IsInf(r.HalfWidth, 0):
		return r, fmt.Errorf("envs: render: HalfWidth %g is not a positive finite number", r.HalfWidth)
	case !(r.LineWidth > 0 && r.LineWidth <= 1):
		return r, fmt.Errorf("envs: render: LineWidth %g outside (0, 1]", r.LineWidth)
	}
	return r, nil
}

// Render draws the state x (length N) into a Size×Size grayscale image:
// dst holds the pixels row-major, row 0 at the top, values in [0, 1] (0
// black background), ready to be a (1, Size, Size) slice of a (B, 1, H, W)
// tensor. If dst is nil a new slice is allocated; otherwise it must have
// length Size² and is overwritten. The result is returned.
//
// The picture (world x to the right, y up, θ = 0 upright, a positive angle
// tilting a pole towards +x, tip at pivot + length·(sin θ, cos θ)):
//
//   - pendulum: a pole of length l from the pivot at the image centre;
//   - cart-pole: the cart (a 0.6 m × 0.3 m box at gray level 0.5) centred
//     at (x, 0) and the pole (length 2l, l being the distance to the pole's
//     centre of mass in CartpoleDx) hinged at the cart's centre;
//   - double pendulum: the cart, the first link (length L₁) hinged at its
//     centre and the second link (L₂, gray level 0.75) at the first's tip.
//
// Angles are atan2(s, c) of the raw state entries. Each shape is
// anti-aliased: a pixel's intensity is a smoothstep of its centre's
// distance to the shape over one pixel, so the image is a continuous,
// piecewise smooth function of the state; where shapes overlap the
// brighter wins. Rendering is deterministic.
//
// Render returns an error if x has the wrong length or is not finite, or
// the options or dst are invalid.
func (e *Env) Render(dst, x []float64, opts *RenderOptions) ([]float64, error) {
	o, err := e.renderOptions(opts)
	if err != nil {
		return nil, err
	}
	k := o.Size * o.Size
	if dst == nil {
		dst = make([]float64, k)
	} else if len(dst) != k {
		return nil, fmt.Errorf("envs: render: dst has length %d, want Size²=%d", len(dst), k)
	}
	if err := e.checkState(x); err != nil {
		return nil, err
	}
	e.renderInto(dst, x, o)
	return dst, nil
}

// RenderBatch draws the B states in xs (B rows of length N) into dst,
// which holds B images of Size×Size one after another (a (B, 1, Size,
// Size) tensor's data). If dst is nil a new slice is allocated; otherwise
// it must have length B·Size². See Render for the picture.
func (e *Env) RenderBatch(dst, xs []float64, opts *RenderOptions) ([]float64, error) {
	o, err := e.renderOptions(opts)
	if err != nil {
		return nil, err
	}
	n := e.Dims().N
	if len(xs) == 0 || len(xs)%n != 0 {
		return nil, fmt.Errorf("envs: render: states have length %d, want a positive multiple of N=%d", len(xs), n)
	}
	b, k := len(xs)/n, o.Size*o.Size
	if dst == nil {
		dst = make([]float64, b*k)
	} else if len(dst) != b*k {
		return nil, fmt.Errorf("envs: render: dst has length %d, want B·Size²=%d", len(dst), b*k)
	}
	for i := range b {
		if err := e.checkState(xs[i*n : (i+1)*n]); err != nil {
			return nil, fmt.Errorf("%w (state %d)", err, i)
		}
	}
	for i := range b {
		e.renderInto(dst[i*k:(i+1)*k], xs[i*n:(i+1)*n], o)
	}
	return dst, nil
}

// RenderImage draws the state x as an *image.Gray (see Render), for
// viewing or saving with image/png.
func (e *Env) RenderImage(x []float64, opts *RenderOptions) (*image.Gray, error) {
	o, err := e.renderOptions(opts)
	if err != nil {
		return nil, err
	}
	pix, err := e.Render(nil, x, &o)
	if err != nil {
		return nil, err
	}
	return GrayImage(pix, o.Size)
}

// GrayImage converts a size×size image with values in [0, 1] (row-major,
// as Render gives) to an *image.Gray, rounding v·255 to the nearest level;
// values outside [0, 1] are clamped and NaN becomes 0.
func GrayImage(pix []float64, size int) (*image.Gray, error) {
	if size < 1 || len(pix) != size*size {
		return nil, fmt.Errorf("envs: gray image: %d pixels for size %d", len(pix), size)
	}
	img := image.NewGray(image.Rect(0, 0, size, size))
	for i, v := range pix {
		if !(v > 0) { // also NaN
			v = 0
		}
		img.Pix[i] = uint8(math.Round(min(v, 1) * 255))
	}
	return img, nil
}

// WritePNG encodes a size×size image with values in [0, 1] (see
// GrayImage) as a PNG to w.
func WritePNG(w io.Writer, pix []float64, size int) error {
	img, err := GrayImage(pix, size)
	if err != nil {
		return err
	}
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("envs: png: %w", err)
	}
	return nil
}

// checkState checks one state's length and values.
func (e *Env) checkState(x []float64) error {
	if n := e.Dims().N; len(x) != n {
		return fmt.Errorf("envs: render %s: state has length %d, want N=%d", e.name, len(x), n)
	}
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("envs: render %s: state entry %d is %g", e.name, i, v)
		}
	}
	return nil
}

// renderInto draws a checked state with checked options into dst.
func (e *Env) renderInto(dst, x []float64, o RenderOptions) {
	clear(dst)
	c := canvas{
		size:  o.Size,
		pix:   dst,
		half:  o.HalfWidth,
		scale: float64(o.Size) / (2 * o.HalfWidth),
		r:     0.5 * o.LineWidth * float64(o.Size),
	}
	e.draw(&c, x)
}

// canvas draws anti-aliased shapes given in world coordinates onto a
// square grayscale image.
type canvas struct {
	size  int
	pix   []float64
	half  float64 // half the side of the world window, metres
	scale float64 // pixels per metre
	r     float64 // half the line width, pixels
}

// toPixel maps world coordinates (metres, y up, origin at the centre) to
// continuous pixel coordinates (x right, y down, pixel (i, j) covering
// [j, j+1)×[i, i+1), its centre at (j+½, i+½)).
func (c *canvas) toPixel(x, y float64) (px, py float64) {
	return (x + c.half) * c.scale, (c.half - y) * c.scale
}

// coverage maps a signed distance d (pixels, negative inside) from a
// pixel's centre to a shape's edge to an intensity in [0, 1]: a smoothstep
// over the one pixel around the edge, 1 inside and 0 outside.
func coverage(d float64) float64 {
	t := 0.5 - d
	if t <= 0 {
		return 0
	}
	if t >= 1 {
		return 1
	}
	return t * t * (3 - 2*t)
}

// plot raises pixel (i, j) to level·cov.
func (c *canvas) plot(i, j int, v float64) {
	if p := &c.pix[i*c.size+j]; v > *p {
		*p = v
	}
}

// bbox returns the pixel rows and columns within reach of the pixel-space
// rectangle [x0, x1]×[y0, y1] grown by pad, clipped to the image.
func (c *canvas) bbox(x0, y0, x1, y1, pad float64) (i0, i1, j0, j1 int) {
	clip := func(v float64) int { return int(max(0, min(float64(c.size), v))) }
	return clip(math.Floor(min(y0, y1) - pad)), clip(math.Ceil(max(y0, y1) + pad)),
		clip(math.Floor(min(x0, x1) - pad)), clip(math.Ceil(max(x0, x1) + pad))
}

// segment draws a line of width 2r pixels with round caps from world point
// (x0, y0) to (x1, y1) at the given gray level.
func (c *canvas) segment(x0, y0, x1, y1, level float64) {
	ax, ay := c.toPixel(x0, y0)
	bx, by := c.toPixel(x1, y1)
	dx, dy := bx-ax, by-ay
	l2 := dx*dx + dy*dy
	i0, i1, j0, j1 := c.bbox(ax, ay, bx, by, c.r+1)
	for i := i0; i < i1; i++ {
		py := float64(i) + 0.5
		for j := j0; j < j1; j++ {
			px := float64(j) + 0.5
			// Distance from the pixel centre to the segment.
			t := 0.0
			if l2 > 0 {
				t = max(0, min(1, ((px-ax)*dx+(py-ay)*dy)/l2))
			}
			ex, ey := px-(ax+t*dx), py-(ay+t*dy)
			if v := coverage(math.Hypot(ex, ey) - c.r); v > 0 {
				c.plot(i, j, level*v)
			}
		}
	}
}

// box draws an axis-aligned rectangle centred at world point (x, y) with
// half sizes hw and hh metres at the given gray level.
func (c *canvas) box(x, y, hw, hh, level float64) {
	cx, cy := c.toPixel(x, y)
	hx, hy := hw*c.scale, hh*c.scale
	i0, i1, j0, j1 := c.bbox(cx-hx, cy-hy, cx+hx, cy+hy, 1)
	for i := i0; i < i1; i++ {
		qy := math.Abs(float64(i)+0.5-cy) - hy
		for j := j0; j < j1; j++ {
			qx := math.Abs(float64(j)+0.5-cx) - hx
			// Signed distance to the rectangle.
			d := math.Hypot(max(qx, 0), max(qy, 0)) + min(max(qx, qy), 0)
			if v := coverage(d); v > 0 {
				c.plot(i, j, level*v)
			}
		}
	}
}

// pole draws a pole of the given length from (x, y) at angle th from the
// upward vertical (positive towards +x) and returns its tip.
func (c *canvas) pole(x, y, th, length, level float64) (tx, ty float64) {
	tx, ty = x+length*math.Sin(th), y+length*math.Cos(th)
	c.segment(x, y, tx, ty, level)
	return tx, ty
}

// drawPendulum draws the pendulum state (cos θ, sin θ, ω) with the
// dynamics parameters θ_dyn = (g, m, l).
func drawPendulum(theta []float64) func(*canvas, []float64) {
	l := theta[2]
	return func(c *canvas, x []float64) {
		c.pole(0, 0, math.Atan2(x[1], x[0]), l, poleLevel)
	}
}

// drawCartpole draws the cart-pole state (x, ẋ, cos θ, sin θ, ω) with
// θ_dyn = (g, m_c, m_p, l); the pole is 2l long.
func drawCartpole(theta []float64) func(*canvas, []float64) {
	l := theta[3]
	return func(c *canvas, x []float64) {
		c.box(x[0], 0, cartHalfWidth, cartHalfHeight, cartLevel)
		c.pole(x[0], 0, math.Atan2(x[3], x[2]), 2*l, poleLevel)
	}
}

// drawDoublePendulum draws the double pendulum state (x, ẋ, c₁, s₁, ω₁,
// c₂, s₂, ω₂) with θ_dyn = (g, m₀, m₁, m₂, L₁, L₂).
func drawDoublePendulum(theta []float64) func(*canvas, []float64) {
	l1, l2 := theta[4], theta[5]
	return func(c *canvas, x []float64) {
		c.box(x[0], 0, cartHalfWidth, cartHalfHeight, cartLevel)
		tx, ty := c.pole(x[0], 0, math.Atan2(x[3], x[2]), l1, poleLevel)
		c.pole(tx, ty, math.Atan2(x[6], x[5]), l2, link2Level)
	}
}
