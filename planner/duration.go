package planner

import "github.com/keyjob/keyjob/internal/words"

// Duration marshals as seconds (a float) in JSON: the contract's unit,
// shared with the survey.
type Duration = words.Seconds
