package survey

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/jobs"
	"github.com/keyjob/keyjob/planner"
)

// insideTruth is what the seeded keyspace holds inside its keys, as the
// seeding wrote it (the survey must find the same).
type insideTruth struct {
	devices, volatileHashes, volatileFields, seenFields int64
	timelineAges, secAges, streamAges                   []int64 // seconds, of each key's oldest member
	timelines, secs, leaders, streams, emptyStreams     int64
	timelineSizes                                       []int64
}

const day = 24 * 3600

// seedInside writes, all under a few prefixes: device hashes whose field
// names carry a unix time (seen:{ts}:{n}) beside plain fields, every
// third with one field given a TTL of its own where the server has
// hash-field expiry; config hashes with plain field names; sorted sets
// scored in unix ms and in unix seconds, of several ages, and one scored
// by counts; streams of several ages and one emptied; strings under the
// streams' prefix.
func seedInside(t *testing.T, c rueidis.Client, nowMS int64, fieldTTL bool) insideTruth {
	t.Helper()
	ctx := context.Background()
	var tr insideTruth
	var cmds rueidis.Commands
	add := func(args ...string) { cmds = append(cmds, c.B().Arbitrary(args...).Build()) }
	now := nowMS / 1000
	for i := range 60 {
		key := fmt.Sprintf("devices:%d", 100+i)
		args := []string{"HSET", key, "name", "d" + strconv.Itoa(i), "model", "x1"}
		var first string
		for j := range 3 {
			f := fmt.Sprintf("seen:%d:%d", now-int64((i+j)*3600), j)
			if j == 0 {
				first = f
			}
			args = append(args, f, "1")
			tr.seenFields++
		}
		add(args...)
		tr.devices++
		if fieldTTL && i%3 == 0 {
			add("HPEXPIRE", key, "86400000", "FIELDS", "1", first)
			tr.volatileHashes++
			tr.volatileFields++
		}
	}
	for i := range 20 {
		add("HSET", fmt.Sprintf("cfg:%d", i), "a", "1", "b", "2", "c", "3")
	}
	for i := range 40 {
		key := fmt.Sprintf("timeline:%d", i)
		n := 3 + i%5
		oldest := int64(5+i) * day
		for j := range n {
			at := nowMS - oldest*1000 + int64(j)*60_000
			add("ZADD", key, strconv.FormatInt(at, 10), "m"+strconv.Itoa(j))
		}
		tr.timelines++
		tr.timelineAges = append(tr.timelineAges, oldest)
		tr.timelineSizes = append(tr.timelineSizes, int64(n))
	}
	for i := range 20 {
		key := fmt.Sprintf("tlsec:%d", i)
		oldest := int64(100+i) * day
		add("ZADD", key, strconv.FormatInt(now-oldest, 10), "a", strconv.FormatInt(now-3600, 10), "b")
		tr.secs++
		tr.secAges = append(tr.secAges, oldest)
	}
	for i := range 10 {
		add("ZADD", fmt.Sprintf("leader:%d", i), "1", "a", "250", "b")
		tr.leaders++
	}
	for i := range 15 {
		key := fmt.Sprintf("events:%d", i)
		oldest := int64(1+i) * day
		for j := range 4 {
			add("XADD", key, fmt.Sprintf("%d-0", nowMS-oldest*1000+int64(j)*1000), "f", "v")
		}
		tr.streams++
		tr.streamAges = append(tr.streamAges, oldest)
	}
	add("XADD", "events:99", "*", "f", "v")
	add("XTRIM", "events:99", "MAXLEN", "0")
	tr.streams++
	tr.emptyStreams++
	for i := range 5 {
		add("SET", fmt.Sprintf("events:%d", 900+i), "not a stream")
	}
	for _, r := range c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

// TestMatrix_SurveyInside compares what a survey reads inside keys with
// what the seeding wrote, on every server of the matrix: all of it where
// CLIENT NO-TOUCH keeps the reads from touching the keys (field TTLs only
// where the server has hash-field expiry, else a note), nothing on
// Redis 7.0, with a note saying why. Either way nothing is touched.
func TestMatrix_SurveyInside(t *testing.T) { redistest.OnMatrix(t, testSurveyInside) }

func testSurveyInside(t *testing.T, image string) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{Image: image})
	c := srv.Client(t)
	conn := dial(t, srv)
	nowMS, err := redisx.ServerTime(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	hfe := conn.Caps.HashFieldExpiry()
	truth := seedInside(t, c, nowMS.UnixMilli(), hfe)
	s := surveyUntouched(t, c, conn)
	got := byPattern(s)

	if !conn.NoTouch() {
		if s.InsideRead || !hasCode(s.Notes, NoteInsideNotRead) {
			t.Errorf("without NO-TOUCH: inside read %v, notes %v; want not read, and said so", s.InsideRead, s.Notes)
		}
		for _, p := range s.Patterns {
			if p.Inside != nil {
				t.Errorf("%s: inside %+v read without NO-TOUCH", p.Pattern, p.Inside)
			}
		}
		return
	}
	if !s.InsideRead || hasCode(s.Notes, NoteInsideNotRead) {
		t.Fatalf("under NO-TOUCH: inside read %v, notes %v", s.InsideRead, s.Notes)
	}
	if got, want := hasCode(s.Notes, NoteFieldExpiryUnsupported), !hfe; got != want {
		t.Errorf("note %s: %v, want %v (hash-field expiry %v)", NoteFieldExpiryUnsupported, got, want, hfe)
	}

	t.Run("Hashes", func(t *testing.T) {
		h := got["devices:{n}"].Inside.hashes(t)
		if h.Read != truth.devices || h.FieldsRead != 5*truth.devices || h.WithTimestampFields != truth.devices || h.TimestampFields != truth.seenFields {
			t.Errorf("devices: %+v; want %d hashes, %d fields, all with %d timestamped fields", h, truth.devices, 5*truth.devices, truth.seenFields)
		}
		if len(h.FieldPatterns) != 1 {
			t.Fatalf("field patterns %+v, want seen:{ts}:{n}", h.FieldPatterns)
		}
		fp := h.FieldPatterns[0]
		if fp.Pattern != "seen:{ts}:{n}" || fp.Fields != truth.seenFields || fp.Match != "seen:*" || fp.Regex != `^seen:(?P<ts>\d{10}):(?P<n1>\d+)$` ||
			!slices.Equal(fp.TimestampParts, []TimestampPart{{Position: 1, Format: FormatUnix, Capture: "ts"}}) {
			t.Errorf("field pattern %+v", fp)
		}
		switch {
		case hfe && (h.WithVolatileFields == nil || *h.WithVolatileFields != truth.volatileHashes || *h.VolatileFields != truth.volatileFields ||
			fp.WithTTL == nil || *fp.WithTTL != truth.volatileFields):
			t.Errorf("volatile fields: hashes %v, fields %v, of the pattern %v; want %d, %d, %d",
				deref(h.WithVolatileFields), deref(h.VolatileFields), deref(fp.WithTTL), truth.volatileHashes, truth.volatileFields, truth.volatileFields)
		case !hfe && (h.WithVolatileFields != nil || fp.WithTTL != nil):
			t.Errorf("field TTLs read on a server without hash-field expiry")
		}
		cfg := got["cfg:{n}"].Inside.hashes(t)
		if cfg.Read != 20 || cfg.WithTimestampFields != 0 || len(cfg.FieldPatterns) != 0 || hfe && deref(cfg.WithVolatileFields) != int64(0) {
			t.Errorf("cfg: %+v; want 20 hashes without a time or a TTL in their fields", cfg)
		}
	})
	t.Run("ZSets", func(t *testing.T) {
		checkZ := func(pattern, format string, n int64, ages, sizes []int64) {
			z := got[pattern].Inside.zsets(t)
			if z.Read != n || z.ScoreFormat != format || (format != "") != (z.TimeScored == n) {
				t.Errorf("%s: %+v; want %d sets, format %q", pattern, z, n, format)
			}
			if sizes != nil {
				p50, _ := quantile(sizes, 0.5)
				if z.MembersP50 != p50 || z.MembersMax != slices.Max(sizes) {
					t.Errorf("%s: members p50 %d max %d, want %d, %d", pattern, z.MembersP50, z.MembersMax, p50, slices.Max(sizes))
				}
			}
			if ages == nil {
				if z.OldestAgeSeconds != nil {
					t.Errorf("%s: oldest age %+v of sets not scored by time", pattern, z.OldestAgeSeconds)
				}
				return
			}
			checkAges(t, pattern, z.OldestAgeSeconds, ages)
		}
		checkZ("timeline:{n}", FormatUnixMS, truth.timelines, truth.timelineAges, truth.timelineSizes)
		checkZ("tlsec:{n}", FormatUnix, truth.secs, truth.secAges, nil)
		checkZ("leader:{n}", "", truth.leaders, nil, nil)
	})
	t.Run("Streams", func(t *testing.T) {
		p := got["events:{n}"]
		x := p.Inside.streams(t)
		if p.Types["string"] != 5 || x.Read != truth.streams || x.Empty != truth.emptyStreams || x.EntriesMax != 4 || x.EntriesP50 != 4 {
			t.Errorf("events: types %v, %+v; want %d streams read (one empty) of 4 entries beside 5 strings", p.Types, x, truth.streams)
		}
		checkAges(t, "events:{n}", x.OldestAgeSeconds, truth.streamAges)
	})
	// The trim jobs suggested for the sorted sets plan as the seeding
	// says: the timelines (5 to 44 days old) hold no member older than
	// the placeholder's 90 days, the sets scored in seconds (100 days
	// and more) each hold one.
	t.Run("Suggestions", func(t *testing.T) {
		used := map[string]bool{}
		for _, tc := range []struct {
			pattern           string
			change, noMembers int64
		}{{"timeline:{n}", 0, truth.timelines}, {"tlsec:{n}", truth.secs, 0}} {
			ss := insideSuggestions(s, got[tc.pattern], used)
			if len(ss) != 1 || ss[0].Kind != SuggestMembers {
				t.Errorf("%s: suggestions %+v, want one members job", tc.pattern, ss)
				continue
			}
			job, err := jobs.Parse(ss[0].Name+".yaml", ss[0].Data)
			if err != nil {
				t.Fatalf("%v\n%s", err, ss[0].Data)
			}
			p, err := planner.Build(ctx, conn, job, planner.Options{ScanRate: jobs.Unlimited})
			if err != nil {
				t.Fatal(err)
			}
			if p.Outcomes.Change != tc.change || p.Outcomes.Skip[string(jobs.SkipNoMembers)] != tc.noMembers || len(p.Errors) > 0 {
				t.Errorf("%s: plan changes %d, no_members %d, errors %v; want %d, %d\n%s", tc.pattern, p.Outcomes.Change,
					p.Outcomes.Skip[string(jobs.SkipNoMembers)], p.Errors, tc.change, tc.noMembers, ss[0].Data)
			}
		}
	})
	for _, name := range []string{"devices:{n}", "cfg:{n}"} {
		if in := got[name].Inside; in.ZSets != nil || in.Streams != nil {
			t.Errorf("%s: inside %+v, want hashes only", name, in)
		}
	}
}

