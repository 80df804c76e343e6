package main_test

// Redis Cluster and replicas end to end: the built binary against a real
// three-primary cluster (plan, apply, SIGKILL and --resume, undo, deletes
// across slots, a primary failing over mid-run) and against a standalone
// primary with a replica (a run pointed at the replica is refused; plan
// and survey read it). It runs the binary TestMain builds and shares the
// keyspace and job-file helpers of e2e_helpers_test.go.

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/examples"
	"github.com/keyjob/keyjob/internal/checkpoint"
	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/seed"
)

// clusterE2ETicketJob is examples/ticket-ttl-backfill.yaml with a small
// SCAN COUNT, so that a few thousand keys make many batches per shard.
var clusterE2ETicketJob = examples.MustJob("ticket-ttl-backfill.yaml", "limits:\n  rate: 5000\n  scan_count: 100\n")

// clusterE2EDealJob is examples/drop-deal-clicks.yaml: a delete with a
// DUMP of every key in the journal.
var clusterE2EDealJob = examples.MustJob("drop-deal-clicks.yaml",
	"guards: {}\n", "limits:\n  rate: unlimited\n  scan_count: 100\n")

const (
	clusterE2ETickets = 3000
	clusterE2EYear    = 365 * 24 * time.Hour
)

var clusterE2ETicketName = regexp.MustCompile(`^ticket:(\d{10}):\d+:[A-Za-z0-9]+$`)

// clusterRunTimeout bounds a cluster run: a failover waits out
// cluster-node-timeout.
const clusterRunTimeout = 3 * time.Minute

// clusterE2ERun runs the binary to its end, without a terminal and
// without $REDIS_URL.
func clusterE2ERun(t *testing.T, args ...string) result {
	t.Helper()
	return start(t, nil, args...).waitUpTo(t, clusterRunTimeout)
}

// clusterE2EApply are the arguments of an apply run without a terminal,
// guards on, as an operator runs it.
func clusterE2EApply(url, state string, more ...string) []string {
	return append([]string{"apply", "--redis", url, "--state-dir", state, "--progress", "none", "--yes"}, more...)
}

// clusterE2ESeed loads the same keyspace into c whenever now is the same:
// clusterE2ETickets tickets issued over the 300 days before now (5% with
// their TTL already), 30 issued 400 days ago (the grace TTL), tickets the
// job skips (a name the regex refuses, timestamps centuries ahead, a hash),
// sessions with a TTL and deal click hashes. Issue times stay days away
// from the 365-day boundary, so the outcome of a ticket does not depend on
// how long the test takes.
func clusterE2ESeed(t *testing.T, c rueidis.Client, now time.Time) {
	t.Helper()
	ctx := context.Background()
	spec := seed.TicketSpec{Count: clusterE2ETickets, Now: now, Span: 300 * 24 * time.Hour, WithTTLShare: 0.05, Seed: 21}
	if _, err := seed.Tickets(ctx, c, spec); err != nil {
		t.Fatal(err)
	}
	if err := seed.Sessions(ctx, c, 300); err != nil {
		t.Fatal(err)
	}
	if err := seed.DealClicks(ctx, c, 300); err != nil {
		t.Fatal(err)
	}
	old := now.Add(-400 * 24 * time.Hour).Unix()
	var cmds rueidis.Commands
	for i := range 30 {
		k := "ticket:" + strconv.FormatInt(old+int64(i), 10) + ":7:OLD" + strconv.Itoa(i)
		cmds = append(cmds, c.B().Set().Key(k).Value("old").Build())
	}
	for _, k := range []string{"ticket:garbage", "ticket:123:1:short", "ticket:9999999999:1:far", "ticket:9999999998:2:far"} {
		cmds = append(cmds, c.B().Set().Key(k).Value("x").Build())
	}
	cmds = append(cmds, c.B().Hset().Key("ticket:"+strconv.FormatInt(old, 10)+":1:HASH").FieldValue().FieldValue("f", "v").Build())
	for i, r := range c.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			t.Fatalf("%v: %v", cmds[i].Commands(), err)
		}
	}
}

