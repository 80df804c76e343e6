package apply

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/examples"
	"github.com/keyjob/keyjob/internal/commands"
	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/jobs"
	"github.com/keyjob/keyjob/planner"
)

// fieldsJob is examples/device-fields-ttl.yaml with a small SCAN COUNT, so
// that a few dozen hashes make several batches.
var fieldsJob = examples.MustJob("device-fields-ttl.yaml", "limits:\n  rate: unlimited\n  scan_count: 5\n")

// fieldsPersistJob removes the TTL of the seen: fields that have one;
// fieldsDeleteJob deletes the tmp: fields, keeping their values.
var (
	fieldsPersistJob = examples.MustJob("device-fields-ttl.yaml", "name: device-fields-persist\n",
		"fields:\n  match: \"seen:*\"\n  ttl: has\n", "action:\n  persist: {}\n", "limits:\n  rate: unlimited\n  scan_count: 5\n")
	fieldsDeleteJob = examples.MustJob("device-fields-ttl.yaml", "name: device-fields-delete\n",
		"fields:\n  match: \"tmp:*\"\n", "action:\n  delete: {}\n", "backup: dump\n", "limits:\n  rate: unlimited\n  scan_count: 5\n")
)

// devices is a seeded keyspace of hashes with mixed field names.
type devices struct {
	hashes []string
	other  []string // keys of other types under the prefix
}

// seedDevices writes hashes whose fields are named after a time
// (seen:<unix s>:<gateway>) with other fields beside them (tmp:*, name,
// seen: fields whose name holds no time, or a time in ms): small hashes
// (listpack), ones of 300 fields (hashtable, several HSCAN chunks), some
// fields with a TTL of their own already, one hash with a TTL, one with no
// seen: field, and keys of other types under the same prefix. Times stay
// days away from every boundary (30d after, the grace).
func seedDevices(t *testing.T, c rueidis.Client) devices {
	t.Helper()
	now := serverNowMs(t, c) / 1000
	var s devices
	var cmds rueidis.Commands
	for i := range 24 {
		key := fmt.Sprintf("devices:%d", i)
		s.hashes = append(s.hashes, key)
		n := []int{3, 20, 130, 300}[i%4]
		h := c.B().Hset().Key(key).FieldValue().FieldValue("name", fmt.Sprintf("device %d", i))
		var ttl []string
		for j := range n {
			age := int64(j%60+1) * 86400 // 1 to 60 days: past 30d, the grace
			f := fmt.Sprintf("seen:%d:gw%d", now-age, j)
			h = h.FieldValue(f, strconv.Itoa(j*31))
			if j%7 == 3 {
				ttl = append(ttl, f)
			}
			if j%10 == 0 {
				h = h.FieldValue(fmt.Sprintf("tmp:%d", j), "scratch")
			}
		}
		h = h.FieldValue("seen:none", "x").FieldValue(fmt.Sprintf("seen:%d:ms", now*1000), "y")
		cmds = append(cmds, h.Build())
		if len(ttl) > 0 {
			cmds = append(cmds, c.B().Arbitrary("HPEXPIRE").Keys(key).Args(append([]string{"86400", "FIELDS", strconv.Itoa(len(ttl))}, ttl...)...).Build())
		}
	}
	cmds = append(cmds,
		c.B().Hset().Key("devices:plain").FieldValue().FieldValue("name", "x").FieldValue("tmp:1", "y").Build(),
		c.B().Pexpire().Key("devices:3").Milliseconds(int64(3*day/time.Millisecond)).Build(),
		c.B().Set().Key("devices:str").Value("seen:1").Build(),
		c.B().Zadd().Key("devices:z").ScoreMember().ScoreMember(1, "seen:1:a").Build(),
		c.B().Rpush().Key("devices:l").Element("x").Build())
	s.hashes = append(s.hashes, "devices:plain")
	s.other = []string{"devices:str", "devices:z", "devices:l"}
	do(t, c, cmds...)
	return s
}

func readHashes(t *testing.T, c rueidis.Client, keys []string) map[string]map[string]redistest.Field {
	t.Helper()
	out := map[string]map[string]redistest.Field{}
	for _, k := range keys {
		out[k] = redistest.HashFields(t, c, k)
	}
	return out
}