// surveyUntouched runs a survey on the keyspace seedInside wrote and
// checks it changed nothing: the digest, every key, and every idle time
// (none went down; the keys are first left idle long enough that a
// touch shows).
func surveyUntouched(t *testing.T, c rueidis.Client, conn *redisx.Conn) *Survey {
	t.Helper()
	ctx := context.Background()
	for _, k := range []string{"devices:100", "timeline:0", "events:0"} {
		if err := redistest.WaitIdle(ctx, c, k, 2); err != nil {
			t.Fatal(err)
		}
	}
	before, err := redistest.ReadState(ctx, c, true)
	if err != nil {
		t.Fatal(err)
	}
	s := runSurvey(t, conn, Options{})
	after, err := redistest.ReadState(ctx, c, true)
	if err != nil {
		t.Fatal(err)
	}
	if touched := before.Touched(after); len(touched) > 0 {
		t.Errorf("the survey touched the keyspace:\n%s", strings.Join(touched, "\n"))
	}
	return s
}

// checkAges compares an age spread with the ages seeded: the survey's
// clock is a little later than the seeding's, never earlier.
func checkAges(t *testing.T, what string, got *AgeSpread, ages []int64) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: no oldest age", what)
		return
	}
	p50, _ := quantile(ages, 0.5)
	near := func(g, w int64) bool { return g >= w && g <= w+600 }
	if !near(got.P50, p50) || !near(got.Max, slices.Max(ages)) {
		t.Errorf("%s: oldest age p50 %d s, max %d s; want %d and %d", what, got.P50, got.Max, p50, slices.Max(ages))
	}
}

