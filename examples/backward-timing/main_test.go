package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dilqr/dilqr/models"
	"github.com/dilqr/dilqr/op/ilqr"
)

// TestSmallCases times every mode on a tiny problem and writes, re-reads
// and plots the result, checking the CSV's columns and the skip rule.
func TestSmallCases(t *testing.T) {
	task := models.PendulumTask()
	const T = 3
	x0 := starts(batch, 1)
	dX, dU := make([]float64, batch*T*3), make([]float64, batch*T)
	for i := range dU {
		dU[i] = 1
	}
	var rows []row
	for _, mode := range []ilqr.GradMode{ilqr.Implicit, ilqr.FixedPoint} {
		r, err := timeSolver(task, T, 2, x0, dX, dU, mode, 1)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	r, err := timeUnrolled(task, T, 2, x0, dX, dU, 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	rows = append(rows, r)
	for _, r := range rows {
		if r.note != "" || !(r.forward > 0) || !(r.backward >= 0) {
			t.Errorf("%s: forward %g, backward %g, note %q", r.mode, r.forward, r.backward, r.note)
		}
	}
	skipped, err := timeUnrolled(task, T, 50, x0, dX, dU, 1, 100)
	if err != nil || skipped.note == "" {
		t.Errorf("T·iterations above the limit: note %q, error %v", skipped.note, err)
	}
	rows = append(rows, skipped)

	dir := t.TempDir()
	csvPath, pngPath := filepath.Join(dir, "t.csv"), filepath.Join(dir, "t.png")
	if err := writeCSV(csvPath, rows); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if lines[0] != "mode,T,iters,batch,forward_s,backward_s" || len(lines) != 4 {
		t.Fatalf("CSV:\n%s", b)
	}
	for i, mode := range []string{"implicit", "fixed_point", "unrolled"} {
		if !strings.HasPrefix(lines[i+1], mode+",3,2,20,") {
			t.Errorf("CSV line %d: %q", i+2, lines[i+1])
		}
	}
	if err := replot(csvPath, pngPath); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(pngPath); err != nil || st.Size() == 0 {
		t.Errorf("plot: %v", err)
	}
	if err := os.WriteFile(csvPath, []byte("a,b\n1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := replot(csvPath, ""); err == nil {
		t.Error("a CSV with the wrong header was accepted")
	}
}
