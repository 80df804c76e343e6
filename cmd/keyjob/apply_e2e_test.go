package main_test

// apply end to end: the built binary run as an operator runs it, against
// real Redis, killed and interrupted and resumed.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/checkpoint"
	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/seed"
)

// applyE2ETicketJob is examples/ticket-ttl-backfill.yaml with a small SCAN
// COUNT, so that a few thousand keys make many batches to be killed in.
var applyE2ETicketJob = ticketTTLJob("ticket-ttl-backfill", "  rate: 5000\n  scan_count: 100\n")

const applyE2EYear = 365 * 24 * time.Hour

var applyE2ETicketName = regexp.MustCompile(`^ticket:(\d{10}):\d+:[A-Za-z0-9]+$`)

// applyE2ESeed loads the same keyspace into every client: tickets issued
// over the last 300 days (none past its year), a few issued 400 days ago
// (the grace TTL), some with a TTL already, sessions and click hashes.
// The first server is seeded, the others get a copy (DUMP, RESTORE with
// the same absolute expiry), so they are identical to the millisecond.
func applyE2ESeed(t *testing.T, tickets int, cs ...rueidis.Client) {
	t.Helper()
	ctx := context.Background()
	c := cs[0]
	spec := seed.TicketSpec{Count: tickets, Span: 300 * 24 * time.Hour, WithTTLShare: 0.05, Seed: 11}
	if _, err := seed.Tickets(ctx, c, spec); err != nil {
		t.Fatal(err)
	}
	if err := seed.Sessions(ctx, c, tickets/10); err != nil {
		t.Fatal(err)
	}
	if err := seed.DealClicks(ctx, c, tickets/10); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-400 * 24 * time.Hour).Unix()
	for i := range 20 {
		k := "ticket:" + strconv.FormatInt(old+int64(i), 10) + ":7:OLD" + strconv.Itoa(i)
		if err := c.Do(ctx, c.B().Set().Key(k).Value("old").Build()).Error(); err != nil {
			t.Fatal(err)
		}
	}
	if len(cs) == 1 {
		return
	}
	snap := snapshot(t, c)
	keys := make([]string, 0, len(snap))
	for k := range snap {
		keys = append(keys, k)
	}
	values := applyE2EValues(t, c, keys)
	for _, to := range cs[1:] {
		cmds := make(rueidis.Commands, 0, len(keys))
		for _, k := range keys {
			ttl := snap[k].ExpireAt
			if ttl < 0 {
				ttl = 0
			}
			cmds = append(cmds, to.B().Restore().Key(k).Ttl(ttl).SerializedValue(values[k]).Absttl().Build())
		}
		for i, r := range to.DoMulti(ctx, cmds...) {
			if err := r.Error(); err != nil {
				t.Fatalf("RESTORE %s: %v", keys[i], err)
			}
		}
		wantSame(t, "the copy of the seeded server", snap, snapshot(t, to))
	}
}

// applyE2EExpectTickets checks after against before and the ticket job's
// rule, computed here from the key names: every string ticket without a
// TTL expires at issued + 365d, or runStart + 1h when that is past; every
// other key is as it was. Values are compared with DUMP (a key's digest
// changes when it gains a TTL).
//
// A ticket past its year may have its grace TTL from any of runStartsMs
// (a canary, then a --restart).
func applyE2EExpectTickets(t *testing.T, c rueidis.Client, before, after map[string]redistest.KeyState, beforeValues map[string]string, runStartsMs ...int64) {
	t.Helper()
	want := map[string]redistest.KeyState{}
	var changed []string
	for k, v := range before {
		m := applyE2ETicketName.FindStringSubmatch(k)
		if m == nil || v.Type != "string" || v.ExpireAt != -1 {
			want[k] = v
			continue
		}
		sec, _ := strconv.ParseInt(m[1], 10, 64)
		at := time.Unix(sec, 0).Add(applyE2EYear).UnixMilli()
		if at <= runStartsMs[0] {
			at = runStartsMs[0] + time.Hour.Milliseconds()
			for _, start := range runStartsMs[1:] {
				if after[k].ExpireAt == start+time.Hour.Milliseconds() {
					at = after[k].ExpireAt
				}
			}
		}
		v.ExpireAt = at
		v.Digest = after[k].Digest
		want[k] = v
		changed = append(changed, k)
	}
	wantSame(t, "the keyspace after the ticket job", want, after)
	now := applyE2EValues(t, c, changed)
	for _, k := range changed {
		if now[k] != beforeValues[k] {
			t.Fatalf("the value of %s changed", k)
		}
	}
}

