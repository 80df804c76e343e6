package apply

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyjob/keyjob/internal/checkpoint"
	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/internal/seed"
	"github.com/keyjob/keyjob/jobs"
)

// interruptAfter cancels the returned context when the run is about to
// send its n-th batch: the run finishes that batch, writes its checkpoint
// and stops.
func interruptAfter(t *testing.T, n int) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	calls := 0
	setHook(t, func([]string) {
		if calls++; calls == n {
			cancel()
		}
	})
	return ctx
}

// execute prepares and runs a job the way the command line does: Prepare,
// then Execute with the display's logger.
func execute(ctx context.Context, t *testing.T, conn *redisx.Conn, job *jobs.Job, o Options, x Exec, log *logBuffer) (*Report, error) {
	t.Helper()
	r, err := Prepare(ctx, conn, job, o)
	if err != nil {
		return nil, err
	}
	x.Logger = log.logger()
	return r.Execute(ctx, x)
}

// An interrupted run (the context cancelled, as by Ctrl-C) finishes its
// batch, writes a checkpoint that is not completed, and --resume ends in
// the keyspace an uninterrupted run gives.
func TestResume_AfterInterrupt(t *testing.T) {
	srv, c := startRedis(t, redistest.Options{})
	set := seedTickets(t, c, 1000)
	before := snapshot(t, c)
	vals := values(t, c, set.selected())
	state := t.TempDir()
	job := loadJob(t, ticketJob)

	rep, err := execute(interruptAfter(t, 3), t, dial(t, srv.URL), job, Options{StateDir: state}, Exec{}, &logBuffer{})
	if !errors.Is(err, errInterrupted) {
		t.Fatalf("err = %v, want interrupted", err)
	}
	cp := loadCheckpoint(t, state, job.Name)
	if cp.Completed || rep.Completed || cp.Nodes[0].Cursor == "0" || cp.Changes == 0 {
		t.Fatalf("checkpoint after the interrupt: completed %v, cursor %s, changes %d; want a run under way", cp.Completed, cp.Nodes[0].Cursor, cp.Changes)
	}
	if got := cp.Counts["change"]; got != cp.Changes || got != rep.Outcomes.Change {
		t.Errorf("checkpoint counts change = %d, changes = %d, report %d: want them equal", got, cp.Changes, rep.Outcomes.Change)
	}
	// The interrupted batch was finished: what the checkpoint counts is
	// what the server shows.
	d := redistest.Diff(before, snapshot(t, c))
	if int64(len(d.Changed)) != cp.Changes {
		t.Errorf("%d keys changed, the checkpoint says %d", len(d.Changed), cp.Changes)
	}

	setHook(t, nil)
	rep, err = runJob(t, dial(t, srv.URL), job, Options{StateDir: state, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Completed || !rep.Resumed {
		t.Errorf("report: completed %v, resumed %v; want both", rep.Completed, rep.Resumed)
	}
	cp2 := loadCheckpoint(t, state, job.Name)
	if cp2.RunStartMs != cp.RunStartMs || cp2.RunID != cp.RunID || cp2.Journal != cp.Journal {
		t.Errorf("the resumed run has another start, id or journal: %d %s %s, was %d %s %s", cp2.RunStartMs, cp2.RunID, cp2.Journal, cp.RunStartMs, cp.RunID, cp.Journal)
	}
	assertChanges(t, "after the resume", c, before, snapshot(t, c), vals, expectTickets(t, set, cp.RunStartMs))
	if got, want := rep.Outcomes.Change, int64(len(set.selected())); got != want {
		t.Errorf("report: change = %d across the resume, want %d", got, want)
	}

	// Resuming a completed run is refused, and so is a new run without
	// --restart.
	if _, err := runJob(t, dial(t, srv.URL), job, Options{StateDir: state, Resume: true}); !errors.Is(err, ErrAlreadyCompleted) {
		t.Errorf("resume after completion: err = %v, want ErrAlreadyCompleted", err)
	}
	if _, err := runJob(t, dial(t, srv.URL), job, Options{StateDir: state}); !errors.Is(err, ErrCheckpointExists) {
		t.Errorf("run again without --restart: err = %v, want ErrCheckpointExists", err)
	}
}

// --limit is a canary: it stops after N changes with completed false and
// no error, and --resume carries the run to its end.
func TestApply_LimitCanary(t *testing.T) {
	srv, c := startRedis(t, redistest.Options{})
	set := seedTickets(t, c, 800)
	before := snapshot(t, c)
	vals := values(t, c, set.selected())
	state := t.TempDir()
	job := loadJob(t, ticketJob)

	rep := mustRun(t, dial(t, srv.URL), job, Options{StateDir: state, Limit: 100})
	if rep.Completed || rep.Changes != 100 || rep.Outcomes.Change != 100 {
		t.Fatalf("canary report: completed %v, changes %d, outcomes.change %d; want false, 100, 100", rep.Completed, rep.Changes, rep.Outcomes.Change)
	}
	if !strings.Contains(rep.Stopped, "--limit 100") {
		t.Errorf("report stopped = %q, want it to name --limit", rep.Stopped)
	}
	if d := redistest.Diff(before, snapshot(t, c)); len(d.Changed) != 100 || len(d.Removed)+len(d.Added) != 0 {
		t.Fatalf("the canary changed %d keys (and added/removed %d), want 100", len(d.Changed), len(d.Removed)+len(d.Added))
	}
	cp := loadCheckpoint(t, state, job.Name)
	if cp.Completed || cp.Changes != 100 {
		t.Fatalf("checkpoint: completed %v, changes %d", cp.Completed, cp.Changes)
	}

	rep = mustRun(t, dial(t, srv.URL), job, Options{StateDir: state, Resume: true})
	if !rep.Completed {
		t.Fatalf("resume: not completed: %s", rep.Stopped)
	}
	assertChanges(t, "after the canary and its resume", c, before, snapshot(t, c), vals, expectTickets(t, set, cp.RunStartMs))
	if got, want := rep.Outcomes.Change, int64(len(set.selected())); got != want {
		t.Errorf("report: change = %d, want %d", got, want)
	}
	// The canary stopped in the middle of a batch, which the resume
	// scanned again: its changed keys are not counted again as ttl.
	if got, want := rep.Outcomes.Skip["ttl"], int64(len(set.withTTL)); got != want {
		t.Errorf("report: ttl = %d, want %d (the keys that had one before the run)", got, want)
	}
	if want := int64(len(set.selected()) + len(set.withTTL) + len(set.skipped)); rep.Scanned != want {
		t.Errorf("report: scanned = %d, want %d", rep.Scanned, want)
	}
}

// A resumed run reads "now" from the server, not from the run's start: a
// run resumed two days after it began must not take a ticket issued today
// for a bad timestamp (its expiry, issued + 365d, lies more than 366 days
// after the run's start, but not after now).
func TestResume_NowIsNotTheRunStart(t *testing.T) {
	srv, c := startRedis(t, redistest.Options{})
	now := serverNowMs(t, c) / 1000
	var keys []string
	for i := range 60 {
		k := "ticket:" + strconv.FormatInt(now-int64(i), 10) + ":1:N" + strconv.Itoa(i)
		do(t, c, c.B().Set().Key(k).Value("v").Build())
		keys = append(keys, k)
	}
	// when: always and backup: none need no per-key lookup: the executor
	// keeps the server's clock itself.
	job := loadJob(t, `version: 1
name: ticket-always
select:
  match: "ticket:*"
  regex: '^ticket:(?P<issued>\d{10}):(?P<customer>\d+):[A-Za-z0-9]+$'
action:
  expire:
    from: { capture: issued, format: unix }
    after: 365d
    when: always
backup: none
limits: {rate: unlimited, scan_count: 10}
`)
	state := t.TempDir()
	mustRun(t, dial(t, srv.URL), job, Options{StateDir: state, Limit: 5})
	// The run began two days ago.
	path := checkpoint.Path(state, job.Name)
	cp := loadCheckpoint(t, state, job.Name)
	cp.RunStartMs -= (48 * time.Hour).Milliseconds()
	if err := checkpoint.Save(path, cp); err != nil {
		t.Fatal(err)
	}
	rep := mustRun(t, dial(t, srv.URL), job, Options{StateDir: state, Resume: true})
	if got := rep.Outcomes.Skip["bad_timestamp"]; got != 0 {
		t.Errorf("bad_timestamp = %d, want 0: the resumed run judged the tickets against its start, not now", got)
	}
	after := snapshot(t, c)
	for _, k := range keys {
		if got, want := after[k].ExpireAt, issuedOf(t, k).Add(year).UnixMilli(); got != want {
			t.Errorf("%s expires at %d, want %d", k, got, want)
		}
	}
}

// Redis restarted between the interrupt and the resume (an AOF server, so
// the keys survive): the SCAN cursor means nothing on the new process, so
// the resumed run says so and rescans from 0, and ends correct.
func TestResume_RedisRestarted(t *testing.T) {
	ctx := context.Background()
	srv, c := startRedis(t, redistest.Options{AOF: true})
	set := seedTickets(t, c, 1000)
	before := snapshot(t, c)
	vals := values(t, c, set.selected())
	px := newProxy(t, srv.Addr) // the target keeps its address across the restart
	state := t.TempDir()
	job := loadJob(t, ticketJob)

	if _, err := execute(interruptAfter(t, 4), t, dial(t, px.URL()), job, Options{StateDir: state}, Exec{}, &logBuffer{}); !errors.Is(err, errInterrupted) {
		t.Fatalf("err = %v, want interrupted", err)
	}
	cp := loadCheckpoint(t, state, job.Name)
	if cp.Nodes[0].Cursor == "0" {
		t.Fatal("the interrupted run's cursor is 0: nothing to rescan")
	}
	setHook(t, nil)
	mid := snapshot(t, c)

	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	px.switchTo(srv.Addr)
	c = srv.Client(t)
	assertSame(t, "after the restart (AOF)", mid, snapshot(t, c))

	var log logBuffer
	rep, err := execute(ctx, t, dial(t, px.URL()), job, Options{StateDir: state, Resume: true}, Exec{}, &log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "run_id changed") || !strings.Contains(log.String(), "rescanning") {
		t.Errorf("the resumed run did not say it rescans the restarted server; its log:\n%s", log.String())
	}
	if len(rep.Nodes) != 1 || rep.Nodes[0].Restarts != 1 {
		t.Errorf("report nodes = %+v, want one node with one restart", rep.Nodes)
	}
	cp = loadCheckpoint(t, state, job.Name)
	if !cp.Completed || cp.Nodes[0].Restarts != 1 {
		t.Errorf("checkpoint: completed %v, restarts %d", cp.Completed, cp.Nodes[0].Restarts)
	}
	assertChanges(t, "after the resume on the restarted server", c, before, snapshot(t, c), vals, expectTickets(t, set, cp.RunStartMs))
}

// Redis restarted while the run went on (the client reconnects at once,
// through the same address): the cursor the run carries is meaningless on
// the new process. Whether the run fails and is resumed, or goes on, the
// end is the same keyspace, and the log says the server restarted.
func TestApply_RedisRestartedDuringRun(t *testing.T) {
	ctx := context.Background()
	srv, c := startRedis(t, redistest.Options{AOF: true})
	if err := seed.DealClicks(ctx, c, 900); err != nil {
		t.Fatal(err)
	}
	if _, err := seed.Tickets(ctx, c, seed.TicketSpec{Count: 300, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, c)
	px := newProxy(t, srv.Addr)
	state := t.TempDir()
	job := loadJob(t, dealJob) // the guarded script: NOSCRIPT after the restart

	rep, log := runAcrossRestart(t, srv, px, job, Options{StateDir: state}, 3)
	if !rep.Completed {
		t.Fatalf("not completed: %s", rep.Stopped)
	}
	if !strings.Contains(log.String(), "restart") {
		t.Errorf("the log does not say the server restarted:\n%s", log.String())
	}
	c = srv.Client(t)
	want := map[string]redistest.KeyState{}
	for k, v := range before {
		if !strings.HasPrefix(k, "deal:clicks:") {
			want[k] = v
		}
	}
	assertSame(t, "after the delete across a restart", want, snapshot(t, c))
	// The node rescanned after the restart is counted once: its earlier
	// counts replaced, the keys deleted before the restart counted from
	// the journal.
	if rep.Outcomes.Change != 900 || rep.Scanned != 900 {
		t.Errorf("report: change %d, scanned %d; want 900 and 900 (the deal:clicks keys)", rep.Outcomes.Change, rep.Scanned)
	}
}

// A crash (SIGKILL, the machine gone) loses the changes made since the
// last checkpoint save, which is at most once a second. max_changes holds
// across it all the same: the resumed run counts what the journal says
// was changed.
func TestResume_MaxChangesAfterCrash(t *testing.T) {
	srv, c := startRedis(t, redistest.Options{})
	seedTickets(t, c, 1000)
	before := snapshot(t, c)
	state := t.TempDir()
	job := loadJob(t, ticketJob+"  max_changes: 300\n")
	path := checkpoint.Path(state, job.Name)

	// The checkpoint as the crash leaves it: the one written before the
	// first change (later saves lost), while five batches were changed.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var early []byte
	calls := 0
	setHook(t, func([]string) {
		calls++
		if calls == 1 {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Error(err)
			}
			early = b
		}
		if calls == 5 {
			cancel()
		}
	})
	if _, err := execute(ctx, t, dial(t, srv.URL), job, Options{StateDir: state}, Exec{}, &logBuffer{}); !errors.Is(err, errInterrupted) {
		t.Fatalf("err = %v, want interrupted", err)
	}
	setHook(t, nil)
	if err := os.WriteFile(path, early, 0o600); err != nil {
		t.Fatal(err)
	}
	made := len(redistest.Diff(before, snapshot(t, c)).Changed)
	if cp := loadCheckpoint(t, state, job.Name); cp.Changes >= int64(made) {
		t.Fatalf("the restored checkpoint counts %d changes, the server shows %d: no crash to test", cp.Changes, made)
	}

	_, err := runJob(t, dial(t, srv.URL), job, Options{StateDir: state, Resume: true})
	var abort *AbortError
	if !errors.As(err, &abort) || abort.Guard != "max_changes" {
		t.Fatalf("resume: err = %v, want an abort by max_changes", err)
	}
	if got := len(redistest.Diff(before, snapshot(t, c)).Changed); got > 300 {
		t.Errorf("%d keys changed across the crash, more than max_changes = 300", got)
	}
}
