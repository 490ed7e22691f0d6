// Package fuzzin turns the bytes of a fuzz test's input into the numbers a
// test feeds the code under test, and numbers back into bytes for the
// seeds of the corpus.
//
// A float takes a tag byte. A tag below 0xf7 is followed by two bytes, an
// int16 count of 1/2048: moderate values in [−16, 16), so that most inputs
// let a solver do real work. The tags from 0xf7 up give the values bad
// input is made of (NaN, ±Inf, ±1e300, 1e8, the smallest subnormal, −0),
// and 0xf9 takes the next eight bytes as the bits of any float64. Once the
// bytes run out every number is 0.
package fuzzin

import (
	"encoding/binary"
	"math"
)

// The tags of the special values.
const (
	tagLarge   = 0xf7 // 1e8
	tagNegHuge = 0xf8 // −1e300
	tagRaw     = 0xf9 // eight bytes, big-endian, of a float64
	tagTiny    = 0xfa // 5e-324
	tagNegZero = 0xfb // −0
	tagHuge    = 0xfc // 1e300
	tagNegInf  = 0xfd
	tagPosInf  = 0xfe
	tagNaN     = 0xff
)

// scale is the resolution of the moderate values.
const scale = 2048

// Reader hands out the bytes of a fuzz input as bytes and floats.
type Reader struct{ data []byte }

// NewReader returns a Reader of data.
func NewReader(data []byte) *Reader { return &Reader{data: data} }

// Len returns the number of bytes not read yet.
func (r *Reader) Len() int { return len(r.data) }

// Byte returns the next byte, or 0 when none is left.
func (r *Reader) Byte() byte {
	if len(r.data) == 0 {
		return 0
	}
	b := r.data[0]
	r.data = r.data[1:]
	return b
}

// Float returns the next float (see the package doc).
func (r *Reader) Float() float64 {
	switch tag := r.Byte(); tag {
	case tagNaN:
		return math.NaN()
	case tagPosInf:
		return math.Inf(1)
	case tagNegInf:
		return math.Inf(-1)
	case tagHuge:
		return 1e300
	case tagNegHuge:
		return -1e300
	case tagNegZero:
		return math.Copysign(0, -1)
	case tagTiny:
		return 5e-324
	case tagLarge:
		return 1e8
	case tagRaw:
		var b [8]byte
		for i := range b {
			b[i] = r.Byte()
		}
		return math.Float64frombits(binary.BigEndian.Uint64(b[:]))
	default:
		hi := r.Byte()
		return float64(int16(uint16(hi)<<8|uint16(r.Byte()))) / scale
	}
}

// Floats returns the next n floats (none for n ≤ 0).
func (r *Reader) Floats(n int) []float64 {
	v := make([]float64, max(n, 0))
	for i := range v {
		v[i] = r.Float()
	}
	return v
}

// Encode returns the bytes that Reader.Floats reads back as v, bit for
// bit: a moderate multiple of 1/2048 in three bytes, a special value in
// its tag, any other in nine.
func Encode(v ...float64) []byte {
	var out []byte
	for _, x := range v {
		q := x * scale
		switch {
		case math.IsNaN(x):
			out = append(out, tagNaN)
		case math.IsInf(x, 1):
			out = append(out, tagPosInf)
		case math.IsInf(x, -1):
			out = append(out, tagNegInf)
		case x == 1e300:
			out = append(out, tagHuge)
		case x == -1e300:
			out = append(out, tagNegHuge)
		case x == 1e8:
			out = append(out, tagLarge)
		case x == 5e-324:
			out = append(out, tagTiny)
		case x == 0 && math.Signbit(x):
			out = append(out, tagNegZero)
		case q == math.Trunc(q) && q >= math.MinInt16 && q <= math.MaxInt16:
			u := uint16(int16(q))
			out = append(out, 0, byte(u>>8), byte(u))
		default:
			out = append(out, tagRaw)
			out = binary.BigEndian.AppendUint64(out, math.Float64bits(x))
		}
	}
	return out
}
