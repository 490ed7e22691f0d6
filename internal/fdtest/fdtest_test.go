package fdtest

import (
	"go/build"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestImports: the package's non-test files import only the standard
// library and gonum, so that the tests of package models (which link
// neither Gorgonia nor the solver) can use it.
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkg.Imports {
		std := !strings.Contains(strings.SplitN(p, "/", 2)[0], ".")
		if !std && !strings.HasPrefix(p, "gonum.org/") {
			t.Errorf("package fdtest imports %s", p)
		}
	}
}

// TestNormals: the same seed gives the same numbers, another seed others;
// Normals draws from the stream (seed, 99) as NormalsFrom does.
func TestNormals(t *testing.T) {
	a, b := Normals(5, 7), Normals(5, 7)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed: %v, then %v", a, b)
	}
	if c := Normals(6, 7); slices.Equal(a, c) {
		t.Fatalf("seeds 5 and 6 give the same numbers %v", a)
	}
	if c := NormalsFrom(rand.New(rand.NewPCG(5, 99)), 7); !slices.Equal(a, c) {
		t.Fatalf("Normals %v, NormalsFrom on PCG(5, 99) %v", a, c)
	}
	if len(Normals(1, 0)) != 0 {
		t.Fatal("k = 0 gives numbers")
	}
}

func TestSpan(t *testing.T) {
	if s := Span(2, 5); !slices.Equal(s, []int{2, 3, 4}) {
		t.Errorf("Span(2, 5) = %v", s)
	}
	if s := Span(3, 3); len(s) != 0 {
		t.Errorf("Span(3, 3) = %v", s)
	}
	if s := Span(4, 1); len(s) != 0 {
		t.Errorf("Span(4, 1) = %v", s)
	}
}

// testLoss is L(v) = Σ_j sin(v_j) v_{j+1} + exp(v_0/4) with its gradient.
func testLoss(v []float64) (float64, []float64) {
	l := math.Exp(v[0] / 4)
	g := make([]float64, len(v))
	g[0] = l / 4
	for j := 0; j+1 < len(v); j++ {
		l += math.Sin(v[j]) * v[j+1]
		g[j] += math.Cos(v[j]) * v[j+1]
		g[j+1] += math.Sin(v[j])
	}
	return l, g
}

// TestCentralDiff: on a smooth loss whose entries span five decades
// (including a zero, served by the floor), the extrapolated quotients with
// the package's steps match the exact gradient to 1e-9 (their truncation
// error is O(h⁴) ≈ 1e-12 and round-off ≈ ε/h ≈ 1e-11), calling loss four
// times per entry; plain central differences with the fixed step 1e-5
// (Central) do so on entries of order one (truncation h²|f‴|/6 ≈ 1e-10),
// calling it twice. Both restore v to the bit.
func TestCentralDiff(t *testing.T) {
	for _, c := range []struct {
		name  string
		v     []float64
		diff  func(v []float64, loss func() float64) []float64
		calls int
	}{
		{"CentralDiff", []float64{0.3, -1.2, 0, 12, 1e-3, 2.5},
			func(v []float64, loss func() float64) []float64 { return CentralDiff(v, Rel, Floor, loss) }, 4},
		{"Central", []float64{0.3, -1.2, 0, 2.5},
			func(v []float64, loss func() float64) []float64 { return Central(v, 1e-5, loss) }, 2},
	} {
		v := c.v
		orig := slices.Clone(v)
		_, want := testLoss(v)
		calls := 0
		got := c.diff(v, func() float64 { calls++; l, _ := testLoss(v); return l })
		if !slices.Equal(v, orig) {
			t.Fatalf("%s: v changed from %v to %v", c.name, orig, v)
		}
		if calls != c.calls*len(v) {
			t.Errorf("%s: %d calls of loss, want %d", c.name, calls, c.calls*len(v))
		}
		if e, j := MaxMixedErr(got, want); e > 1e-9 {
			t.Errorf("%s: entry %d: %.15g, exact %.15g (error %.2g)", c.name, j, got[j], want[j], e)
		}
	}
}

// TestCentralJacobian: the Jacobian of f(z) = (z_0 z_1, sin z_2 + z_0)
// with respect to z_0 and z_2, with the step the models' tests use, matches
// the exact one to 1e-8 (step 3e-6: truncation ≈ 1e-11 times the scale,
// round-off ≈ 4e-11); z is left unmodified.
func TestCentralJacobian(t *testing.T) {
	z := []float64{2.5, -0.7, 0.4}
	orig := slices.Clone(z)
	f := func(y, z []float64) {
		y[0] = z[0] * z[1]
		y[1] = math.Sin(z[2]) + z[0]
	}
	got := CentralJacobian(f, 2, z, []int{0, 2}, 3e-6)
	want := []float64{z[1], 0, 1, math.Cos(z[2])}
	if e, j := MaxMixedErr(got, want); e > 1e-8 {
		t.Errorf("entry %d: %.15g, exact %.15g (error %.2g)", j, got[j], want[j], e)
	}
	if !slices.Equal(z, orig) {
		t.Errorf("z changed from %v to %v", orig, z)
	}
}