// applyE2EValues reads the DUMP payload of every key (all keys when keys
// is nil).
func applyE2EValues(t *testing.T, c rueidis.Client, keys []string) map[string]string {
	t.Helper()
	ctx := context.Background()
	if keys == nil {
		for k := range snapshot(t, c) {
			keys = append(keys, k)
		}
	}
	out := map[string]string{}
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = c.B().Dump().Key(k).Build()
	}
	for i, r := range c.DoMulti(ctx, cmds...) {
		v, err := r.ToString()
		if err != nil {
			t.Fatalf("DUMP %s: %v", keys[i], err)
		}
		out[keys[i]] = v
	}
	return out
}

// applyE2EExpires is the number of keys with a TTL (INFO keyspace).
func applyE2EExpires(t *testing.T, c rueidis.Client) int {
	t.Helper()
	info, err := c.Do(context.Background(), c.B().Info().Section("keyspace").Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`db0:keys=\d+,expires=(\d+)`).FindStringSubmatch(info)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// applyE2EWaitExpires waits until n keys have a TTL, while p runs.
func applyE2EWaitExpires(t *testing.T, p *proc, c rueidis.Client, n int) {
	t.Helper()
	p.waitFor(t, fmt.Sprintf("%d keys with a TTL", n), func() bool { return applyE2EExpires(t, c) >= n })
}

// applyE2ETicketServer starts a server seeded by applyE2ESeed with tickets
// and writes the ticket job, where most tests here start. It returns the
// job file and a state dir beside it.
func applyE2ETicketServer(t *testing.T, tickets int) (srv *redistest.Server, c rueidis.Client, job, state string) {
	t.Helper()
	srv = redistest.Start(t, redistest.Options{})
	c = srv.Client(t)
	applyE2ESeed(t, tickets, c)
	dir := t.TempDir()
	return srv, c, writeJob(t, dir, "job.yaml", applyE2ETicketJob), filepath.Join(dir, "state")
}

// applyE2EArgs are the arguments every apply here takes. The guards are
// on, as an operator runs it.
func applyE2EArgs(url, state string, more ...string) []string {
	return append([]string{"apply", "--redis", url, "--state-dir", state, "--progress", "none"}, more...)
}

// Killed with SIGKILL at two points and resumed to the end, a run ends in
// the same keyspace as an uninterrupted run of the same job on an
// identical server (docs/safety.md, promise 3). Only the grace TTLs differ, by
// exactly the difference of the two runs' starts.
func TestApplyE2E_ResumeAfterSIGKILL(t *testing.T) {
	a, b := redistest.Start(t, redistest.Options{}), redistest.Start(t, redistest.Options{})
	ca, cb := a.Client(t), b.Client(t)
	applyE2ESeed(t, 3000, ca, cb)
	dir := t.TempDir()
	job := writeJob(t, dir, "job.yaml", applyE2ETicketJob)
	stateA, stateB := filepath.Join(dir, "state-a"), filepath.Join(dir, "state-b")

	// Kill it when it has changed 1200 keys (of about 2900), then its
	// resume at 2200, then resume it to the end. The points are the
	// server's count of keys with a TTL, not times: the rate is low enough
	// that the run is still going when they are reached.
	base := applyE2EExpires(t, ca)
	p := start(t, nil, applyE2EArgs(a.URL, stateA, "--yes", "--rate", "300", job)...)
	applyE2EWaitExpires(t, p, ca, base+1200)
	p.cmd.Process.Signal(syscall.SIGKILL)
	if r := p.wait(t); r.code != 128+int(syscall.SIGKILL) {
		t.Fatalf("the first run was not killed (exit %d): the job ran too fast to be interrupted\n%s", r.code, r)
	}
	cp := readCheckpoint(t, stateA, "ticket-ttl-backfill")
	if cp.Completed {
		t.Fatal("the killed run's checkpoint says completed")
	}
	p = start(t, nil, applyE2EArgs(a.URL, stateA, "--yes", "--rate", "300", "--resume", job)...)
	applyE2EWaitExpires(t, p, ca, base+2200)
	p.cmd.Process.Signal(syscall.SIGKILL)
	if r := p.wait(t); r.code != 128+int(syscall.SIGKILL) {
		t.Fatalf("the first resume was not killed (exit %d)\n%s", r.code, r)
	}
	r := keyjob(t, nil, applyE2EArgs(a.URL, stateA, "--yes", "--rate", "unlimited", "--resume", job)...)
	wantExit(t, r, 0)

	q := keyjob(t, nil, applyE2EArgs(b.URL, stateB, "--yes", "--rate", "unlimited", job)...)
	wantExit(t, q, 0)

	runA := readCheckpoint(t, stateA, "ticket-ttl-backfill")
	runB := readCheckpoint(t, stateB, "ticket-ttl-backfill")
	if runA.RunStartMs != cp.RunStartMs {
		t.Errorf("the resumes changed the run's start: %d, was %d", runA.RunStartMs, cp.RunStartMs)
	}
	gotA, gotB := snapshot(t, ca), snapshot(t, cb)
	grace := 0
	for k, s := range gotA {
		if strings.Contains(k, ":OLD") {
			// The grace TTL counts from each run's own start.
			if s.ExpireAt-runA.RunStartMs != time.Hour.Milliseconds() || gotB[k].ExpireAt-runB.RunStartMs != time.Hour.Milliseconds() {
				t.Errorf("%s: grace expiry %d (run start %d) and %d (run start %d), want each run's start + 1h", k, s.ExpireAt, runA.RunStartMs, gotB[k].ExpireAt, runB.RunStartMs)
			}
			s.ExpireAt = gotB[k].ExpireAt
			gotA[k] = s
			grace++
		}
	}
	if grace != 20 {
		t.Errorf("%d grace tickets, want 20", grace)
	}
	wantSame(t, "killed twice and resumed, against uninterrupted", gotB, gotA)
	rep := readReport(t, stateA, "ticket-ttl-backfill", runA.RunID)
	if !rep.Completed || !rep.Resumed {
		t.Errorf("report: completed %v, resumed %v", rep.Completed, rep.Resumed)
	}
	// The counts across two kills are the uninterrupted run's: the keys
	// the killed invocations changed after their last checkpoint count as
	// changed (from the journal), not as already having a TTL.
	repB := readReport(t, stateB, "ticket-ttl-backfill", runB.RunID)
	if rep.Outcomes.Change != repB.Outcomes.Change || rep.Outcomes.ChangeGrace != repB.Outcomes.ChangeGrace ||
		rep.Scanned != repB.Scanned || !maps.Equal(rep.Outcomes.Skip, repB.Outcomes.Skip) {
		t.Errorf("killed twice: change %d (grace %d), scanned %d, skips %v; uninterrupted: change %d (grace %d), scanned %d, skips %v",
			rep.Outcomes.Change, rep.Outcomes.ChangeGrace, rep.Scanned, rep.Outcomes.Skip,
			repB.Outcomes.Change, repB.Outcomes.ChangeGrace, repB.Scanned, repB.Outcomes.Skip)
	}
}

// The first Ctrl-C (SIGINT) finishes the batch in flight, writes the
// checkpoint, prints how to resume and exits 130; --resume completes the
// job.
func TestApplyE2E_SIGINT(t *testing.T) {
	srv, c, job, state := applyE2ETicketServer(t, 3000)
	before := snapshot(t, c)
	values := applyE2EValues(t, c, nil)
	base := applyE2EExpires(t, c)
	p := start(t, nil, applyE2EArgs(srv.URL, state, "--yes", "--rate", "300", job)...)
	applyE2EWaitExpires(t, p, c, base+1200)
	p.cmd.Process.Signal(syscall.SIGINT)
	r := p.wait(t)
	wantExit(t, r, 130)
	if !strings.Contains(hint(t, r, "resume"), " --resume ") {
		t.Errorf("no resume hint on stdout\n%s", r)
	}
	cp := readCheckpoint(t, state, "ticket-ttl-backfill")
	if cp.Completed || cp.Changes == 0 {
		t.Fatalf("checkpoint after SIGINT: completed %v, changes %d", cp.Completed, cp.Changes)
	}
	// The batch in flight was finished and committed: the checkpoint
	// counts every change made.
	if d := redistest.Diff(before, snapshot(t, c)); int64(len(d.Changed)) != cp.Changes {
		t.Errorf("%d keys changed, the checkpoint counts %d", len(d.Changed), cp.Changes)
	}
	rep := readReport(t, state, "ticket-ttl-backfill", cp.RunID)
	if rep.Completed || rep.Stopped != "interrupted" {
		t.Errorf("report: completed %v, stopped %q", rep.Completed, rep.Stopped)
	}

	r = keyjob(t, nil, applyE2EArgs(srv.URL, state, "--yes", "--rate", "unlimited", "--resume", job)...)
	wantExit(t, r, 0)
	if !strings.Contains(r.stdout, "Resuming ticket-ttl-backfill") {
		t.Errorf("the resume does not say it resumes\n%s", r)
	}
	applyE2EExpectTickets(t, c, before, snapshot(t, c), values, cp.RunStartMs)
}

// --limit 100 is a canary: exit 0, completed false in the report, exactly
// 100 changes; --resume completes the job.
func TestApplyE2E_LimitCanary(t *testing.T) {
	srv, c, job, state := applyE2ETicketServer(t, 1000)
	before := snapshot(t, c)
	values := applyE2EValues(t, c, nil)

	r := keyjob(t, nil, applyE2EArgs(srv.URL, state, "--yes", "--limit", "100", job)...)
	wantExit(t, r, 0)
	cp := readCheckpoint(t, state, "ticket-ttl-backfill")
	rep := readReport(t, state, "ticket-ttl-backfill", cp.RunID)
	if rep.Completed || rep.Changes != 100 || rep.Outcomes.Change != 100 {
		t.Fatalf("canary report: completed %v, changes %d, change %d; want false, 100, 100\n%s", rep.Completed, rep.Changes, rep.Outcomes.Change, r)
	}
	if d := redistest.Diff(before, snapshot(t, c)); len(d.Changed) != 100 || len(d.Added)+len(d.Removed) != 0 {
		t.Fatalf("the canary changed %d keys and added or removed %d, want 100 changed", len(d.Changed), len(d.Added)+len(d.Removed))
	}
	if !strings.Contains(hint(t, r, "resume"), " --resume ") {
		t.Errorf("no resume hint after the canary\n%s", r)
	}

	r = keyjob(t, nil, applyE2EArgs(srv.URL, state, "--yes", "--resume", job)...)
	wantExit(t, r, 0)
	rep = readReport(t, state, "ticket-ttl-backfill", cp.RunID)
	if !rep.Completed {
		t.Errorf("report after the resume: not completed (%s)", rep.Stopped)
	}
	applyE2EExpectTickets(t, c, before, snapshot(t, c), values, cp.RunStartMs)
}

// Without a terminal and without --yes, apply refuses (exit 4) and changes
// nothing: no key, no checkpoint.
func TestApplyE2E_RefusesWithoutTerminal(t *testing.T) {
	srv, c, job, state := applyE2ETicketServer(t, 300)
	before := snapshot(t, c)

	r := keyjob(t, nil, applyE2EArgs(srv.URL, state, job)...)
	wantExit(t, r, 4)
	if !strings.Contains(r.stderr, "--yes") {
		t.Errorf("the refusal does not say what to type (--yes)\n%s", r)
	}
	wantSame(t, "after the refusal", before, snapshot(t, c))
	if _, err := os.Stat(checkpoint.Path(state, "ticket-ttl-backfill")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a checkpoint exists after the refusal (%v)", err)
	}
	journals, _ := filepath.Glob(filepath.Join(state, "*", "*.journal"))
	if len(journals) != 0 {
		t.Errorf("journals after the refusal: %v", journals)
	}
}

// While the pause file exists the run waits and changes nothing; once it
// is removed the run completes.
func TestApplyE2E_PauseFile(t *testing.T) {
	srv, c, job, state := applyE2ETicketServer(t, 500)
	before := snapshot(t, c)
	values := applyE2EValues(t, c, nil)
	pause := filepath.Join(filepath.Dir(job), "pause")
	if err := os.WriteFile(pause, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	p := start(t, nil, applyE2EArgs(srv.URL, state, "--yes", "--pause-file", pause, job)...)
	cpPath := checkpoint.Path(state, "ticket-ttl-backfill")
	p.waitFor(t, cpPath+" to exist", func() bool {
		_, err := os.Stat(cpPath)
		return err == nil
	})
	time.Sleep(time.Second)
	wantSame(t, "while the pause file exists", before, snapshot(t, c))
	if p.exited() {
		t.Fatalf("the run ended while paused\n%s", p)
	}
	if err := os.Remove(pause); err != nil {
		t.Fatal(err)
	}
	r := p.wait(t)
	wantExit(t, r, 0)
	if !strings.Contains(r.stderr, "paused") || !strings.Contains(r.stderr, pause) {
		t.Errorf("the log does not say the run paused for the pause file\n%s", r)
	}
	cp := readCheckpoint(t, state, "ticket-ttl-backfill")
	applyE2EExpectTickets(t, c, before, snapshot(t, c), values, cp.RunStartMs)
}

// limits.max_changes smaller than the job's changes. When the summary
// before the run already counts more, apply refuses to start (a plan
// error, exit 1) and changes nothing. When the keyspace grew after the
// reviewed plan, the run stops before passing max_changes: exit 3, at
// most max_changes changes, the checkpoint written.
func TestApplyE2E_MaxChanges(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{})
	c := srv.Client(t)
	applyE2ESeed(t, 100, c) // about 100 changes: within max_changes
	dir := t.TempDir()
	job := writeJob(t, dir, "job.yaml", applyE2ETicketJob+"  max_changes: 150\n")
	state := filepath.Join(dir, "state")
	plan := filepath.Join(dir, "plan.json")
	r := keyjob(t, nil, "plan", "--redis", srv.URL, "--format", "json", "--out", plan, job)
	wantExit(t, r, 0)

	// The keyspace grows after the review: 500 more tickets to change.
	if _, err := seed.Tickets(ctx, c, seed.TicketSpec{Count: 500, Span: 300 * 24 * time.Hour, WithTTLShare: -1, Seed: 12}); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, c)

	t.Run("RefusedBySummary", func(t *testing.T) {
		r := keyjob(t, nil, applyE2EArgs(srv.URL, filepath.Join(t.TempDir(), "state"), "--yes", job)...)
		wantExit(t, r, 1)
		if !strings.Contains(r.stderr, "max_changes") {
			t.Errorf("stderr does not name max_changes\n%s", r)
		}
		wantSame(t, "after the refusal", before, snapshot(t, c))
	})
	t.Run("AbortedByRun", func(t *testing.T) {
		r := keyjob(t, nil, applyE2EArgs(srv.URL, state, "--yes", "--plan", plan, job)...)
		wantExit(t, r, 3)
		if !strings.Contains(r.stderr, "max_changes") {
			t.Errorf("stderr does not name max_changes\n%s", r)
		}
		d := redistest.Diff(before, snapshot(t, c))
		if n := len(d.Changed) + len(d.Added) + len(d.Removed); n != 150 {
			t.Errorf("%d keys changed, want max_changes = 150", n)
		}
		cp := readCheckpoint(t, state, "ticket-ttl-backfill")
		if cp.Completed || cp.Changes != 150 || cp.Changes != int64(len(d.Changed)) {
			t.Errorf("checkpoint: completed %v, changes %d (the server shows %d)", cp.Completed, cp.Changes, len(d.Changed))
		}
		rep := readReport(t, state, "ticket-ttl-backfill", cp.RunID)
		if rep.Completed || !strings.Contains(rep.Stopped, "max_changes") {
			t.Errorf("report: completed %v, stopped %q", rep.Completed, rep.Stopped)
		}
	})
}

