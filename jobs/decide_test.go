package jobs

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

var (
	runStart = time.Date(2026, 3, 14, 12, 0, 0, 123456789, time.UTC)
	clock    = Clock{RunStart: runStart, Now: runStart.Add(10 * time.Minute)}
)

// job parses a job whose select and action are given, the rest fixed.
func job(t *testing.T, sel, action string) *Job {
	t.Helper()
	return mustParse(t, "version: 1\nname: t\nselect: "+sel+"\naction: "+action+"\nbackup: none\n")
}

// ms truncates to milliseconds, as every new expiry is.
func ms(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

func noTTL(name string) Key { return Key{Name: name} }

func withTTL(name string, remaining time.Duration) Key {
	return Key{Name: name, HasTTL: true, ExpireAt: clock.Now.Add(remaining)}
}

type decideCase struct {
	name string
	key  Key
	want Decision
}

func checkDecide(t *testing.T, j *Job, cases []decideCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := j.Decide(tc.key, clock)
			if got.Outcome != tc.want.Outcome || !got.ExpireAt.Equal(tc.want.ExpireAt) ||
				got.Grace != tc.want.Grace || got.Why != tc.want.Why {
				t.Errorf("Decide(%+v)\n got %+v\nwant %+v", tc.key, got, tc.want)
			}
		})
	}
}

func TestDecide_Select(t *testing.T) {
	j := job(t, `{match: "k:*", regex: '^k:\d+$', ttl: "< 1h", idle: "> 30d"}`, "{delete: {}}")
	idle := func(k Key, d time.Duration) Key { k.Idle = d; return k }
	checkDecide(t, j, []decideCase{
		{"regex first", idle(withTTL("k:x", time.Minute), 31*day), Decision{Outcome: SkipRegex}},
		{"ttl before idle", idle(withTTL("k:1", 2*time.Hour), 0), Decision{Outcome: SkipTTL}},
		{"comparison never matches no ttl", idle(noTTL("k:1"), 31*day), Decision{Outcome: SkipTTL}},
		{"idle too short", idle(withTTL("k:1", time.Minute), 29*day), Decision{Outcome: SkipIdle}},
		{"all pass", idle(withTTL("k:1", time.Minute), 31*day), Decision{Outcome: Change}},
	})
}

func TestDecide_SelectTTL(t *testing.T) {
	for _, tc := range []struct {
		ttl  string
		key  Key
		want Outcome
	}{
		{"none", noTTL("k:1"), Change},
		{"none", withTTL("k:1", time.Hour), SkipTTL},
		{"any", noTTL("k:1"), Change},
		{"any", withTTL("k:1", time.Hour), Change},
		{`"< 1h"`, withTTL("k:1", 59*time.Minute), Change},
		{`"< 1h"`, withTTL("k:1", time.Hour), SkipTTL},
		{`"> 30d"`, withTTL("k:1", 31*day), Change},
		{`"> 30d"`, withTTL("k:1", 29*day), SkipTTL},
		{`"> 30d"`, noTTL("k:1"), SkipTTL},
	} {
		j := job(t, `{match: "k:*", ttl: `+tc.ttl+`}`, "{delete: {}}")
		if got := j.Decide(tc.key, clock).Outcome; got != tc.want {
			t.Errorf("ttl %s, key %+v: %s, want %s", tc.ttl, tc.key, got, tc.want)
		}
	}
}

func TestDecide_DeletePersist(t *testing.T) {
	checkDecide(t, job(t, `{match: "k:*"}`, "{delete: {}}"), []decideCase{
		{"delete without ttl", noTTL("k:1"), Decision{Outcome: Change}},
		{"delete with ttl", withTTL("k:1", time.Hour), Decision{Outcome: Change}},
	})
	checkDecide(t, job(t, `{match: "k:*"}`, "{persist: {}}"), []decideCase{
		{"persist with ttl", withTTL("k:1", time.Hour), Decision{Outcome: Change}},
		{"persist without ttl", noTTL("k:1"), Decision{Outcome: SkipTTL}},
	})
}

