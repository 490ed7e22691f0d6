package gridflags

import (
	"slices"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/train"
)

func TestLists(t *testing.T) {
	if e, err := Envs("pendulum, cartpole"); err != nil || !slices.Equal(e, []string{"pendulum", "cartpole"}) {
		t.Errorf("Envs = %v, %v", e, err)
	}
	if m, err := Methods("all"); err != nil || !slices.Equal(m, train.Methods()) {
		t.Errorf("Methods(all) = %v, %v", m, err)
	}
	if m, err := Methods("nn,dilqr.dx"); err != nil || !slices.Equal(m, []train.Method{train.NN, train.DiLQRDx}) {
		t.Errorf("Methods = %v, %v", m, err)
	}
	if n, err := Sizes("50,10", 100); err != nil || !slices.Equal(n, []int{10, 50}) {
		t.Errorf("Sizes = %v, %v", n, err)
	}
	for _, c := range []struct {
		err  error
		says string
	}{
		{second(Envs("pendulum,boat")), `-envs: unknown env "boat"`},
		{second(Envs("pendulum,pendulum")), `-envs: env "pendulum" listed twice`},
		{second(Methods("nn,mpc")), "-methods:"},
		{second(Methods("nn,nn")), `method "nn" listed twice`},
		{second(Sizes("10,101", 100)), `-ntrain: "101" is not a size in [1, 100]`},
		{second(Sizes("10,x", 100)), `"x" is not a size`},
		{second(Sizes("10,10", 100)), `size "10" listed twice`},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.says) {
			t.Errorf("error %v, want %q", c.err, c.says)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestAll(t *testing.T) {
	e, m, n, err := All("cartpole", "all", "100,10", 100)
	if err != nil || !slices.Equal(e, []string{"cartpole"}) || len(m) != len(train.Methods()) || !slices.Equal(n, []int{10, 100}) {
		t.Errorf("All = %v, %v, %v, %v", e, m, n, err)
	}
	for _, lists := range [][3]string{{"boat", "all", "10"}, {"cartpole", "mpc", "10"}, {"cartpole", "all", "0"}} {
		if _, _, _, err := All(lists[0], lists[1], lists[2], 100); err == nil {
			t.Errorf("All(%q) accepted", lists)
		}
	}
}
