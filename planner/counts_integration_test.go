package planner_test

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/jobs"
	"github.com/keyjob/keyjob/planner"
)

// ticketDigitsJob is the ticket story's job with a capture that takes any
// number of digits, so that names holding milliseconds reach the timestamp
// check (the example's \d{10} sends them to the regex bucket instead).
const ticketDigitsJob = `
version: 1
name: ticket-digits
select:
  match: "ticket:*"
  type: string
  regex: '^ticket:(?P<issued>\d+):(?P<customer>\d+):[A-Za-z0-9]+$'
  ttl: none
action:
  expire:
    from: { capture: issued, format: unix }
    after: 365d
    grace: 1h
`

// Categories of the ticket keyspace.
const (
	catRecent       = "recent"        // valid name, no TTL, issued 1-300 days ago
	catOld          = "old"           // valid name, no TTL, issued over a year ago
	catTTL          = "ttl"           // valid name, has its TTL
	catHash         = "hash"          // a hash with a ticket's name
	catMalformed    = "malformed"     // a string no ticket regex matches
	catMalformedTTL = "malformed_ttl" // the same with a TTL: the regex comes first
	catMillis       = "ms"            // issued in milliseconds, no TTL
	catMillisTTL    = "ms_ttl"        // the same with a TTL: the TTL comes before the timestamp
	catFuture       = "future"        // issued three years from now
	catOther        = "other"         // outside the glob
)

// ticketKeys is the ticket keyspace: the story's tickets with some TTLs, and
// every kind of key the job must skip, with known numbers. want maps each
// category to the outcome the job under test must give it.
func ticketKeys(now time.Time, want map[string]string) []seedKey {
	var keys []seedKey
	add := func(cat string, n int, f func(i int) seedKey) {
		w, ok := want[cat]
		if !ok {
			panic("no expectation for category " + cat)
		}
		for i := range n {
			k := f(i)
			k.Want = w
			keys = append(keys, k)
		}
	}
	// Issue times sit half a day off whole days, so no expiry lies near a
	// schedule boundary (1 d, 7 d, 30 d, 90 d, 365 d) or near now.
	recent := func(i int) int64 { return now.Add(-time.Duration(1+i%300)*day - 12*time.Hour).Unix() }
	add(catRecent, 150, func(i int) seedKey {
		issued := recent(i)
		return seedKey{Name: ticketName(issued, 1+i%97, token("r", i)), NewExpire: time.Unix(issued, 0).Add(365 * day)}
	})
	add(catOld, 90, func(i int) seedKey {
		issued := now.Add(-time.Duration(400+3*i) * day).Unix()
		return seedKey{Name: ticketName(issued, 1+i%13, token("o", i))}
	})
	add(catTTL, 40, func(i int) seedKey {
		return seedKey{Name: ticketName(recent(i), 5, token("t", i)), TTL: time.Duration(1+i) * time.Hour}
	})
	add(catHash, 25, func(i int) seedKey {
		return seedKey{Name: ticketName(recent(i), 6, token("h", i)), Type: "hash"}
	})
	malformed := []string{"ticket:abc:12:%s", "ticket:1700000000:12:%s-x", "ticket:1700000000:%s", "ticket:1700000000:x:%s", "ticket::12:%s"}
	add(catMalformed, 15, func(i int) seedKey {
		return seedKey{Name: fmt.Sprintf(malformed[i%len(malformed)], token("m", i))}
	})
	add(catMalformedTTL, 5, func(i int) seedKey {
		return seedKey{Name: fmt.Sprintf(malformed[i%len(malformed)], token("n", i)), TTL: 2 * time.Hour}
	})
	add(catMillis, 15, func(i int) seedKey {
		return seedKey{Name: ticketName(recent(i)*1000+int64(i), 7, token("s", i))}
	})
	add(catMillisTTL, 5, func(i int) seedKey {
		return seedKey{Name: ticketName(recent(i)*1000, 8, token("u", i)), TTL: 3 * time.Hour}
	})
	add(catFuture, 2, func(i int) seedKey {
		return seedKey{Name: ticketName(now.Add(3*365*day+time.Duration(i)*day).Unix(), 9, token("f", i))}
	})
	add(catOther, 50, func(i int) seedKey {
		if i%2 == 0 {
			return seedKey{Name: fmt.Sprintf("session:%04d", i), TTL: time.Hour}
		}
		return seedKey{Name: fmt.Sprintf("deal:clicks:%d:20260301", i), Type: "hash"}
	})
	return keys
}

