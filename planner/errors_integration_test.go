package planner_test

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/internal/seed"
	"github.com/keyjob/keyjob/planner"
)

// millisTickets are n tickets named with their issue time in milliseconds
// and good recent ones named in seconds, none with a TTL.
func millisTickets(now time.Time, good, millis int) []seedKey {
	var keys []seedKey
	for i := range good {
		issued := now.Add(-time.Duration(1+i%200)*day - 12*time.Hour)
		keys = append(keys, seedKey{Name: ticketName(issued.Unix(), 1+i, token("g", i)), Want: wantChange, NewExpire: time.Unix(issued.Unix(), 0).Add(365 * day)})
	}
	for i := range millis {
		issued := now.Add(-time.Duration(1+i%200)*day - 12*time.Hour)
		keys = append(keys, seedKey{Name: ticketName(issued.UnixMilli(), 1+i, token("m", i)), Want: wantBadTime})
	}
	return keys
}

// TestPlanner_UnitMistake is the seconds-read-as-milliseconds mistake the
// other way round: a unix job over names that hold milliseconds. More bad
// timestamps than 1% of the changes is a plan error, with the bad keys as
// samples; 1% or fewer is a warning.
func TestPlanner_UnitMistake(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tests := []struct {
		name         string
		good, millis int
		wantErr      bool
	}{
		{"AllMillis", 0, 120, true},
		{"MostlyMillis", 20, 300, true},
		{"JustOverOnePercent", 200, 3, true},
		{"OnePercent", 200, 2, false},
		{"NoneBad", 200, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, c := startServer(t, redistest.Options{})
			keys := millisTickets(now, tt.good, tt.millis)
			load(t, c, keys)
			p := build(t, dial(t, srv.URL, nil), parseJob(t, "ticket-digits.yaml", ticketDigitsJob), planner.Options{})

			checkOutcomes(t, p, keys, 0)
			checkSamples(t, p, keys)
			if got := slices.Contains(errorCodes(p), planner.ErrUnitMistake); got != tt.wantErr {
				t.Errorf("%d changes, %d bad: unit_mistake = %v, want %v (errors %+v)", tt.good, tt.millis, got, tt.wantErr, p.Errors)
			}
			for _, m := range p.Errors {
				if m.Code != planner.ErrUnitMistake {
					continue
				}
				// The share is of the keys with a timestamp (never past
				// 100%), and the error names the format that reads them.
				share := fmt.Sprintf("%d of the %d keys with a timestamp (%.1f%%)", tt.millis, tt.good+tt.millis, 100*float64(tt.millis)/float64(tt.good+tt.millis))
				for _, want := range []string{share, "format: unix cannot read", "format to unix_ms: it reads", "with unix_ms, "} {
					if !strings.Contains(m.Message, want) {
						t.Errorf("unit_mistake %q lacks %q", m.Message, want)
					}
				}
			}
			for _, s := range p.Samples[wantBadTime] {
				if !strings.Contains(s.Why, "unix seconds") {
					t.Errorf("bad_timestamp sample %s: why = %q, want it to say the capture is not unix seconds", s.Name, s.Why)
				}
			}
		})
	}
}

// TestPlanner_MaxChanges: a plan whose change count passes
// limits.max_changes fails with max_changes_exceeded; equal is fine.
func TestPlanner_MaxChanges(t *testing.T) {
	t.Parallel()
	srv, c := startServer(t, redistest.Options{})
	var keys []seedKey
	for i := range 50 {
		keys = append(keys, seedKey{Name: fmt.Sprintf("session:%d", i), Want: wantChange})
	}
	for i := range 7 {
		keys = append(keys, seedKey{Name: fmt.Sprintf("session:ttl:%d", i), TTL: time.Hour, Want: wantTTL})
	}
	load(t, c, keys)
	conn := dial(t, srv.URL, nil)
	for _, tt := range []struct {
		max     int64
		wantErr bool
	}{{1, true}, {49, true}, {50, false}, {51, false}, {1000000, false}} {
		t.Run(fmt.Sprint(tt.max), func(t *testing.T) {
			job := parseJob(t, "sessions.yaml", fmt.Sprintf(`
version: 1
name: sessions
select:
  match: "session:*"
action:
  expire:
    ttl: 7d
limits:
  max_changes: %d
`, tt.max))
			p := build(t, conn, job, planner.Options{})
			checkOutcomes(t, p, keys, 0)
			got := slices.Contains(errorCodes(p), planner.ErrMaxChanges)
			if got != tt.wantErr {
				t.Errorf("50 changes, max_changes %d: max_changes_exceeded = %v, want %v (errors %+v)", tt.max, got, tt.wantErr, p.Errors)
			}
			if got, want := p.Job.MaxChanges, tt.max; got != want {
				t.Errorf("job.max_changes = %d, want %d", got, want)
			}
		})
	}
}

