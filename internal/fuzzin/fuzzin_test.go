package fuzzin

import (
	"math"
	"testing"
)

// TestEncodeRoundTrip: Encode's bytes read back as the same values, bit
// for bit, moderate, special and arbitrary alike, and the reader is then
// empty; a moderate value takes three bytes, a special one a single tag.
func TestEncodeRoundTrip(t *testing.T) {
	v := []float64{0, 1, -1, 0.5, -16, 15.99951171875, 1.0 / 3, 16, -16.5, math.NaN(), math.Inf(1), math.Inf(-1),
		1e300, -1e300, 1e8, 5e-324, math.Copysign(0, -1), math.MaxFloat64, -math.SmallestNonzeroFloat64 * 3}
	r := NewReader(Encode(v...))
	got := r.Floats(len(v))
	for i := range v {
		if math.Float64bits(got[i]) != math.Float64bits(v[i]) {
			t.Errorf("entry %d: read back %v, wrote %v", i, got[i], v[i])
		}
	}
	if r.Len() != 0 {
		t.Errorf("%d bytes left", r.Len())
	}
	for _, c := range []struct {
		v    float64
		size int
	}{{0.25, 3}, {math.NaN(), 1}, {math.Copysign(0, -1), 1}, {0.1, 9}} {
		if n := len(Encode(c.v)); n != c.size {
			t.Errorf("Encode(%v) takes %d bytes, want %d", c.v, n, c.size)
		}
	}
}

// TestReaderExhausted: past the end every byte and float is 0, and a
// float cut short reads the missing bytes as 0.
func TestReaderExhausted(t *testing.T) {
	r := NewReader([]byte{0, 8})
	if f := r.Float(); f != 1 {
		t.Errorf("float cut short: %v, want 1 (0x0800/2048)", f)
	}
	if b, f := r.Byte(), r.Float(); b != 0 || f != 0 {
		t.Errorf("past the end: byte %d, float %v", b, f)
	}
	if v := r.Floats(-1); len(v) != 0 {
		t.Errorf("Floats(−1) = %v", v)
	}
}