// Checkpoints: one that exists without --resume is an error naming it
// (exit 4); one written for another job file or another server, or one
// that is garbage, is an error naming the file (exit 1), never a silent
// restart; --restart sets it aside and runs.
func TestApplyE2E_Checkpoints(t *testing.T) {
	srv, other := redistest.Start(t, redistest.Options{}), redistest.Start(t, redistest.Options{})
	c := srv.Client(t)
	applyE2ESeed(t, 500, c, other.Client(t))
	before, otherBefore := snapshot(t, c), snapshot(t, other.Client(t))
	values := applyE2EValues(t, c, nil)
	dir := t.TempDir()
	job := writeJob(t, dir, "job.yaml", applyE2ETicketJob)
	state := filepath.Join(dir, "state")
	cpPath := checkpoint.Path(state, "ticket-ttl-backfill")

	r := keyjob(t, nil, applyE2EArgs(srv.URL, state, "--yes", "--limit", "10", job)...)
	wantExit(t, r, 0)
	first := readCheckpoint(t, state, "ticket-ttl-backfill")

	t.Run("ExistsWithoutResume", func(t *testing.T) {
		r := keyjob(t, nil, applyE2EArgs(srv.URL, state, "--yes", job)...)
		wantExit(t, r, 4)
		if !strings.Contains(r.stderr, cpPath) || !strings.Contains(r.stderr, "--resume") {
			t.Errorf("the error does not name the checkpoint and --resume\n%s", r)
		}
	})
	t.Run("OtherJobFile", func(t *testing.T) {
		// What the job does to keys changed (a comment, a rate or a guard
		// level alone would resume: see TestGuardE2E_AOFGrowth).
		edited := writeJob(t, t.TempDir(), "job.yaml", strings.Replace(applyE2ETicketJob, "grace: 1h", "grace: 2h", 1))
		r := keyjob(t, nil, applyE2EArgs(srv.URL, state, "--yes", "--resume", edited)...)
		wantExit(t, r, 1)
		if !strings.Contains(r.stderr, cpPath) || !strings.Contains(r.stderr, "sha256") {
			t.Errorf("the error does not name the checkpoint and the job file's sha256\n%s", r)
		}
	})
	t.Run("OtherServer", func(t *testing.T) {
		r := keyjob(t, nil, applyE2EArgs(other.URL, state, "--yes", "--resume", job)...)
		wantExit(t, r, 1)
		if !strings.Contains(r.stderr, cpPath) || !strings.Contains(r.stderr, "target address") {
			t.Errorf("the error does not name the checkpoint and the target\n%s", r)
		}
	})
	wantSame(t, "the other server after the refusal", otherBefore, snapshot(t, other.Client(t)))
	t.Run("Corrupt", func(t *testing.T) {
		if err := os.WriteFile(cpPath, []byte("{\"format_version\": 1, garbage"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"--resume", job}, {job}} {
			r := keyjob(t, nil, applyE2EArgs(srv.URL, state, append([]string{"--yes"}, args...)...)...)
			wantExit(t, r, 1)
			if !strings.Contains(r.stderr, cpPath) || !strings.Contains(r.stderr, "corrupt") {
				t.Errorf("the error does not name the corrupt checkpoint\n%s", r)
			}
		}
	})
	t.Run("Restart", func(t *testing.T) {
		r := keyjob(t, nil, applyE2EArgs(srv.URL, state, "--yes", "--restart", job)...)
		wantExit(t, r, 0)
		set, _ := filepath.Glob(cpPath + ".discarded-*")
		if len(set) != 1 {
			t.Errorf("discarded checkpoints: %v, want the corrupt one set aside", set)
		}
		cp := readCheckpoint(t, state, "ticket-ttl-backfill")
		if !cp.Completed || cp.RunID == first.RunID || cp.Journal == first.Journal {
			t.Errorf("after --restart: completed %v, run %s (first %s), journal %s (first %s)", cp.Completed, cp.RunID, first.RunID, cp.Journal, first.Journal)
		}
		// The canary's journal is still there: journals are never
		// overwritten.
		if _, err := os.Stat(first.Journal); err != nil {
			t.Errorf("the first run's journal: %v", err)
		}
		applyE2EExpectTickets(t, c, before, snapshot(t, c), values, cp.RunStartMs, first.RunStartMs)
	})
}

