package planner_test

import (
	"strings"
	"testing"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/seed"
	"github.com/keyjob/keyjob/jobs"
	"github.com/keyjob/keyjob/planner"
)

// TestPlanner_ReadOnly is docs/safety.md's first promise for plan: after a plan
// the dataset digest, every key's value and absolute expiry are as they
// were, and no key's idle time went down (a read that touched a key would
// reset it to 0). Each job sends other lookups: PEXPIRETIME, OBJECT
// IDLETIME, MEMORY USAGE on every changed key (backup: dump).
func TestPlanner_ReadOnly(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv, c := startServer(t, redistest.Options{})
	if _, err := seed.Story(ctx, c, 1000); err != nil {
		t.Fatal(err)
	}
	load(t, c, idleKeys())
	load(t, c, blobKeys())
	// The last key written is the youngest: once it is idle for 2 s every
	// key is, and a touched key would read 0 or 1.
	load(t, c, []seedKey{{Name: "zz:last"}})
	if err := redistest.WaitIdle(ctx, c, "zz:last", 2); err != nil {
		t.Fatal(err)
	}
	conn := dial(t, srv.URL, nil)

	tests := []struct {
		name string
		job  func(t *testing.T) *jobs.Job
		o    planner.Options
	}{
		{"TicketTTL", func(t *testing.T) *jobs.Job { return loadExample(t, "ticket-ttl-backfill.yaml") }, planner.Options{}},
		{"SampledTicketTTL", func(t *testing.T) *jobs.Job { return loadExample(t, "ticket-ttl-backfill.yaml") }, planner.Options{Sample: 100}},
		{"SessionsFixedTTL", func(t *testing.T) *jobs.Job { return loadExample(t, "sessions-fixed-ttl.yaml") }, planner.Options{}},
		{"DumpDelete", func(t *testing.T) *jobs.Job { return loadExample(t, "drop-deal-clicks.yaml") }, planner.Options{}},
		{"DumpTooBig", func(t *testing.T) *jobs.Job {
			return parseJob(t, "drop-blobs.yaml", `
version: 1
name: drop-blobs
select:
  match: "blob:*"
action:
  delete: {}
backup: {mode: dump, max_dump_size: 1KiB}
`)
		}, planner.Options{}},
		{"SelectIdle", func(t *testing.T) *jobs.Job {
			return parseJob(t, "idle-all.yaml", `
version: 1
name: idle-all
select:
  match: "*"
  allow_all: true
  idle: "> 1h"
action:
  persist: {}
`)
		}, planner.Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, err := redistest.ReadState(ctx, c, true)
			if err != nil {
				t.Fatal(err)
			}
			p := build(t, conn, tt.job(t), tt.o)
			if p.Scanned == 0 {
				t.Fatalf("the plan scanned no key: the test reads nothing")
			}
			after, err := redistest.ReadState(ctx, c, true)
			if err != nil {
				t.Fatal(err)
			}
			if got := before.Touched(after); len(got) > 0 {
				t.Errorf("planning %s changed the server:\n%s", tt.name, strings.Join(got, "\n"))
			}
		})
	}

	// The control: the check sees a read that touches a key, and a write.
	t.Run("Control", func(t *testing.T) {
		before, err := redistest.ReadState(ctx, c, true)
		if err != nil {
			t.Fatal(err)
		}
		doAll(t, ctx, c, rueidis.Commands{
			c.B().Get().Key("zz:last").Build(),
			c.B().Pexpire().Key("cache:fresh:1").Milliseconds(3_600_000).Build(),
		})
		after, err := redistest.ReadState(ctx, c, true)
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(before.Touched(after), "\n")
		for _, want := range []string{"DEBUG DIGEST", "cache:fresh:1", "OBJECT IDLETIME zz:last went down"} {
			if !strings.Contains(got, want) {
				t.Errorf("after a GET and a PEXPIRE, Touched says:\n%s\nwant it to mention %q", got, want)
			}
		}
	})
}
