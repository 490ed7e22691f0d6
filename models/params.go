package models

import (
	"fmt"
	"math"
)

// ParamChecker is implemented by models whose parameters have a domain.
type ParamChecker interface {
	// CheckParams returns nil if θ lies in the model's domain, and otherwise
	// an error naming the first parameter outside it and the rule it
	// breaks, e.g. "models: pendulum: parameter l = 0 must be > 0". It also
	// rejects a θ whose length is not the model's P.
	CheckParams(theta []float64) error
}

// paramRule is the domain of one parameter: always finite, and strictly
// positive when positive is set (masses, lengths).
type paramRule struct {
	name     string
	positive bool
}

// checkParamRules checks θ against one rule per parameter, in order, and
// names the first parameter that breaks its rule. model prefixes the error.
func checkParamRules(model string, rules []paramRule, theta []float64) error {
	if len(theta) != len(rules) {
		return fmt.Errorf("models: %s: %d parameters, want %d", model, len(theta), len(rules))
	}
	for i, r := range rules {
		v := theta[i]
		switch {
		case math.IsNaN(v) || math.IsInf(v, 0):
			return fmt.Errorf("models: %s: parameter %s = %v must be finite", model, r.name, v)
		case r.positive && !(v > 0):
			return fmt.Errorf("models: %s: parameter %s = %v must be > 0", model, r.name, v)
		}
	}
	return nil
}

// paramRuleCheck returns a check for Auto.WithParamCheck that applies
// checkParamRules.
func paramRuleCheck(model string, rules []paramRule) func([]float64) error {
	return func(theta []float64) error { return checkParamRules(model, rules, theta) }
}