// --plan binds the run to a reviewed plan: it runs when the job file and
// the target are the plan's, refuses (exit 4) when the job file changed
// since or the plan was made against another server, unless
// --allow-other-target.
func TestApplyE2E_PlanBinding(t *testing.T) {
	srv, other := redistest.Start(t, redistest.Options{}), redistest.Start(t, redistest.Options{})
	c, co := srv.Client(t), other.Client(t)
	applyE2ESeed(t, 400, c, co)
	before := snapshot(t, c)
	values := applyE2EValues(t, c, nil)
	dir := t.TempDir()
	job := writeJob(t, dir, "job.yaml", applyE2ETicketJob)
	planA, planB := filepath.Join(dir, "plan-a.json"), filepath.Join(dir, "plan-b.json")

	for _, x := range []struct{ url, out string }{{srv.URL, planA}, {other.URL, planB}} {
		r := keyjob(t, nil, "plan", "--redis", x.url, "--format", "json", "--out", x.out, job)
		wantExit(t, r, 0)
	}

	t.Run("JobFileEdited", func(t *testing.T) {
		edited := writeJob(t, t.TempDir(), "job.yaml", strings.Replace(applyE2ETicketJob, "grace: 1h", "grace: 2h", 1))
		r := keyjob(t, nil, applyE2EArgs(srv.URL, filepath.Join(t.TempDir(), "state"), "--yes", "--plan", planA, edited)...)
		wantExit(t, r, 4)
		if !strings.Contains(r.stderr, planA) {
			t.Errorf("the refusal does not name the plan\n%s", r)
		}
	})
	t.Run("OtherTarget", func(t *testing.T) {
		r := keyjob(t, nil, applyE2EArgs(srv.URL, filepath.Join(t.TempDir(), "state"), "--yes", "--plan", planB, job)...)
		wantExit(t, r, 4)
		if !strings.Contains(r.stderr, "--allow-other-target") {
			t.Errorf("the refusal does not say --allow-other-target\n%s", r)
		}
	})
	wantSame(t, "after the refusals", before, snapshot(t, c))

	t.Run("Reviewed", func(t *testing.T) {
		state := filepath.Join(t.TempDir(), "state")
		r := keyjob(t, nil, applyE2EArgs(other.URL, state, "--yes", "--plan", planB, job)...)
		wantExit(t, r, 0)
		if !strings.Contains(r.stdout, "Summary from the reviewed plan") {
			t.Errorf("the summary is not the reviewed plan's\n%s", r)
		}
	})
	t.Run("AllowOtherTarget", func(t *testing.T) {
		state := filepath.Join(t.TempDir(), "state")
		r := keyjob(t, nil, applyE2EArgs(srv.URL, state, "--yes", "--plan", planB, "--allow-other-target", job)...)
		wantExit(t, r, 0)
		if !strings.Contains(r.stderr, "--allow-other-target") {
			t.Errorf("no warning that the plan was made against another target\n%s", r)
		}
		cp := readCheckpoint(t, state, "ticket-ttl-backfill")
		applyE2EExpectTickets(t, c, before, snapshot(t, c), values, cp.RunStartMs)
	})
}
