package jobs

import (
	"testing"
)

// The examples' regexes take the fast path, and it says what regexp says,
// capture included: a regex that silently fell back to regexp would cost
// every run a third of its CPU.
func TestMatch_ExamplesTakeTheFastPath(t *testing.T) {
	names := map[string][]string{
		"ticket-ttl-backfill.yaml": {
			"ticket:1700000000:42:AbC123", "ticket:1700000000:42:", "ticket:170000000:42:x",
			"ticket:1700000000:x:abc", "ticket:1700000000:42:ab-c", "ticket:17000000001:42:abc", "xticket:1700000000:42:a",
		},
		"report-cache-90d.yaml": {
			"report:daily:2026-01-31:eu", "report:daily:2026-01-31:eu:x", "report:daily:2026-1-31:eu",
			"report:daily:2026-01-31:", "report:daily:2026-01-31:é",
		},
	}
	for file, keys := range names {
		j, err := Load("../examples/" + file)
		if err != nil {
			t.Fatal(err)
		}
		if j.Select.matcher.fast == nil {
			t.Errorf("%s: regex %s is not on the fast path", file, j.Select.Regex)
		}
		slow := j.Select.matcher
		slow.fast = nil
		for _, k := range keys {
			got, want := j.Match(k), slow.match(k)
			if got != want {
				t.Errorf("%s: Match(%q) = %+v, regexp says %+v", file, k, got, want)
			}
		}
	}
}

// A Job assembled without Parse (its regex set by hand) still matches.
func TestMatch_WithoutParse(t *testing.T) {
	j, err := Load("../examples/ticket-ttl-backfill.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bare := &Job{Select: Select{Match: "ticket:*", Regex: j.Select.Regex}, Action: j.Action}
	m := bare.Match("ticket:1700000000:42:AbC123")
	if !m.OK() || m.capture != "1700000000" {
		t.Errorf("Match = %+v, want ok with capture 1700000000", m)
	}
	if bare.Match("ticket:x").OK() {
		t.Error("a name the regex refuses matched")
	}
}
