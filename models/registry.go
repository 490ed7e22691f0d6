package models

import (
	"fmt"
	"sort"
)

// taskMakers maps the names used by the command-line tools to the tasks.
var taskMakers = map[string]func() Task{
	"pendulum":        PendulumTask,
	"cartpole":        CartpoleTask,
	"double_pendulum": DoublePendulumTask,
	"rocket":          RocketTask,
	"vehicle":         VehicleTask,
}

// TaskByName returns the task registered under name: "pendulum",
// "cartpole", "double_pendulum", "rocket" or "vehicle" (the only one with
// a path constraint, Task.Constraint).
func TaskByName(name string) (Task, error) {
	mk, ok := taskMakers[name]
	if !ok {
		return Task{}, fmt.Errorf("models: unknown model %q (known: %v)", name, TaskNames())
	}
	return mk(), nil
}

// TaskNames returns the registered task names, sorted.
func TaskNames() []string {
	names := make([]string, 0, len(taskMakers))
	for n := range taskMakers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
