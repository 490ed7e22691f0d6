package envs

import (
	"bytes"
	"image/color"
	"image/gif"
	"math"
	"testing"
)

// TestWriteGIF: an upright and a hanging pendulum side by side, three
// states each (the second trajectory shorter): three frames of the
// expected size and delay; the strip under the upright panel is green,
// under the hanging one dark red; the upright pole's pixels above the
// pivot are lit and below it dark; the same input gives the same bytes.
func TestWriteGIF(t *testing.T) {
	env := mustEnv(t, "pendulum")
	up := []float64{1, 0, 0, 1, 0, 0, 1, 0, 0}
	down := []float64{-1, 0, 0, -1, 0, 0}
	const size = 32
	var buf bytes.Buffer
	if err := env.WriteGIF(&buf, [][]float64{up, down}, 2, &GIFOptions{Size: size}); err != nil {
		t.Fatal(err)
	}
	g, err := gif.DecodeAll(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Image) != 3 || g.Delay[0] != 5 {
		t.Fatalf("%d frames, delay %d; want 3 and 5", len(g.Image), g.Delay[0])
	}
	img := g.Image[2]
	cellW := size + gifMargin
	if b := img.Bounds(); b.Dx() != 2*cellW+gifMargin || b.Dy() != size+gifStrip+2*gifMargin {
		t.Fatalf("frame bounds %v", b)
	}
	green, red := gifPalette[gifGreen], gifPalette[gifRed]
	stripY := gifMargin + size + 1
	if c := img.At(gifMargin+size/2, stripY); c != green {
		t.Errorf("upright strip %v, want green", c)
	}
	if c := img.At(gifMargin+cellW+size/2, stripY); c != red {
		t.Errorf("hanging strip %v, want red", c)
	}
	// The pivot is at the centre; with half width 1.25 m a 1 m pole spans
	// 12.8 pixels: pixel rows 4..15 above it hold the upright pole.
	lum := func(x, y int) uint8 { return color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y }
	cx := gifMargin + size/2
	if lum(cx, gifMargin+8) < 200 || lum(cx, gifMargin+24) != 0 {
		t.Errorf("upright panel: above the pivot %d, below %d", lum(cx, gifMargin+8), lum(cx, gifMargin+24))
	}
	if lum(cx+cellW, gifMargin+24) < 200 || lum(cx+cellW, gifMargin+8) != 0 {
		t.Errorf("hanging panel: below the pivot %d, above %d", lum(cx+cellW, gifMargin+24), lum(cx+cellW, gifMargin+8))
	}
	var again bytes.Buffer
	if err := env.WriteGIF(&again, [][]float64{up, down}, 2, &GIFOptions{Size: size}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("two writes of the same input differ")
	}
	// Every 2nd state of 3: frames 0 and 2 (the last is always kept).
	buf.Reset()
	if err := env.WriteGIF(&buf, [][]float64{up}, 1, &GIFOptions{Size: size, Every: 2}); err != nil {
		t.Fatal(err)
	}
	if g, err := gif.DecodeAll(&buf); err != nil || len(g.Image) != 2 || g.Delay[0] != 10 {
		t.Errorf("every 2: %v, %d frames", err, len(g.Image))
	}
}

func TestWriteGIFBadInput(t *testing.T) {
	env := mustEnv(t, "pendulum")
	ok := []float64{1, 0, 0}
	for name, c := range map[string]struct {
		panels [][]float64
		cols   int
		opts   *GIFOptions
	}{
		"no panels":    {nil, 1, nil},
		"empty panel":  {[][]float64{ok, {}}, 1, nil},
		"ragged panel": {[][]float64{{1, 0}}, 1, nil},
		"NaN state":    {[][]float64{{math.NaN(), 0, 0}}, 1, nil},
		"zero columns": {[][]float64{ok}, 0, nil},
		"tiny size":    {[][]float64{ok}, 1, &GIFOptions{Size: 2}},
		"negative":     {[][]float64{ok}, 1, &GIFOptions{Every: -1}},
	} {
		var buf bytes.Buffer
		if err := env.WriteGIF(&buf, c.panels, c.cols, c.opts); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
