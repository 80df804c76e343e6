package apply

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyjob/keyjob/internal/journal"
	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/seed"
)

func undo(t *testing.T, url, path string, o UndoOptions) *UndoReport {
	t.Helper()
	rep, err := Undo(context.Background(), dial(t, url), path, o)
	if err != nil {
		t.Fatalf("undo %s: %v", path, err)
	}
	return rep
}

// undo after a TTL job puts every expiry back: the keyspace is the
// original one exactly (PEXPIRETIME -1 again). A key someone else changed
// since the run is left alone and counted.
func TestUndo_TTLJob(t *testing.T) {
	srv, c := startRedis(t, redistest.Options{})
	set := seedTickets(t, c, 500)
	before := snapshot(t, c)
	state := t.TempDir()
	job := loadJob(t, ticketJob)
	rep := mustRun(t, dial(t, srv.URL), job, Options{StateDir: state})
	if rep.Outcomes.Change == 0 || rep.Undo == "" {
		t.Fatalf("the run changed %d keys, undo %q", rep.Outcomes.Change, rep.Undo)
	}

	// Someone else gives one changed ticket another TTL and removes the
	// TTL of another after the run.
	other, persisted := set.future[0], set.expired[0]
	do(t, c, c.B().Expire().Key(other).Seconds(777).Build(), c.B().Persist().Key(persisted).Build())
	afterOthers := snapshot(t, c)

	u := undo(t, srv.URL, rep.Journal, UndoOptions{})
	// NX left the tickets that had a TTL alone: each has its record and
	// the marker that voids it.
	if u.Undone() != rep.Outcomes.Change || u.Restored != rep.Outcomes.Change-2 || u.LeftAlone != 2 ||
		u.Records != u.Undone()+2*u.Unapplied || u.Changes != u.Undone()+u.Unapplied || u.State != "whole" || u.Partial {
		t.Errorf("undo report %+v: want %d undone, %d restored, 2 left alone, records = undone + 2 × unapplied, whole", u, rep.Outcomes.Change, rep.Outcomes.Change-2)
	}
	want := map[string]redistest.KeyState{}
	for k, v := range before {
		want[k] = v
	}
	want[other], want[persisted] = afterOthers[other], afterOthers[persisted]
	assertSame(t, "after undo", want, snapshot(t, c))

	// Without the two keys someone else touched, undo gives back the
	// original keyspace exactly.
	srv2, c2 := startRedis(t, redistest.Options{})
	seedTickets(t, c2, 500)
	before2 := snapshot(t, c2)
	rep2 := mustRun(t, dial(t, srv2.URL), job, Options{StateDir: t.TempDir()})
	undo(t, srv2.URL, rep2.Journal, UndoOptions{})
	assertSame(t, "after undo of an untouched run", before2, snapshot(t, c2))
}