// reportKeys is the report-cache-90d keyspace: report:daily:{day}:{id}
// with recent and old days, impossible dates, days far ahead, names the
// regex refuses, and hashes (the job has no select.type).
func reportKeys(now time.Time) []seedKey {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		panic(err)
	}
	y, m, d := now.In(berlin).Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, berlin)
	var keys []seedKey
	name := func(day time.Time, id string) string {
		return "report:daily:" + day.Format("2006-01-02") + ":" + id
	}
	for i := range 60 { // 3-80 days old: 10-87 days left of 90
		day := today.AddDate(0, 0, -(3 + i%78))
		keys = append(keys, seedKey{Name: name(day, fmt.Sprintf("r%d", i)), Want: wantChange, NewExpire: day.Add(90 * 24 * time.Hour)})
	}
	for i := range 5 {
		day := today.AddDate(0, 0, -(10 + i))
		keys = append(keys, seedKey{Name: name(day, fmt.Sprintf("h%d", i)), Type: "hash", Want: wantChange, NewExpire: day.Add(90 * 24 * time.Hour)})
	}
	for i := range 40 { // 100-490 days old: past their 90 days
		keys = append(keys, seedKey{Name: name(today.AddDate(0, 0, -(100+10*i)), fmt.Sprintf("o%d", i)), Want: wantGrace})
	}
	for i := range 10 {
		keys = append(keys, seedKey{Name: name(today.AddDate(0, 0, -(5+i)), fmt.Sprintf("t%d", i)), TTL: 6 * time.Hour, Want: wantTTL})
	}
	for _, bad := range []string{"2026-02-30", "2025-13-01", "2026-04-31", "2026-00-10"} {
		for id := range 2 {
			keys = append(keys, seedKey{Name: fmt.Sprintf("report:daily:%s:b%d", bad, id), Want: wantBadTime})
		}
	}
	// 30 days ahead gives an expiry 120 days away, more than 90d + 1d.
	for _, ahead := range []time.Time{today.AddDate(0, 0, 30), time.Date(2040, 1, 1, 0, 0, 0, 0, berlin)} {
		for id := range 3 {
			keys = append(keys, seedKey{Name: name(ahead, fmt.Sprintf("f%d", id)), Want: wantBadTime})
		}
	}
	for _, n := range []string{"report:daily:20260314:1", "report:daily:2026-3-14:1", "report:daily:2026-03-14:a:b", "report:daily:2026-03-14:"} {
		keys = append(keys, seedKey{Name: n, Want: wantRegex})
	}
	for _, n := range []string{"report:weekly:2026-03-14:1", "reports:daily:2026-03-14:1", "report:monthly:2026-03:1"} {
		keys = append(keys, seedKey{Name: n, Want: notScanned})
	}
	return keys
}

