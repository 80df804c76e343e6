package apply

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyjob/keyjob/examples"
	"github.com/keyjob/keyjob/internal/redistest"
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
