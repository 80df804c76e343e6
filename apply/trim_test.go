package apply

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/examples"
	"github.com/keyjob/keyjob/internal/batch"
	"github.com/keyjob/keyjob/internal/journal"
	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/jobs"
)

// trimJob is examples/trim-timelines.yaml with a small SCAN COUNT, so that
// a few dozen keys make several batches.
var trimJob = examples.MustJob("trim-timelines.yaml", "limits:\n  rate: unlimited\n  scan_count: 5\n")

// trimSecondsJob is the same job on sorted sets scored in seconds.
var trimSecondsJob = examples.MustJob("trim-timelines.yaml",
	"name: trim-timelines-s\n", "select:\n  match: \"tlsec:*\"\n  type: zset\n",
	"members:\n  score: { format: unix }\n  older_than: 30d\n", "limits:\n  rate: unlimited\n  scan_count: 5\n")

const day = 24 * time.Hour

// timelines is a seeded keyspace of sorted sets scored by time and keys of
// other types under the same prefix.
type timelines struct {
	zsets []string // every sorted set
	other []string // keys of other types under the prefixes
}

// seedTimelines writes sorted sets whose scores are times in ms
// (timeline:*) and in seconds (tlsec:*): small ones (listpack), ones past
// 128 members (skiplist), one all old (the trim empties it, and it has a
// TTL), one all new, one with a TTL, one scored in seconds under the ms
// prefix (a unit mistake: bad_timestamp), and a hash, a string, a list and a
// set under the same prefix. Scores stay at least a day from the cutoff.
func seedTimelines(t *testing.T, c rueidis.Client) timelines {
	t.Helper()
	now := serverNowMs(t, c)
	var s timelines
	var cmds rueidis.Commands
	zadd := func(key string, scores []float64) {
		s.zsets = append(s.zsets, key)
		for i := 0; i < len(scores); i += 500 {
			z := c.B().Zadd().Key(key).ScoreMember()
			for j := i; j < min(i+500, len(scores)); j++ {
				z = z.ScoreMember(scores[j], fmt.Sprintf("event:%d:%x", j, j*7919))
			}
			cmds = append(cmds, z.Build())
		}
	}
	ages := func(n int, old, young time.Duration, unit float64) []float64 {
		out := make([]float64, n)
		for i := range out {
			age := young + time.Duration(i)*(old-young)/time.Duration(max(n-1, 1))
			out[i] = float64(now-age.Milliseconds()) / unit
		}
		return out
	}
	for i := range 20 {
		n := []int{5, 40, 127, 200, 700}[i%5]
		// ages from 1 day to 200 days: about 110/199 older than 90d
		zadd(fmt.Sprintf("timeline:user:%d", i), ages(n, 200*day, day, 1))
	}
	zadd("timeline:all-old", ages(50, 300*day, 100*day, 1))
	cmds = append(cmds, c.B().Pexpire().Key("timeline:all-old").Milliseconds(int64(2*time.Hour/time.Millisecond)).Build())
	zadd("timeline:all-new", ages(30, 80*day, 0, 1))
	zadd("timeline:with-ttl", ages(300, 200*day, day, 1))
	cmds = append(cmds, c.B().Pexpire().Key("timeline:with-ttl").Milliseconds(int64(24*time.Hour/time.Millisecond)).Build())
	// A second-scored set under the ms prefix: read as ms its scores are
	// in 1970.
	zadd("timeline:seconds-by-mistake", ages(60, 200*day, day, 1000))
	// Fractional second scores, ms precision.
	for i := range 6 {
		zadd(fmt.Sprintf("tlsec:feed:%d", i), ages(90+i*40, 60*day, day/3, 1000))
	}
	s.other = []string{"timeline:profile", "timeline:counter", "timeline:queue", "timeline:tags", "tlsec:meta"}
	cmds = append(cmds,
		c.B().Hset().Key("timeline:profile").FieldValue().FieldValue("name", "x").Build(),
		c.B().Set().Key("timeline:counter").Value("17").Build(),
		c.B().Rpush().Key("timeline:queue").Element("a", "b").Build(),
		c.B().Sadd().Key("timeline:tags").Member("a", "b").Build(),
		c.B().Set().Key("tlsec:meta").Value("{}").Build(),
	)
	do(t, c, cmds...)
	return s
}

// zmembers reads a sorted set whole: member -> score.
func zmembers(t *testing.T, c rueidis.Client, key string) map[string]float64 {
	t.Helper()
	m, err := c.Do(context.Background(), c.B().Zrange().Key(key).Min("0").Max("-1").Withscores().Build()).AsZScores()
	if err != nil {
		t.Fatalf("ZRANGE %s: %v", key, err)
	}
	out := make(map[string]float64, len(m))
	for _, z := range m {
		out[z.Member] = z.Score
	}
	return out
}

// dumps reads every key's DUMP payload and absolute expiry.
func dumps(t *testing.T, c rueidis.Client, keys []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, k := range keys {
		d, err := c.Do(context.Background(), c.B().Dump().Key(k).Build()).ToString()
		if rueidis.IsRedisNil(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		at, err := c.Do(context.Background(), c.B().Pexpiretime().Key(k).Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		out[k] = strconv.FormatInt(at, 10) + ":" + d
	}
	return out
}

// expectTrim is what a trim with cutoff (ms) leaves of each sorted set:
// the members at or after the cutoff, every member of a set holding a
// score before 2000 (bad_timestamp), and no set left empty.
func expectTrim(before map[string]map[string]float64, job *jobs.Job, runStartMs int64) map[string]map[string]float64 {
	cutoff := float64(runStartMs - job.Members.OlderThan.Milliseconds())
	floor := float64(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
	if job.Members.ScoreFormat == jobs.FormatUnix {
		cutoff, floor = cutoff/1000, floor/1000
	}
	out := map[string]map[string]float64{}
	for k, ms := range before {
		bad := false
		for _, s := range ms {
			bad = bad || s < floor
		}
		keep := map[string]float64{}
		for m, s := range ms {
			if bad || s >= cutoff {
				keep[m] = s
			}
		}
		if len(keep) > 0 {
			out[k] = keep
		}
	}
	return out
}

func readSets(t *testing.T, c rueidis.Client, keys []string) map[string]map[string]float64 {
	t.Helper()
	out := map[string]map[string]float64{}
	for _, k := range keys {
		if m := zmembers(t, c, k); len(m) > 0 {
			out[k] = m
		}
	}
	return out
}

func assertSets(t *testing.T, what string, want, got map[string]map[string]float64) {
	t.Helper()
	for k, w := range want {
		g := got[k]
		if len(g) != len(w) {
			t.Errorf("%s: %s holds %d members, want %d", what, k, len(g), len(w))
			continue
		}
		for m, s := range w {
			if gs, ok := g[m]; !ok || gs != s {
				t.Errorf("%s: %s member %s = %v (%v), want %v", what, k, m, gs, ok, s)
				break
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: %s exists, want it gone", what, k)
		}
	}
}

// A members job removes exactly the members older than the cutoff fixed
// at the run's start, in sorted sets scored in ms and in seconds, leaves
// every other key as it was (other types under the prefix, a set scored
// in the wrong unit), counts what it did, and undo puts every set back
// DUMP-identical, expiry included (the set the trim emptied too).
// Every server of the matrix (KEYJOB_MATRIX, make test-matrix) runs it.
func TestMatrix_TrimMembers(t *testing.T) {
	for _, m := range redistest.Matrix(t) {
		t.Run(m.Name, func(t *testing.T) { testTrimMembers(t, m.Image) })
	}
}

func testTrimMembers(t *testing.T, image string) {
	srv, c := startRedis(t, redistest.Options{Image: image})
	set := seedTimelines(t, c)
	before := snapshot(t, c)
	beforeSets := readSets(t, c, set.zsets)
	beforeDumps := dumps(t, c, append(append([]string{}, set.zsets...), set.other...))

	state := t.TempDir()
	var reps []*Report
	var wantRemoved int64
	for _, text := range []string{trimJob, trimSecondsJob} {
		job := loadJob(t, text)
		rep := mustRun(t, dial(t, srv.URL), job, Options{StateDir: state})
		cp := loadCheckpoint(t, state, job.Name)
		want := expectTrim(beforeSets, job, cp.RunStartMs)
		var keys []string
		for k := range beforeSets {
			if (job.Name == "trim-timelines") == (k[:5] != "tlsec") {
				keys = append(keys, k)
			}
		}
		subset := map[string]map[string]float64{}
		for _, k := range keys {
			subset[k] = beforeSets[k]
		}
		want = expectTrim(subset, job, cp.RunStartMs)
		assertSets(t, job.Name, want, readSets(t, c, keys))
		var removed int64
		for _, k := range keys {
			removed += int64(len(subset[k]) - len(want[k]))
		}
		if rep.Outcomes.MembersRemoved != removed || removed == 0 {
			t.Errorf("%s: report says %d members removed, the sets lost %d", job.Name, rep.Outcomes.MembersRemoved, removed)
		}
		wantRemoved += removed
		t.Logf("%s: %+v, %d members removed", job.Name, rep.Outcomes, removed)
		reps = append(reps, rep)
	}
	r0 := reps[0].Outcomes
	if r0.Skip["bad_timestamp"] != 1 || r0.Skip["no_members"] != 1 || r0.Change != 22 {
		t.Errorf("ms job outcomes %+v: want 22 changed, 1 bad_timestamp (seconds by mistake), 1 no_members (all new)", r0)
	}
	// Nothing but the sorted sets changed.
	after := snapshot(t, c)
	for _, k := range set.other {
		if before[k] != after[k] {
			t.Errorf("%s changed: %+v -> %+v", k, before[k], after[k])
		}
	}
	if _, ok := after["timeline:all-old"]; ok {
		t.Errorf("timeline:all-old survived its trim")
	}
	if after["timeline:with-ttl"].ExpireAt != before["timeline:with-ttl"].ExpireAt {
		t.Errorf("the trim changed a set's expiry")
	}

	// Undo, newest run first, gives back every set DUMP-identical with its
	// expiry.
	for i := len(reps) - 1; i >= 0; i-- {
		u := undo(t, srv.URL, reps[i].Journal, UndoOptions{})
		if u.LeftAlone+u.Missing+u.Expired+u.Exists != 0 || u.Restored+u.Recreated != u.Changes {
			t.Errorf("undo %s: %+v", reps[i].Journal, u)
		}
	}
	assertSame(t, "after undo", before, snapshot(t, c))
	afterDumps := dumps(t, c, append(append([]string{}, set.zsets...), set.other...))
	for k, d := range beforeDumps {
		if afterDumps[k] != d {
			t.Errorf("%s: DUMP or expiry differs after undo", k)
		}
	}
	if len(afterDumps) != len(beforeDumps) {
		t.Errorf("%d keys after undo, %d before", len(afterDumps), len(beforeDumps))
	}
}

// A members run interrupted in the middle of a set (between two chunks),
// then resumed, ends where an uninterrupted run ends: the cutoff is the
// run's start's, so the resumed run removes the same members. Its journal,
// from both invocations, undoes to the original.
func TestResume_TrimMembers(t *testing.T) {
	srv, c := startRedis(t, redistest.Options{})
	set := seedTimelines(t, c)
	before := snapshot(t, c)
	beforeSets := readSets(t, c, set.zsets)
	beforeDumps := dumps(t, c, set.zsets)
	state := t.TempDir()
	job := loadJob(t, trimJob)

	// The 700-member sets take several chunks: stop at the 6th chunk.
	cp, rep := interruptResume(t, srv.URL, job, state, 6)
	var keys []string
	subset := map[string]map[string]float64{}
	for _, k := range set.zsets {
		if k[:5] != "tlsec" {
			keys = append(keys, k)
			subset[k] = beforeSets[k]
		}
	}
	want := expectTrim(subset, job, cp.RunStartMs)
	assertSets(t, "after the resume", want, readSets(t, c, keys))
	// The members removed before the interrupt count too, and the keys
	// trimmed then count as changed, not as no_members.
	var removed int64
	for k := range subset {
		removed += int64(len(subset[k]) - len(want[k]))
	}
	if o := rep.Outcomes; o.MembersRemoved != removed || o.Change != 22 || o.Skip["no_members"] != 1 || o.Skip["bad_timestamp"] != 1 {
		t.Errorf("after the resume: %+v, want 22 changed, 1 no_members, 1 bad_timestamp, %d members removed", o, removed)
	}

	u := undo(t, srv.URL, rep.Journal, UndoOptions{})
	if u.State != "whole" || u.Restored+u.Recreated != u.Changes {
		t.Errorf("undo: %+v", u)
	}
	assertSame(t, "after undo", before, snapshot(t, c))
	assertDumps(t, c, "after undo", beforeDumps, set.zsets)
}

// A sorted set of 100k members is trimmed in calls of a chunk each: the
// SLOWLOG shows the longest call (a figure, not an assertion: the machine
// is shared), and the journal holds every removed member.
func TestApply_TrimBigSet(t *testing.T) {
	srv, c := startRedis(t, redistest.Options{})
	// KEYJOB_TRIM_MEMBERS sets another size, for a figure (1000000).
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("KEYJOB_TRIM_MEMBERS")); err == nil && v >= 1000 {
		n = v / 1000 * 1000
	}
	now := serverNowMs(t, c)
	var cmds rueidis.Commands
	for i := 0; i < n; i += 1000 {
		z := c.B().Zadd().Key("timeline:big").ScoreMember()
		for j := i; j < i+1000; j++ {
			// ages spread over 180 days: about half older than 90d
			z = z.ScoreMember(float64(now-int64(j)*(180*day.Milliseconds())/int64(n)), fmt.Sprintf("post:%08d", j))
		}
		cmds = append(cmds, z.Build())
	}
	do(t, c, cmds...)
	before := dumps(t, c, []string{"timeline:big"})
	do(t, c, c.B().ConfigSet().ParameterValue().ParameterValue("slowlog-log-slower-than", "0").ParameterValue("slowlog-max-len", "1000000").Build(),
		c.B().SlowlogReset().Build())

	job := loadJob(t, trimJob)
	state := t.TempDir()
	began := time.Now()
	rep := mustRun(t, dial(t, srv.URL), job, Options{StateDir: state})
	took := time.Since(began)
	cp := loadCheckpoint(t, state, job.Name)
	cutoff := float64(cp.RunStartMs - (90 * day).Milliseconds())
	var wantLeft int64
	for j := 0; j < n; j++ {
		if float64(now-int64(j)*(180*day.Milliseconds())/int64(n)) >= cutoff {
			wantLeft++
		}
	}
	left, err := c.Do(context.Background(), c.B().Zcard().Key("timeline:big").Build()).AsInt64()
	if err != nil || left != wantLeft || rep.Outcomes.MembersRemoved != int64(n)-wantLeft {
		t.Errorf("%d members left (%v), want %d; report says %d removed", left, err, wantLeft, rep.Outcomes.MembersRemoved)
	}

	calls, maxUs, maxCmd, byCmd := slowest(t, c)
	t.Logf("%d-member set: %d members removed in %v; %d calls logged, the longest %d µs (%s); longest per command: %v; chunk %d",
		n, rep.Outcomes.MembersRemoved, took.Round(time.Millisecond), calls, maxUs, maxCmd, byCmd, batch.MembersChunk)
	do(t, c, c.B().SlowlogReset().Build())

	jr, err := journal.Open(rep.Journal)
	if err != nil {
		t.Fatal(err)
	}
	defer jr.Close()
	var journaled int
	if err := jr.Reverse(func(r journal.Record) error { journaled += len(r.Members); return nil }); err != nil {
		t.Fatal(err)
	}
	if int64(journaled) != rep.Outcomes.MembersRemoved {
		t.Errorf("journal holds %d members, %d were removed", journaled, rep.Outcomes.MembersRemoved)
	}
	u := undo(t, srv.URL, rep.Journal, UndoOptions{})
	calls, maxUs, maxCmd, byCmd = slowest(t, c)
	t.Logf("undo: %d calls logged, the longest %d µs (%s); longest per command: %v", calls, maxUs, maxCmd, byCmd)
	if after := dumps(t, c, []string{"timeline:big"}); after["timeline:big"] != before["timeline:big"] {
		t.Errorf("DUMP differs after undo (%+v)", u)
	}
}

// slowest reads the SLOWLOG (every call, with slowlog-log-slower-than 0)
// and gives the number of calls, the longest and the longest per command.
func slowest(t *testing.T, c rueidis.Client) (calls int, maxUs int64, maxCmd string, byCmd map[string]string) {
	t.Helper()
	all, err := redisx.SlowCalls(context.Background(), c, TrimScripts())
	if err != nil {
		t.Fatal(err)
	}
	byCmd = map[string]string{}
	for cmd, us := range all {
		calls += len(us)
		for _, u := range us {
			if u > maxUs {
				maxUs, maxCmd = u, cmd
			}
		}
	}
	for cmd, us := range all {
		slices.Sort(us)
		var sum int64
		for _, u := range us {
			sum += u
		}
		byCmd[cmd] = fmt.Sprintf("n=%d mean=%d p50=%d p99=%d max=%d", len(us), sum/int64(len(us)), us[len(us)/2], us[len(us)*99/100], us[len(us)-1])
	}
	return calls, maxUs, maxCmd, byCmd
}

// A sorted-set run stopped by --limit in the middle of a batch, then
// resumed, counts the sets an earlier invocation trimmed once.
func TestResume_TrimLimitZset(t *testing.T) {
	srv, c := startRedis(t, redistest.Options{})
	set := seedTimelines(t, c)
	beforeSets := readSets(t, c, set.zsets)
	state := t.TempDir()
	job := loadJob(t, trimJob)
	rep := runLimited(t, srv.URL, job, state)
	subset := map[string]map[string]float64{}
	for _, k := range set.zsets {
		if k[:5] != "tlsec" {
			subset[k] = beforeSets[k]
		}
	}
	want := expectTrim(subset, job, loadCheckpoint(t, state, job.Name).RunStartMs)
	var removed int64
	for k := range subset {
		removed += int64(len(subset[k]) - len(want[k]))
	}
	if o := rep.Outcomes; o.MembersRemoved != removed || o.Change != 22 || o.Skip["no_members"] != 1 || rep.Scanned != 24 {
		t.Errorf("after the resume: %d scanned, %+v; want 24 scanned, 22 changed, 1 no_members, %d members removed", rep.Scanned, o, removed)
	}
}
