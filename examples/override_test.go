package examples

import (
	"strings"
	"testing"
)

func TestJob_Overrides(t *testing.T) {
	got, err := Job("ticket-ttl-backfill.yaml", "limits:\n  rate: unlimited\n  scan_count: 50\n", "backup: none")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"name: ticket-ttl-backfill\n", "  regex: '^ticket:", "limits:\n  rate: unlimited\n  scan_count: 50\nbackup: none\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "rate: 5000") {
		t.Errorf("the example's limits block is still there:\n%s", got)
	}
	same, err := Job("drop-deal-clicks.yaml")
	if orig, _ := Files.ReadFile("drop-deal-clicks.yaml"); err != nil || same != string(orig) {
		t.Errorf("no override changed the file: %v\n%s", err, same)
	}
	if _, err := Job("drop-deal-clicks.yaml", "  nested: 1"); err == nil {
		t.Error("an indented override was accepted")
	}
}