// idleJob selects by OBJECT IDLETIME.
const idleJob = `
version: 1
name: idle-sessions
select:
  match: "session:*"
  idle: "> 30d"
action:
  delete: {}
backup: dump
`

// TestPlanner_IdleUnderLFU: a server with an LFU policy refuses OBJECT
// IDLETIME, so a job with select.idle cannot be planned there, and the
// error says why. The same server plans a job without select.idle.
func TestPlanner_IdleUnderLFU(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{"allkeys-lfu", "volatile-lfu"} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			srv, c := startServer(t, redistest.Options{MaxMemory: "64mb", Policy: policy})
			keys := []seedKey{{Name: "session:1", Want: wantChange}, {Name: "session:2", Want: wantChange}}
			load(t, c, keys)
			conn := dial(t, srv.URL, nil)

			_, err := planner.Build(testContext(t), conn, parseJob(t, "idle.yaml", idleJob), planner.Options{})
			if !errors.Is(err, planner.ErrLFUIdle) {
				t.Fatalf("Build = %v, want ErrLFUIdle", err)
			}
			for _, want := range []string{"LFU", policy, "select.idle"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}

			p := build(t, conn, loadExample(t, "sessions-fixed-ttl.yaml"), planner.Options{})
			checkOutcomes(t, p, keys, 0)
		})
	}
}

// TestPlanner_ConfigRefused: a managed service may refuse CONFIG. The plan
// is still made, exact, and says which figures it could not read.
func TestPlanner_ConfigRefused(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tests := []struct {
		name     string
		args     []string
		readable bool
	}{
		{"Refused", []string{"--rename-command", "CONFIG", ""}, false},
		{"Readable", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, c := startServer(t, redistest.Options{Save: "60 1000", Args: tt.args})
			keys := millisTickets(now, 30, 0)
			load(t, c, keys)
			p := build(t, dial(t, srv.URL, nil), loadExample(t, "ticket-ttl-backfill.yaml"), planner.Options{})

			checkOutcomes(t, p, keys, 0)
			if len(p.Errors) > 0 {
				t.Errorf("plan errors: %+v", p.Errors)
			}
			if got := slices.Contains(warningCodes(p), planner.WarnConfigRefused); got == tt.readable {
				t.Errorf("config_refused warning = %v, want %v (warnings %v)", got, !tt.readable, warningCodes(p))
			}
			if got := p.Target.ConfigReadable; got != tt.readable {
				t.Errorf("target.config_readable = %v, want %v", got, tt.readable)
			}
			wantSave, wantPct := "", int64(-1)
			if tt.readable {
				wantSave, wantPct = "60 1000", 100
			}
			if got := p.Target.Save; got != wantSave {
				t.Errorf("target.save = %q, want %q", got, wantSave)
			}
			if got := p.Target.AutoAOFRewritePercentage; got != wantPct {
				t.Errorf("target.auto_aof_rewrite_percentage = %d, want %d", got, wantPct)
			}
		})
	}
}

