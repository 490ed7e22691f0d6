package envs

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestUniformIsSampleInitial: the uniform sampler over an env's own ranges
// draws exactly the states SampleInitial draws from the same stream, for
// every env; StateFromCoords stores the angles, and only the angles, as
// their cosine and sine.
func TestUniformIsSampleInitial(t *testing.T) {
	for _, name := range Names() {
		e := mustEnv(t, name)
		u, err := e.Uniform(e.InitialRanges())
		if err != nil {
			t.Fatal(err)
		}
		n := e.Dims().N
		want, got := make([]float64, n), make([]float64, n)
		r1, r2 := rand.New(rand.NewPCG(5, 1)), rand.New(rand.NewPCG(5, 1))
		for i := range 50 {
			e.SampleInitial(want, r1)
			u.Sample(got, r2)
			if !slices.Equal(got, want) {
				t.Fatalf("%s draw %d: Uniform gives %v, SampleInitial %v", name, i, got, want)
			}
		}
		// The physical coordinates 0.3, 0.6, …: angles (the ranges named
		// theta…) become two entries, the rest one.
		q := make([]float64, len(e.InitialRanges()))
		for i := range q {
			q[i] = 0.3 * float64(i+1)
		}
		x := make([]float64, n)
		e.StateFromCoords(x, q)
		var want2 []float64
		for i, r := range e.InitialRanges() {
			if r.Name[:min(5, len(r.Name))] == "theta" {
				want2 = append(want2, math.Cos(q[i]), math.Sin(q[i]))
			} else {
				want2 = append(want2, q[i])
			}
		}
		if !slices.Equal(x, want2) {
			t.Errorf("%s: StateFromCoords(%v) = %v, want %v", name, q, x, want2)
		}
	}
}

// TestUniformRejectsBadRanges: ranges of the wrong number, names, order or
// with Lo > Hi, NaN or infinite ends are errors.
func TestUniformRejectsBadRanges(t *testing.T) {
	e := mustEnv(t, "cartpole")
	own := e.InitialRanges()
	swapped := slices.Clone(own)
	swapped[0], swapped[1] = swapped[1], swapped[0]
	for name, rs := range map[string][]Range{
		"too few":  own[:2],
		"too many": append(slices.Clone(own), Range{"y", 0, 1}),
		"order":    swapped,
		"lo > hi":  {own[0], own[1], {"theta", 1, -1}, own[3]},
		"nan":      {own[0], own[1], {"theta", math.NaN(), 1}, own[3]},
		"inf":      {own[0], {"xdot", 0, math.Inf(1)}, own[2], own[3]},
	} {
		if _, err := e.Uniform(rs); err == nil {
			t.Errorf("%s: %v accepted", name, rs)
		}
		if _, err := Generate(e, &DatasetOptions{NTrain: 1, NVal: 1, NTest: 1, Initial: rs}); err == nil {
			t.Errorf("%s: Generate accepted %v", name, rs)
		}
	}
}

// TestCollectSampler: Collect draws its initial states from the sampler
// it is given (here the pendulum within 0.1 rad of upright, at rest), and
// with a nil sampler from the env's own.
func TestCollectSampler(t *testing.T) {
	e := mustEnv(t, "pendulum")
	ex := mustExpert(t, e, nil)
	near := SamplerFunc(func(dst []float64, rng *rand.Rand) {
		th := 0.1 - 0.2*rng.Float64()
		dst[0], dst[1], dst[2] = math.Cos(th), math.Sin(th), 0
	})
	d := mustCollect(t, ex, 6, near, rand.New(rand.NewPCG(2, 0)), -1)
	for b := range d.B {
		x0, _, _ := d.Example(b)
		if x0[0] < math.Cos(0.1) || x0[2] != 0 {
			t.Errorf("demonstration %d starts at %v, not from the sampler", b, x0)
		}
	}
	own, err := e.Uniform(e.InitialRanges())
	if err != nil {
		t.Fatal(err)
	}
	a := mustCollect(t, ex, 4, nil, rand.New(rand.NewPCG(2, 0)), -1)
	b := mustCollect(t, ex, 4, own, rand.New(rand.NewPCG(2, 0)), -1)
	if !slices.Equal(a.X0, b.X0) || !slices.Equal(a.U, b.U) {
		t.Error("a nil sampler does not draw as the env's own uniform sampler")
	}
}

// TestGenerateInitial: a dataset generated with the env's own ranges given
// explicitly has the same bytes as the default one; other ranges are
// recorded and obeyed.
func TestGenerateInitial(t *testing.T) {
	e := mustEnv(t, "pendulum")
	opts := DatasetOptions{NTrain: 3, NVal: 2, NTest: 2, Seed: 4}
	def, err := Generate(e, &opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Initial = e.InitialRanges()
	same, err := Generate(e, &opts)
	if err != nil {
		t.Fatal(err)
	}
	var b1, b2 writeBuffer
	if _, err := def.WriteTo(&b1); err != nil {
		t.Fatal(err)
	}
	if _, err := same.WriteTo(&b2); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b1, b2) {
		t.Error("the env's own ranges given explicitly change the dataset's bytes")
	}
	narrow := []Range{{"theta", -0.2, 0.2}, {"omega", -0.1, 0.1}}
	opts.Initial = narrow
	ds, err := Generate(e, &opts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ds.Initial, narrow) {
		t.Errorf("dataset records ranges %v, want %v", ds.Initial, narrow)
	}
	for _, sp := range ds.Splits() {
		for b := range sp.Demos.B {
			x0, _, _ := sp.Demos.Example(b)
			if x0[0] < math.Cos(0.2) || math.Abs(x0[2]) > 0.1 {
				t.Errorf("%s demonstration %d starts at %v, outside %v", sp.Name, b, x0, narrow)
			}
		}
	}
}

// writeBuffer is an io.Writer that keeps what is written.
type writeBuffer []byte

func (w *writeBuffer) Write(p []byte) (int, error) {
	*w = append(*w, p...)
	return len(p), nil
}
