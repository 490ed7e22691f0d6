package main

import (
	"errors"

	"github.com/dilqr/dilqr/models"
)

func solveUnrolled(pr *Problem, task models.Task, cost models.Cost, theta, phi, lo, hi []float64) (*Output, error) {
	return nil, errors.New("grad_mode unrolled: not available yet")
}