// TestPlanner_ExactCounts plans hand-made keyspaces in which the test knows
// the outcome of every key, and compares every bucket, scanned, dbsize,
// the samples, the new expiries and the errors.
func TestPlanner_ExactCounts(t *testing.T) {
	t.Parallel()
	now := time.Now()
	ticketWant := func(ms, msTTL, future string) map[string]string {
		return map[string]string{
			catRecent: wantChange, catOld: wantGrace, catTTL: wantTTL, catHash: notScanned,
			catMalformed: wantRegex, catMalformedTTL: wantRegex, catMillis: ms, catMillisTTL: msTTL,
			catFuture: future, catOther: notScanned,
		}
	}
	tests := []struct {
		name string
		job  func(t *testing.T) *jobs.Job
		keys []seedKey
		// check is what the case checks beyond the buckets and samples.
		check func(t *testing.T, p *planner.Plan, keys []seedKey)
	}{
		{
			name: "Tickets/DigitsCapture",
			job:  func(t *testing.T) *jobs.Job { return parseJob(t, "ticket-digits.yaml", ticketDigitsJob) },
			keys: ticketKeys(now, ticketWant(wantBadTime, wantTTL, wantBadTime)),
			check: func(t *testing.T, p *planner.Plan, keys []seedKey) {
				checkSchedule(t, p, keys, now)
				checkGraceAt(t, p, time.Hour, time.Hour)
			},
		},
		{
			name: "Tickets/Example",
			job:  func(t *testing.T) *jobs.Job { return loadExample(t, "ticket-ttl-backfill.yaml") },
			keys: ticketKeys(now, ticketWant(wantRegex, wantRegex, wantBadTime)),
			check: func(t *testing.T, p *planner.Plan, keys []seedKey) {
				checkSchedule(t, p, keys, now)
			},
		},
		{
			name: "ReportDates",
			job:  func(t *testing.T) *jobs.Job { return loadExample(t, "report-cache-90d.yaml") },
			keys: reportKeys(now),
			check: func(t *testing.T, p *planner.Plan, keys []seedKey) {
				// grace 1h spread over 6h: between 1h and 7h after the run's start.
				checkGraceAt(t, p, time.Hour, 7*time.Hour)
			},
		},
		{
			name: "IdleFixedTTL",
			job: func(t *testing.T) *jobs.Job {
				return parseJob(t, "idle-cache.yaml", `
version: 1
name: idle-cache
select:
  match: "cache:*"
  idle: "> 1h"
action:
  expire:
    ttl: 1d
`)
			},
			keys: idleKeys(),
			check: func(t *testing.T, p *planner.Plan, keys []seedKey) {
				// A fixed TTL counts from the run's start, the plan's clock.
				want := p.GeneratedAt.Add(day)
				for _, s := range p.Samples[wantChange] {
					if s.NewExpire == nil || !s.NewExpire.Equal(want) {
						t.Errorf("sample %s expires at %v, want %v (1d after the run's start)", s.Name, s.NewExpire, want)
					}
				}
			},
		},
		{
			name: "DumpTooBig",
			job: func(t *testing.T) *jobs.Job {
				return parseJob(t, "drop-blobs.yaml", `
version: 1
name: drop-blobs
select:
  match: "blob:*"
action:
  delete: {}
backup:
  mode: dump
  max_dump_size: 1KiB
`)
			},
			keys: blobKeys(),
			check: func(t *testing.T, p *planner.Plan, keys []seedKey) {
				if p.Estimates.MemoryFreedBytes <= 0 {
					t.Errorf("estimates.memory_freed_bytes = %d, want > 0 for a delete", p.Estimates.MemoryFreedBytes)
				}
			},
		},
		{
			name: "PersistShortTTL",
			job: func(t *testing.T) *jobs.Job {
				return parseJob(t, "persist-short.yaml", `
version: 1
name: persist-short
select:
  match: "tmp:*"
  ttl: "< 2h"
action:
  persist: {}
`)
			},
			keys: persistKeys(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, c := startServer(t, redistest.Options{})
			load(t, c, tt.keys)
			job := tt.job(t)
			p := build(t, dial(t, srv.URL, nil), job, planner.Options{})

			checkOutcomes(t, p, tt.keys, 0)
			checkSamples(t, p, tt.keys)
			checkUnitMistake(t, p)
			if p.Sample != nil {
				t.Errorf("a full scan has sample = %+v, want none", *p.Sample)
			}
			if tt.check != nil {
				tt.check(t, p, tt.keys)
			}
		})
	}
}

// checkUnitMistake checks the plan's verdict on its bad timestamps, from
// docs/job-file.md: more than 1% of the changes is an error, fewer a warning.
func checkUnitMistake(t *testing.T, p *planner.Plan) {
	t.Helper()
	bad := p.Outcomes.Skip[wantBadTime]
	wantErr := float64(bad) > 0.01*float64(max(p.Outcomes.Change, 1))
	if got := slices.Contains(errorCodes(p), planner.ErrUnitMistake); got != wantErr {
		t.Errorf("%d bad timestamps for %d changes: unit_mistake error = %v, want %v (errors %v)", bad, p.Outcomes.Change, got, wantErr, errorCodes(p))
	}
	wantWarn := bad > 0 && !wantErr
	if got := slices.Contains(warningCodes(p), planner.WarnBadTimestamps); got != wantWarn {
		t.Errorf("%d bad timestamps for %d changes: bad_timestamps warning = %v, want %v (warnings %v)", bad, p.Outcomes.Change, got, wantWarn, warningCodes(p))
	}
}

// checkSchedule compares the expiry schedule with the one the test
// computes from the keys' own expiries: grace keys at 1 h, the others in
// the range their expiry falls in.
func checkSchedule(t *testing.T, p *planner.Plan, keys []seedKey, now time.Time) {
	t.Helper()
	ranges := []struct {
		within time.Duration
		label  string
	}{{time.Hour, "1 h"}, {day, "1 d"}, {7 * day, "7 d"}, {30 * day, "30 d"}, {90 * day, "90 d"}, {365 * day, "365 d"}}
	want := map[string]int64{}
	for _, k := range keys {
		switch k.Want {
		case wantGrace:
			want["1 h"]++
		case wantChange:
			label := "later"
			for _, r := range ranges {
				if k.NewExpire.Sub(now) <= r.within {
					label = r.label
					break
				}
			}
			want[label]++
		}
	}
	got := map[string]int64{}
	var sum int64
	for _, b := range p.Expiries {
		got[b.Label] += b.Keys
		sum += b.Keys
	}
	if sum != p.Outcomes.Change {
		t.Errorf("the expiry schedule holds %d keys, want every change (%d)", sum, p.Outcomes.Change)
	}
	for _, label := range slices.Sorted(maps.Keys(want)) {
		if got[label] != want[label] {
			t.Errorf("expiries within %s: %d keys, want %d", label, got[label], want[label])
		}
	}
}