// clusterE2EValues reads the DUMP payload of every key of snap.
func clusterE2EValues(t *testing.T, c rueidis.Client, snap map[string]redistest.KeyState) map[string]string {
	t.Helper()
	keys := make([]string, 0, len(snap))
	for k := range snap {
		keys = append(keys, k)
	}
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = c.B().Dump().Key(k).Build()
	}
	out := map[string]string{}
	for i, r := range c.DoMulti(context.Background(), cmds...) {
		v, err := r.ToString()
		if err != nil {
			t.Fatalf("DUMP %s: %v", keys[i], err)
		}
		out[keys[i]] = v
	}
	return out
}

// clusterE2EExpectTickets checks after against before and the ticket
// job's rule, computed here from the key names: every string ticket
// without a TTL that the regex accepts expires at issued + 365d, or at
// runStart + 1h when that is past (timestamps centuries ahead are left
// alone); every other key is as it was, byte for byte (DUMP).
func clusterE2EExpectTickets(t *testing.T, c rueidis.Client, before, after map[string]redistest.KeyState, values map[string]string, runStartMs int64) {
	t.Helper()
	want := map[string]redistest.KeyState{}
	var changed []string
	for k, v := range before {
		m := clusterE2ETicketName.FindStringSubmatch(k)
		if m == nil || v.Type != "string" || v.ExpireAt != -1 || strings.HasPrefix(k, "ticket:999999999") {
			want[k] = v
			continue
		}
		sec, _ := strconv.ParseInt(m[1], 10, 64)
		at := time.Unix(sec, 0).Add(clusterE2EYear).UnixMilli()
		if at <= runStartMs {
			at = runStartMs + time.Hour.Milliseconds()
		}
		v.ExpireAt = at
		v.Digest = after[k].Digest // the digest covers the TTL; the value is compared below
		want[k] = v
		changed = append(changed, k)
	}
	if len(changed) < clusterE2ETickets/2 {
		t.Fatalf("only %d tickets to change: the seed is not what the test expects", len(changed))
	}
	wantSame(t, "the keyspace after the ticket job", want, after)
	now := clusterE2EValues(t, c, after)
	for _, k := range changed {
		if now[k] != values[k] {
			t.Fatalf("the value of %s changed", k)
		}
	}
}

// clusterE2EPrimaries are the node clients of the primaries behind c.
func clusterE2EPrimaries(t *testing.T, c rueidis.Client) map[string]rueidis.Client {
	t.Helper()
	out := map[string]rueidis.Client{}
	for addr, n := range c.Nodes() {
		role, err := n.Do(context.Background(), n.B().Role().Build()).ToArray()
		if err != nil || len(role) == 0 {
			t.Fatalf("ROLE %s: %v", addr, err)
		}
		if r, _ := role[0].ToString(); r == "master" {
			out[addr] = n
		}
	}
	return out
}

// clusterE2EFlush empties every primary behind c.
func clusterE2EFlush(t *testing.T, c rueidis.Client) {
	t.Helper()
	for addr, n := range clusterE2EPrimaries(t, c) {
		if err := n.Do(context.Background(), n.B().Flushall().Build()).Error(); err != nil {
			t.Fatalf("FLUSHALL %s: %v", addr, err)
		}
	}
}

// clusterE2EInfo sums "field=N" of an INFO line over the primaries, e.g.
// ("keyspace", "db0", "expires") or ("commandstats", "cmdstat_unlink",
// "calls").
func clusterE2EInfo(t *testing.T, c rueidis.Client, section, line, field string) int64 {
	t.Helper()
	var sum int64
	for addr, n := range clusterE2EPrimaries(t, c) {
		info, err := n.Do(context.Background(), n.B().Info().Section(section).Build()).ToString()
		if err != nil {
			t.Fatalf("INFO %s on %s: %v", section, addr, err)
		}
		for _, l := range strings.Split(info, "\n") {
			rest, ok := strings.CutPrefix(strings.TrimSpace(strings.TrimPrefix(l, "txt:")), line+":")
			if !ok {
				continue
			}
			for _, kv := range strings.Split(rest, ",") {
				if v, ok := strings.CutPrefix(kv, field+"="); ok {
					n, _ := strconv.ParseInt(v, 10, 64)
					sum += n
				}
			}
		}
	}
	return sum
}

