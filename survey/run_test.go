package survey

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/internal/seed"
	"github.com/keyjob/keyjob/jobs"
	"github.com/keyjob/keyjob/planner"
)

// sizes of a seeded keyspace.
type sizes struct{ tickets, deals, sessions, users int }

var smallKeyspace = sizes{tickets: 5000, deals: 900, sessions: 400, users: 300}

// oddNames are a few keys with names of their own, and the pattern each
// must get.
var oddNames = map[string]string{
	"healthcheck":     "healthcheck",
	"migrations.lock": "migrations.lock",
	"feature-flags":   "feature-flags",
	"Qx7fTz2aK9":      "{id}",
}

// namespaces recognise the seeded keys without the code under test, and
// name the pattern the survey must find for each.
var namespaces = []struct {
	re      *regexp.Regexp
	pattern string
}{
	{regexp.MustCompile(`^ticket:\d{10}:\d+:[A-Za-z0-9]{8}$`), "ticket:{ts}:{n}:{id}"},
	{regexp.MustCompile(`^deal:clicks:\d+:\d{8}$`), "deal:clicks:{n}:{date}"},
	{regexp.MustCompile(`^session:[0-9a-f]{32}$`), "session:{hex}"},
	{regexp.MustCompile(`^user:\d+:profile$`), "user:{n}:profile"},
}

// seedKeyspace loads the tickets of the ticket story (unix time in the
// name, 2% with a TTL), the deal click hashes of the yipit story (a date
// in the name, no TTL), sessions with a TTL, user profile hashes (every
// third with a TTL) and a few odd keys.
func seedKeyspace(t *testing.T, c rueidis.Client, n sizes) {
	t.Helper()
	ctx := context.Background()
	if _, err := seed.Tickets(ctx, c, seed.TicketSpec{Count: n.tickets}); err != nil {
		t.Fatal(err)
	}
	if err := seed.DealClicks(ctx, c, n.deals); err != nil {
		t.Fatal(err)
	}
	if err := seed.Sessions(ctx, c, n.sessions); err != nil {
		t.Fatal(err)
	}
	var cmds rueidis.Commands
	for i := range n.users {
		key := fmt.Sprintf("user:%d:profile", 1000+i*7)
		cmds = append(cmds, c.B().Hset().Key(key).FieldValue().FieldValue("name", "u"+fmt.Sprint(i)).FieldValue("plan", "free").Build())
		if i%3 == 0 {
			cmds = append(cmds, c.B().Expire().Key(key).Seconds(7*24*3600).Build())
		}
	}
	cmds = append(cmds,
		c.B().Set().Key("healthcheck").Value("ok").Build(),
		c.B().Set().Key("migrations.lock").Value("1").Build(),
		c.B().Sadd().Key("feature-flags").Member("new-checkout", "dark-mode").Build(),
		c.B().Set().Key("Qx7fTz2aK9").Value("?").Build(),
	)
	for _, r := range c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			t.Fatal(err)
		}
	}
}

type wantPattern struct {
	keys, withTTL int64
	types         map[string]int64
}

