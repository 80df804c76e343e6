package main_test

// The conformance suite: the same checks on every server of the matrix
// (redistest.Matrix: the one server of make test, or every image make
// test-matrix builds), so that a behaviour that differs between Redis 7,
// Redis 8, Valkey 8 and Valkey 9 fails a test. Each server gets the
// commands an operator runs: plan, apply killed and resumed, undo, a
// condition that needs the server-side script, a dump-backed delete and
// its undo, survey, a guard driven past its level, and a cluster.

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/seed"
)

// matrixIdleJob gives every ticket read or written within the hour an hour
// to live: select.idle needs the guarded script (EVALSHA) on every server.
const matrixIdleJob = `version: 1
name: matrix-idle
select:
  match: "ticket:*"
  type: string
  ttl: none
  idle: "< 1h"
action:
  expire:
    ttl: 1h
limits:
  rate: unlimited
`

func TestMatrix_Standalone(t *testing.T) {
	for _, srv := range redistest.Matrix(t) {
		t.Run(srv.Name, func(t *testing.T) {
			t.Parallel()
			matrixStandalone(t, srv.Image)
		})
	}
}

func matrixStandalone(t *testing.T, image string) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{Image: image})
	c := srv.Client(t)
	applyE2ESeed(t, 2000, c)
	if err := seed.DealClicks(ctx, c, 300); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, c)
	values := applyE2EValues(t, c, nil)
	dir := t.TempDir()
	job := writeJob(t, dir, "job.yaml", applyE2ETicketJob)

	// plan: the counts follow from the seed, and nothing changes.
	var plan clusterE2EPlanJSON
	p := keyjob(t, nil, "plan", "--redis", srv.URL, "--format", "json", job)
	wantExit(t, p, 0)
	stdoutJSON(t, p, &plan)
	wantTickets := int64(0)
	for k, v := range before {
		if applyE2ETicketName.MatchString(k) && v.Type == "string" && v.ExpireAt == -1 {
			wantTickets++
		}
	}
	// change counts every ticket, the 20 past their year (grace TTL) too.
	if plan.Outcomes.Change != wantTickets || plan.Outcomes.ChangeGrace != 20 {
		t.Errorf("plan: change %d of which grace %d, want %d tickets of which 20 grace", plan.Outcomes.Change, plan.Outcomes.ChangeGrace, wantTickets)
	}
	if plan.DBSize != int64(len(before)) {
		t.Errorf("plan: dbsize %d, %d keys seeded", plan.DBSize, len(before))
	}
	wantSame(t, "after plan", before, snapshot(t, c))

	// apply, killed once and resumed: every ticket right.
	state := filepath.Join(dir, "state")
	base := applyE2EExpires(t, c)
	run := start(t, nil, applyE2EArgs(srv.URL, state, "--yes", "--rate", "300", job)...)
	applyE2EWaitExpires(t, run, c, base+600)
	run.cmd.Process.Signal(syscall.SIGKILL)
	if r := run.wait(t); r.code != 128+int(syscall.SIGKILL) {
		t.Fatalf("the run was not killed (exit %d)\n%s", r.code, r)
	}
	r := keyjob(t, nil, applyE2EArgs(srv.URL, state, "--yes", "--rate", "unlimited", "--resume", job)...)
	wantExit(t, r, 0)
	cp := readCheckpoint(t, state, "ticket-ttl-backfill")
	applyE2EExpectTickets(t, c, before, snapshot(t, c), values, cp.RunStartMs)
	rep := readReport(t, state, "ticket-ttl-backfill", cp.RunID)
	// The keys changed after the kill's last checkpoint count as skipped
	// (they have a TTL now) on resume: the count is at most every ticket.
	if changed := rep.Outcomes.Change; !rep.Completed || !rep.Resumed || changed == 0 || changed > wantTickets {
		t.Errorf("report: completed %v, resumed %v, changed %d; want some of the %d tickets", rep.Completed, rep.Resumed, changed, wantTickets)
	}

	// undo: the keyspace as it was.
	r = keyjob(t, nil, applyE2EUndoArgs(srv.URL, "--yes", rep.Journal)...)
	wantExit(t, r, 0)
	wantSame(t, "after undo", before, snapshot(t, c))

	// A condition on idle time goes through the guarded script.
	idle := writeJob(t, dir, "idle.yaml", matrixIdleJob)
	r = keyjob(t, nil, applyE2EArgs(srv.URL, state, "--yes", idle)...)
	wantExit(t, r, 0)
	icp := readCheckpoint(t, state, "matrix-idle")
	irep := readReport(t, state, "matrix-idle", icp.RunID)
	if irep.Outcomes.Change != wantTickets {
		t.Errorf("idle job: changed %d, want %d (every ticket without a TTL was touched within the hour)", irep.Outcomes.Change, wantTickets)
	}
	r = keyjob(t, nil, applyE2EUndoArgs(srv.URL, "--yes", irep.Journal)...)
	wantExit(t, r, 0)
	wantSame(t, "after the idle job's undo", before, snapshot(t, c))

	// A dump-backed delete (DUMP, the script's digest check, UNLINK) and
	// its undo (RESTORE).
	r = keyjob(t, nil, applyE2EArgs(srv.URL, state, "--yes", "--allow-looser-guards", example("drop-deal-clicks.yaml"))...)
	wantExit(t, r, 0)
	for k := range snapshot(t, c) {
		if strings.HasPrefix(k, "deal:clicks:") {
			t.Fatalf("%s survived the delete", k)
		}
	}
	dcp := readCheckpoint(t, state, "drop-deal-clicks")
	r = keyjob(t, nil, applyE2EUndoArgs(srv.URL, "--yes", dcp.Journal)...)
	wantExit(t, r, 0)
	wantSame(t, "after the delete's undo", before, snapshot(t, c))

	// survey: the patterns the seed made, and nothing changes.
	s := keyjob(t, nil, "survey", "--redis", srv.URL, "--format", "json")
	wantExit(t, s, 0)
	var survey struct {
		Patterns []struct {
			Pattern string `json:"pattern"`
			Keys    int64  `json:"keys"`
		} `json:"patterns"`
	}
	stdoutJSON(t, s, &survey)
	var tickets int64
	for _, p := range survey.Patterns {
		if strings.HasPrefix(p.Pattern, "ticket:") {
			tickets += p.Keys
		}
	}
	if want := matrixCount(before, "ticket:"); tickets != want {
		t.Errorf("survey: %d keys under ticket: patterns, want %d\n%s", tickets, want, s.stdout)
	}
	wantSame(t, "after survey", before, snapshot(t, c))

	// The memory guard: maxmemory just above used_memory refuses an
	// expire job before its first change.
	used := guardE2EInt(guardE2EInfo(t, c), "used_memory")
	guardE2EDo(t, c, "CONFIG", "SET", "maxmemory", strconv.FormatInt(used*100/95, 10))
	r = keyjob(t, nil, applyE2EArgs(srv.URL, filepath.Join(dir, "state-guard"), "--yes", job)...)
	wantExit(t, r, 3)
	if !strings.Contains(r.stderr, "--from-high-memory") {
		t.Errorf("the memory guard's refusal does not name --from-high-memory\n%s", r)
	}
	guardE2EDo(t, c, "CONFIG", "SET", "maxmemory", "0")
	wantSame(t, "after the guard's refusal", before, snapshot(t, c))
}