// expectFields is what the job does to each field: the hashes before,
// decided as the run decides them at its start.
func expectFields(t *testing.T, before map[string]map[string]redistest.Field, job *jobs.Job, runStartMs int64) (want map[string]map[string]redistest.Field, changed int64) {
	t.Helper()
	start := time.UnixMilli(runStartMs).UTC()
	clock := jobs.Clock{Now: start, RunStart: start}
	want = map[string]map[string]redistest.Field{}
	for k, fs := range before {
		w := map[string]redistest.Field{}
		for name, f := range fs {
			jf := jobs.Field{Name: name, HasTTL: f.ExpireMs >= 0}
			if jf.HasTTL {
				jf.ExpireAt = time.UnixMilli(f.ExpireMs)
			}
			if !globMatch(job.Fields.Match, name) {
				w[name] = f
				continue
			}
			d := job.DecideField(jf, clock)
			if d.Outcome != jobs.Change {
				w[name] = f
				continue
			}
			changed++
			switch job.Action.Kind {
			case jobs.ActionExpire:
				w[name] = redistest.Field{Value: f.Value, ExpireMs: d.ExpireAt.UnixMilli()}
			case jobs.ActionPersist:
				w[name] = redistest.Field{Value: f.Value, ExpireMs: -1}
			}
		}
		if len(w) > 0 {
			want[k] = w
		}
	}
	return want, changed
}

// globMatch is the prefix globs the tests use ("seen:*", "tmp:*").
func globMatch(glob, name string) bool {
	p := glob[:len(glob)-1]
	return len(name) >= len(p) && name[:len(p)] == p
}

func assertHashes(t *testing.T, what string, want, got map[string]map[string]redistest.Field) {
	t.Helper()
	bad := 0
	for k, w := range want {
		g := got[k]
		if !maps.Equal(w, g) {
			for f, wf := range w {
				if gf, ok := g[f]; (!ok || gf != wf) && bad < 10 {
					bad++
					t.Errorf("%s: %s %s = %+v (present %v), want %+v", what, k, f, gf, ok, wf)
				}
			}
			for f, gf := range g {
				if _, ok := w[f]; !ok && bad < 10 {
					bad++
					t.Errorf("%s: %s %s = %+v, want no such field", what, k, f, gf)
				}
			}
			if bad == 0 {
				t.Errorf("%s: %s differs", what, k)
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok && len(got[k]) > 0 {
			t.Errorf("%s: %s exists, want it gone", what, k)
		}
	}
}

// assertOthers fails when a key other than the hashes' fields changed:
// the other types' keys, and every key's type and own expiry.
func assertOthers(t *testing.T, what string, s devices, before, after map[string]redistest.KeyState) {
	t.Helper()
	for _, k := range s.other {
		if before[k] != after[k] {
			t.Errorf("%s: %s changed: %+v -> %+v", what, k, before[k], after[k])
		}
	}
	for _, k := range s.hashes {
		if b, a := before[k], after[k]; a.Type != "" && (b.Type != a.Type || b.ExpireAt != a.ExpireAt) {
			t.Errorf("%s: %s's type or expiry changed: %+v -> %+v", what, k, b, a)
		}
	}
}

// On every server with hash-field expiry, each action of a fields job
// changes exactly the fields it selects, to exactly the expected expiry,
// and nothing else; undo, newest run first, gives back every field with
// its value and expiry (a hash's DUMP need not be byte-identical after it:
// the listpack's order and encoding change).
func TestApply_Fields(t *testing.T) {
	for _, m := range redistest.FieldServers(t) {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			testFields(t, m.Image)
		})
	}
}

