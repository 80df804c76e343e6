package words

import (
	"encoding/json"
	"strconv"
	"time"
)

// The pieces of the reports' JSON contracts that the plan and the survey
// (and the run's status) share, so a consumer reads them the same way in
// each.

// Seconds is a duration that marshals as seconds (a float) in JSON, the
// unit every consumer of the contract can read.
type Seconds time.Duration

// MarshalJSON writes seconds.
func (d Seconds) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).Seconds())
}

// UnmarshalJSON reads seconds.
func (d *Seconds) UnmarshalJSON(b []byte) error {
	var s float64
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*d = Seconds(s * float64(time.Second))
	return nil
}

// Message is a warning, an error or a note, with a stable code for
// machines.
type Message struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Target names a server as reports do, never with a password:
// host:port/db.
func Target(address string, db int) string { return address + "/" + strconv.Itoa(db) }