// clusterE2EWaitExpires waits until the cluster holds n keys with a TTL,
// while p runs: a kill point by the work done, not by time.
func clusterE2EWaitExpires(t *testing.T, p *proc, c rueidis.Client, n int64) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for clusterE2EInfo(t, c, "keyspace", "db0", "expires") < n {
		if p.exited() {
			t.Fatalf("ended before %d keys had a TTL\n%s", n, p)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d keys never had a TTL\n%s", n, p)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// clusterE2ECheckReport checks a completed run's report on a cluster:
// one done node per primary.
func clusterE2ECheckReport(t *testing.T, rep runReport, primaries int) {
	t.Helper()
	if !rep.Completed || rep.Target.Mode != "cluster" {
		t.Errorf("report: completed %v (%s), target mode %q; want a completed run on a cluster", rep.Completed, rep.Stopped, rep.Target.Mode)
	}
	if len(rep.Nodes) != primaries {
		t.Fatalf("report lists %d nodes, want %d: %+v", len(rep.Nodes), primaries, rep.Nodes)
	}
	for _, n := range rep.Nodes {
		if !n.Done {
			t.Errorf("report: node %s (%s) not done", n.Addr, n.ID)
		}
	}
}

// clusterE2EPlanJSON is the part of the plan these tests read.
type clusterE2EPlanJSON struct {
	DBSize  int64 `json:"dbsize"`
	Scanned int64 `json:"scanned"`
	Target  struct {
		Address  string `json:"address"`
		Mode     string `json:"mode"`
		Role     string `json:"role"`
		Replicas int    `json:"replicas"`
		Nodes    int    `json:"nodes"`
	} `json:"target"`
	Outcomes struct {
		Change      int64            `json:"change"`
		ChangeGrace int64            `json:"change_grace"`
		Skip        map[string]int64 `json:"skip"`
	} `json:"outcomes"`
	Warnings []struct {
		Code string `json:"code"`
	} `json:"warnings"`
	Errors []struct {
		Code string `json:"code"`
	} `json:"errors"`
}

func (p clusterE2EPlanJSON) warns(code string) bool {
	for _, w := range p.Warnings {
		if w.Code == code {
			return true
		}
	}
	return false
}

// clusterE2EPlan runs plan --format json and reads it.
func clusterE2EPlan(t *testing.T, url, job string, more ...string) clusterE2EPlanJSON {
	t.Helper()
	p := clusterE2ERun(t, append([]string{"plan", "--redis", url, "--format", "json"}, append(more, job)...)...)
	wantExit(t, p, 0)
	var plan clusterE2EPlanJSON
	if err := json.Unmarshal([]byte(p.stdout), &plan); err != nil {
		t.Fatalf("plan JSON: %v\n%s", err, p)
	}
	return plan
}

// TestClusterE2E_Cluster runs every command against one three-primary
// cluster: plan (the same counts as a standalone server with the same
// keys), apply, apply killed and resumed, undo, and a dump-backed delete
// across every slot and its undo. The subtests run in order, and each
// leaves the keyspace as it found it (undo).
func TestClusterE2E_Cluster(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t, 3, 0)
	srv := redistest.Start(t, redistest.Options{})
	c, sc := cl.Client(t), srv.Client(t)
	now := time.Now()
	clusterE2ESeed(t, c, now)
	clusterE2ESeed(t, sc, now)
	before := snapshot(t, c)
	values := clusterE2EValues(t, c, before)
	dir := t.TempDir()
	ticketJob := writeJob(t, dir, "tickets.yaml", clusterE2ETicketJob)
	dealJob := writeJob(t, dir, "deals.yaml", clusterE2EDealJob)

	t.Run("PlanMatchesStandalone", func(t *testing.T) {
		for _, job := range []string{ticketJob, dealJob} {
			onCluster, alone := clusterE2EPlan(t, cl.URL, job), clusterE2EPlan(t, srv.URL, job)
			if onCluster.Target.Mode != "cluster" || onCluster.Target.Nodes != 3 || alone.Target.Mode != "standalone" {
				t.Errorf("%s: targets %+v and %+v; want a cluster of 3 and a standalone server", filepath.Base(job), onCluster.Target, alone.Target)
			}
			if onCluster.DBSize != alone.DBSize || onCluster.DBSize != int64(len(before)) {
				t.Errorf("%s: dbsize %d on the cluster, %d standalone, %d keys seeded", filepath.Base(job), onCluster.DBSize, alone.DBSize, len(before))
			}
			if onCluster.Scanned != alone.Scanned || onCluster.Scanned == 0 {
				t.Errorf("%s: scanned %d on the cluster, %d standalone", filepath.Base(job), onCluster.Scanned, alone.Scanned)
			}
			if got, want := onCluster.Outcomes.Change, alone.Outcomes.Change; got != want || got == 0 {
				t.Errorf("%s: change %d on the cluster, %d standalone", filepath.Base(job), got, want)
			}
			if got, want := onCluster.Outcomes.ChangeGrace, alone.Outcomes.ChangeGrace; got != want {
				t.Errorf("%s: change_grace %d on the cluster, %d standalone", filepath.Base(job), got, want)
			}
			if len(onCluster.Outcomes.Skip) != len(alone.Outcomes.Skip) {
				t.Errorf("%s: skip buckets %v on the cluster, %v standalone", filepath.Base(job), onCluster.Outcomes.Skip, alone.Outcomes.Skip)
			}
			for bucket, want := range alone.Outcomes.Skip {
				if got := onCluster.Outcomes.Skip[bucket]; got != want {
					t.Errorf("%s: skip %s %d on the cluster, %d standalone", filepath.Base(job), bucket, got, want)
				}
			}
		}
		// The ticket plan's buckets are the ones the seed makes.
		p := clusterE2EPlan(t, cl.URL, ticketJob)
		if p.Outcomes.ChangeGrace != 30 || p.Outcomes.Skip["regex"] != 2 || p.Outcomes.Skip["bad_timestamp"] != 2 || p.Outcomes.Skip["ttl"] == 0 {
			t.Errorf("ticket plan on the cluster: change_grace %d, skips %v; want 30 grace, 2 regex, 2 bad_timestamp, some ttl", p.Outcomes.ChangeGrace, p.Outcomes.Skip)
		}
		wantSame(t, "after the plans", before, snapshot(t, c))
	})

	t.Run("ApplyAndUndo", func(t *testing.T) {
		state := filepath.Join(t.TempDir(), "state")
		p := clusterE2ERun(t, clusterE2EApply(cl.URL, state, "--rate", "unlimited", ticketJob)...)
		wantExit(t, p, 0)
		cp := readCheckpoint(t, state, "ticket-ttl-backfill")
		clusterE2EExpectTickets(t, c, before, snapshot(t, c), values, cp.RunStartMs)
		rep := readReport(t, state, "ticket-ttl-backfill", cp.RunID)
		clusterE2ECheckReport(t, rep, 3)
		if rep.Outcomes.ChangeGrace != 30 {
			t.Errorf("report: change_grace %d, want the 30 old tickets", rep.Outcomes.ChangeGrace)
		}

		u := clusterE2ERun(t, "undo", "--redis", cl.URL, "--yes", "--progress", "none", rep.Journal)
		wantExit(t, u, 0)
		wantSame(t, "after undo", before, snapshot(t, c))
	})

	// Killed with SIGKILL twice and resumed to the end, the run ends with
	// every key right: docs/safety.md, promise 3, on a cluster.
	t.Run("KilledAndResumed", func(t *testing.T) {
		state := filepath.Join(t.TempDir(), "state")
		base := clusterE2EInfo(t, c, "keyspace", "db0", "expires")
		var cp *checkpoint.Checkpoint
		for i, at := range []int64{800, 1800} {
			args := clusterE2EApply(cl.URL, state, "--rate", "600", ticketJob)
			if i > 0 {
				args = clusterE2EApply(cl.URL, state, "--rate", "600", "--resume", ticketJob)
			}
			p := start(t, nil, args...)
			clusterE2EWaitExpires(t, p, c, base+at)
			p.cmd.Process.Signal(syscall.SIGKILL)
			if code := p.waitUpTo(t, clusterRunTimeout).code; code != 128+int(syscall.SIGKILL) {
				t.Fatalf("run %d was not killed (exit %d): the job ran too fast to be interrupted\n%s", i+1, code, p)
			}
			cp = readCheckpoint(t, state, "ticket-ttl-backfill")
			if cp.Completed || len(cp.Nodes) != 3 {
				t.Fatalf("checkpoint after kill %d: completed %v, %d nodes", i+1, cp.Completed, len(cp.Nodes))
			}
		}
		p := clusterE2ERun(t, clusterE2EApply(cl.URL, state, "--rate", "unlimited", "--resume", ticketJob)...)
		wantExit(t, p, 0)
		if !strings.Contains(p.stdout, "Resuming ticket-ttl-backfill") {
			t.Errorf("the resume does not say it resumes\n%s", p)
		}
		end := readCheckpoint(t, state, "ticket-ttl-backfill")
		if end.RunStartMs != cp.RunStartMs || end.RunID != cp.RunID {
			t.Errorf("the resumes changed the run: start %d, id %s; was %d, %s", end.RunStartMs, end.RunID, cp.RunStartMs, cp.RunID)
		}
		clusterE2EExpectTickets(t, c, before, snapshot(t, c), values, end.RunStartMs)
		rep := readReport(t, state, "ticket-ttl-backfill", end.RunID)
		clusterE2ECheckReport(t, rep, 3)
		if !rep.Resumed {
			t.Errorf("report: resumed false after two resumes")
		}
		u := clusterE2ERun(t, "undo", "--redis", cl.URL, "--yes", "--progress", "none", rep.Journal)
		wantExit(t, u, 0)
		wantSame(t, "after undo of the resumed run", before, snapshot(t, c))
	})

	// A delete on the cluster deletes keys in every slot, one UNLINK per
	// key (a multi-key UNLINK across slots is a CROSSSLOT error), and
	// undo of its backup: dump journal recreates every key.
	t.Run("DumpDeleteAndUndo", func(t *testing.T) {
		var deals []string
		for k := range before {
			if strings.HasPrefix(k, "deal:clicks:") {
				deals = append(deals, k)
			}
		}
		for _, n := range clusterE2EPrimaries(t, c) {
			if err := n.Do(context.Background(), n.B().ConfigResetstat().Build()).Error(); err != nil {
				t.Fatal(err)
			}
		}
		state := filepath.Join(t.TempDir(), "state")
		p := clusterE2ERun(t, clusterE2EApply(cl.URL, state, dealJob)...)
		wantExit(t, p, 0)
		cp := readCheckpoint(t, state, "drop-deal-clicks")
		rep := readReport(t, state, "drop-deal-clicks", cp.RunID)
		clusterE2ECheckReport(t, rep, 3)
		if rep.Outcomes.Change != int64(len(deals)) {
			t.Errorf("report: %d deleted, want %d", rep.Outcomes.Change, len(deals))
		}
		want := map[string]redistest.KeyState{}
		for k, v := range before {
			if !strings.HasPrefix(k, "deal:clicks:") {
				want[k] = v
			}
		}
		wantSame(t, "after the delete", want, snapshot(t, c))
		if got := clusterE2EInfo(t, c, "commandstats", "cmdstat_unlink", "calls"); got != int64(len(deals)) {
			t.Errorf("%d UNLINK calls for %d keys, want one per key", got, len(deals))
		}
		if got := clusterE2EInfo(t, c, "errorstats", "errorstat_CROSSSLOT", "count"); got != 0 {
			t.Errorf("%d CROSSSLOT errors", got)
		}

		u := clusterE2ERun(t, "undo", "--redis", cl.URL, "--yes", "--progress", "none", rep.Journal)
		wantExit(t, u, 0)
		if !strings.Contains(u.stdout, "recreated "+strconv.Itoa(len(deals))) {
			t.Errorf("undo does not say it recreated %d keys\n%s", len(deals), u)
		}
		wantSame(t, "after undo of the delete", before, snapshot(t, c))
	})
}

// TestClusterE2E_Failover fails a primary over while the ticket job runs
// on a cluster with one replica per primary: the run ends with every key
// right, the log names the shard it rescanned and the report counts one
// restart for that shard.
func TestClusterE2E_Failover(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t, 3, 1)

	// A crash: the primary's process is killed and its replica takes
	// over after cluster-node-timeout. The guards pause the run while the
	// node does not answer, then follow the failover: the dead node is no
	// longer watched, the promoted replica is, and the run ends.
	t.Run("CrashGuarded", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		f := clusterE2EFailoverSetup(t, cl)
		p := start(t, nil, clusterE2EApply(cl.URL, f.state, "--rate", "300", "--log-format", "json", f.job)...)
		clusterE2EWaitExpires(t, p, f.c, f.base+600)
		if err := cl.KillNode(ctx, f.victim); err != nil {
			t.Fatal(err)
		}
		if err := cl.WaitPromoted(ctx, f.replica); err != nil {
			t.Fatal(err)
		}
		r := p.waitUpTo(t, clusterRunTimeout)
		wantExit(t, r, 0)
		f.check(t, r.stderr)
	})

	// A planned failover (CLUSTER FAILOVER), guards on. The guards follow
	// it: the old primary, a replica now, is no longer watched (its
	// replica did not get lost), the new one is, and the run rides
	// through to the end.
	t.Run("PlannedGuarded", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		f := clusterE2EFailoverSetup(t, cl)
		p := start(t, nil, clusterE2EApply(cl.URL, f.state, "--rate", "300", "--log-format", "json", f.job)...)
		clusterE2EWaitExpires(t, p, f.c, f.base+600)
		if _, err := cl.Failover(ctx, f.victim); err != nil {
			t.Fatal(err)
		}
		r := p.waitUpTo(t, clusterRunTimeout)
		if r.code != 0 {
			t.Fatalf("exit %d, want 0: the guards should follow the failover\n%s", r.code, r)
		}
		if !strings.Contains(r.stderr, "a new primary (a failover): watching it") {
			t.Errorf("the guards do not say they follow the new primary\n%s", r)
		}
		f.check(t, r.stderr)
	})
}