// undo after a backup: dump delete job RESTOREs every deleted hash, value
// and expiry as they were; a dumped key that exists again is not
// overwritten without Replace.
func TestUndo_DumpDelete(t *testing.T) {
	ctx := context.Background()
	srv, c := startRedis(t, redistest.Options{})
	if err := seed.DealClicks(ctx, c, 400); err != nil {
		t.Fatal(err)
	}
	seedTickets(t, c, 100)
	// Some click hashes have a TTL: it comes back too.
	var withTTL []string
	for i := 1; i <= 4; i++ {
		k := "deal:clicks:" + strconv.Itoa(i) + ":x"
		do(t, c, c.B().Hset().Key(k).FieldValue().FieldValue("web", "1").Build(), c.B().Pexpire().Key(k).Milliseconds(int64(86400000+i*1234)).Build())
		withTTL = append(withTTL, k)
	}
	before := snapshot(t, c)
	state := t.TempDir()
	rep := mustRun(t, dial(t, srv.URL), loadJob(t, dealJob), Options{StateDir: state})
	if rep.Outcomes.Change != 404 {
		t.Fatalf("deleted %d, want 404", rep.Outcomes.Change)
	}
	after := snapshot(t, c)
	for k := range after {
		if strings.HasPrefix(k, "deal:clicks:") {
			t.Fatalf("%s survived the delete", k)
		}
	}
	st, err := journal.Open(rep.Journal)
	if err != nil {
		t.Fatal(err)
	}
	stats, err := st.Stats()
	st.Close()
	if err != nil || stats.Dumps != 404 {
		t.Fatalf("journal: %d dumps (%v), want 404", stats.Dumps, err)
	}

	// One deleted key exists again, written by someone else.
	again := "deal:clicks:1:x"
	do(t, c, c.B().Set().Key(again).Value("someone else's").Build())

	u := undo(t, srv.URL, rep.Journal, UndoOptions{})
	if u.Recreated != 403 || u.Exists != 1 {
		t.Errorf("undo report %+v: want 403 recreated, 1 exists", u)
	}
	got := snapshot(t, c)
	if v, _ := c.Do(ctx, c.B().Get().Key(again).Build()).ToString(); v != "someone else's" {
		t.Errorf("%s = %q: undo overwrote a key that exists without --replace", again, v)
	}
	want := map[string]redistest.KeyState{}
	for k, v := range before {
		want[k] = v
	}
	want[again] = got[again]
	assertSame(t, "after undo", want, got)
	for _, k := range withTTL[1:] {
		if got[k].ExpireAt != before[k].ExpireAt || got[k].ExpireAt <= 0 {
			t.Errorf("%s: expiry %d after undo, want %d", k, got[k].ExpireAt, before[k].ExpireAt)
		}
	}

	// With Replace, the existing key is overwritten too: the original
	// keyspace exactly.
	undo(t, srv.URL, rep.Journal, UndoOptions{Replace: true})
	assertSame(t, "after undo --replace", before, snapshot(t, c))
}

// persist: every selected key loses its TTL; the journal keeps the old
// expiry and undo puts it back.
func TestApply_Persist(t *testing.T) {
	srv, c := startRedis(t, redistest.Options{})
	seedTickets(t, c, 300)
	before := snapshot(t, c)
	job := loadJob(t, `version: 1
name: keep-sessions
select: {match: "session:*"}
action: {persist: {}}
limits: {rate: unlimited, scan_count: 20}
`)
	rep := mustRun(t, dial(t, srv.URL), job, Options{StateDir: t.TempDir()})
	changes := map[string]int64{}
	for k, v := range before {
		if strings.HasPrefix(k, "session:") && v.ExpireAt != -1 {
			changes[k] = -1
		}
	}
	if len(changes) == 0 {
		t.Fatal("no session with a TTL in the seed")
	}
	assertChanges(t, "after persist", c, before, snapshot(t, c), values(t, c, keys(changes)), changes)
	if got, want := rep.Outcomes.Change, int64(len(changes)); got != want {
		t.Errorf("change = %d, want %d", got, want)
	}
	if got, want := rep.Outcomes.Skip["ttl"], int64(countPrefix(before, "session:")-len(changes)); got != want {
		t.Errorf("skip ttl = %d, want %d (sessions without a TTL)", got, want)
	}
	undo(t, srv.URL, rep.Journal, UndoOptions{})
	assertSame(t, "after undo of persist", before, snapshot(t, c))
}