func TestDecide_FixedTTL(t *testing.T) {
	j := job(t, `{match: "s:*"}`, "{expire: {ttl: 7d}}")
	checkDecide(t, j, []decideCase{
		{"from the run's start, in ms", noTTL("s:1"), Decision{Outcome: Change, ExpireAt: ms(runStart.Add(7 * day))}},
		{"no_ttl leaves a ttl alone", withTTL("s:1", time.Hour), Decision{Outcome: SkipTTL}},
	})
	if got := j.Decide(noTTL("s:1"), clock).ExpireAt; got.Nanosecond()%int(time.Millisecond) != 0 {
		t.Errorf("ExpireAt %v is not in whole milliseconds", got)
	}
}

// Each when mode against each kind of key, with a fixed ttl of 1d: the new
// expiry is runStart+1d, about 23h50m from now.
func TestDecide_When(t *testing.T) {
	newAt := ms(runStart.Add(day))
	change := Decision{Outcome: Change, ExpireAt: newAt}
	skip := Decision{Outcome: SkipTTL}
	sooner, later := withTTL("s:1", time.Hour), withTTL("s:1", 2*day)
	equal := Key{Name: "s:1", HasTTL: true, ExpireAt: newAt}
	for _, tc := range []struct {
		when                   string
		none, soon, late, same Decision
	}{
		{"no_ttl", change, skip, skip, skip},
		{"always", change, change, change, change},
		{"shorter", change, skip, change, skip},
		{"longer", skip, change, skip, skip},
	} {
		j := job(t, `{match: "s:*"}`, "{expire: {ttl: 1d, when: "+tc.when+"}}")
		checkDecide(t, j, []decideCase{
			{tc.when + "/no ttl", noTTL("s:1"), tc.none},
			{tc.when + "/sooner", sooner, tc.soon},
			{tc.when + "/later", later, tc.late},
			{tc.when + "/same", equal, tc.same},
		})
	}
}

const ticketSelect = `{match: "ticket:*", regex: '^ticket:(?P<issued>[^:]+):(?P<customer>\d+)$'}`

func ticketJob(t *testing.T, expire string) *Job {
	t.Helper()
	return job(t, ticketSelect, "{expire: {from: {capture: issued, format: unix}, after: 365d"+expire+"}}")
}

func TestDecide_FromUnix(t *testing.T) {
	issued := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	old := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	j := ticketJob(t, "")
	checkDecide(t, j, []decideCase{
		{"a year after issue", noTTL(fmt.Sprintf("ticket:%d:7", issued.Unix())),
			Decision{Outcome: Change, ExpireAt: issued.Add(365 * day)}},
		{"past: grace from the run's start", noTTL(fmt.Sprintf("ticket:%d:7", old.Unix())),
			Decision{Outcome: Change, ExpireAt: ms(runStart.Add(time.Hour)), Grace: true}},
		{"expiry exactly now: grace", noTTL(fmt.Sprintf("ticket:%d:7", clock.Now.Add(-365*day).Unix())),
			Decision{Outcome: Change, ExpireAt: ms(runStart.Add(time.Hour)), Grace: true}},
		{"not a number", noTTL("ticket:17x:7"),
			Decision{Outcome: SkipBadTimestamp, Why: `not unix seconds up to year 9999: "17x"`}},
		{"milliseconds read as seconds", noTTL("ticket:1773489600000:7"),
			Decision{Outcome: SkipBadTimestamp, Why: `not unix seconds up to year 9999: "1773489600000"`}},
		{"too far in the future", noTTL("ticket:4102444800:7"),
			Decision{Outcome: SkipBadTimestamp, Why: `"4102444800" as unix gives an expiry 27320d from now, more than 366d: a unit mistake?`}},
		{"no_ttl: a ttl wins over a broken timestamp", withTTL("ticket:17x:7", time.Hour), Decision{Outcome: SkipTTL}},
	})
}