// expected reads the keyspace (a snapshot: type and expiry of every key)
// and sorts it into the patterns the survey must report.
func expected(t *testing.T, c rueidis.Client) map[string]*wantPattern {
	t.Helper()
	snap, err := redistest.Snapshot(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*wantPattern{}
	for k, st := range snap {
		pattern, ok := oddNames[k]
		for _, ns := range namespaces {
			if ns.re.MatchString(k) {
				pattern, ok = ns.pattern, true
			}
		}
		if !ok {
			t.Fatalf("seeded key %q belongs to no namespace of the test", k)
		}
		w := want[pattern]
		if w == nil {
			w = &wantPattern{types: map[string]int64{}}
			want[pattern] = w
		}
		w.keys++
		w.types[st.Type]++
		if st.ExpireAt >= 0 {
			w.withTTL++
		}
	}
	return want
}

func dial(t *testing.T, srv *redistest.Server) *redisx.Conn {
	t.Helper()
	conn, err := redisx.Dial(context.Background(), redisx.Options{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	return conn
}

func runSurvey(t *testing.T, conn *redisx.Conn, o Options) *Survey {
	t.Helper()
	if o.ScanRate == 0 {
		o.ScanRate = jobs.Unlimited
	}
	s, err := Run(context.Background(), conn, o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return s
}

func byPattern(s *Survey) map[string]Pattern {
	m := map[string]Pattern{}
	for _, p := range s.Patterns {
		m[p.Pattern] = p
	}
	return m
}

func TestSurvey_Patterns(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	c := srv.Client(t)
	seedKeyspace(t, c, smallKeyspace)
	want := expected(t, c)
	s := runSurvey(t, dial(t, srv), Options{})

	got := byPattern(s)
	if len(got) != len(want) || s.Other != nil {
		var names []string
		for p := range got {
			names = append(names, p)
		}
		slices.Sort(names)
		t.Fatalf("patterns %q (other %v), want %d", names, s.Other, len(want))
	}
	var keys int64
	for name, w := range want {
		p, ok := got[name]
		if !ok {
			t.Errorf("no pattern %s", name)
			continue
		}
		keys += w.keys
		if p.Keys != w.keys || p.WithTTL != w.withTTL {
			t.Errorf("%s: %d keys, %d with a TTL; want %d and %d", name, p.Keys, p.WithTTL, w.keys, w.withTTL)
		}
		if !equalMaps(p.Types, w.types) {
			t.Errorf("%s: types %v, want %v", name, p.Types, w.types)
		}
		if p.MemoryBytes <= 0 || p.IdleSeconds == nil || len(p.Examples) == 0 {
			t.Errorf("%s: memory %d, idle %v, examples %q: want all read", name, p.MemoryBytes, p.IdleSeconds, p.Examples)
		}
		if (p.WithTTL > 0) != (p.TTLSeconds != nil) {
			t.Errorf("%s: ttl_seconds %v with %d keys with a TTL", name, p.TTLSeconds, p.WithTTL)
		}
	}
	if s.Keys != keys || s.Scanned != keys || s.DBSize != keys || s.Sampled {
		t.Errorf("keys %d, scanned %d, dbsize %d, sampled %v: want %d, exact", s.Keys, s.Scanned, s.DBSize, s.Sampled, keys)
	}

	times := map[string][]TimestampPart{
		"ticket:{ts}:{n}:{id}":   {{Position: 1, Format: FormatUnix, Capture: "ts"}},
		"deal:clicks:{n}:{date}": {{Position: 3, Format: "20060102", Capture: "date"}},
	}
	for name, p := range got {
		if !slices.Equal(p.TimestampParts, times[name]) {
			t.Errorf("%s: timestamp parts %+v, want %+v", name, p.TimestampParts, times[name])
		}
	}
	if sess := got["session:{hex}"].TTLSeconds; sess == nil || sess.P50 < 3600 || sess.P90 > 86400 || sess.P50 > sess.P90 {
		t.Errorf("session TTLs %+v, want p50 ≤ p90 within 1 h – 1 d", sess)
	}
	if u := got["user:{n}:profile"].TTLSeconds; u == nil || u.P50 < 7*24*3600-600 || u.P50 > 7*24*3600 {
		t.Errorf("user profile TTLs %+v, want 7 d", u)
	}
	if r := got["ticket:{ts}:{n}:{id}"].Regex; r != `^ticket:(?P<ts>\d{10}):(?P<n1>\d+):(?P<id>[A-Za-z0-9]{8})$` {
		t.Errorf("ticket regex %s", r)
	}
	for i := 1; i < len(s.Patterns); i++ {
		if s.Patterns[i].MemoryBytes > s.Patterns[i-1].MemoryBytes {
			t.Errorf("patterns not sorted by memory: %s after %s", s.Patterns[i].Pattern, s.Patterns[i-1].Pattern)
		}
	}
	if !hasCode(s.Warnings, WarnKeysWithoutTTL) {
		t.Errorf("warnings %v: want %s (most keys have no TTL)", s.Warnings, WarnKeysWithoutTTL)
	}
}

func hasCode(ms []Message, code string) bool {
	return slices.ContainsFunc(ms, func(m Message) bool { return m.Code == code })
}

// TestSurvey_ReadOnly: docs/safety.md promise 1. A survey changes no key, no
// value, no TTL, and no LRU clock: every idle time goes on growing.
func TestSurvey_ReadOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{})
	c := srv.Client(t)
	seedKeyspace(t, c, smallKeyspace)
	// Idle times count in seconds: wait until every key has one that a
	// touch would visibly reset.
	select {
	case <-time.After(2100 * time.Millisecond):
	case <-ctx.Done():
	}
	digest := func() string {
		d, err := c.Do(ctx, c.B().Arbitrary("DEBUG", "DIGEST").Build()).ToString()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	before, beforeDigest := snapshot(t, c), digest()
	idleBefore, err := redistest.IdleTimes(ctx, c)
	if err != nil {
		t.Fatal(err)
	}

	conn := dial(t, srv)
	s := runSurvey(t, conn, Options{})
	runSurvey(t, conn, Options{Sample: 500})
	runSurvey(t, conn, Options{Match: "ticket:*"})
	if _, _, err := Suggest(s); err != nil {
		t.Fatal(err)
	}

	idleAfter, err := redistest.IdleTimes(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, c)
	if d := redistest.Diff(before, after); !d.Empty() {
		t.Errorf("the survey changed keys:\n%s", d)
	}
	if got := digest(); got != beforeDigest {
		t.Errorf("DEBUG DIGEST %s after the survey, %s before", got, beforeDigest)
	}
	touched := 0
	for k, was := range idleBefore {
		if now, ok := idleAfter[k]; ok && now < was {
			if touched++; touched <= 5 {
				t.Errorf("%s: idle %d s before the survey, %d s after: its LRU clock was touched", k, was, now)
			}
		}
	}
	if touched > 5 {
		t.Errorf("... %d keys touched in all", touched)
	}
	if len(idleBefore) < 6000 {
		t.Errorf("idle times of %d keys read, want every key", len(idleBefore))
	}
}

// snapshot is redistest.Snapshot without the keys that may expire on
// their own while the test runs (a ticket's remaining year can be
// seconds): the server's lazy expiry is not the survey's change.
func snapshot(t *testing.T, c rueidis.Client) map[string]redistest.KeyState {
	t.Helper()
	snap, err := redistest.Snapshot(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	soon := time.Now().Add(10 * time.Minute).UnixMilli()
	for k, st := range snap {
		if st.ExpireAt >= 0 && st.ExpireAt < soon {
			delete(snap, k)
		}
	}
	return snap
}

// TestSurvey_Sample: a survey that stops early projects its counts, and
// each lies within the error it states. The margin is a 95% interval, so
// one pattern in twenty may fall outside it by design; the test allows
// 1.5 times the margin (about 3 standard errors), which a correct
// estimate misses about once in 400 patterns.
func TestSurvey_Sample(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.Options{})
	c := srv.Client(t)
	seedKeyspace(t, c, sizes{tickets: 20000, deals: 4000, sessions: 2000, users: 1500})
	want := expected(t, c)
	conn := dial(t, srv)

	check := func(t *testing.T, s *Survey, names ...string) {
		t.Helper()
		if !s.Sampled || s.Sample == nil || s.Scanned >= s.DBSize {
			t.Fatalf("sampled %v, sample %+v, scanned %d of %d: want an estimate", s.Sampled, s.Sample, s.Scanned, s.DBSize)
		}
		got := byPattern(s)
		for _, name := range names {
			p, w := got[name], want[name]
			if p.Margin <= 0 {
				t.Errorf("%s: no margin stated", name)
				continue
			}
			err := math.Abs(float64(p.Keys-w.keys)) / float64(w.keys)
			t.Logf("%s: estimated %d, actually %d (error %.1f%%, stated ±%.1f%%)", name, p.Keys, w.keys, 100*err, 100*p.Margin)
			if err > 1.5*p.Margin {
				t.Errorf("%s: estimated %d keys, actually %d: error %.1f%%, beyond the stated ±%.1f%%",
					name, p.Keys, w.keys, 100*err, 100*p.Margin)
			}
		}
	}
	t.Run("All", func(t *testing.T) {
		s := runSurvey(t, conn, Options{Sample: 5000})
		check(t, s, "ticket:{ts}:{n}:{id}", "deal:clicks:{n}:{date}", "session:{hex}", "user:{n}:profile")
		if d := math.Abs(float64(s.Keys-s.DBSize)) / float64(s.DBSize); d > 0.01 {
			t.Errorf("projected %d keys of %d in the database", s.Keys, s.DBSize)
		}
	})
	t.Run("Match", func(t *testing.T) {
		s := runSurvey(t, conn, Options{Match: "ticket:*", Sample: 4000})
		check(t, s, "ticket:{ts}:{n}:{id}")
		if len(s.Patterns) != 1 {
			t.Errorf("patterns %v, want tickets only", byPattern(s))
		}
	})
	t.Run("LargerThanKeyspace", func(t *testing.T) {
		s := runSurvey(t, conn, Options{Sample: 1 << 40})
		if s.Sampled || s.Scanned != s.DBSize {
			t.Errorf("a sample larger than the keyspace: sampled %v, scanned %d of %d, want an exact survey", s.Sampled, s.Scanned, s.DBSize)
		}
	})
}

// TestSurvey_Suggest: the job files pass jobs.Load, and each plans
// without error, selecting exactly the pattern's keys without a TTL.
func TestSurvey_Suggest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{})
	c := srv.Client(t)
	seedKeyspace(t, c, smallKeyspace)
	want := expected(t, c)
	conn := dial(t, srv)
	s := runSurvey(t, conn, Options{})

	ss, skipped, err := Suggest(s)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, sg := range ss {
		names[sg.Name] = sg.Pattern
	}
	wantNames := map[string]string{
		"ticket-ttl":       "ticket:{ts}:{n}:{id}",
		"deal-clicks-ttl":  "deal:clicks:{n}:{date}",
		"user-profile-ttl": "user:{n}:profile",
	}
	if fmt.Sprint(names) != fmt.Sprint(wantNames) {
		t.Errorf("suggestions %v, want %v (sessions all have a TTL)", names, wantNames)
	}
	var skippedNames []string
	for _, sk := range skipped {
		skippedNames = append(skippedNames, sk.Pattern)
	}
	slices.Sort(skippedNames)
	if want := []string{"feature-flags", "healthcheck", "migrations.lock", "{id}"}; !slices.Equal(skippedNames, want) {
		t.Errorf("skipped %q, want %q", skippedNames, want)
	}

	dir := t.TempDir()
	written, err := WriteSuggestions(dir, ss)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range written {
		t.Run(w.Name, func(t *testing.T) {
			job, err := jobs.Load(w.Path)
			if err != nil {
				t.Fatalf("jobs.Load: %v\n%s", err, w.Data)
			}
			if job.Action.Kind != jobs.ActionExpire {
				t.Fatalf("action %v, want expire", job.Action.Kind)
			}
			if w.From != "" && !strings.Contains(string(w.Data), "# REVIEW: how long should these keys live? 365d is a placeholder.\n    after: 365d") ||
				w.From == "" && !strings.Contains(string(w.Data), "# REVIEW: how long should these keys live? 30d is a placeholder.\n    ttl: 30d") {
				t.Errorf("the lifetime is not marked for review:\n%s", w.Data)
			}
			p, err := planner.Build(ctx, conn, job, planner.Options{ScanRate: jobs.Unlimited})
			if err != nil {
				t.Fatalf("planner.Build: %v", err)
			}
			if len(p.Errors) > 0 {
				t.Errorf("plan errors %v\n%s", p.Errors, w.Data)
			}
			wp := want[w.Pattern]
			if got := p.Outcomes.Change; got != wp.keys-wp.withTTL {
				t.Errorf("plan changes %d keys, want the %d without a TTL\n%s", got, wp.keys-wp.withTTL, w.Data)
			}
			if n := p.Outcomes.Skip["regex"]; n != 0 {
				t.Errorf("%d keys of the glob missed the regex", n)
			}
		})
	}

	again, err := WriteSuggestions(dir, ss)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range again {
		if !w.Kept {
			t.Errorf("%s written again over the first", w.Path)
		}
	}
}

func TestSurvey_Policies(t *testing.T) {
	t.Parallel()
	t.Run("VolatileLRU", func(t *testing.T) {
		srv := redistest.Start(t, redistest.Options{MaxMemory: "512mb", Policy: "volatile-lru"})
		seedKeyspace(t, srv.Client(t), sizes{tickets: 500, deals: 90, sessions: 40, users: 30})
		s := runSurvey(t, dial(t, srv), Options{})
		for _, code := range []string{WarnVolatileNoTTL, WarnVolatileFewTTLs} {
			if !hasCode(s.Warnings, code) {
				t.Errorf("warnings %v: want %s", s.Warnings, code)
			}
		}
		for _, m := range s.Warnings {
			if m.Code == WarnVolatileNoTTL && !strings.Contains(m.Message, "deal:clicks:{n}:{date}") {
				t.Errorf("%s does not name the deal clicks: %s", m.Code, m.Message)
			}
		}
	})
	t.Run("LFU", func(t *testing.T) {
		srv := redistest.Start(t, redistest.Options{MaxMemory: "512mb", Policy: "allkeys-lfu"})
		seedKeyspace(t, srv.Client(t), sizes{tickets: 200, deals: 90, sessions: 40, users: 30})
		s := runSurvey(t, dial(t, srv), Options{})
		if s.IdleRead || !hasCode(s.Notes, NoteIdleNotRead) {
			t.Errorf("idle read %v, notes %v: want idle times skipped, and said so", s.IdleRead, s.Notes)
		}
		for _, p := range s.Patterns {
			if p.IdleSeconds != nil || p.MemoryBytes <= 0 {
				t.Errorf("%s: idle %v, memory %d", p.Pattern, p.IdleSeconds, p.MemoryBytes)
			}
		}
	})
}

func TestSurvey_BigKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{})
	c := srv.Client(t)
	seedKeyspace(t, c, sizes{tickets: 100, deals: 90, sessions: 10, users: 10})
	if err := c.Do(ctx, c.B().Set().Key("blob:1").Value(strings.Repeat("x", BigKeyBytes+1<<20)).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	s := runSurvey(t, dial(t, srv), Options{})
	if !hasCode(s.Warnings, WarnBigKeys) {
		t.Errorf("warnings %v: want %s", s.Warnings, WarnBigKeys)
	}
	if p := byPattern(s)["blob:{n}"]; len(p.BigKeys) != 1 || p.BigKeys[0].Key != "blob:1" || s.Patterns[0].Pattern != "blob:{n}" {
		t.Errorf("blob:{n} big keys %+v, first pattern %s: want blob:1, first by memory", p.BigKeys, s.Patterns[0].Pattern)
	}
}