// clusterE2EFailover is one failover scenario on a seeded cluster.
type clusterE2EFailover struct {
	cl              *redistest.Cluster
	c               rueidis.Client
	before          map[string]redistest.KeyState
	values          map[string]string
	job, state      string
	victim, replica string
	base            int64 // keys with a TTL before the run
}

// clusterE2EFailoverSetup empties the cluster, seeds it, and picks the
// primary to fail over: one with a replica, not the node the run dials.
func clusterE2EFailoverSetup(t *testing.T, cl *redistest.Cluster) *clusterE2EFailover {
	t.Helper()
	ctx := context.Background()
	f := &clusterE2EFailover{cl: cl, c: cl.Client(t)}
	clusterE2EFlush(t, f.c)
	clusterE2ESeed(t, f.c, time.Now())
	f.before = snapshot(t, f.c)
	f.values = clusterE2EValues(t, f.c, f.before)
	dir := t.TempDir()
	f.job = writeJob(t, dir, "tickets.yaml", clusterE2ETicketJob)
	f.state = filepath.Join(dir, "state")
	primaries, err := cl.Primaries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range primaries {
		if "redis://"+p == cl.URL {
			continue
		}
		if r, err := cl.ReplicaOf(ctx, p); err == nil {
			f.victim, f.replica = p, r
			break
		}
	}
	if f.victim == "" {
		t.Fatalf("no primary but the first has a replica: %v", primaries)
	}
	f.base = clusterE2EInfo(t, f.c, "keyspace", "db0", "expires")
	return f
}

