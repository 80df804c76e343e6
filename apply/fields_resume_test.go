package apply

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/examples"
	"github.com/keyjob/keyjob/internal/batch"
	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/jobs"
	"github.com/keyjob/keyjob/planner"
)

// A fields run interrupted in the middle of a hash (between two chunks),
// then resumed, ends where an uninterrupted run ends: the fields it had
// changed are no longer selected, the rest get the same expiries (the
// run's start is the checkpoint's). Its journal, from both invocations,
// undoes to the original.
func TestResume_Fields(t *testing.T) {
	for _, m := range redistest.FieldServers(t) {
		t.Run(m.Name, func(t *testing.T) {
			srv, c := startRedis(t, redistest.Options{Image: m.Image})
			set := seedDevices(t, c)
			before := snapshot(t, c)
			beforeHashes := readHashes(t, c, set.hashes)
			state := t.TempDir()
			job := loadJob(t, fieldsJob)

			// The 300-field hashes take several chunks: stop at the 7th.
			_, err := execute(interruptAfter(t, 7), t, dial(t, srv.URL), job, Options{StateDir: state}, Exec{}, &logBuffer{})
			if !errors.Is(err, errInterrupted) {
				t.Fatalf("err = %v, want interrupted", err)
			}
			cp := loadCheckpoint(t, state, job.Name)
			if cp.Completed {
				t.Fatal("completed after an interrupt")
			}
			time.Sleep(1100 * time.Millisecond) // the resume must not move the run's start
			setHook(t, nil)
			rep, err := runJob(t, dial(t, srv.URL), job, Options{StateDir: state, Resume: true})
			if err != nil || !rep.Completed || !rep.Resumed {
				t.Fatalf("resume: %v, %+v", err, rep)
			}
			if cp2 := loadCheckpoint(t, state, job.Name); cp2.RunStartMs != cp.RunStartMs {
				t.Fatalf("the resumed run's start moved: %d, was %d", cp2.RunStartMs, cp.RunStartMs)
			}
			want, _ := expectFields(t, beforeHashes, job, cp.RunStartMs)
			assertHashes(t, "after the resume", want, readHashes(t, c, set.hashes))
			assertOthers(t, "after the resume", set, before, snapshot(t, c))

			u := undo(t, srv.URL, rep.Journal, UndoOptions{})
			if u.State != "whole" || u.Restored != u.Changes {
				t.Errorf("undo: %+v", u)
			}
			assertHashes(t, "after undo", beforeHashes, readHashes(t, c, set.hashes))
		})
	}
}

// Another client writes while the run goes: every field of a hash given
// a TTL of its own between keyjob's read and its write keeps it
// (HPEXPIREAT NX: the chunk being sent changes nothing, and the hash
// counts as changed_since_scan), a field deleted stays deleted, and undo
// leaves them alone.
func TestApply_FieldsConcurrentWriter(t *testing.T) {
	for _, m := range redistest.FieldServers(t) {
		t.Run(m.Name, func(t *testing.T) {
			srv, c := startRedis(t, redistest.Options{Image: m.Image})
			set := seedDevices(t, c)
			beforeHashes := readHashes(t, c, set.hashes)
			job := loadJob(t, fieldsJob)
			const key = "devices:2" // 130 fields: two chunks
			var theirs []string
			for f, v := range beforeHashes[key] {
				if strings.HasPrefix(f, "seen:") && v.ExpireMs < 0 {
					theirs = append(theirs, f)
				}
			}
			gone := theirs[0]
			theirs = theirs[1:]
			var once sync.Once
			writerAt := serverNowMs(t, c) + int64(5*time.Hour/time.Millisecond)
			setHook(t, func(keys []string) {
				if keys[0] != key {
					return
				}
				once.Do(func() {
					args := append([]string{strconv.FormatInt(writerAt, 10), "FIELDS", strconv.Itoa(len(theirs))}, theirs...)
					do(t, c, c.B().Arbitrary("HPEXPIREAT").Keys(key).Args(args...).Build(), c.B().Hdel().Key(key).Field(gone).Build())
				})
			})
			rep := mustRun(t, dial(t, srv.URL), job, Options{StateDir: t.TempDir()})
			setHook(t, nil)
			if rep.Outcomes.Skip["changed_since_scan"] != 1 || rep.Outcomes.Change != 23 {
				t.Errorf("outcomes %+v: want %s changed_since_scan, 23 hashes changed", rep.Outcomes, key)
			}
			check := func(what string) {
				t.Helper()
				got := redistest.HashFields(t, c, key)
				for _, f := range theirs {
					if got[f].ExpireMs != writerAt {
						t.Errorf("%s: %s expiry %d, want the other client's %d", what, f, got[f].ExpireMs, writerAt)
					}
				}
				if _, ok := got[gone]; ok {
					t.Errorf("%s: %s, deleted by the other client, is back", what, gone)
				}
			}
			check("after the run")
			undo(t, srv.URL, rep.Journal, UndoOptions{})
			check("after undo")
		})
	}
}

// Field timestamps in the wrong unit (seconds read as milliseconds land
// in 1970) abort the run once more than 1% of 100 or more are bad, and
// undo puts back what it changed before.
func TestApply_FieldsUnitMistake(t *testing.T) {
	m := redistest.FieldServers(t)[0]
	srv, c := startRedis(t, redistest.Options{Image: m.Image})
	set := seedDevices(t, c)
	beforeHashes := readHashes(t, c, set.hashes)
	job := loadJob(t, examples.MustJob("device-fields-ttl.yaml", "name: device-fields-ms\n",
		"fields:\n  match: \"seen:*\"\n  regex: '^seen:(?P<at>\\d+):'\n  ttl: none\n",
		"action:\n  expire:\n    from: { capture: at, format: unix_ms }\n    after: 30d\n",
		"limits:\n  rate: unlimited\n  scan_count: 5\n"))
	rep, err := runJob(t, dial(t, srv.URL), job, Options{StateDir: t.TempDir()})
	var ab *AbortError
	if !errors.As(err, &ab) || ab.Guard != "bad_timestamp" || !strings.Contains(ab.Reason, "unix_ms") {
		t.Fatalf("run: %v, want the bad_timestamp abort", err)
	}
	if rep != nil && rep.Journal != "" {
		undo(t, srv.URL, rep.Journal, UndoOptions{})
		assertHashes(t, "after undo", beforeHashes, readHashes(t, c, set.hashes))
	}
}

// On a cluster each hash's fields are walked and written through the
// client that routes by slot; the end state and undo are as standalone.
func TestApply_FieldsCluster(t *testing.T) {
	m := redistest.FieldServers(t)[0]
	t.Parallel()
	cl := redistest.StartClusterOn(t, m.Image, 3, 0)
	c := cl.Client(t)
	set := seedDevices(t, c)
	before := snapshot(t, c)
	beforeHashes := readHashes(t, c, set.hashes)
	state := t.TempDir()
	job := loadJob(t, fieldsJob)
	plan, err := planner.Build(context.Background(), dial(t, cl.URL), job, planner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := &logBuffer{}
	rep, err := execute(context.Background(), t, dial(t, cl.URL), job, Options{StateDir: state}, Exec{}, log)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, log)
	}
	if plan.Fields.Change != rep.Outcomes.FieldsChanged || plan.Outcomes.Change != rep.Outcomes.Change {
		t.Errorf("cluster plan %+v %+v, run %+v", plan.Outcomes, plan.Fields, rep.Outcomes)
	}
	cp := loadCheckpoint(t, state, job.Name)
	want, changed := expectFields(t, beforeHashes, job, cp.RunStartMs)
	assertHashes(t, "cluster", want, readHashes(t, c, set.hashes))
	if rep.Outcomes.FieldsChanged != changed || len(rep.Nodes) != 3 {
		t.Errorf("report: %d fields changed on %d nodes, want %d on 3", rep.Outcomes.FieldsChanged, len(rep.Nodes), changed)
	}
	assertOthers(t, "cluster", set, before, snapshot(t, c))
	undo(t, cl.URL, rep.Journal, UndoOptions{})
	assertHashes(t, "cluster after undo", beforeHashes, readHashes(t, c, set.hashes))
}

// A fields run cut between a chunk's send and its batch's commit, once or
// twice, then resumed to the end, reports what an uninterrupted run
// reports: the fields changed before each cut (journaled, not in the
// checkpoint) are counted from the journal, once, with their grace, and
// their hashes as changed, not as no_fields. The truth is the plan made
// before the run, and the fields whose state the run changed. Expire and
// persist are cut in the middle of a hash of several chunks; delete
// (a chunk a hash) walks all the hashes in one batch, cut between two.
func TestResume_FieldsCounts(t *testing.T) {
	m := redistest.FieldServers(t)[0]
	deleteOneBatch := strings.Replace(fieldsDeleteJob, "scan_count: 5", "scan_count: 100", 1)
	for _, kills := range [][]int{{2}, {2, 3}} {
		t.Run(fmt.Sprintf("%d kills", len(kills)), func(t *testing.T) {
			srv, c := startRedis(t, redistest.Options{Image: m.Image})
			set := seedDevices(t, c)
			state := t.TempDir()
			cur := readHashes(t, c, set.hashes)
			for _, text := range []string{fieldsJob, fieldsPersistJob, deleteOneBatch} {
				cur = cutAndResume(t, srv.URL, c, set, state, cur, loadJob(t, text), kills)
			}
		})
	}
}

// On a cluster the shards' walks are cut together; each node's read-back
// counts its own batches.
func TestResume_FieldsCountsCluster(t *testing.T) {
	m := redistest.FieldServers(t)[0]
	cl := redistest.StartClusterOn(t, m.Image, 3, 0)
	c := cl.Client(t)
	set := seedDevices(t, c)
	cur := readHashes(t, c, set.hashes)
	cutAndResume(t, cl.URL, c, set, t.TempDir(), cur, loadJob(t, fieldsJob), []int{2, 4})
}

// cutAndResume runs job cut at each of kills (interruptInside), resumes
// it to the end, checks its report against the plan made before and the
// keyspace, and returns the hashes after it.
func cutAndResume(t *testing.T, url string, c rueidis.Client, set devices, state string, cur map[string]map[string]redistest.Field, job *jobs.Job, kills []int) map[string]map[string]redistest.Field {
	t.Helper()
	plan, err := planner.Build(context.Background(), dial(t, url), job, planner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	many := func(key string) bool { // a hash of several chunks, or any in one batch
		n := 0
		for name, f := range cur[key] {
			jf := jobs.Field{Name: name, HasTTL: f.ExpireMs >= 0, ExpireAt: time.UnixMilli(f.ExpireMs)}
			if globMatch(job.Fields.Match, name) && job.DecideField(jf, jobs.Clock{Now: now, RunStart: now}).Outcome == jobs.Change {
				n++
			}
		}
		return n > batch.FieldsChunk || job.Limits.ScanCount == 100
	}
	for i, at := range kills {
		_, err := execute(interruptInside(t, at, many), t, dial(t, url), job, Options{StateDir: state, Resume: i > 0}, Exec{}, &logBuffer{})
		if !errors.Is(err, errInterrupted) {
			t.Fatalf("%s, cut %d: err = %v, want interrupted", job.Name, i+1, err)
		}
		// The cut left changes the checkpoint does not count: what the
		// resume must count from the journal.
		cp := loadCheckpoint(t, state, job.Name)
		if done := changedFields(cur, readHashes(t, c, set.hashes)); done <= cp.Counts[fieldsChanged] {
			t.Fatalf("%s, cut %d: %d fields changed, the checkpoint counts %d: the cut was not inside a batch", job.Name, i+1, done, cp.Counts[fieldsChanged])
		}
	}
	setHook(t, nil)
	rep, err := runJob(t, dial(t, url), job, Options{StateDir: state, Resume: true})
	if err != nil || !rep.Completed {
		t.Fatalf("%s: resume: %v, %+v", job.Name, err, rep)
	}
	got := readHashes(t, c, set.hashes)
	if f := plan.Fields; rep.Outcomes.FieldsChanged != f.Change || rep.Outcomes.FieldsGrace != f.ChangeGrace ||
		rep.Outcomes.Change != plan.Outcomes.Change || rep.Outcomes.Skip["no_fields"] != plan.Outcomes.Skip["no_fields"] {
		t.Errorf("%s: resumed run %+v, plan %+v %+v", job.Name, rep.Outcomes, plan.Outcomes, f)
	}
	if done := changedFields(cur, got); rep.Outcomes.FieldsChanged != done || done == 0 {
		t.Errorf("%s: report says %d fields changed, the keyspace %d", job.Name, rep.Outcomes.FieldsChanged, done)
	}
	cp := loadCheckpoint(t, state, job.Name)
	want, _ := expectFields(t, cur, job, cp.RunStartMs)
	assertHashes(t, job.Name, want, got)
	if job.Action.Kind == jobs.ActionExpire && rep.Outcomes.FieldsGrace == 0 {
		t.Errorf("%s: no grace field: the test does not test fields_grace", job.Name)
	}
	t.Logf("%s: %+v", job.Name, rep.Outcomes)
	return got
}

// interruptInside cancels the run at the first chunk sent of the n-th
// hash that many says is walked in more than that chunk's batch.
func interruptInside(t *testing.T, n int, many func(key string) bool) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var mu sync.Mutex // a cluster's shards send at once
	seen := map[string]bool{}
	setHook(t, func(keys []string) {
		mu.Lock()
		defer mu.Unlock()
		if k := keys[0]; many(k) && !seen[k] {
			if seen[k] = true; len(seen) == n {
				cancel()
			}
		}
	})
	return ctx
}

// changedFields counts the fields whose expiry or presence differs
// between two readings of the hashes.
func changedFields(before, after map[string]map[string]redistest.Field) int64 {
	var n int64
	for k, fs := range before {
		for name, f := range fs {
			if g, ok := after[k][name]; !ok || g.ExpireMs != f.ExpireMs {
				n++
			}
		}
	}
	return n
}

// A server restarted in the middle of a fields run is rescanned from the
// start: every journaled field in the state keyjob set is counted once,
// its hash as changed, and the rescan counts neither again.
func TestApply_FieldsRestartMidRunCountsOnce(t *testing.T) {
	m := redistest.FieldServers(t)[0]
	srv, c := startRedis(t, redistest.Options{Image: m.Image, AOF: true})
	seedDevices(t, c)
	job := loadJob(t, fieldsJob)
	plan, err := planner.Build(context.Background(), dial(t, srv.URL), job, planner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	px := newProxy(t, srv.Addr)
	rep, log := runAcrossRestart(t, srv, px, job, Options{StateDir: t.TempDir()}, 20)
	if !rep.Completed || !strings.Contains(log.String(), "restart") {
		t.Fatalf("completed %v; the log does not say the server restarted:\n%s", rep.Completed, log.String())
	}
	if f := plan.Fields; rep.Outcomes.FieldsChanged != f.Change || rep.Outcomes.FieldsGrace != f.ChangeGrace ||
		rep.Outcomes.Change != plan.Outcomes.Change || rep.Outcomes.Skip["no_fields"] != plan.Outcomes.Skip["no_fields"] {
		t.Errorf("across a restart: %+v, plan %+v %+v", rep.Outcomes, plan.Outcomes, f)
	}
}
