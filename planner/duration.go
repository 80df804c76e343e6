package planner

import (
	"encoding/json"
	"strconv"
	"time"
)

// Duration marshals as seconds (a float) in JSON, the unit every consumer
// of the contract can read.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).Seconds())
}

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s float64
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*d = Duration(s * float64(time.Second))
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }
