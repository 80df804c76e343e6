package apply

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/examples"
	"github.com/keyjob/keyjob/internal/batch"
	"github.com/keyjob/keyjob/internal/checkpoint"
	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/jobs"
	"github.com/keyjob/keyjob/planner"
)

// streamJob is examples/trim-event-streams.yaml with a small SCAN COUNT, so
// that a few dozen keys make several batches.
var streamJob = examples.MustJob("trim-event-streams.yaml", "limits:\n  rate: unlimited\n  scan_count: 5\n")

// eventStreams is a seeded keyspace of streams whose IDs are times, and
// keys of other types under the same prefix.
type eventStreams struct {
	streams []string
	other   []string
}

// seedStreams writes streams under events:* whose entries are 1 to 20 days
// old: small ones (one listpack) and ones of several radix-tree nodes, one
// all old with a TTL (the trim empties it; the key stays), one all new, one
// with a TTL, one with IDs written by hand (1-1, 2-1, ...: bad_timestamp),
// one with a consumer group that has read some entries (undo must give its
// PEL back byte for byte), and a hash, a string, a list and a sorted set
// under the same prefix.
func seedStreams(t *testing.T, c rueidis.Client) eventStreams {
	t.Helper()
	now := serverNowMs(t, c)
	var s eventStreams
	var cmds rueidis.Commands
	xadd := func(key string, n int, old, young time.Duration) {
		s.streams = append(s.streams, key)
		for i := range n {
			age := old - time.Duration(i)*(old-young)/time.Duration(max(n-1, 1))
			if d := age - 7*day; d > -2*time.Hour && d < 2*time.Hour {
				// Hours from the cutoff: a plan and its apply, seconds
				// apart, select the same entries.
				age = 7*day + 2*time.Hour
			}
			// Several entries may share a millisecond: the sequence tells them apart.
			cmds = append(cmds, c.B().Xadd().Key(key).Id(fmt.Sprintf("%d-%d", now-age.Milliseconds(), i)).
				FieldValue().FieldValue("event", fmt.Sprintf("e%d", i)).FieldValue("n", fmt.Sprint(i*7919)).Build())
		}
	}
	for i := range 15 {
		xadd(fmt.Sprintf("events:user:%d", i), []int{5, 40, 127, 200, 700}[i%5], 20*day, day)
	}
	xadd("events:all-old", 60, 20*day, 10*day)
	cmds = append(cmds, c.B().Pexpire().Key("events:all-old").Milliseconds(int64(2*time.Hour/time.Millisecond)).Build())
	xadd("events:all-new", 30, 6*day, 0)
	xadd("events:with-ttl", 300, 20*day, day)
	cmds = append(cmds, c.B().Pexpire().Key("events:with-ttl").Milliseconds(int64(24*time.Hour/time.Millisecond)).Build())
	xadd("events:grouped", 250, 20*day, day)
	s.streams = append(s.streams, "events:by-hand")
	for i := 1; i <= 5; i++ {
		cmds = append(cmds, c.B().Xadd().Key("events:by-hand").Id(fmt.Sprintf("%d-1", i)).FieldValue().FieldValue("f", "v").Build())
	}
	s.other = []string{"events:profile", "events:counter", "events:queue", "events:scores"}
	cmds = append(cmds,
		c.B().XgroupCreate().Key("events:grouped").Group("workers").Id("0").Build(),
		c.B().Hset().Key("events:profile").FieldValue().FieldValue("name", "x").Build(),
		c.B().Set().Key("events:counter").Value("17").Build(),
		c.B().Rpush().Key("events:queue").Element("a", "b").Build(),
		c.B().Zadd().Key("events:scores").ScoreMember().ScoreMember(1, "a").Build(),
	)
	do(t, c, cmds...)
	do(t, c, c.B().Xreadgroup().Group("workers", "w1").Count(40).Streams().Key("events:grouped").Id(">").Build())
	return s
}

// streamIDs reads a stream's entry IDs whole (the test's own read).
func streamIDs(t *testing.T, c rueidis.Client, key string) []string {
	t.Helper()
	xs, err := c.Do(context.Background(), c.B().Xrange().Key(key).Start("-").End("+").Build()).AsXRange()
	if err != nil {
		t.Fatalf("XRANGE %s: %v", key, err)
	}
	ids := make([]string, len(xs))
	for i, x := range xs {
		ids[i] = x.ID
	}
	return ids
}

func readStreams(t *testing.T, c rueidis.Client, keys []string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, k := range keys {
		out[k] = streamIDs(t, c, k)
	}
	return out
}

// expectStreams is what a trim with the run's start leaves of each
// stream: the entries whose ID is at or after the cutoff ID, every entry
// of a stream whose oldest entry lies before 2000.
func expectStreams(before map[string][]string, job *jobs.Job, runStartMs int64) map[string][]string {
	rg := job.Members.StreamRange(time.UnixMilli(runStartMs))
	out := map[string][]string{}
	for k, ids := range before {
		keep := []string{}
		for _, id := range ids {
			if idMs(id) >= rg.CutoffMs || idMs(ids[0]) < rg.FloorMs {
				keep = append(keep, id)
			}
		}
		out[k] = keep
	}
	return out
}

func idMs(id string) int64 {
	var ms, seq int64
	fmt.Sscanf(id, "%d-%d", &ms, &seq)
	return ms
}

func assertStreams(t *testing.T, what string, want, got map[string][]string) {
	t.Helper()
	for k, w := range want {
		if fmt.Sprint(got[k]) != fmt.Sprint(w) {
			t.Errorf("%s: %s holds %d entries, want %d (%.80v, want %.80v)", what, k, len(got[k]), len(w), got[k], w)
		}
	}
}

// A stream members job removes exactly the entries whose ID is below the
// cutoff fixed at the run's start, leaves every other key as it was
// (other types under the prefix, a stream whose IDs are no times), counts
// what it did, and undo restores every stream DUMP-identical, expiry and
// consumer group included. Every server of the matrix (KEYJOB_MATRIX)
// runs it.
func TestMatrix_TrimStreams(t *testing.T) {
	for _, m := range redistest.Matrix(t) {
		t.Run(m.Name, func(t *testing.T) { testTrimStreams(t, m.Image) })
	}
}

func testTrimStreams(t *testing.T, image string) {
	srv, c := startRedis(t, redistest.Options{Image: image})
	set := seedStreams(t, c)
	all := append(append([]string{}, set.streams...), set.other...)
	before := snapshot(t, c)
	beforeIDs := readStreams(t, c, set.streams)
	beforeDumps := dumps(t, c, all)

	state := t.TempDir()
	job := loadJob(t, streamJob)
	rep := mustRun(t, dial(t, srv.URL), job, Options{StateDir: state})
	cp := loadCheckpoint(t, state, job.Name)
	want := expectStreams(beforeIDs, job, cp.RunStartMs)
	assertStreams(t, "after the trim", want, readStreams(t, c, set.streams))
	var removed int64
	for k := range beforeIDs {
		removed += int64(len(beforeIDs[k]) - len(want[k]))
	}
	o := rep.Outcomes
	if o.MembersRemoved != removed || removed == 0 {
		t.Errorf("report says %d entries removed, the streams lost %d", o.MembersRemoved, removed)
	}
	if o.Change != 18 || o.Skip["bad_timestamp"] != 1 || o.Skip["no_members"] != 1 {
		t.Errorf("outcomes %+v: want 18 changed, 1 bad_timestamp (IDs by hand), 1 no_members (all new)", o)
	}
	after := snapshot(t, c)
	for _, k := range set.other {
		if before[k] != after[k] {
			t.Errorf("%s changed: %+v -> %+v", k, before[k], after[k])
		}
	}
	if a := after["events:all-old"]; a.Type != "stream" || a.ExpireAt != before["events:all-old"].ExpireAt {
		t.Errorf("events:all-old after its trim: %+v, want an empty stream with its TTL", a)
	}
	if after["events:with-ttl"].ExpireAt != before["events:with-ttl"].ExpireAt {
		t.Errorf("the trim changed a stream's expiry")
	}
	t.Logf("%+v, %d entries removed", o, removed)

	u := undo(t, srv.URL, rep.Journal, UndoOptions{})
	if u.LeftAlone+u.Missing+u.Expired+u.Exists != 0 || u.Recreated != u.Changes || u.Changes == 0 {
		t.Errorf("undo: %+v", u)
	}
	assertSame(t, "after undo", before, snapshot(t, c))
	afterDumps := dumps(t, c, all)
	for k, d := range beforeDumps {
		if afterDumps[k] != d {
			t.Errorf("%s: DUMP or expiry differs after undo", k)
		}
	}
}

// Undo leaves alone a stream written since the trim (an entry added, one
// removed by someone else, entries read by a consumer group), and reports
// it; with --replace it
// restores it as it was before the trim. A stream nobody wrote is
// restored either way.
func TestUndo_TrimStreamsWrittenSince(t *testing.T) {
	srv, c := startRedis(t, redistest.Options{})
	set := seedStreams(t, c)
	beforeDumps := dumps(t, c, set.streams)
	state := t.TempDir()
	rep := mustRun(t, dial(t, srv.URL), loadJob(t, streamJob), Options{StateDir: state})

	// Written since: one gets a new entry, one loses one more entry, and
	// a consumer group reads on in a third.
	do(t, c, c.B().Xadd().Key("events:user:4").Id("*").FieldValue().FieldValue("f", "new").Build())
	left := streamIDs(t, c, "events:user:3")
	do(t, c, c.B().Xdel().Key("events:user:3").Id(left[len(left)-1]).Build())
	do(t, c, c.B().Xreadgroup().Group("workers", "w2").Count(5).Streams().Key("events:grouped").Id(">").Build())
	written := map[string]bool{"events:user:4": true, "events:user:3": true, "events:grouped": true}
	trimmed := dumps(t, c, set.streams)

	u := undo(t, srv.URL, rep.Journal, UndoOptions{})
	if u.LeftAlone == 0 || u.Recreated == 0 || u.LeftAlone+u.Recreated != u.Changes {
		t.Errorf("undo: %+v, want the three streams written since left alone", u)
	}
	now := dumps(t, c, set.streams)
	for _, k := range set.streams {
		switch {
		case written[k] && now[k] != trimmed[k]:
			t.Errorf("%s was written since the trim, and undo changed it", k)
		case !written[k] && now[k] != beforeDumps[k]:
			t.Errorf("%s: DUMP or expiry differs after undo", k)
		}
	}
	var stillWritten int64
	for k := range written {
		if now[k] != beforeDumps[k] {
			stillWritten++
		}
	}
	if stillWritten != 3 {
		t.Errorf("%d of the streams written since differ from before the trim, want 3", stillWritten)
	}

	u = undo(t, srv.URL, rep.Journal, UndoOptions{Replace: true})
	if u.LeftAlone != 0 || u.Recreated != u.Changes {
		t.Errorf("undo --replace: %+v", u)
	}
	assertDumps(t, c, "after undo --replace", beforeDumps, set.streams)
}

// A stream run interrupted in the middle of a stream (between two chunks),
// then resumed later, ends where an uninterrupted run ends (the cutoff is
// the run's start's) and counts every stream and entry once; its journal,
// from both invocations (two dumps of the stream cut in the middle), undoes
// to the original.
func TestResume_TrimStreams(t *testing.T) {
	srv, c := startRedis(t, redistest.Options{})
	set := seedStreams(t, c)
	before := snapshot(t, c)
	beforeIDs := readStreams(t, c, set.streams)
	beforeDumps := dumps(t, c, set.streams)
	state := t.TempDir()
	job := loadJob(t, streamJob)

	cp, rep := interruptResume(t, srv.URL, job, state, 9)
	assertTrimmedOnce(t, c, rep, set, beforeIDs, job, cp.RunStartMs)
	u := undo(t, srv.URL, rep.Journal, UndoOptions{})
	if u.State != "whole" || u.Recreated != u.Changes {
		t.Errorf("undo: %+v", u)
	}
	assertSame(t, "after undo", before, snapshot(t, c))
	assertDumps(t, c, "after undo", beforeDumps, set.streams)
}

// assertTrimmedOnce checks the streams hold exactly the entries at or
// after the cutoff and the report counts each stream and entry once.
func assertTrimmedOnce(t *testing.T, c rueidis.Client, rep *Report, set eventStreams, beforeIDs map[string][]string, job *jobs.Job, runStartMs int64) {
	t.Helper()
	want := expectStreams(beforeIDs, job, runStartMs)
	assertStreams(t, "after the resume", want, readStreams(t, c, set.streams))
	var removed int64
	for k := range beforeIDs {
		removed += int64(len(beforeIDs[k]) - len(want[k]))
	}
	if o := rep.Outcomes; o.MembersRemoved != removed || o.Change != 18 || o.Skip["no_members"] != 1 || o.Skip["bad_timestamp"] != 1 || rep.Scanned != 20 {
		t.Errorf("after the resume: %d scanned, %+v; want 20 scanned, 18 changed, 1 no_members, 1 bad_timestamp, %d entries removed", rep.Scanned, o, removed)
	}
}

// A run stopped by --limit in the middle of a batch, then resumed, counts
// the streams an earlier invocation trimmed once: they are changes, not
// no_members found on the next pass.
func TestResume_TrimLimit(t *testing.T) {
	srv, c := startRedis(t, redistest.Options{})
	set := seedStreams(t, c)
	beforeIDs := readStreams(t, c, set.streams)
	state := t.TempDir()
	job := loadJob(t, streamJob)
	rep := runLimited(t, srv.URL, job, state)
	assertTrimmedOnce(t, c, rep, set, beforeIDs, job, loadCheckpoint(t, state, job.Name).RunStartMs)
}

// runLimited runs job with --limit 2, resumed until it completes, and
// fails t unless some invocation stopped in the middle of a batch (its
// checkpoint keeps the keys changed beyond the cursor in Ahead): that is
// the case the resume must count right.
func runLimited(t *testing.T, url string, job *jobs.Job, state string) *Report {
	t.Helper()
	midBatch := false
	for i := 0; i < 40; i++ {
		rep := mustRun(t, dial(t, url), job, Options{StateDir: state, Limit: 2, Resume: i > 0})
		t.Logf("invocation %d: completed %v scanned %d %+v stopped %q", i, rep.Completed, rep.Scanned, rep.Outcomes, rep.Stopped)
		if rep.Completed {
			if !midBatch {
				t.Fatal("no invocation stopped in the middle of a batch: the test proves nothing")
			}
			return rep
		}
		for _, n := range loadCheckpoint(t, state, job.Name).Nodes {
			midBatch = midBatch || len(n.Ahead) > 0
		}
	}
	t.Fatal("not completed after 40 invocations of --limit 2")
	return nil
}

// interruptResume runs job until the n-th chunk is about to be sent,
// interrupts it there (as Ctrl-C), and resumes it a second later, when the
// cutoff of a new run would have moved. It returns the checkpoint of the
// interrupted run and the report of the resumed one.
func interruptResume(t *testing.T, url string, job *jobs.Job, state string, n int) (*checkpoint.Checkpoint, *Report) {
	t.Helper()
	_, err := execute(interruptAfter(t, n), t, dial(t, url), job, Options{StateDir: state}, Exec{}, &logBuffer{})
	if !errors.Is(err, errInterrupted) {
		t.Fatalf("err = %v, want interrupted", err)
	}
	cp := loadCheckpoint(t, state, job.Name)
	if cp.Completed {
		t.Fatal("completed after an interrupt")
	}
	time.Sleep(1100 * time.Millisecond)
	setHook(t, nil)
	rep, err := runJob(t, dial(t, url), job, Options{StateDir: state, Resume: true})
	if err != nil || !rep.Completed || !rep.Resumed {
		t.Fatalf("resume: %v, %+v", err, rep)
	}
	if cp2 := loadCheckpoint(t, state, job.Name); cp2.RunStartMs != cp.RunStartMs {
		t.Fatalf("the resumed run's start moved: %d, was %d", cp2.RunStartMs, cp.RunStartMs)
	}
	return cp, rep
}

// TestPlanEqualsApply_Streams: the plan of a stream trim counts what its
// apply does, on a standalone server and on a cluster: the same keys
// changed and skipped, and the entries it selects are the entries removed;
// undo then restores every stream DUMP-identical.
func TestPlanEqualsApply_Streams(t *testing.T) {
	check := func(t *testing.T, url string, c rueidis.Client) {
		set := seedStreams(t, c)
		beforeDumps := dumps(t, c, set.streams)
		job := loadJob(t, streamJob)
		conn := dial(t, url)
		plan, err := planner.Build(context.Background(), conn, job, planner.Options{})
		if err != nil {
			t.Fatalf("plan: %v", err)
		}
		rep := mustRun(t, conn, job, Options{StateDir: t.TempDir()})
		if plan.Members == nil || plan.Members.Selected != rep.Outcomes.MembersRemoved || plan.Outcomes.Change != rep.Outcomes.Change || plan.Scanned != rep.Scanned {
			t.Errorf("plan: %d scanned, %+v, members %+v; apply: %d scanned, %+v", plan.Scanned, plan.Outcomes, plan.Members, rep.Scanned, rep.Outcomes)
		}
		for _, o := range append(planner.SkipOrder, string(jobs.SkipNoMembers), string(jobs.Gone), string(jobs.ChangedSinceScan)) {
			if got, want := rep.Outcomes.Skip[o], plan.Outcomes.Skip[o]; got != want {
				t.Errorf("%s: report %d, plan %d", o, got, want)
			}
		}
		// Undo puts every stream back, on each node of a cluster too.
		if u := undo(t, url, rep.Journal, UndoOptions{}); u.Recreated != u.Changes || u.Changes == 0 {
			t.Errorf("undo: %+v", u)
		}
		assertDumps(t, c, "after undo", beforeDumps, set.streams)
	}
	t.Run("Standalone", func(t *testing.T) {
		srv, c := startRedis(t, redistest.Options{})
		check(t, srv.URL, c)
	})
	t.Run("Cluster", func(t *testing.T) {
		cl := redistest.StartCluster(t, 3, 0)
		check(t, cl.URL, cl.Client(t))
	})
}

// A user whose ACL refuses XDEL (or XINFO GROUPS, for the snapshot) gets
// a refusal naming it before any change: the stream trim is checked with its other commands at the start,
// not found out at the first chunk.
func TestApply_TrimStreamsRefusedWithoutXDEL(t *testing.T) {
	srv, c := startRedis(t, redistest.Options{})
	set := seedStreams(t, c)
	before, beforeDumps := snapshot(t, c), dumps(t, c, set.streams)
	for _, cmd := range []string{"xdel", "xinfo|groups"} {
		args := []string{"ACL", "SETUSER", "trimmer", "reset", "on", ">pw", "~*", "+@all", "-" + cmd}
		do(t, c, c.B().Arbitrary(args...).Build())
		url := strings.Replace(srv.URL, "redis://", "redis://trimmer:pw@", 1)
		_, err := Prepare(context.Background(), dial(t, url), loadJob(t, streamJob), Options{StateDir: t.TempDir()})
		var missing *redisx.MissingError
		if want := strings.ToUpper(strings.ReplaceAll(cmd, "|", " ")); !errors.As(err, &missing) || !strings.Contains(err.Error(), want) {
			t.Fatalf("without %s: %v, want a refusal naming it", want, err)
		}
	}
	assertSame(t, "after the refusal", before, snapshot(t, c))
	assertDumps(t, c, "after a refused run", beforeDumps, set.streams)
}

// A stream larger than backup.max_dump_size is not dumped, so not trimmed
// (too_big_to_backup), and the smaller ones are, as the plan said; undo
// restores those.
func TestApply_TrimStreamsTooBig(t *testing.T) {
	srv, c := startRedis(t, redistest.Options{})
	set := seedStreams(t, c)
	beforeIDs, beforeDumps := readStreams(t, c, set.streams), dumps(t, c, set.streams)
	const limit = 20 << 10
	mem := map[string]int64{}
	for _, k := range set.streams {
		n, err := c.Do(context.Background(), c.B().MemoryUsage().Key(k).Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		mem[k] = n
	}
	job := loadJob(t, examples.MustJob("trim-event-streams.yaml", "backup:\n  mode: dump\n  max_dump_size: 20KiB\n", "limits:\n  rate: unlimited\n  scan_count: 5\n"))
	plan, err := planner.Build(context.Background(), dial(t, srv.URL), job, planner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep := mustRun(t, dial(t, srv.URL), job, Options{StateDir: t.TempDir()})
	if p, a := plan.Outcomes.Skip["too_big_to_backup"], rep.Outcomes.Skip["too_big_to_backup"]; p != a || plan.Members.Selected != rep.Outcomes.MembersRemoved {
		t.Errorf("plan: %d too big, %d entries selected; apply: %d too big, %d removed", p, plan.Members.Selected, a, rep.Outcomes.MembersRemoved)
	}
	var big, trimmed int64
	for _, k := range set.streams {
		after := streamIDs(t, c, k)
		switch {
		case mem[k] > limit && k != "events:all-new" && k != "events:by-hand":
			big++
			if len(after) != len(beforeIDs[k]) {
				t.Errorf("%s (%d bytes) was trimmed past max_dump_size", k, mem[k])
			}
		case len(after) < len(beforeIDs[k]):
			trimmed++
		}
	}
	if big == 0 || trimmed == 0 || rep.Outcomes.Skip["too_big_to_backup"] != big || rep.Outcomes.Change != trimmed {
		t.Errorf("%d streams too big, %d trimmed; report %+v", big, trimmed, rep.Outcomes)
	}
	u := undo(t, srv.URL, rep.Journal, UndoOptions{})
	if u.Recreated != u.Changes {
		t.Errorf("undo: %+v", u)
	}
	assertDumps(t, c, "after undo", beforeDumps, set.streams)
}

// assertDumps checks each of keys has the DUMP payload and expiry it had
// (want, from dumps).
func assertDumps(t *testing.T, c rueidis.Client, what string, want map[string]string, keys []string) {
	t.Helper()
	for k, d := range dumps(t, c, keys) {
		if want[k] != d {
			t.Errorf("%s: DUMP or expiry differs: %s", k, what)
		}
	}
}

// A stream of 100k entries (KEYJOB_TRIM_MEMBERS sets another size, for a
// figure: 1000000) is trimmed in calls of a chunk each: the SLOWLOG shows
// each script's mean and slowest call, the DUMP of the snapshot included
// (a figure, not an assertion: the machine is shared). backup.max_dump_size
// is raised so the stream is dumped; undo restores it DUMP-identical.
func TestApply_TrimBigStream(t *testing.T) {
	srv, c := startRedis(t, redistest.Options{})
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("KEYJOB_TRIM_MEMBERS")); err == nil && v >= 1000 {
		n = v / 1000 * 1000
	}
	now := serverNowMs(t, c)
	span := (14 * day).Milliseconds() // ages over 14 days: about half older than 7d
	var cmds rueidis.Commands
	for j := 0; j < n; j++ {
		ms := now - span + int64(j)*span/int64(n)
		cmds = append(cmds, c.B().Xadd().Key("events:big").Id(fmt.Sprintf("%d-%d", ms, j)).FieldValue().FieldValue("post", fmt.Sprintf("%08d", j)).Build())
		if len(cmds) == 10000 {
			do(t, c, cmds...)
			cmds = cmds[:0]
		}
	}
	do(t, c, cmds...)
	before := dumps(t, c, []string{"events:big"})
	size, _ := c.Do(context.Background(), c.B().MemoryUsage().Key("events:big").Build()).AsInt64()
	t.Logf("%d-entry stream: MEMORY USAGE %d bytes, DUMP %d bytes (backup.max_dump_size is 16MiB by default)", n, size, len(before["events:big"]))
	do(t, c, c.B().ConfigSet().ParameterValue().ParameterValue("slowlog-log-slower-than", "0").ParameterValue("slowlog-max-len", "1000000").Build(),
		c.B().SlowlogReset().Build())

	job := loadJob(t, examples.MustJob("trim-event-streams.yaml", "backup:\n  mode: dump\n  max_dump_size: 1GiB\n", "limits:\n  rate: unlimited\n"))
	state := t.TempDir()
	began := time.Now()
	rep := mustRun(t, dial(t, srv.URL), job, Options{StateDir: state})
	took := time.Since(began)
	cutoff := loadCheckpoint(t, state, job.Name).RunStartMs - (7 * day).Milliseconds()
	var wantLeft int64
	for j := 0; j < n; j++ {
		if now-span+int64(j)*span/int64(n) >= cutoff {
			wantLeft++
		}
	}
	left, err := c.Do(context.Background(), c.B().Xlen().Key("events:big").Build()).AsInt64()
	if err != nil || left != wantLeft || rep.Outcomes.MembersRemoved != int64(n)-wantLeft {
		t.Errorf("%d entries left (%v), want %d; report says %d removed", left, err, wantLeft, rep.Outcomes.MembersRemoved)
	}
	calls, maxUs, maxCmd, byCmd := slowest(t, c)
	t.Logf("%d-entry stream: %d entries removed in %v; %d calls logged, the longest %d µs (%s); per command: %v; chunk %d",
		n, rep.Outcomes.MembersRemoved, took.Round(time.Millisecond), calls, maxUs, maxCmd, byCmd, batch.MembersChunk)
	do(t, c, c.B().SlowlogReset().Build())
	u := undo(t, srv.URL, rep.Journal, UndoOptions{})
	calls, maxUs, maxCmd, byCmd = slowest(t, c)
	t.Logf("undo: %d calls logged, the longest %d µs (%s); per command: %v", calls, maxUs, maxCmd, byCmd)
	assertDumps(t, c, fmt.Sprintf("after undo (%+v)", u), before, []string{"events:big"})
}