// The bad_timestamp limit is after × (1 + jitter) + 1d from now. Unix
// seconds drop the clock's fraction, hence the one-second margins.
func TestDecide_TooFarLimit(t *testing.T) {
	for _, tc := range []struct {
		jitter string
		start  time.Duration // after now
		want   Outcome
	}{
		{"0%", -time.Hour, Change},
		{"0%", 0, Change},
		{"0%", day - time.Second, Change},
		{"0%", day + 2*time.Second, SkipBadTimestamp},
		{"10%", day - time.Second, Change}, // whatever the key's jitter
		{"10%", day + 365*day/10 + 2*time.Second, SkipBadTimestamp},
	} {
		j := ticketJob(t, ", jitter: "+tc.jitter)
		for i := range 100 {
			start := clock.Now.Add(tc.start)
			got := j.Decide(noTTL(fmt.Sprintf("ticket:%d:%d", start.Unix(), i)), clock)
			if got.Outcome != tc.want {
				t.Fatalf("jitter %s, start now%+v: %s (expiry %v), want %s", tc.jitter, tc.start, got.Outcome, got.ExpireAt, tc.want)
			}
		}
	}
	if got := ticketJob(t, ", jitter: 10%").Action.Expire.MaxLifetime(); got != 365*day+365*day/10 {
		t.Errorf("MaxLifetime = %v", got)
	}
}

func TestDecide_Formats(t *testing.T) {
	for _, tc := range []struct {
		format, zone, value string
		start               time.Time
	}{
		{"unix", "", "1767225600", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"unix_ms", "", "1767225600123", time.Date(2026, 1, 1, 0, 0, 0, 123e6, time.UTC)},
		{"rfc3339", "", "2026-01-01T10:00:00+02:00", time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)},
		{"2006-01-02", "", "2026-01-01", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"2006-01-02", "Europe/Berlin", "2026-01-01", time.Date(2025, 12, 31, 23, 0, 0, 0, time.UTC)},
		{"2006-01-02", "Europe/Berlin", "2025-07-01", time.Date(2025, 6, 30, 22, 0, 0, 0, time.UTC)},
		{"20060102T1504", "America/New_York", "20250601T0930", time.Date(2025, 6, 1, 13, 30, 0, 0, time.UTC)},
	} {
		zone := ""
		if tc.zone != "" {
			zone = ", time_zone: " + tc.zone
		}
		j := job(t, `{match: "r:*", regex: '^r:(?P<t>.+)$'}`,
			`{expire: {from: {capture: t, format: "`+tc.format+`"`+zone+`}, after: 365d}}`)
		got := j.Decide(noTTL("r:"+tc.value), clock)
		want := Decision{Outcome: Change, ExpireAt: ms(tc.start.Add(365 * day))}
		if got.Outcome != want.Outcome || !got.ExpireAt.Equal(want.ExpireAt) {
			t.Errorf("%s %s %q: got %+v, want %+v", tc.format, tc.zone, tc.value, got, want)
		}
	}
}

func TestDecide_BadTimestamps(t *testing.T) {
	for _, tc := range []struct{ format, value, why string }{
		{"unix_ms", "1767225600", `"1767225600" as unix_ms is 1970-01-21, before 2000: seconds read as milliseconds?`},
		{"unix_ms", "1700000000000", ""}, // a real ms value (2023), its lifetime over: grace
		{"unix_ms", "abc", `not unix milliseconds up to year 9999: "abc"`},
		{"rfc3339", "2026-01-01", `not an RFC 3339 time: "2026-01-01"`},
		{"2006-01-02", "2026-02-30", `not a time in layout "2006-01-02": "2026-02-30"`},
		{"2006-01-02", "2099-01-01", `"2099-01-01" as 2006-01-02 gives an expiry 26680d from now, more than 91d: a unit mistake?`},
	} {
		j := job(t, `{match: "r:*", regex: '^r:(?P<t>.+)$'}`,
			`{expire: {from: {capture: t, format: "`+tc.format+`"}, after: 90d}}`)
		got := j.Decide(noTTL("r:"+tc.value), clock)
		if tc.why == "" {
			if got.Outcome != Change || !got.Grace {
				t.Errorf("%s %q: got %+v, want a grace change", tc.format, tc.value, got)
			}
			continue
		}
		if got.Outcome != SkipBadTimestamp || got.Why != tc.why {
			t.Errorf("%s %q:\n got %+v\nwant bad_timestamp %q", tc.format, tc.value, got, tc.why)
		}
	}
}