func testFields(t *testing.T, image string) {
	srv, c := startRedis(t, redistest.Options{Image: image})
	set := seedDevices(t, c)
	before := snapshot(t, c)
	beforeHashes := readHashes(t, c, set.hashes)
	state := t.TempDir()
	var reps []*Report
	cur := beforeHashes
	for _, text := range []string{fieldsJob, fieldsPersistJob, fieldsDeleteJob} {
		job := loadJob(t, text)
		plan, err := planner.Build(context.Background(), dial(t, srv.URL), job, planner.Options{})
		if err != nil {
			t.Fatal(err)
		}
		rep := mustRun(t, dial(t, srv.URL), job, Options{StateDir: state})
		// The plan counts what the run then does.
		if f := plan.Fields; f.Change != rep.Outcomes.FieldsChanged || f.ChangeGrace != rep.Outcomes.FieldsGrace ||
			plan.Outcomes.Change != rep.Outcomes.Change || plan.Outcomes.Skip["no_fields"] != rep.Outcomes.Skip["no_fields"] {
			t.Errorf("%s: plan %+v %+v, run %+v", job.Name, plan.Outcomes, f, rep.Outcomes)
		}
		cp := loadCheckpoint(t, state, job.Name)
		want, changed := expectFields(t, cur, job, cp.RunStartMs)
		got := readHashes(t, c, set.hashes)
		assertHashes(t, job.Name, want, got)
		if rep.Outcomes.FieldsChanged != changed || changed == 0 {
			t.Errorf("%s: report says %d fields changed, want %d", job.Name, rep.Outcomes.FieldsChanged, changed)
		}
		assertOthers(t, job.Name, set, before, snapshot(t, c))
		t.Logf("%s: %+v", job.Name, rep.Outcomes)
		reps = append(reps, rep)
		cur = got
	}
	if o := reps[0].Outcomes; o.Change != 24 || o.Skip["no_fields"] != 1 || o.FieldsGrace == 0 {
		t.Errorf("expire outcomes %+v: want 24 hashes changed, devices:plain no_fields, some grace", o)
	}
	for i := len(reps) - 1; i >= 0; i-- {
		u := undo(t, srv.URL, reps[i].Journal, UndoOptions{})
		if u.LeftAlone+u.Missing+u.Expired+u.Exists != 0 || u.Restored != u.Changes {
			t.Errorf("undo %s: %+v", reps[i].Journal, u)
		}
	}
	assertHashes(t, "after undo", beforeHashes, readHashes(t, c, set.hashes))
	assertOthers(t, "after undo", set, before, snapshot(t, c))
}

// A fields job is refused before its first change on a server without
// hash-field expiry.
func TestApply_FieldsRefused(t *testing.T) {
	for _, m := range redistest.NoFieldServers(t) {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			srv, _ := startRedis(t, redistest.Options{Image: m.Image})
			_, err := Prepare(context.Background(), dial(t, srv.URL), loadJob(t, fieldsJob), Options{StateDir: t.TempDir()})
			var fe *commands.FieldExpiryError
			if !errors.As(err, &fe) {
				t.Fatalf("Prepare: %v, want the refusal of hash-field expiry", err)
			}
		})
	}
}

// With backup: dump an expire journals the values of its grace fields: a
// grace of 0s deletes them at the write (their expiry has passed), and
// undo adds them back with their values and expiries.
func TestApply_FieldsGraceDump(t *testing.T) {
	m := redistest.FieldServers(t)[0]
	srv, c := startRedis(t, redistest.Options{Image: m.Image})
	set := seedDevices(t, c)
	before := snapshot(t, c)
	beforeHashes := readHashes(t, c, set.hashes)
	job := loadJob(t, examples.MustJob("device-fields-ttl.yaml", "name: device-fields-grace\n",
		"action:\n  expire:\n    from: { capture: at, format: unix }\n    after: 30d\n    grace: 0s\n",
		"backup: dump\n", "limits:\n  rate: unlimited\n  scan_count: 5\n"))
	rep := mustRun(t, dial(t, srv.URL), job, Options{StateDir: t.TempDir()})
	var graceGone int
	for _, k := range set.hashes {
		now := redistest.HashFields(t, c, k)
		for f := range beforeHashes[k] {
			if _, ok := now[f]; !ok {
				graceGone++
			}
		}
	}
	if graceGone == 0 || int64(graceGone) != rep.Outcomes.FieldsGrace {
		t.Fatalf("%d fields gone, the report counts %d grace fields", graceGone, rep.Outcomes.FieldsGrace)
	}
	u := undo(t, srv.URL, rep.Journal, UndoOptions{})
	if u.Restored != u.Changes {
		t.Errorf("undo: %+v", u)
	}
	assertHashes(t, "after undo", beforeHashes, readHashes(t, c, set.hashes))
	assertOthers(t, "after undo", set, before, snapshot(t, c))
}