// TestPlanner_Sample: --sample N reads about N matching keys and scales
// them up. The estimates of scanned and change must fall within the
// plan's own 95% margin (doubled: a fixed keyspace, but the server's hash
// seed differs per start), and a sample as large as the keyspace is exact.
func TestPlanner_Sample(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	srv, c := startServer(t, redistest.Options{})
	st, err := seed.Tickets(ctx, c, seed.TicketSpec{Count: 6000, WithTTLShare: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	if err := seed.Sessions(ctx, c, 1500); err != nil {
		t.Fatal(err)
	}
	conn := dial(t, srv.URL, nil)
	job := loadExample(t, "ticket-ttl-backfill.yaml")
	full := build(t, conn, job, planner.Options{})
	if got, want := full.Scanned, int64(st.Total()); got != want {
		t.Fatalf("full plan scanned %d, want %d", got, want)
	}
	if got, want := full.Outcomes.Change, int64(st.WithoutTTL); got != want {
		t.Fatalf("full plan changes %d, want %d", got, want)
	}

	for _, n := range []int64{500, 1500, 3000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			p := build(t, conn, job, planner.Options{Sample: n})
			if p.Sample == nil {
				t.Fatal("a sampled plan has no sample description")
			}
			s := *p.Sample
			if s.Requested != n || s.Fraction <= 0 || s.Fraction >= 1 || s.Margin <= 0 || s.Margin >= 1 {
				t.Fatalf("sample = %+v, want requested %d, fraction and margin in (0, 1)", s, n)
			}
			for _, f := range []struct {
				name      string
				est, true int64
			}{
				{"scanned", p.Scanned, full.Scanned},
				{"change", p.Outcomes.Change, full.Outcomes.Change},
			} {
				d := math.Abs(float64(f.est - f.true))
				t.Logf("%s: estimate %d, true %d, off by %.1f%%, stated margin ±%.1f%%", f.name, f.est, f.true, 100*d/float64(f.true), 100*s.Margin)
				if d > 2*s.Margin*float64(f.true) {
					t.Errorf("estimated %s = %d, true %d: off by %.1f%%, more than twice the stated margin ±%.1f%%",
						f.name, f.est, f.true, 100*d/float64(f.true), 100*s.Margin)
				}
			}
		})
	}

	t.Run("LargerThanKeyspace", func(t *testing.T) {
		p := build(t, conn, job, planner.Options{Sample: 100000})
		if p.Sample == nil || p.Sample.Fraction != 1 {
			t.Errorf("sample = %+v, want fraction 1 (the whole keyspace was read)", p.Sample)
		}
		if p.Scanned != full.Scanned || p.Outcomes.Change != full.Outcomes.Change || p.Outcomes.Skip[wantTTL] != full.Outcomes.Skip[wantTTL] {
			t.Errorf("sample over the whole keyspace: scanned %d, change %d, ttl %d; want the full plan's %d, %d, %d",
				p.Scanned, p.Outcomes.Change, p.Outcomes.Skip[wantTTL], full.Scanned, full.Outcomes.Change, full.Outcomes.Skip[wantTTL])
		}
	})
}

// TestPlanner_Database: a job's db: selects the logical database when the
// URL names none; it must agree with the URL's /N when it names one.
func TestPlanner_Database(t *testing.T) {
	t.Parallel()
	srv, c := startServer(t, redistest.Options{})
	load(t, c, []seedKey{{Name: "session:db0:1"}, {Name: "session:db0:2"}})
	c2 := redisClientDB(t, srv, 2)
	keys := []seedKey{
		{Name: "session:a", Want: wantChange},
		{Name: "session:b", Want: wantChange},
		{Name: "session:c", TTL: time.Hour, Want: wantTTL},
		{Name: "other", Want: notScanned},
	}
	load(t, c2, keys)
	job := parseJob(t, "sessions-db2.yaml", `
version: 1
name: sessions-db2
db: 2
select:
  match: "session:*"
  ttl: none
action:
  expire:
    ttl: 7d
`)

	for name, url := range map[string]string{"NoDBInURL": srv.URL, "SameDBInURL": srv.URL + "/2"} {
		t.Run(name, func(t *testing.T) {
			p := build(t, dial(t, url, job.DB), job, planner.Options{})
			if got := p.Target.DB; got != 2 {
				t.Errorf("target.db = %d, want 2", got)
			}
			// Keys with a TTL fail select.ttl: none.
			checkOutcomes(t, p, keys, 0)
		})
	}

	_, err := redisx.Dial(testContext(t), redisx.Options{URL: srv.URL + "/0", DB: job.DB})
	if err == nil || !strings.Contains(err.Error(), "db 2") {
		t.Errorf("dial %s/0 with a job that says db 2: %v, want an error naming both", srv.URL, err)
	}
}