// With from, each when mode: checks that need only the key's TTL come
// before the timestamp is read, the rest after.
func TestDecide_FromWhen(t *testing.T) {
	issued := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
	newAt := issued.Add(365 * day)
	good := fmt.Sprintf("ticket:%d:7", issued.Unix())
	broken := "ticket:17x:7"
	before := Key{Name: good, HasTTL: true, ExpireAt: newAt.Add(-time.Hour)}
	after := Key{Name: good, HasTTL: true, ExpireAt: newAt.Add(time.Hour)}
	change := Decision{Outcome: Change, ExpireAt: newAt}
	bad := Decision{Outcome: SkipBadTimestamp, Why: `not unix seconds up to year 9999: "17x"`}
	skip := Decision{Outcome: SkipTTL}
	for _, tc := range []struct {
		when                                string
		brokenNoTTL, brokenTTL, early, late Decision
	}{
		{"no_ttl", bad, skip, skip, skip},
		{"always", bad, bad, change, change},
		{"shorter", bad, bad, skip, change},
		{"longer", skip, bad, change, skip},
	} {
		checkDecide(t, ticketJob(t, ", when: "+tc.when), []decideCase{
			{tc.when + "/broken, no ttl", noTTL(broken), tc.brokenNoTTL},
			{tc.when + "/broken, ttl", withTTL(broken, time.Hour), tc.brokenTTL},
			{tc.when + "/ttl before new", before, tc.early},
			{tc.when + "/ttl after new", after, tc.late},
		})
	}
}

func TestDecide_Jitter(t *testing.T) {
	j := job(t, `{match: "s:*"}`, "{expire: {ttl: 10d, jitter: 5%}}")
	base, most := ms(runStart.Add(10*day)), runStart.Add(10*day+12*time.Hour)
	seen := map[time.Time]bool{}
	var lows, highs int
	for i := range 1000 {
		name := fmt.Sprintf("s:%d", i)
		d := j.Decide(noTTL(name), clock)
		if d.ExpireAt.Before(base) || !d.ExpireAt.Before(most) {
			t.Fatalf("%s: expiry %v outside [%v, %v)", name, d.ExpireAt, base, most)
		}
		if again := j.Decide(noTTL(name), clock); !again.ExpireAt.Equal(d.ExpireAt) {
			t.Fatalf("%s: %v then %v: jitter is not deterministic", name, d.ExpireAt, again.ExpireAt)
		}
		seen[d.ExpireAt] = true
		switch off := d.ExpireAt.Sub(base); {
		case off < 3*time.Hour:
			lows++
		case off > 9*time.Hour:
			highs++
		}
	}
	if len(seen) < 990 || lows < 150 || highs < 150 {
		t.Errorf("jitter spread badly: %d distinct, %d in the low quarter, %d in the high", len(seen), lows, highs)
	}
	// A pinned value: a change of hash or salt would move every key's
	// expiry on a resumed run, so it must show up here.
	if got, want := j.Decide(noTTL("s:1"), clock).ExpireAt, ms(runStart.Add(10*day+time.Duration(keyFraction(jitterSalt, "s:1")*float64(12*time.Hour)))); !got.Equal(want) {
		t.Errorf("s:1 expires %v, want %v", got, want)
	}
	if got := keyFraction(jitterSalt, "s:1"); fmt.Sprintf("%.6f", got) != "0.503144" {
		t.Errorf("keyFraction(jitter, s:1) = %.6f, pinned at 0.503144", got)
	}
}

func TestDecide_GraceSpread(t *testing.T) {
	j := ticketJob(t, ", grace: 1h, grace_spread: 6h, jitter: 10%")
	lo, hi := ms(runStart.Add(time.Hour)), runStart.Add(time.Hour+6*time.Minute+6*time.Hour)
	var buckets [6]int
	for i := range 3000 {
		name := fmt.Sprintf("ticket:1600000000:%d", i)
		d := j.Decide(noTTL(name), clock)
		if d.Outcome != Change || !d.Grace {
			t.Fatalf("%s: %+v, want a grace change", name, d)
		}
		if d.ExpireAt.Before(lo) || !d.ExpireAt.Before(hi) {
			t.Fatalf("%s: grace expiry %v outside [%v, %v)", name, d.ExpireAt, lo, hi)
		}
		if again := j.Decide(noTTL(name), clock); !again.ExpireAt.Equal(d.ExpireAt) {
			t.Fatalf("%s: not deterministic", name)
		}
		buckets[min(int(d.ExpireAt.Sub(lo)/time.Hour), 5)]++
	}
	if slices.Min(buckets[:]) < 300 {
		t.Errorf("grace spread over six hours unevenly: %v keys an hour", buckets)
	}
}