// checkGraceAt checks that every grace sample expires between lo and hi
// after the run's start (hi included when lo == hi).
func checkGraceAt(t *testing.T, p *planner.Plan, lo, hi time.Duration) {
	t.Helper()
	start := p.GeneratedAt
	for _, s := range p.Samples[wantGrace] {
		if s.NewExpire == nil {
			continue // reported by checkSamples
		}
		after := s.NewExpire.Sub(start)
		if after < lo || after > hi || lo != hi && after == hi {
			t.Errorf("grace sample %s expires %v after the run's start, want in [%v, %v)", s.Name, after, lo, hi)
		}
	}
}

// idleKeys are cache:* keys, some idle for two hours (RESTORE IDLETIME),
// some fresh, with and without a TTL, for select.idle "> 1h" and a fixed
// TTL with when: no_ttl.
func idleKeys() []seedKey {
	var keys []seedKey
	for i := range 40 {
		keys = append(keys, seedKey{Name: fmt.Sprintf("cache:old:%d", i), Idle: 7200, Want: wantChange})
	}
	for i := range 5 {
		keys = append(keys, seedKey{Name: fmt.Sprintf("cache:oldhash:%d", i), Type: "hash", Idle: 7200, Want: wantChange})
	}
	for i := range 30 {
		keys = append(keys, seedKey{Name: fmt.Sprintf("cache:fresh:%d", i), Want: wantIdle})
	}
	for i := range 12 { // idle enough, but already with a TTL: when no_ttl leaves it
		keys = append(keys, seedKey{Name: fmt.Sprintf("cache:oldttl:%d", i), Idle: 7200, TTL: 5 * time.Hour, Want: wantTTL})
	}
	for i := range 8 { // the idle condition comes before the action's
		keys = append(keys, seedKey{Name: fmt.Sprintf("cache:freshttl:%d", i), TTL: 5 * time.Hour, Want: wantIdle})
	}
	for i := range 10 {
		keys = append(keys, seedKey{Name: fmt.Sprintf("other:%d", i), Idle: 7200, Want: notScanned})
	}
	return keys
}

// blobKeys are blob:* keys for a delete with backup: dump and a 1KiB
// max_dump_size: small ones are deleted, 8 KiB ones too big to back up.
func blobKeys() []seedKey {
	var keys []seedKey
	for i := range 30 {
		keys = append(keys, seedKey{Name: fmt.Sprintf("blob:small:%d", i), Size: 16, Want: wantChange})
	}
	for i := range 4 {
		keys = append(keys, seedKey{Name: fmt.Sprintf("blob:smallhash:%d", i), Type: "hash", Want: wantChange})
	}
	for i := range 7 {
		keys = append(keys, seedKey{Name: fmt.Sprintf("blob:big:%d", i), Size: 8192, Want: wantTooBig})
	}
	for i := range 6 {
		keys = append(keys, seedKey{Name: fmt.Sprintf("keep:big:%d", i), Size: 8192, Want: notScanned})
	}
	return keys
}

// persistKeys are tmp:* keys for a persist job with select.ttl "< 2h": a
// comparison on the remaining TTL never matches a key without one.
func persistKeys() []seedKey {
	var keys []seedKey
	for i := range 25 {
		keys = append(keys, seedKey{Name: fmt.Sprintf("tmp:short:%d", i), TTL: time.Hour, Want: wantChange})
	}
	for i := range 3 {
		keys = append(keys, seedKey{Name: fmt.Sprintf("tmp:shorthash:%d", i), Type: "hash", TTL: time.Hour, Want: wantChange})
	}
	for i := range 14 {
		keys = append(keys, seedKey{Name: fmt.Sprintf("tmp:long:%d", i), TTL: 5 * time.Hour, Want: wantTTL})
	}
	for i := range 9 {
		keys = append(keys, seedKey{Name: fmt.Sprintf("tmp:none:%d", i), Want: wantTTL})
	}
	for i := range 4 {
		keys = append(keys, seedKey{Name: fmt.Sprintf("keep:short:%d", i), TTL: time.Hour, Want: notScanned})
	}
	return keys
}
