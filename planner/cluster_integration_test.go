package planner_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/seed"
	"github.com/keyjob/keyjob/jobs"
	"github.com/keyjob/keyjob/planner"
)

// TestPlanner_Cluster plans on a three-primary Redis Cluster: every primary
// is scanned, the counts are as exact as on one server, nothing is touched,
// and a sample takes its share from every primary. One cluster for all:
// it takes seconds to form.
func TestPlanner_Cluster(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t, 3, 0)
	c := cl.Client(t)
	ctx := testContext(t)
	now := time.Now()
	tickets := ticketKeys(now, map[string]string{
		catRecent: wantChange, catOld: wantGrace, catTTL: wantTTL, catHash: notScanned,
		catMalformed: wantRegex, catMalformedTTL: wantRegex, catMillis: wantBadTime, catMillisTTL: wantTTL,
		catFuture: wantBadTime, catOther: notScanned,
	})
	idle, blobs := idleKeys(), blobKeys()
	for _, keys := range [][]seedKey{tickets, idle, blobs, {{Name: "zz:last"}}} {
		load(t, c, keys)
	}
	total := len(tickets) + len(idle) + len(blobs) + 1
	conn := dial(t, cl.URL, nil)

	tests := []struct {
		name string
		job  func(t *testing.T) *jobs.Job
		keys []seedKey
	}{
		{"Tickets", func(t *testing.T) *jobs.Job { return parseJob(t, "ticket-digits.yaml", ticketDigitsJob) }, tickets},
		{"IdleFixedTTL", func(t *testing.T) *jobs.Job {
			return parseJob(t, "idle-cache.yaml", "version: 1\nname: idle-cache\nselect:\n  match: \"cache:*\"\n  idle: \"> 1h\"\naction:\n  expire:\n    ttl: 1d\n")
		}, idle},
		{"DumpTooBig", func(t *testing.T) *jobs.Job {
			return parseJob(t, "drop-blobs.yaml", "version: 1\nname: drop-blobs\nselect:\n  match: \"blob:*\"\naction:\n  delete: {}\nbackup: {mode: dump, max_dump_size: 1KiB}\n")
		}, blobs},
	}

	t.Run("ExactCounts", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p := build(t, conn, tt.job(t), planner.Options{})
				if p.Target.Mode != "cluster" || p.Target.Nodes != 3 {
					t.Errorf("target mode %q with %d nodes, want cluster with 3", p.Target.Mode, p.Target.Nodes)
				}
				checkOutcomes(t, p, tt.keys, int64(total-len(tt.keys)))
				checkSamples(t, p, tt.keys)
				checkUnitMistake(t, p)
			})
		}
	})

	t.Run("ReadOnly", func(t *testing.T) {
		if err := redistest.WaitIdle(ctx, c, "zz:last", 2); err != nil {
			t.Fatal(err)
		}
		before, err := redistest.ReadState(ctx, c, true)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(before.Digest, "="); n != 3 {
			t.Fatalf("digest %q covers %d primaries, want 3", before.Digest, n)
		}
		for _, tt := range tests {
			build(t, conn, tt.job(t), planner.Options{})
			build(t, conn, tt.job(t), planner.Options{Sample: 30})
		}
		after, err := redistest.ReadState(ctx, c, true)
		if err != nil {
			t.Fatal(err)
		}
		if got := before.Touched(after); len(got) > 0 {
			t.Errorf("planning on the cluster changed it:\n%s", strings.Join(got, "\n"))
		}
	})

	t.Run("Sample", func(t *testing.T) {
		if _, err := seed.Tickets(ctx, c, seed.TicketSpec{Count: 6000, WithTTLShare: 0.2}); err != nil {
			t.Fatal(err)
		}
		job := loadExample(t, "ticket-ttl-backfill.yaml")
		full := build(t, conn, job, planner.Options{})
		for _, n := range []int64{600, 1500, 3000} {
			t.Run(fmt.Sprint(n), func(t *testing.T) {
				p := build(t, conn, job, planner.Options{Sample: n})
				if p.Sample == nil || p.Sample.Fraction <= 0 || p.Sample.Fraction >= 1 || p.Sample.Margin <= 0 {
					t.Fatalf("sample = %+v, want a fraction in (0, 1) and a margin", p.Sample)
				}
				for _, f := range []struct {
					name      string
					est, true int64
				}{
					{"scanned", p.Scanned, full.Scanned},
					{"change", p.Outcomes.Change, full.Outcomes.Change},
				} {
					d := math.Abs(float64(f.est - f.true))
					t.Logf("%s: estimate %d, true %d, off by %.1f%%, stated margin ±%.1f%%", f.name, f.est, f.true, 100*d/float64(f.true), 100*p.Sample.Margin)
					if d > 2*p.Sample.Margin*float64(f.true) {
						t.Errorf("estimated %s = %d, true %d: off by more than twice the stated margin ±%.1f%%", f.name, f.est, f.true, 100*p.Sample.Margin)
					}
				}
			})
		}
	})
}