// Jitter and spread use different salts, so a key early in its jitter is
// not also early in the spread.
func TestKeyFraction_Salts(t *testing.T) {
	same := 0
	for i := range 1000 {
		name := fmt.Sprintf("k:%d", i)
		a, b := keyFraction(jitterSalt, name), keyFraction(spreadSalt, name)
		if a < 0 || a >= 1 || b < 0 || b >= 1 {
			t.Fatalf("%s: fractions %v %v outside [0, 1)", name, a, b)
		}
		if (a < 0.5) == (b < 0.5) {
			same++
		}
	}
	if same < 400 || same > 600 {
		t.Errorf("jitter and spread halves agree for %d of 1000 keys: correlated", same)
	}
}

func TestJob_Needs(t *testing.T) {
	for _, tc := range []struct {
		sel, action string
		want        Needs
	}{
		{`{match: "k:*"}`, "{delete: {}}", Needs{}},
		{`{match: "k:*", ttl: none}`, "{delete: {}}", Needs{TTL: true}},
		{`{match: "k:*", ttl: "> 1d"}`, "{delete: {}}", Needs{TTL: true}},
		{`{match: "k:*", idle: "> 1d"}`, "{delete: {}}", Needs{Idle: true}},
		{`{match: "k:*"}`, "{persist: {}}", Needs{TTL: true}},
		{`{match: "k:*"}`, "{expire: {ttl: 1d}}", Needs{TTL: true}},
		{`{match: "k:*"}`, "{expire: {ttl: 1d, when: shorter}}", Needs{TTL: true}},
		{`{match: "k:*"}`, "{expire: {ttl: 1d, when: always}}", Needs{}},
		{`{match: "k:*", idle: "< 1h"}`, "{expire: {ttl: 1d, when: always}}", Needs{Idle: true}},
	} {
		if got := job(t, tc.sel, tc.action).Needs(); got != tc.want {
			t.Errorf("%s %s: Needs() = %+v, want %+v", tc.sel, tc.action, got, tc.want)
		}
	}
}

func TestJob_MatchCaptures(t *testing.T) {
	j := job(t, ticketSelect, "{delete: {}}")
	for name, want := range map[string]bool{"ticket:1:2": true, "ticket:1:x": false, "ticket:1": false} {
		if got := j.Match(name).OK(); got != want {
			t.Errorf("Match(%q).OK() = %v", name, got)
		}
	}
	if got := j.Captures(); !slices.Equal(got, []string{"issued", "customer"}) {
		t.Errorf("Captures() = %v", got)
	}
	all := job(t, `{match: "k:*"}`, "{delete: {}}")
	if !all.Match("anything").OK() || all.Captures() != nil {
		t.Error("a job without a regex must match every name and have no captures")
	}
}

// A seconds value read as unix_ms is January 1970: every such key would get
// the grace TTL. Before 2000 is a bad timestamp instead, so the plan's
// unit-mistake error catches the mistake in this direction too.
func TestDecide_EpochBefore2000(t *testing.T) {
	j, err := Parse("ms.yaml", []byte(`version: 1
name: ms
select:
  match: "t:*"
  regex: '^t:(?P<at>\d+)$'
action:
  expire:
    from: {capture: at, format: unix_ms}
    after: 30d
`))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		key  string
		want Outcome
	}{
		{"t:1763769600", SkipBadTimestamp},   // seconds, read as ms: 1970-01-21
		{"t:1763769600000", Change},          // ms: 2025-11-22, past: grace
		{"t:946684800000", Change},           // 2000-01-01 exactly: grace
		{"t:946684799999", SkipBadTimestamp}, // just before 2000
	} {
		got := j.Decide(Key{Name: tc.key}, Clock{Now: now, RunStart: now})
		if got.Outcome != tc.want {
			t.Errorf("%s: got %s (%s), want %s", tc.key, got.Outcome, got.Why, tc.want)
		}
	}
}