// TestCentralJacobianT: the transposed Jacobian of the gradient of
// φ(z) = z_0² z_1 + sin z_2 with respect to z_0 and z_2 holds rows 0 and 2
// of φ's Hessian; MulT of that gradient's factors gives Aᵀx exactly.
func TestCentralJacobianT(t *testing.T) {
	z := []float64{1.5, -0.7, 0.4}
	grad := func(g, z []float64) {
		g[0], g[1], g[2] = 2*z[0]*z[1], z[0]*z[0], math.Cos(z[2])
	}
	got := CentralJacobianT(grad, 3, z, []int{0, 2}, 3e-6)
	want := []float64{2 * z[1], 2 * z[0], 0, 0, 0, -math.Sin(z[2])}
	if e, j := MaxMixedErr(got, want); e > 1e-8 {
		t.Errorf("entry %d: %.15g, exact %.15g (error %.2g)", j, got[j], want[j], e)
	}
	dst := make([]float64, 3)
	MulT(dst, []float64{1, 2, 3, 4, 5, 6}, []float64{1, -1})
	if want := []float64{-3, -3, -3}; !slices.Equal(dst, want) {
		t.Errorf("MulT: %v, want %v", dst, want)
	}
}

// TestErrors: RelErr judges entries on the scale of the largest reference
// entry, MaxMixedErr on max(1, |b_i|); both report where the worst is and
// count a NaN as the worst.
func TestErrors(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name    string
		a, b    []float64
		rel     float64
		relAt   int
		mixed   float64
		mixedAt int
	}{
		{"equal", []float64{1, 2}, []float64{1, 2}, 0, -1, 0, -1},
		{"small entry on the large scale", []float64{10, 0.2}, []float64{10, 0.1}, 0.01, 1, 0.1, 1},
		{"large entry relative", []float64{0, 110}, []float64{0, 100}, 0.1, 1, 0.1, 1},
		{"NaN", []float64{1, nan}, []float64{1, 2}, nan, 1, math.Inf(1), 1},
	} {
		near := func(x, y float64) bool { return x == y || math.IsNaN(x) && math.IsNaN(y) || math.Abs(x-y) <= 1e-15 }
		e, at := RelErr(tc.a, tc.b)
		if !near(e, tc.rel) || at != tc.relAt {
			t.Errorf("%s: RelErr = %g at %d, want %g at %d", tc.name, e, at, tc.rel, tc.relAt)
		}
		e, at = MaxMixedErr(tc.a, tc.b)
		if !near(e, tc.mixed) || at != tc.mixedAt {
			t.Errorf("%s: MaxMixedErr = %g at %d, want %g at %d", tc.name, e, at, tc.mixed, tc.mixedAt)
		}
	}
	if e := MixedErr(3, -1); e != 4 {
		t.Errorf("MixedErr(3, −1) = %g, want 4", e)
	}
}

func TestDot(t *testing.T) {
	if d := Dot([]float64{1, -2, 3}, []float64{4, 5, 0.5}); d != -4.5 {
		t.Errorf("Dot = %g, want −4.5", d)
	}
}

func TestMaxAbsSumRows(t *testing.T) {
	if m := MaxAbs([]float64{1, -3, 2}); m != 3 {
		t.Errorf("MaxAbs = %g, want 3", m)
	}
	if m := MaxAbs(nil); m != 0 {
		t.Errorf("MaxAbs(nil) = %g, want 0", m)
	}
	if s := SumRows([]float64{1, 2, 3, 10, 20, 30}, 3); !slices.Equal(s, []float64{11, 22, 33}) {
		t.Errorf("SumRows = %v, want [11 22 33]", s)
	}
}

func TestAngleState(t *testing.T) {
	s := AngleState(math.Pi/2, 0.3)
	if math.Abs(s[0]) > 1e-16 || s[1] != 1 || s[2] != 0.3 {
		t.Errorf("AngleState(π/2, 0.3) = %v", s)
	}
}

func TestAngleStates(t *testing.T) {
	got := AngleStates(2, 1, 0.5, 0.25, -0.5)
	want := append(AngleState(1, 0.5), AngleState(1.25, 0)...)
	if !slices.Equal(got, want) {
		t.Errorf("AngleStates = %v, want %v", got, want)
	}
}