func (in *Inside) hashes(t *testing.T) *HashInside {
	t.Helper()
	if in == nil || in.Hashes == nil {
		t.Fatalf("no hashes read inside: %+v", in)
	}
	return in.Hashes
}

func (in *Inside) zsets(t *testing.T) *ZSetInside {
	t.Helper()
	if in == nil || in.ZSets == nil {
		t.Fatalf("no sorted sets read inside: %+v", in)
	}
	return in.ZSets
}

func (in *Inside) streams(t *testing.T) *StreamInside {
	t.Helper()
	if in == nil || in.Streams == nil {
		t.Fatalf("no streams read inside: %+v", in)
	}
	return in.Streams
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestMatrix_SurveyInsideNamedUser: a least-privilege user is never
// asked about CLIENT NO-TOUCH at the dial (a denial would land in ACL
// LOG), so the survey reads nothing inside keys, and its note says why.
func TestMatrix_SurveyInsideNamedUser(t *testing.T) { redistest.OnMatrix(t, testSurveyInsideNamedUser) }

func testSurveyInsideNamedUser(t *testing.T, image string) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{Image: image})
	c := srv.Client(t)
	seedInside(t, c, time.Now().UnixMilli(), false)
	rules := "+scan +pttl +pexpiretime +object|idletime +memory|usage +type +info +time +config|get +ping +client|setname +hello +select " +
		"+hrandfield +zcard +zrange +xlen +xrange"
	if dial(t, srv).Caps.NoTouch() {
		rules += " +client|no-touch" // granted, and still not sent
	}
	args := append([]string{"ACL", "SETUSER", "surveyor", "on", ">pw", "resetkeys", "~*", "resetchannels", "-@all"}, strings.Fields(rules)...)
	if err := c.Do(ctx, c.B().Arbitrary(args...).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	conn, err := redisx.Dial(ctx, redisx.Options{URL: strings.Replace(srv.URL, "redis://", "redis://surveyor:pw@", 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	s := runSurvey(t, conn, Options{})
	var note string
	for _, m := range s.Notes {
		if m.Code == NoteInsideNotRead {
			note = m.Message
		}
	}
	if s.InsideRead || note == "" {
		t.Fatalf("inside read %v, notes %v: want not read, and said so", s.InsideRead, s.Notes)
	}
	if conn.Caps.NoTouch() && !strings.Contains(note, "surveyor") || !conn.Caps.NoTouch() && !strings.Contains(note, "has no CLIENT NO-TOUCH") {
		t.Errorf("note %q does not say why", note)
	}
	for _, p := range s.Patterns {
		if p.Inside != nil {
			t.Errorf("%s read inside", p.Pattern)
		}
	}
}

// TestMatrix_SurveyInsideLFU: under an LFU policy, reading inside keys
// leaves their access counters (OBJECT FREQ) as they were: a touch would
// raise a new key's counter at once.
func TestMatrix_SurveyInsideLFU(t *testing.T) {
	redistest.OnMatrix(t, func(t *testing.T, image string) {
		srv := redistest.Start(t, redistest.Options{Image: image, MaxMemory: "256mb", Policy: "allkeys-lfu"})
		c := srv.Client(t)
		conn := dial(t, srv)
		truth := seedInside(t, c, time.Now().UnixMilli(), conn.Caps.HashFieldExpiry())
		before := freqs(t, c)
		s := runSurvey(t, conn, Options{})
		after := freqs(t, c)
		for k, f := range before {
			if after[k] > f {
				t.Errorf("%s: OBJECT FREQ %d before the survey, %d after: the survey touched it", k, f, after[k])
			}
		}
		if conn.NoTouch() {
			if h := byPattern(s)["devices:{n}"].Inside.hashes(t); h.Read != truth.devices {
				t.Errorf("devices read inside: %d, want %d", h.Read, truth.devices)
			}
		} else if s.InsideRead {
			t.Errorf("inside read without NO-TOUCH")
		}
	})
}

// freqs reads OBJECT FREQ of every key.
func freqs(t *testing.T, c rueidis.Client) map[string]int64 {
	t.Helper()
	snap, err := redistest.Snapshot(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	var cmds rueidis.Commands
	for k := range snap {
		keys = append(keys, k)
		cmds = append(cmds, c.B().ObjectFreq().Key(k).Build())
	}
	out := map[string]int64{}
	for i, r := range c.DoMulti(context.Background(), cmds...) {
		n, err := r.AsInt64()
		if err != nil {
			t.Fatalf("OBJECT FREQ %s: %v", keys[i], err)
		}
		out[keys[i]] = n
	}
	return out
}

// TestMatrix_SurveyInsideCluster: on a cluster of three primaries every
// primary's keys are read inside (each through its own node client, under
// NO-TOUCH), and the figures add up as on one server.
func TestMatrix_SurveyInsideCluster(t *testing.T) {
	redistest.OnMatrix(t, func(t *testing.T, image string) {
		ctx := context.Background()
		cl := redistest.StartClusterOn(t, image, 3, 0)
		c := cl.Client(t)
		conn, err := redisx.Dial(ctx, redisx.Options{URL: cl.URL})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(conn.Close)
		hfe := conn.Caps.HashFieldExpiry()
		truth := seedInside(t, c, time.Now().UnixMilli(), hfe)
		s := surveyUntouched(t, c, conn)
		if !conn.NoTouch() {
			if s.InsideRead || !hasCode(s.Notes, NoteInsideNotRead) {
				t.Errorf("inside read %v, notes %v without NO-TOUCH", s.InsideRead, s.Notes)
			}
			return
		}
		got := byPattern(s)
		h := got["devices:{n}"].Inside.hashes(t)
		if h.Read != truth.devices || h.TimestampFields != truth.seenFields || hfe && deref(h.VolatileFields) != truth.volatileFields {
			t.Errorf("devices: %+v (volatile %v); want %d hashes, %d timed fields, %d with a TTL", h, deref(h.VolatileFields), truth.devices, truth.seenFields, truth.volatileFields)
		}
		if z := got["timeline:{n}"].Inside.zsets(t); z.Read != truth.timelines || z.ScoreFormat != FormatUnixMS {
			t.Errorf("timelines: %+v", z)
		}
		if x := got["events:{n}"].Inside.streams(t); x.Read != truth.streams || x.Empty != truth.emptyStreams {
			t.Errorf("streams: %+v", x)
		}
	})
}

// TestMatrix_SurveyInsideRenamed: a command renamed away (a managed
// service) leaves its part of what is inside keys unread, and a note
// says which; the rest is read.
func TestMatrix_SurveyInsideRenamed(t *testing.T) {
	redistest.OnMatrix(t, func(t *testing.T, image string) {
		srv := redistest.Start(t, redistest.Options{Image: image, Args: redistest.RenameAway("HRANDFIELD", "XLEN")})
		c := srv.Client(t)
		conn := dial(t, srv)
		truth := seedInside(t, c, time.Now().UnixMilli(), false)
		s := runSurvey(t, conn, Options{})
		if !conn.NoTouch() {
			if !hasCode(s.Notes, NoteInsideNotRead) {
				t.Errorf("notes %v, want %s", s.Notes, NoteInsideNotRead)
			}
			return
		}
		for _, code := range []string{NoteHashFieldsUnknown, NoteStreamEntriesUnknown} {
			if !hasCode(s.Notes, code) {
				t.Errorf("notes %v, want %s", s.Notes, code)
			}
		}
		got := byPattern(s)
		if in := got["devices:{n}"].Inside; in != nil {
			t.Errorf("hashes read without HRANDFIELD: %+v", in)
		}
		if in := got["events:{n}"].Inside; in != nil {
			t.Errorf("streams read without XLEN: %+v", in)
		}
		if z := got["timeline:{n}"].Inside.zsets(t); z.Read != truth.timelines {
			t.Errorf("timelines read %d, want %d", z.Read, truth.timelines)
		}
	})
}
