package apply

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyjob/keyjob/internal/checkpoint"
	"github.com/keyjob/keyjob/jobs"
)

// A run that meets millisecond stamps under format: unix aborts saying
// which format reads them, with a key read both ways, and a share of the
// keys with a timestamp (never a percentage of zero changes).
func TestUnitMistake_NamesTheFormat(t *testing.T) {
	j, err := jobs.Parse("t.yaml", []byte(`version: 1
name: t
select: {match: "ticket:*", regex: '^ticket:(?P<issued>\d+):\d+$'}
action: {expire: {from: {capture: issued, format: unix}, after: 365d}}
backup: none
`))
	if err != nil {
		t.Fatal(err)
	}
	r := &Run{job: j, runStart: time.Now(), cp: &checkpoint.Checkpoint{Counts: map[string]int64{string(jobs.SkipBadTimestamp): 300}}}
	ms := time.Now().Add(-24 * time.Hour).UnixMilli()
	for i := range 20 {
		r.noteBad(fmt.Sprintf("ticket:%d:%d", ms, i))
	}
	var abort *AbortError
	if err := r.unitMistake(); !errors.As(err, &abort) {
		t.Fatalf("unitMistake = %v, want an abort", err)
	}
	for _, want := range []string{"300 of the 300 keys with a timestamp (100.0%)", "format: unix cannot read", "format to unix_ms", fmt.Sprintf(`"ticket:%d:0"`, ms)} {
		if !strings.Contains(abort.Reason, want) {
			t.Errorf("%q lacks %q", abort.Reason, want)
		}
	}
	if len(r.badNames) != badSamples {
		t.Errorf("%d bad names kept, want %d", len(r.badNames), badSamples)
	}
}