func matrixCount(snap map[string]redistest.KeyState, prefix string) int64 {
	var n int64
	for k := range snap {
		if strings.HasPrefix(k, prefix) {
			n++
		}
	}
	return n
}

// TestMatrix_Cluster: plan, apply and undo on a three-primary cluster of
// every server of the matrix.
func TestMatrix_Cluster(t *testing.T) {
	for _, srv := range redistest.Matrix(t) {
		t.Run(srv.Name, func(t *testing.T) {
			t.Parallel()
			cl := redistest.StartClusterOn(t, srv.Image, 3, 0)
			c := cl.Client(t)
			now := time.Now()
			clusterE2ESeed(t, c, now)
			before := snapshot(t, c)
			values := clusterE2EValues(t, c, before)
			dir := t.TempDir()
			job := writeJob(t, dir, "tickets.yaml", clusterE2ETicketJob)
			plan := clusterE2EPlan(t, cl.URL, job)
			if plan.Target.Mode != "cluster" || plan.Target.Nodes != 3 || plan.Outcomes.ChangeGrace != 30 {
				t.Errorf("plan on the cluster: target %+v, change_grace %d; want 3 nodes and 30", plan.Target, plan.Outcomes.ChangeGrace)
			}
			state := filepath.Join(dir, "state")
			p := clusterE2ERun(t, clusterE2EApply(cl.URL, state, "--rate", "unlimited", job)...)
			wantExit(t, p, 0)
			cp := readCheckpoint(t, state, "ticket-ttl-backfill")
			clusterE2EExpectTickets(t, c, before, snapshot(t, c), values, cp.RunStartMs)
			rep := readReport(t, state, "ticket-ttl-backfill", cp.RunID)
			clusterE2ECheckReport(t, rep, 3)
			u := clusterE2ERun(t, "undo", "--redis", cl.URL, "--yes", "--progress", "none", rep.Journal)
			wantExit(t, u, 0)
			wantSame(t, "after undo", before, snapshot(t, c))
		})
	}
}