// check checks the end of a run that saw the failover: every key right
// (read from the primaries serving the slots now), one restart in the
// report for the shard that failed over and none for the others, and a
// log line (JSON) saying that shard was rescanned from its new primary.
func (f *clusterE2EFailover) check(t *testing.T, logs string) {
	t.Helper()
	fresh := f.cl.Client(t)
	cp := readCheckpoint(t, f.state, "ticket-ttl-backfill")
	clusterE2EExpectTickets(t, fresh, f.before, snapshot(t, fresh), f.values, cp.RunStartMs)
	rep := readReport(t, f.state, "ticket-ttl-backfill", cp.RunID)
	clusterE2ECheckReport(t, rep, 3)
	var slots string
	for _, n := range cp.Nodes {
		for _, rn := range rep.Nodes {
			if rn.ID != n.ID {
				continue
			}
			switch {
			case n.Addr == f.replica:
				slots = n.Slots
				if rn.Restarts != 1 {
					t.Errorf("report: the shard that failed over (%s, now on %s) has %d restarts, want 1", n.Slots, f.replica, rn.Restarts)
				}
			case rn.Restarts != 0:
				t.Errorf("report: node %s restarted %d times; only %s failed over", n.Addr, rn.Restarts, f.victim)
			}
		}
	}
	if slots == "" {
		t.Fatalf("no node of the checkpoint is the promoted replica %s: %+v", f.replica, cp.Nodes)
	}
	var said bool
	for _, line := range strings.Split(logs, "\n") {
		said = said || strings.Contains(line, "rescanning") && strings.Contains(line, `"slots":"`+slots+`"`) && strings.Contains(line, f.replica)
	}
	if !said {
		t.Errorf("the log does not say that slots %s were rescanned from %s:\n%s", slots, f.replica, logs)
	}
}

