package planner

import (
	"time"

	"github.com/keyjob/keyjob/internal/words"
)

// The plan's words come from internal/words, shared with the survey's
// reports. The plan's own choices: a share may round to "100%"
// (words.Percent, words.Share with "n/a" for a share of nothing), and a
// duration that rounds up to the next unit is said in it
// (words.Duration). The names below are the ones the renderers and
// render_test.go use.

func secondsDuration(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// spokenDuration is words.Duration: a figure that rounds up to the next
// unit is said in it ("1 min", not "60 s").
func spokenDuration(d time.Duration) string { return words.Duration(d) }

// oneLine makes free text (a description, a message) one printable line.
func oneLine(s string) string { return words.OneLine(s) }