// TestSurvey_TooManyPatterns: past the bound, rare patterns collapse into
// other, every key is still counted once, and the report says so.
func TestSurvey_TooManyPatterns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{})
	c := srv.Client(t)
	seedKeyspace(t, c, sizes{tickets: 2000, deals: 90, sessions: 10, users: 10})
	var cmds rueidis.Commands
	for i := range 3000 {
		// Random shapes: each name its own pattern.
		name := fmt.Sprintf("%s.%s-%s", lowerWord(i, 3), lowerWord(i*7, 2), lowerWord(i*13, 4))
		cmds = append(cmds, c.B().Set().Key(name).Value("x").Build())
	}
	for _, r := range c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			t.Fatal(err)
		}
	}
	s := runSurvey(t, dial(t, srv), Options{MaxPatterns: 50})
	if s.Other == nil || !hasCode(s.Warnings, WarnTooManyPatterns) {
		t.Fatalf("other %v, warnings %v: want collapsed patterns, and said so", s.Other, s.Warnings)
	}
	if len(s.Patterns) > 50 {
		t.Errorf("%d patterns, want at most 50", len(s.Patterns))
	}
	if s.Keys != s.DBSize {
		t.Errorf("%d keys counted, %d in the database", s.Keys, s.DBSize)
	}
	if p := byPattern(s)["ticket:{ts}:{n}:{id}"]; p.Keys < 1900 {
		t.Errorf("tickets %d, want the big pattern kept (≥1,900 of 2,000)", p.Keys)
	}
}