// backup: none — no journal is written, and the report says the run
// cannot be undone.
func TestApply_DeleteBackupNone(t *testing.T) {
	ctx := context.Background()
	srv, c := startRedis(t, redistest.Options{})
	if err := seed.DealClicks(ctx, c, 200); err != nil {
		t.Fatal(err)
	}
	seedTickets(t, c, 100)
	before := snapshot(t, c)
	state := t.TempDir()
	job := loadJob(t, strings.Replace(dealJob, "backup: dump", "backup: none", 1))
	rep := mustRun(t, dial(t, srv.URL), job, Options{StateDir: state})
	changes := map[string]int64{}
	for k := range before {
		if strings.HasPrefix(k, "deal:clicks:") {
			changes[k] = -2
		}
	}
	assertChanges(t, "after the delete", c, before, snapshot(t, c), nil, changes)
	if rep.Backup != "none" || rep.Journal != "" || rep.Undo != "" {
		t.Errorf("report: backup %q, journal %q, undo %q; want none and no journal", rep.Backup, rep.Journal, rep.Undo)
	}
	cp := loadCheckpoint(t, state, job.Name)
	if cp.Journal != "" {
		t.Errorf("checkpoint names a journal %q", cp.Journal)
	}
	journals, _ := filepath.Glob(filepath.Join(state, "*", "*.journal"))
	if len(journals) != 0 {
		t.Errorf("journals written with backup: none: %v", journals)
	}
	var md bytes.Buffer
	if err := rep.Markdown(&md); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "cannot be undone") {
		t.Errorf("the markdown report does not say the run cannot be undone:\n%s", md.String())
	}
	_, mp := rep.Paths(state)
	if b, err := os.ReadFile(mp); err != nil || !strings.Contains(string(b), "cannot be undone") {
		t.Errorf("report %s does not say the run cannot be undone (%v)", mp, err)
	}
}

