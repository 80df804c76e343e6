package apply

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyjob/keyjob/internal/journal"
	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/redisx"
)

// The ticket story's job: every ticket without a TTL gets exactly the
// expiry its name implies (or the grace TTL), and nothing else changes,
// byte for byte and expiry for expiry (docs/safety.md, promise 2).
func TestApply_TicketTTLBackfill(t *testing.T) {
	srv, c := startRedis(t, redistest.Options{})
	set := seedTickets(t, c, 600)
	before := snapshot(t, c)
	vals := values(t, c, set.selected())
	state := t.TempDir()

	job := loadJob(t, ticketJob)
	rep := mustRun(t, dial(t, srv.URL), job, Options{StateDir: state})
	cp := loadCheckpoint(t, state, job.Name)

	after := snapshot(t, c)
	assertChanges(t, "after the ticket job", c, before, after, vals, expectTickets(t, set, cp.RunStartMs))
	// The same, said independently of the snapshot helper's expectation.
	for _, k := range set.future {
		want := issuedOf(t, k).Add(year).UnixMilli()
		if got := after[k].ExpireAt; got < want-1000 || got > want+1000 {
			t.Fatalf("%s expires at %d, want issued + 365d = %d", k, got, want)
		}
	}

	if !cp.Completed || !rep.Completed {
		t.Errorf("completed: checkpoint %v, report %v; want both true", cp.Completed, rep.Completed)
	}
	if got, want := rep.Outcomes.Change, int64(len(set.future)+len(set.expired)); got != want {
		t.Errorf("report: change = %d, want %d", got, want)
	}
	if got, want := rep.Outcomes.ChangeGrace, int64(len(set.expired)); got != want {
		t.Errorf("report: change_grace = %d, want %d", got, want)
	}
	wantSkips := map[string]int64{"ttl": int64(len(set.withTTL)), "regex": 3, "bad_timestamp": 2, "gone": 0, "changed_since_scan": 0}
	for k, want := range wantSkips {
		if got := rep.Outcomes.Skip[k]; got != want {
			t.Errorf("report: skip %s = %d, want %d", k, got, want)
		}
	}
	if got, want := rep.Scanned, int64(len(set.future)+len(set.expired)+len(set.withTTL)+5); got != want {
		t.Errorf("report: scanned = %d, want %d (the string tickets SCAN TYPE returns)", got, want)
	}

	// The report's JSON on disk says the same.
	jp, _ := rep.Paths(state)
	var onDisk Report
	b, err := os.ReadFile(jp)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &onDisk); err != nil {
		t.Fatal(err)
	}
	if !onDisk.Completed || onDisk.Outcomes.Change != rep.Outcomes.Change || onDisk.Journal == "" || onDisk.Backup != "journal" {
		t.Errorf("report %s: completed %v, change %d, journal %q, backup %q", jp, onDisk.Completed, onDisk.Outcomes.Change, onDisk.Journal, onDisk.Backup)
	}

	// The journal holds one record per change, with the previous state,
	// and is private (it can hold data).
	fi, err := os.Stat(cp.Journal)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("journal mode %v, want 0600", fi.Mode().Perm())
	}
	jr, err := journal.Open(cp.Journal)
	if err != nil {
		t.Fatal(err)
	}
	defer jr.Close()
	// Under EXPIRE NX no TTL is read first: a key that had one is
	// journaled too, then marked unchanged after its batch (newest first,
	// the mark comes before the record it voids).
	n, voided := int64(0), map[string]int{}
	err = jr.Reverse(func(r journal.Record) error {
		if r.Action == journal.ActionUnchanged {
			voided[r.Key]++
			return nil
		}
		if voided[r.Key] > 0 {
			voided[r.Key]--
			if before[r.Key].ExpireAt < 0 {
				t.Errorf("journal voids %s, which had no TTL", r.Key)
			}
			return nil
		}
		n++
		if r.PrevExpireMs != journal.NoExpire || r.Action != journal.ActionExpire || r.NewExpireMs != after[r.Key].ExpireAt {
			t.Errorf("journal record %+v: want prev none, expire, new = %d", r, after[r.Key].ExpireAt)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != rep.Outcomes.Change {
		t.Errorf("journal has %d records, want %d", n, rep.Outcomes.Change)
	}

	// A second run of the same job finds nothing left to change.
	rep2 := mustRun(t, dial(t, srv.URL), job, Options{StateDir: state, Restart: true})
	if rep2.Outcomes.Change != 0 {
		t.Errorf("a second run changed %d keys, want 0", rep2.Outcomes.Change)
	}
	assertSame(t, "after a second run", after, snapshot(t, c))
}

// A key given a TTL, or deleted, between SCAN and its change is skipped
// and counted: the conditions are re-checked by the server at the moment
// of the change (EXPIRE NX natively; the guarded script otherwise).
func TestApply_ChangedBetweenScanAndChange(t *testing.T) {
	// NX is the whole TTL check here, with no read before the write: a TTL
	// given after SCAN counts with the TTLs that were there before, under
	// ttl; the key deleted after SCAN is gone. With select.type the check
	// is made by the guarded script, which tells them apart itself;
	// without, the write is PEXPIREAT NX, whose 0 means a TTL or a key
	// gone, and the keys it left alone are told apart after the batch.
	for _, tc := range []struct{ name, job string }{
		{"ExpireNX", ticketJob},
		{"ExpireNXNative", strings.Replace(ticketJob, "  type: string\n", "", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, c := startRedis(t, redistest.Options{})
			set := seedTickets(t, c, 200)
			ctx := context.Background()
			var touched, deleted string
			setHook(t, func(keys []string) {
				if touched != "" || len(keys) < 2 {
					return
				}
				// Keys that had a TTL are sent too (NX is the check):
				// pick two that had none.
				var fresh []string
				for _, k := range keys {
					if !slices.Contains(set.withTTL, k) {
						fresh = append(fresh, k)
					}
				}
				touched, deleted = fresh[0], fresh[1]
				do(t, c, c.B().Expire().Key(touched).Seconds(12345).Build(), c.B().Del().Key(deleted).Build())
			})
			job := loadJob(t, tc.job)
			before := snapshot(t, c)
			rep := mustRun(t, dial(t, srv.URL), job, Options{StateDir: t.TempDir()})
			if got, want := rep.Outcomes.Skip["ttl"], int64(len(set.withTTL)+1); got != want {
				t.Errorf("ttl = %d, want %d (the keys that had a TTL and the one given one after SCAN)", got, want)
			}
			if got := rep.Outcomes.Skip["gone"]; got != 1 {
				t.Errorf("gone = %d, want 1", got)
			}
			if got := rep.Outcomes.Skip["changed_since_scan"]; got != 0 {
				t.Errorf("changed_since_scan = %d, want 0", got)
			}
			ttl, err := c.Do(ctx, c.B().Ttl().Key(touched).Build()).AsInt64()
			if err != nil || ttl < 12000 || ttl > 12345 {
				t.Errorf("%s: TTL %d (%v), want the 12345 s someone else gave it", touched, ttl, err)
			}
			if n, _ := c.Do(ctx, c.B().Exists().Key(deleted).Build()).AsInt64(); n != 0 {
				t.Errorf("%s exists again", deleted)
			}
			// change is the keys the run gave a TTL, counted in the
			// keyspace (without select.type, the hashes named like
			// tickets too).
			var truth int64
			for k, s := range snapshot(t, c) {
				if before[k].ExpireAt == -1 && s.ExpireAt > 0 && k != touched {
					truth++
				}
			}
			if rep.Outcomes.Change != truth || truth == 0 {
				t.Errorf("change = %d, the keyspace says %d", rep.Outcomes.Change, truth)
			}
		})
	}
	for _, backup := range []string{"journal", "dump"} {
		t.Run("Idle/"+backup, func(t *testing.T) {
			// select.idle: keys read by someone else after SCAN are no
			// longer idle at the moment of the change: not touched.
			srv, c := startRedis(t, redistest.Options{})
			ctx := context.Background()
			for i := range 100 {
				k := "cold:" + strconv.Itoa(i)
				do(t, c, c.B().Set().Key(k).Value("v"+strconv.Itoa(i)).Build())
				payload, err := c.Do(ctx, c.B().Dump().Key(k).Build()).AsBytes()
				if err != nil {
					t.Fatal(err)
				}
				// RESTORE ... IDLETIME: a key nobody has read for two hours.
				do(t, c, c.B().Restore().Key(k).Ttl(0).SerializedValue(string(payload)).Replace().Idletime(7200).Build())
			}
			var touched, deleted string
			setHook(t, func(keys []string) {
				if touched != "" || len(keys) < 2 {
					return
				}
				touched, deleted = keys[0], keys[1]
				do(t, c, c.B().Get().Key(touched).Build(), c.B().Del().Key(deleted).Build())
			})
			action := "action: {expire: {ttl: 1d}}"
			if backup == "dump" {
				action = "action: {delete: {}}"
			}
			job := loadJob(t, `version: 1
name: cold-keys
select: {match: "cold:*", idle: "> 1h"}
`+action+`
backup: `+backup+`
limits: {rate: unlimited, scan_count: 20}
`)
			conn := dial(t, srv.URL)
			if backup == "dump" && !conn.Caps.NoTouch() {
				// Redis 7.0: the backup's DUMP would reset every key's
				// idle time; refused before any change.
				_, err := Prepare(ctx, conn, job, Options{StateDir: t.TempDir()})
				var missing *redisx.MissingError
				if !errors.As(err, &missing) || !strings.Contains(err.Error(), "NO-TOUCH") {
					t.Fatalf("without CLIENT NO-TOUCH: %v, want a refusal naming it", err)
				}
				if n, _ := c.Do(ctx, c.B().Dbsize().Build()).AsInt64(); n != 100 {
					t.Errorf("%d keys after the refusal, want 100", n)
				}
				return
			}
			rep := mustRun(t, conn, job, Options{StateDir: t.TempDir()})
			if got := rep.Outcomes.Skip["changed_since_scan"]; got != 1 {
				t.Errorf("changed_since_scan = %d, want 1 (the key read after SCAN)", got)
			}
			if got := rep.Outcomes.Skip["gone"]; got != 1 {
				t.Errorf("gone = %d, want 1", got)
			}
			if got := rep.Outcomes.Change; got != 98 {
				t.Errorf("change = %d, want 98 (%v)", got, rep.Outcomes.Skip)
			}
			after := snapshot(t, c)
			if s, ok := after[touched]; !ok || s.ExpireAt != -1 {
				t.Errorf("%s, read after SCAN, changed by the run: %+v (exists %v)", touched, s, ok)
			}
			changed := 0
			for i := range 100 {
				k := "cold:" + strconv.Itoa(i)
				s, ok := after[k]
				if k == touched || k == deleted {
					continue
				}
				if (backup == "dump" && !ok) || (backup == "journal" && ok && s.ExpireAt > 0) {
					changed++
				}
			}
			if changed != 98 {
				t.Errorf("%d keys changed in the keyspace, want 98", changed)
			}
		})
	}
	t.Run("Type", func(t *testing.T) {
		// select.type: string. Keys rewritten as hashes after SCAN are
		// outside the selection at the moment of the change: not touched.
		srv, c := startRedis(t, redistest.Options{})
		set := seedTickets(t, c, 200)
		var retyped []string
		var afterHook map[string]redistest.KeyState
		setHook(t, func(keys []string) {
			for _, k := range keys {
				if len(retyped) < 5 && !slices.Contains(set.withTTL, k) {
					retyped = append(retyped, k)
					do(t, c, c.B().Del().Key(k).Build(), c.B().Hset().Key(k).FieldValue().FieldValue("f", "v").Build())
				}
			}
			if len(retyped) == 5 && afterHook == nil {
				afterHook = snapshot(t, c)
			}
		})
		rep := mustRun(t, dial(t, srv.URL), loadJob(t, ticketJob), Options{StateDir: t.TempDir()})
		if len(retyped) != 5 {
			t.Fatalf("retyped %d keys, want 5", len(retyped))
		}
		if got := rep.Outcomes.Skip["changed_since_scan"]; got != 5 {
			t.Errorf("changed_since_scan = %d, want 5", got)
		}
		after := snapshot(t, c)
		for _, k := range retyped {
			if after[k] != afterHook[k] || after[k].ExpireAt != -1 {
				t.Errorf("%s, rewritten as a hash, changed by the run: %v -> %v", k, afterHook[k], after[k])
			}
		}
	})
	t.Run("Script", func(t *testing.T) {
		// select.ttl is a comparison: the guarded script re-checks it.
		srv, c := startRedis(t, redistest.Options{})
		for i := range 100 {
			do(t, c, c.B().Set().Key("session:"+strconv.Itoa(i)).Value("v").ExSeconds(600).Build())
		}
		var touched, deleted string
		setHook(t, func(keys []string) {
			if touched != "" || len(keys) < 2 {
				return
			}
			touched, deleted = keys[0], keys[1]
			do(t, c, c.B().Expire().Key(touched).Seconds(99999).Build(), c.B().Del().Key(deleted).Build())
		})
		job := loadJob(t, `version: 1
name: shorten-sessions
select: {match: "session:*", ttl: "> 5m"}
action: {expire: {ttl: 1m, when: always}}
limits: {rate: unlimited, scan_count: 20}
`)
		rep := mustRun(t, dial(t, srv.URL), job, Options{StateDir: t.TempDir()})
		if got := rep.Outcomes.Skip["changed_since_scan"]; got != 0 {
			// A longer TTL still matches "> 5m": the script changes it.
			t.Errorf("changed_since_scan = %d, want 0", got)
		}
		if got := rep.Outcomes.Skip["gone"]; got != 1 {
			t.Errorf("gone = %d, want 1", got)
		}
		if got := rep.Outcomes.Change; got != 99 {
			t.Errorf("change = %d, want 99", got)
		}
	})
	t.Run("ScriptCondition", func(t *testing.T) {
		srv, c := startRedis(t, redistest.Options{})
		for i := range 100 {
			do(t, c, c.B().Set().Key("session:"+strconv.Itoa(i)).Value("v").ExSeconds(600).Build())
		}
		var touched string
		setHook(t, func(keys []string) {
			if touched != "" {
				return
			}
			touched = keys[0]
			do(t, c, c.B().Expire().Key(touched).Seconds(60).Build()) // no longer "> 5m"
		})
		job := loadJob(t, `version: 1
name: shorten-sessions
select: {match: "session:*", ttl: "> 5m"}
action: {expire: {ttl: 2m, when: always}}
limits: {rate: unlimited, scan_count: 20}
`)
		rep := mustRun(t, dial(t, srv.URL), job, Options{StateDir: t.TempDir()})
		if got := rep.Outcomes.Skip["changed_since_scan"]; got != 1 {
			t.Errorf("changed_since_scan = %d, want 1", got)
		}
		if ttl, _ := c.Do(context.Background(), c.B().Ttl().Key(touched).Build()).AsInt64(); ttl > 60 || ttl < 50 {
			t.Errorf("%s: TTL %d, want the 60 s someone else gave it", touched, ttl)
		}
	})
	t.Run("DumpDelete", func(t *testing.T) {
		// A hash written to after its DUMP is not deleted.
		srv, c := startRedis(t, redistest.Options{})
		for i := range 100 {
			do(t, c, c.B().Hset().Key("deal:clicks:"+strconv.Itoa(i)).FieldValue().FieldValue("web", "1").Build())
		}
		var touched, deleted string
		setHook(t, func(keys []string) {
			if touched != "" || len(keys) < 2 {
				return
			}
			touched, deleted = keys[0], keys[1]
			do(t, c, c.B().Hset().Key(touched).FieldValue().FieldValue("app", "2").Build(), c.B().Del().Key(deleted).Build())
		})
		rep := mustRun(t, dial(t, srv.URL), loadJob(t, dealJob), Options{StateDir: t.TempDir()})
		if got := rep.Outcomes.Skip["changed_since_scan"]; got != 1 {
			t.Errorf("changed_since_scan = %d, want 1", got)
		}
		if got := rep.Outcomes.Skip["gone"]; got != 1 {
			t.Errorf("gone = %d, want 1", got)
		}
		if got := rep.Outcomes.Change; got != 98 {
			t.Errorf("change = %d, want 98", got)
		}
		got, err := c.Do(context.Background(), c.B().Hgetall().Key(touched).Build()).AsStrMap()
		if err != nil || got["web"] != "1" || got["app"] != "2" {
			t.Errorf("%s = %v (%v), want the hash someone else wrote to, kept", touched, got, err)
		}
	})
}

// While the pause file exists the run waits and changes nothing; it
// decides the keys only when it goes on, so a ticket whose year ran out
// during the pause gets the grace TTL and is not deleted on the spot.
func TestApply_PauseFile(t *testing.T) {
	srv, c := startRedis(t, redistest.Options{})
	set := seedTickets(t, c, 300)
	// A ticket whose year ends two or three seconds from now.
	edgeIssued := time.UnixMilli(serverNowMs(t, c)).Add(3*time.Second - year).Unix()
	edge := "ticket:" + strconv.FormatInt(edgeIssued, 10) + ":1:EDGE"
	do(t, c, c.B().Set().Key(edge).Value("edge").Build())
	set.expired = append(set.expired, edge)
	before := snapshot(t, c)
	vals := values(t, c, set.selected())

	pause := filepath.Join(t.TempDir(), "pause")
	if err := os.WriteFile(pause, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	pausedSeen := make(chan struct{}, 1)
	ctl := NewControl(pause)
	// One SCAN batch: the whole keyspace is decided at once.
	job := loadJob(t, strings.Replace(ticketJob, "scan_count: 50", "scan_count: 5000", 1))
	r, err := Prepare(context.Background(), dial(t, srv.URL), job, Options{StateDir: state, Control: ctl})
	if err != nil {
		t.Fatal(err)
	}
	observe := func(p Progress) {
		if p.Paused != "" {
			select {
			case pausedSeen <- struct{}{}:
			default:
			}
		}
	}
	type result struct {
		rep *Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := r.Execute(context.Background(), Exec{Observe: observe})
		done <- result{rep, err}
	}()
	select {
	case <-pausedSeen:
	case res := <-done:
		t.Fatalf("the run ended while the pause file exists: %v", res.err)
	case <-time.After(30 * time.Second):
		t.Fatal("the run never said it is paused")
	}
	// Wait until the edge ticket's year is over, and a second more.
	for serverNowMs(t, c) < time.Unix(edgeIssued, 0).Add(year+time.Second).UnixMilli() {
		time.Sleep(100 * time.Millisecond)
	}
	assertSame(t, "while paused", before, snapshot(t, c))
	select {
	case res := <-done:
		t.Fatalf("the run ended while the pause file exists: %v", res.err)
	default:
	}
	if err := os.Remove(pause); err != nil {
		t.Fatal(err)
	}
	var res result
	select {
	case res = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the run did not go on after the pause file was removed")
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	cp := loadCheckpoint(t, state, "ticket-ttl-backfill")
	assertChanges(t, "after the pause", c, before, snapshot(t, c), vals, expectTickets(t, set, cp.RunStartMs))
	if len(res.rep.Pauses) == 0 || !strings.Contains(res.rep.Pauses[0].Reason, "pause file") {
		t.Errorf("report pauses = %+v, want the pause file's", res.rep.Pauses)
	}
}

// max_changes: the run stops before passing it, exit-worthy (an
// *AbortError), with the checkpoint written; a resume cannot pass it
// either.
func TestApply_MaxChanges(t *testing.T) {
	srv, c := startRedis(t, redistest.Options{})
	seedTickets(t, c, 400)
	before := snapshot(t, c)
	state := t.TempDir()
	job := loadJob(t, ticketJob+"  max_changes: 75\n")
	_, err := runJob(t, dial(t, srv.URL), job, Options{StateDir: state})
	var abort *AbortError
	if !errors.As(err, &abort) || abort.Guard != "max_changes" {
		t.Fatalf("err = %v, want an abort by max_changes", err)
	}
	d := redistest.Diff(before, snapshot(t, c))
	if got := len(d.Changed) + len(d.Removed) + len(d.Added); got != 75 {
		t.Errorf("%d keys changed, want exactly max_changes = 75", got)
	}
	cp := loadCheckpoint(t, state, job.Name)
	if cp.Completed || cp.Changes != 75 {
		t.Errorf("checkpoint: completed %v, changes %d; want false, 75", cp.Completed, cp.Changes)
	}
	_, err = runJob(t, dial(t, srv.URL), job, Options{StateDir: state, Resume: true})
	if !errors.As(err, &abort) {
		t.Fatalf("resume: err = %v, want an abort by max_changes", err)
	}
	d = redistest.Diff(before, snapshot(t, c))
	if got := len(d.Changed); got != 75 {
		t.Errorf("after the resume %d keys changed, want still 75", got)
	}
}

// Other clients delete, retype and re-TTL selected tickets while the run
// goes on. Each writer's change is one script that also says whether the
// run had reached the key (it has keyjob's TTL: every selected ticket had
// none). Whatever the interleaving: a key a writer changed before the run
// reached it is never changed by the run, the report's change is the
// keys the run changed, and the keys the writers took away before the run
// reached them are all that gone, changed_since_scan and the extra ttl
// count (some the SCAN did not see at all: deleted or retyped before it).
func TestApply_ConcurrentWriters(t *testing.T) {
	srv, c := startRedis(t, redistest.Options{})
	set := seedTickets(t, c, 3000)
	ctx := context.Background()
	const writer = `
local pt = redis.call('PTTL', KEYS[1])
if pt == -2 then return -1 end
local op = ARGV[1]
if op == 'del' then redis.call('DEL', KEYS[1])
elseif op == 'retype' then redis.call('DEL', KEYS[1]); redis.call('HSET', KEYS[1], 'f', 'v')
else redis.call('PEXPIRE', KEYS[1], 77777000) end
if pt == -1 then return 0 end
return 1`
	type act struct {
		op      string
		reached bool
	}
	acted := map[string]act{}
	keys := set.selected()
	job := loadJob(t, strings.Replace(ticketJob, "rate: unlimited", "rate: 1500", 1))
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		ops := []string{"del", "retype", "ttl"}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			k := keys[(i*7919)%len(keys)]
			if _, ok := acted[k]; ok {
				continue
			}
			op := ops[i%3]
			n, err := c.Do(ctx, c.B().Eval().Script(writer).Numkeys(1).Key(k).Arg(op).Build()).AsInt64()
			if err != nil {
				t.Error(err)
				return
			}
			acted[k] = act{op, n == 1}
		}
	}()
	rep := mustRun(t, dial(t, srv.URL), job, Options{StateDir: t.TempDir()})
	close(stop)
	<-done

	after := snapshot(t, c)
	var before, changedAfter int64
	beforeBy := map[string]int64{}
	for k, a := range acted {
		if a.reached {
			changedAfter++
			continue
		}
		before++
		beforeBy[a.op]++
		s, ok := after[k]
		switch a.op {
		case "del":
			if ok {
				t.Errorf("%s, deleted before the run reached it, exists: %+v", k, s)
			}
		case "retype":
			if s.Type != "hash" || s.ExpireAt != -1 {
				t.Errorf("%s, rewritten as a hash before the run reached it: %+v, want a hash without TTL", k, s)
			}
		case "ttl":
			if left := s.ExpireAt - time.Now().UnixMilli(); left < 77000000 || left > 77777000 {
				t.Errorf("%s, given a TTL by another client before the run reached it: expires in %d ms, want that TTL", k, left)
			}
		}
	}
	if before == 0 || changedAfter == 0 {
		t.Fatalf("the writers changed %d keys before the run reached them and %d after: the test did not race", before, changedAfter)
	}
	var untouched int64
	for _, k := range keys {
		if _, ok := acted[k]; !ok {
			if after[k].ExpireAt <= 0 {
				t.Errorf("%s, selected and left alone by the writers, has no TTL", k)
			}
			untouched++
		}
	}
	if want := untouched + changedAfter; rep.Outcomes.Change != want {
		t.Errorf("change = %d, want %d (%d keys no writer touched, %d the run changed before a writer did)", rep.Outcomes.Change, want, untouched, changedAfter)
	}
	took := rep.Outcomes.Skip["gone"] + rep.Outcomes.Skip["changed_since_scan"] + rep.Outcomes.Skip["ttl"] - int64(len(set.withTTL))
	if took > before || rep.Outcomes.Skip["gone"] > beforeBy["del"] || rep.Outcomes.Skip["changed_since_scan"] > beforeBy["retype"] {
		t.Errorf("gone %d, changed_since_scan %d, ttl %d (%d had one): more than the writers took before the run reached them (%v)",
			rep.Outcomes.Skip["gone"], rep.Outcomes.Skip["changed_since_scan"], rep.Outcomes.Skip["ttl"], len(set.withTTL), beforeBy)
	}
	var sum int64
	for _, n := range rep.Outcomes.Skip {
		sum += n
	}
	if sum+rep.Outcomes.Change != rep.Scanned {
		t.Errorf("scanned %d, outcomes add up to %d", rep.Scanned, sum+rep.Outcomes.Change)
	}
	t.Logf("writers: %d keys before the run reached them (%v), %d after; report: change %d, gone %d, changed_since_scan %d, ttl %d",
		before, beforeBy, changedAfter, rep.Outcomes.Change, rep.Outcomes.Skip["gone"], rep.Outcomes.Skip["changed_since_scan"], rep.Outcomes.Skip["ttl"])
}