// lowerWord is a deterministic lowercase word of n letters.
func lowerWord(seed, n int) string {
	b := make([]byte, n)
	x := uint32(seed*2654435761 + 12345)
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = 'a' + byte(x>>24)%26
	}
	return string(b)
}

// TestSurvey_Cluster surveys a three-primary Redis Cluster: every primary
// is read (at once), the counts are as exact as on one server, a sample
// takes its share from every primary, and nothing is touched.
func TestSurvey_Cluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cl := redistest.StartCluster(t, 3, 0)
	c := cl.Client(t)
	seedKeyspace(t, c, sizes{tickets: 6000, deals: 900, sessions: 400, users: 300})
	want := expected(t, c)
	select {
	case <-time.After(2100 * time.Millisecond): // idle times worth comparing
	case <-ctx.Done():
	}
	before := snapshot(t, c)
	idleBefore, err := redistest.IdleTimes(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := redisx.Dial(ctx, redisx.Options{URL: cl.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)

	t.Run("Exact", func(t *testing.T) {
		s := runSurvey(t, conn, Options{})
		if s.Target.Mode != "cluster" || s.Target.Nodes != 3 {
			t.Errorf("target %+v, want a cluster of 3", s.Target)
		}
		got := byPattern(s)
		if len(got) != len(want) {
			t.Errorf("%d patterns, want %d", len(got), len(want))
		}
		var keys int64
		for name, w := range want {
			keys += w.keys
			if p := got[name]; p.Keys != w.keys || p.WithTTL != w.withTTL || !equalMaps(p.Types, w.types) {
				t.Errorf("%s: %d keys, %d with a TTL, types %v; want %d, %d, %v", name, p.Keys, p.WithTTL, p.Types, w.keys, w.withTTL, w.types)
			}
		}
		if s.DBSize != keys || s.Keys != keys {
			t.Errorf("dbsize %d, keys %d, want %d", s.DBSize, s.Keys, keys)
		}
	})
	t.Run("Sample", func(t *testing.T) {
		s := runSurvey(t, conn, Options{Sample: 3000})
		if !s.Sampled || s.Scanned < 2900 || s.Scanned > 6000 {
			t.Fatalf("sampled %v, scanned %d: want about 3,000 over three primaries", s.Sampled, s.Scanned)
		}
		p, w := byPattern(s)["ticket:{ts}:{n}:{id}"], want["ticket:{ts}:{n}:{id}"]
		if e := math.Abs(float64(p.Keys-w.keys)) / float64(w.keys); e > 1.5*p.Margin {
			t.Errorf("tickets estimated %d, actually %d: beyond ±%.1f%%", p.Keys, w.keys, 100*p.Margin)
		}
	})
	t.Run("ReadOnly", func(t *testing.T) {
		if d := redistest.Diff(before, snapshot(t, c)); !d.Empty() {
			t.Errorf("the survey changed keys:\n%s", d)
		}
		idleAfter, err := redistest.IdleTimes(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		for k, was := range idleBefore {
			if now, ok := idleAfter[k]; ok && now < was {
				t.Errorf("%s: idle %d s before, %d s after", k, was, now)
				break
			}
		}
	})
}