// select.ttl as a comparison goes through the guarded script, and changes
// exactly the keys whose remaining TTL matches.
func TestApply_SelectTTLComparison(t *testing.T) {
	srv, c := startRedis(t, redistest.Options{})
	for i := range 200 {
		k := "websession:" + strconv.Itoa(i)
		cmd := c.B().Set().Key(k).Value("v" + strconv.Itoa(i))
		switch i % 4 {
		case 0:
			do(t, c, cmd.Build()) // no TTL: a comparison never matches
		case 1:
			do(t, c, cmd.ExSeconds(600).Build()) // < 1h
		default:
			do(t, c, cmd.ExSeconds(int64(7200+i)).Build()) // > 1h
		}
	}
	seedTickets(t, c, 100)
	before := snapshot(t, c)
	job := loadJob(t, `version: 1
name: stretch-short-sessions
select: {match: "websession:*", ttl: "< 1h"}
action: {expire: {ttl: 3h, when: always}}
limits: {rate: unlimited, scan_count: 30}
`)
	r, err := Prepare(context.Background(), dial(t, srv.URL), job, Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if r.writer.form != formScript {
		t.Fatalf("select.ttl %q is sent natively; want the guarded script", "< 1h")
	}
	rep, err := r.Execute(context.Background(), Exec{})
	if err != nil {
		t.Fatal(err)
	}
	changes := map[string]int64{}
	start := r.cp.RunStartMs
	for i := 1; i < 200; i += 4 {
		changes["websession:"+strconv.Itoa(i)] = start + 3*3600*1000
	}
	assertChanges(t, "after the job", c, before, snapshot(t, c), values(t, c, keys(changes)), changes)
	if got, want := rep.Outcomes.Change, int64(len(changes)); got != want {
		t.Errorf("change = %d, want %d", got, want)
	}
	if got, want := rep.Outcomes.Skip["ttl"], int64(200-len(changes)); got != want {
		t.Errorf("skip ttl = %d, want %d", got, want)
	}
}

func keys(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func countPrefix(s map[string]redistest.KeyState, prefix string) int {
	n := 0
	for k := range s {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

// A second run of the same job finds every ticket with the TTL the first
// gave it: EXPIRE NX leaves them alone and the journal says so, so undoing
// the second run leaves the first run's TTLs in place. Without the
// "unchanged" records, undo took the second journal's "no TTL before" for
// the truth and removed them (the expiry keyjob set matches, to the ms).
func TestUndo_SecondRunLeavesTheFirstAlone(t *testing.T) {
	srv, c := startRedis(t, redistest.Options{})
	seedTickets(t, c, 300)
	job := loadJob(t, ticketJob)
	state := t.TempDir()
	first := mustRun(t, dial(t, srv.URL), job, Options{StateDir: state})
	afterFirst := snapshot(t, c)
	second := mustRun(t, dial(t, srv.URL), job, Options{StateDir: state, Restart: true})
	if second.Outcomes.Change != 0 {
		t.Fatalf("the second run changed %d keys, want 0", second.Outcomes.Change)
	}
	if got, want := second.Outcomes.Skip["ttl"], first.Outcomes.Change+first.Outcomes.Skip["ttl"]; got != want {
		t.Errorf("second run: %d skipped for their TTL, want %d", got, want)
	}
	u := undo(t, srv.URL, second.Journal, UndoOptions{})
	if u.Restored != 0 || u.Unapplied == 0 {
		t.Errorf("undo of the second run: %+v, want nothing restored and every record unapplied", u)
	}
	assertSame(t, "after undoing the second run", afterFirst, snapshot(t, c))
}

// A key larger than backup.max_dump_size is neither dumped nor changed:
// too_big_to_backup. A delete reads the sizes with its other lookups; an
// expire dumps (and so measures) only the keys that get the grace TTL.
func TestApply_TooBigToBackUp(t *testing.T) {
	big := strings.Repeat("x", 4096)
	t.Run("Delete", func(t *testing.T) {
		srv, c := startRedis(t, redistest.Options{})
		for i := range 50 {
			do(t, c, c.B().Set().Key("blob:"+strconv.Itoa(i)).Value("small").Build())
		}
		do(t, c, c.B().Set().Key("blob:big").Value(big).Build())
		job := loadJob(t, `version: 1
name: drop-blobs
select: {match: "blob:*"}
action: {delete: {}}
backup: {mode: dump, max_dump_size: 1KiB}
limits: {rate: unlimited, scan_count: 20}
`)
		rep := mustRun(t, dial(t, srv.URL), job, Options{StateDir: t.TempDir()})
		if rep.Outcomes.Change != 50 || rep.Outcomes.Skip["too_big_to_backup"] != 1 {
			t.Errorf("changed %d, too_big_to_backup %d; want 50 and 1", rep.Outcomes.Change, rep.Outcomes.Skip["too_big_to_backup"])
		}
		if v, err := c.Do(context.Background(), c.B().Get().Key("blob:big").Build()).ToString(); err != nil || v != big {
			t.Errorf("blob:big: %d bytes (%v), want it untouched", len(v), err)
		}
	})
	t.Run("GraceExpire", func(t *testing.T) {
		srv, c := startRedis(t, redistest.Options{})
		old := time.Now().Add(-48 * time.Hour).Unix() // past its day: grace
		fresh := time.Now().Unix()
		for i := range 20 {
			do(t, c, c.B().Set().Key(fmt.Sprintf("ev:%d:%d", old, i)).Value("small").Build())
			do(t, c, c.B().Set().Key(fmt.Sprintf("ev:%d:%d", fresh, i)).Value(big).Build()) // big, but no grace: not dumped
		}
		do(t, c, c.B().Set().Key(fmt.Sprintf("ev:%d:big", old)).Value(big).Build())
		job := loadJob(t, `version: 1
name: expire-events
select: {match: "ev:*", regex: '^ev:(?P<at>\d{10}):\w+$'}
action: {expire: {from: {capture: at, format: unix}, after: 1d, grace: 1h}}
backup: {mode: dump, max_dump_size: 1KiB}
limits: {rate: unlimited, scan_count: 20}
`)
		rep := mustRun(t, dial(t, srv.URL), job, Options{StateDir: t.TempDir()})
		if rep.Outcomes.Change != 40 || rep.Outcomes.Skip["too_big_to_backup"] != 1 {
			t.Errorf("changed %d, too_big_to_backup %d; want 40 and 1", rep.Outcomes.Change, rep.Outcomes.Skip["too_big_to_backup"])
		}
		if ttl, _ := c.Do(context.Background(), c.B().Ttl().Key(fmt.Sprintf("ev:%d:big", old)).Build()).AsInt64(); ttl != -1 {
			t.Errorf("the big grace key got TTL %d, want none", ttl)
		}
		st, err := journal.Open(rep.Journal)
		if err != nil {
			t.Fatal(err)
		}
		stats, err := st.Stats()
		st.Close()
		if err != nil || stats.Dumps != 20 {
			t.Errorf("journal: %d dumps (%v), want the 20 grace keys'", stats.Dumps, err)
		}
	})
}