// TestClusterE2E_Replica runs against a standalone primary with a
// replica. apply pointed at the replica is refused and changes nothing;
// plan and survey read it and say the figures come from a replica. On the
// primary the plan counts the replica and warns about it, and the run
// reaches the replica: it ends with the primary's keyspace.
func TestClusterE2E_Replica(t *testing.T) {
	t.Parallel()
	primary := redistest.Start(t, redistest.Options{})
	replica := redistest.StartReplica(t, primary)
	pc, rc := primary.Client(t), replica.Client(t)
	clusterE2ESeed(t, pc, time.Now())
	clusterE2EWaitReplicated(t, pc, rc)
	before := snapshot(t, pc)
	values := clusterE2EValues(t, pc, before)
	dir := t.TempDir()
	job := writeJob(t, dir, "tickets.yaml", clusterE2ETicketJob)

	t.Run("ApplyToReplicaRefused", func(t *testing.T) {
		state := filepath.Join(t.TempDir(), "state")
		p := clusterE2ERun(t, clusterE2EApply(replica.URL, state, job)...)
		wantExit(t, p, 1)
		if !strings.Contains(p.stderr, "is a replica") || !strings.Contains(p.stderr, "primary") {
			t.Errorf("the refusal does not say the target is a replica and to use the primary\n%s", p)
		}
		wantSame(t, "the primary after the refusal", before, snapshot(t, pc))
		wantSame(t, "the replica after the refusal", before, snapshot(t, rc))
		if _, err := os.Stat(checkpoint.Path(state, "ticket-ttl-backfill")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a checkpoint exists after the refusal (%v)", err)
		}
	})

	planOnReplica := filepath.Join(dir, "plan-replica.json")
	t.Run("PlanAndSurveyOnReplica", func(t *testing.T) {
		p := clusterE2ERun(t, "plan", "--redis", replica.URL, "--format", "json", "--out", planOnReplica, job)
		wantExit(t, p, 0)
		b, err := os.ReadFile(planOnReplica)
		if err != nil {
			t.Fatal(err)
		}
		var plan clusterE2EPlanJSON
		if err := json.Unmarshal(b, &plan); err != nil {
			t.Fatal(err)
		}
		if plan.Target.Role != "replica" || !plan.warns("target_is_replica") {
			t.Errorf("plan on the replica: role %q, warnings %+v; want role replica and target_is_replica", plan.Target.Role, plan.Warnings)
		}
		if onPrimary := clusterE2EPlan(t, primary.URL, job); plan.Outcomes.Change != onPrimary.Outcomes.Change || plan.Scanned != onPrimary.Scanned {
			t.Errorf("plan on the replica: change %d, scanned %d; on the primary %d, %d", plan.Outcomes.Change, plan.Scanned, onPrimary.Outcomes.Change, onPrimary.Scanned)
		}
		text := clusterE2ERun(t, "plan", "--redis", replica.URL, "--format", "text", job)
		wantExit(t, text, 0)
		if !strings.Contains(text.stdout, "come from a replica") {
			t.Errorf("the text plan does not say its figures come from a replica\n%s", text)
		}

		s := clusterE2ERun(t, "survey", "--redis", replica.URL, "--format", "json")
		wantExit(t, s, 0)
		var survey struct {
			Scanned int64 `json:"scanned"`
			Notes   []struct {
				Code string `json:"code"`
			} `json:"notes"`
		}
		if err := json.Unmarshal([]byte(s.stdout), &survey); err != nil {
			t.Fatalf("survey JSON: %v\n%s", err, s)
		}
		var noted bool
		for _, n := range survey.Notes {
			noted = noted || n.Code == "target_is_replica"
		}
		if survey.Scanned != int64(len(before)) || !noted {
			t.Errorf("survey on the replica: scanned %d of %d keys, notes %+v; want every key and target_is_replica", survey.Scanned, len(before), survey.Notes)
		}
		wantSame(t, "the replica after plan and survey", before, snapshot(t, rc))
	})

	t.Run("PlanOnPrimary", func(t *testing.T) {
		plan := clusterE2EPlan(t, primary.URL, job)
		if plan.Target.Replicas != 1 || !plan.warns("replicas") || plan.warns("target_is_replica") {
			t.Errorf("plan on the primary: replicas %d, warnings %+v; want 1 replica and the replicas warning", plan.Target.Replicas, plan.Warnings)
		}
	})

	// The plan reviewed on the replica binds the run on the primary, with
	// --allow-other-target; the run's writes reach the replica.
	t.Run("ApplyOnPrimaryReachesReplica", func(t *testing.T) {
		state := filepath.Join(t.TempDir(), "state")
		p := clusterE2ERun(t, clusterE2EApply(primary.URL, state, "--plan", planOnReplica, job)...)
		wantExit(t, p, 4)
		p = clusterE2ERun(t, clusterE2EApply(primary.URL, state, "--plan", planOnReplica, "--allow-other-target", job)...)
		wantExit(t, p, 0)
		cp := readCheckpoint(t, state, "ticket-ttl-backfill")
		after := snapshot(t, pc)
		clusterE2EExpectTickets(t, pc, before, after, values, cp.RunStartMs)
		clusterE2EWaitReplicated(t, pc, rc)
		wantSame(t, "the replica after the run", after, snapshot(t, rc))
	})
}

// clusterE2EWaitReplicated waits until the replica has applied everything
// the primary has written (its offset reached the primary's).
func clusterE2EWaitReplicated(t *testing.T, primary, replica rueidis.Client) {
	t.Helper()
	offset := func(c rueidis.Client, field string) int64 {
		info, err := c.Do(context.Background(), c.B().Info().Section("replication").Build()).ToString()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(strings.TrimPrefix(l, "txt:")), field+":"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		return -1
	}
	want := offset(primary, "master_repl_offset")
	deadline := time.Now().Add(30 * time.Second)
	for offset(replica, "slave_repl_offset") < want {
		if time.Now().After(deadline) {
			t.Fatalf("the replica did not reach the primary's offset %d", want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
