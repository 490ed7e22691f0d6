// Package palette names the Okabe–Ito colours, eight colours that readers
// with the common forms of colour blindness still tell apart (M. Okabe and
// K. Ito, "Color Universal Design", 2008). The plots of train and of the
// examples draw their curves and bars in them.
package palette

import "image/color"

// The Okabe–Ito colours, by their names in the source.
var (
	Black         = color.RGBA{R: 0x00, G: 0x00, B: 0x00, A: 255}
	Orange        = color.RGBA{R: 0xe6, G: 0x9f, B: 0x00, A: 255}
	SkyBlue       = color.RGBA{R: 0x56, G: 0xb4, B: 0xe9, A: 255}
	BluishGreen   = color.RGBA{R: 0x00, G: 0x9e, B: 0x73, A: 255}
	Yellow        = color.RGBA{R: 0xf0, G: 0xe4, B: 0x42, A: 255}
	Blue          = color.RGBA{R: 0x00, G: 0x72, B: 0xb2, A: 255}
	Vermillion    = color.RGBA{R: 0xd5, G: 0x5e, B: 0x00, A: 255}
	ReddishPurple = color.RGBA{R: 0xcc, G: 0x79, B: 0xa7, A: 255}
)
