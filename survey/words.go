package survey

import (
	"time"

	"github.com/keyjob/keyjob/internal/words"
)

// The report's words come from internal/words, shared with the plan's
// reports. The survey's own choices, kept as they always read: a share
// short of the whole is never "100%" (words.PercentCapped, and "—" for a
// share of nothing, words.ShareCapped), and a duration that rounds up to
// the next unit stays in its own ("60 s", words.DurationUncarried).

func secondsWords(s int64) string { return words.DurationUncarried(time.Duration(s) * time.Second) }
