package apply

// The executor on a real three-primary Redis Cluster: every shard walked,
// every key right, undo exact, deletes one key per command, and a primary
// that fails over mid-run (planned, and by a crash) costs a rescan of its
// shard and nothing else.

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/examples"
	"github.com/keyjob/keyjob/internal/checkpoint"
	"github.com/keyjob/keyjob/internal/journal"
	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/internal/seed"
)

// clusterTickets are the tickets seeded on a cluster: 3000 spread over
// every shard by their slots.
const clusterTickets = 3000

// clusterSeed loads the cluster tests' keyspace: clusterTickets tickets
// issued over the last 300 days (5% with their TTL already), 30 tickets
// issued 400 days ago (their year is past: the grace TTL), sessions with
// a TTL and deal click hashes, which the ticket job must leave alone.
// Issue times stay days away from the 365-day boundary, so which tickets
// get the grace TTL does not depend on how long the test takes.
func clusterSeed(t *testing.T, c rueidis.Client) {
	t.Helper()
	ctx := context.Background()
	spec := seed.TicketSpec{Count: clusterTickets, Span: 300 * 24 * time.Hour, WithTTLShare: 0.05, Seed: 7}
	if _, err := seed.Tickets(ctx, c, spec); err != nil {
		t.Fatal(err)
	}
	if err := seed.Sessions(ctx, c, 300); err != nil {
		t.Fatal(err)
	}
	if err := seed.DealClicks(ctx, c, 300); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-400 * 24 * time.Hour).Unix()
	var cmds rueidis.Commands
	for i := range 30 {
		k := "ticket:" + strconv.FormatInt(old+int64(i), 10) + ":7:OLD" + strconv.Itoa(i)
		cmds = append(cmds, c.B().Set().Key(k).Value("old").Build())
	}
	do(t, c, cmds...)
}

var clusterTicketName = regexp.MustCompile(`^ticket:(\d{10}):\d+:[A-Za-z0-9]+$`)

// clusterTicketChanges is what the ticket job must do, computed from the
// key names of before: every string ticket without a TTL expires at its
// issue time + 365d, or at the run's start + 1h when that is past.
func clusterTicketChanges(t *testing.T, before map[string]redistest.KeyState, runStartMs int64) map[string]int64 {
	t.Helper()
	want := map[string]int64{}
	for k, s := range before {
		m := clusterTicketName.FindStringSubmatch(k)
		if m == nil || s.Type != "string" || s.ExpireAt != -1 {
			continue
		}
		sec, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		at := time.Unix(sec, 0).Add(year).UnixMilli()
		if at <= runStartMs {
			at = runStartMs + time.Hour.Milliseconds()
		}
		want[k] = at
	}
	if len(want) < clusterTickets/2 {
		t.Fatalf("only %d tickets to change: the seed is not what the test expects", len(want))
	}
	return want
}

// clusterGrace counts the changes that get the grace TTL.
func clusterGrace(changes map[string]int64, runStartMs int64) int64 {
	var n int64
	for _, at := range changes {
		if at == runStartMs+time.Hour.Milliseconds() {
			n++
		}
	}
	return n
}

// clusterPrimaries are the node clients of the primaries behind c.
func clusterPrimaries(t *testing.T, c rueidis.Client) map[string]rueidis.Client {
	t.Helper()
	ctx := context.Background()
	out := map[string]rueidis.Client{}
	for addr, n := range c.Nodes() {
		role, err := n.Do(ctx, n.B().Role().Build()).ToArray()
		if err != nil || len(role) == 0 {
			t.Fatalf("ROLE %s: %v", addr, err)
		}
		if r, _ := role[0].ToString(); r == "master" {
			out[addr] = n
		}
	}
	return out
}

// clusterFlush empties every primary (replicas follow).
func clusterFlush(t *testing.T, c rueidis.Client) {
	t.Helper()
	for addr, n := range clusterPrimaries(t, c) {
		if err := n.Do(context.Background(), n.B().Flushall().Build()).Error(); err != nil {
			t.Fatalf("FLUSHALL %s: %v", addr, err)
		}
	}
}

// clusterStat sums an INFO field over the primaries, e.g. the calls of a
// command (section commandstats, "cmdstat_unlink", "calls").
func clusterStat(t *testing.T, c rueidis.Client, section, line, field string) int64 {
	t.Helper()
	var sum int64
	for addr, n := range clusterPrimaries(t, c) {
		info, err := n.Do(context.Background(), n.B().Info().Section(section).Build()).ToString()
		if err != nil {
			t.Fatalf("INFO %s on %s: %v", section, addr, err)
		}
		for _, l := range strings.Split(info, "\n") {
			rest, ok := strings.CutPrefix(strings.TrimSpace(l), line+":")
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

// clusterResetStats clears INFO commandstats and errorstats on every primary.
func clusterResetStats(t *testing.T, c rueidis.Client) {
	t.Helper()
	for addr, n := range clusterPrimaries(t, c) {
		if err := n.Do(context.Background(), n.B().ConfigResetstat().Build()).Error(); err != nil {
			t.Fatalf("CONFIG RESETSTAT %s: %v", addr, err)
		}
	}
}

// clusterCrossSlot is the number of CROSSSLOT errors the primaries
// counted (INFO errorstats).
func clusterCrossSlot(t *testing.T, c rueidis.Client) int64 {
	t.Helper()
	return clusterStat(t, c, "errorstats", "errorstat_CROSSSLOT", "count")
}

// checkOneUnlinkPerKey checks that deleting keys took one UNLINK per key,
// none failed, and no command met a CROSSSLOT error (the stats were reset
// before the run).
func checkOneUnlinkPerKey(t *testing.T, c rueidis.Client, keys int) {
	t.Helper()
	if got := clusterStat(t, c, "commandstats", "cmdstat_unlink", "calls"); got != int64(keys) {
		t.Errorf("%d UNLINK calls for %d keys, want one per key", got, keys)
	}
	failed := clusterStat(t, c, "commandstats", "cmdstat_unlink", "failed_calls") + clusterStat(t, c, "commandstats", "cmdstat_unlink", "rejected_calls")
	if failed != 0 {
		t.Errorf("%d UNLINK calls failed or were rejected", failed)
	}
	if n := clusterCrossSlot(t, c); n != 0 {
		t.Errorf("the primaries counted %d CROSSSLOT errors", n)
	}
}

// clusterKeyspace reads the keys and the keys with a TTL of one node.
func clusterKeyspace(ctx context.Context, addr string) (keys, expires int64, err error) {
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true, ForceSingleClient: true})
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	info, err := redisx.Info(ctx, c, "keyspace")
	if err != nil {
		return 0, 0, err
	}
	for _, k := range redisx.Keyspace(info) {
		return k.Keys, k.Expires, nil
	}
	return 0, 0, nil
}

// checkClusterReport checks what every report on a cluster must say: the
// run completed, on a cluster target, with one done node per primary.
func checkClusterReport(t *testing.T, rep *Report, primaries int) {
	t.Helper()
	if !rep.Completed || rep.Stopped != "done" {
		t.Errorf("report: completed %v, stopped %q; want a completed run", rep.Completed, rep.Stopped)
	}
	if rep.Target.Mode != "cluster" {
		t.Errorf("report: target mode %q, want cluster", rep.Target.Mode)
	}
	if len(rep.Nodes) != primaries {
		t.Fatalf("report lists %d nodes, want %d: %+v", len(rep.Nodes), primaries, rep.Nodes)
	}
	for _, n := range rep.Nodes {
		if !n.Done {
			t.Errorf("report: node %s (%s) not done", n.ID, n.Addr)
		}
	}
}

// TestApply_Cluster runs the ticket job, an interrupted and resumed run,
// undo, and delete jobs on one three-primary cluster. The subtests run in
// order and each leaves the keyspace as it found it (undo) or says what it
// changed.
func TestApply_Cluster(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t, 3, 0)
	c := cl.Client(t)
	clusterSeed(t, c)
	before := snapshot(t, c)
	vals := values(t, c, snapKeys(before))

	t.Run("TicketJob", func(t *testing.T) {
		state := t.TempDir()
		job := loadJob(t, ticketJob)
		log := &logBuffer{}
		rep, err := execute(context.Background(), t, dial(t, cl.URL), job, Options{StateDir: state}, Exec{}, log)
		if err != nil {
			t.Fatalf("run: %v\n%s", err, log)
		}
		cp := loadCheckpoint(t, state, job.Name)
		changes := clusterTicketChanges(t, before, cp.RunStartMs)
		assertChanges(t, "after the ticket job", c, before, snapshot(t, c), vals, changes)
		checkClusterReport(t, rep, 3)
		for _, n := range rep.Nodes {
			if n.Restarts != 0 {
				t.Errorf("report: node %s restarted %d times in a run without a failover", n.Addr, n.Restarts)
			}
		}
		if got, want := rep.Outcomes.Change, int64(len(changes)); got != want {
			t.Errorf("report: change = %d, want %d", got, want)
		}
		if got, want := rep.Outcomes.ChangeGrace, clusterGrace(changes, cp.RunStartMs); got != want || want != 30 {
			t.Errorf("report: change_grace = %d, want %d (the 30 old tickets)", got, want)
		}
		if cp.Passes != 1 || strings.Contains(log.String(), "second pass") {
			t.Errorf("a second pass (passes %d) without a topology change\n%s", cp.Passes, log)
		}

		// undo puts every expiry back: the original keyspace exactly.
		u := undo(t, cl.URL, rep.Journal, UndoOptions{})
		if u.Undone() != rep.Outcomes.Change || u.Restored != u.Undone() {
			t.Errorf("undo report %+v: want %d records, all restored", u, rep.Outcomes.Change)
		}
		assertSame(t, "after undo", before, snapshot(t, c))
	})

	// --shards-at-once 1: the primaries are walked one after another, and
	// the keyspace ends the same.
	t.Run("OneShardAtOnce", func(t *testing.T) {
		state := t.TempDir()
		job := loadJob(t, ticketJob)
		var mu sync.Mutex
		most, started := 0, map[string]bool{}
		observe := func(p Progress) {
			mu.Lock()
			defer mu.Unlock()
			walking := 0
			for _, n := range p.Nodes {
				if n.Scanned > 0 {
					started[n.Addr] = true
					if !n.Done {
						walking++
					}
				}
			}
			most = max(most, walking)
		}
		log := &logBuffer{}
		rep, err := execute(context.Background(), t, dial(t, cl.URL), job, Options{StateDir: state, ShardsAtOnce: 1}, Exec{Observe: observe}, log)
		if err != nil {
			t.Fatalf("run: %v\n%s", err, log)
		}
		if most != 1 || len(started) != 3 {
			t.Errorf("at most %d primaries walked at once, %d walked in all; want 1 and 3", most, len(started))
		}
		cp := loadCheckpoint(t, state, job.Name)
		changes := clusterTicketChanges(t, before, cp.RunStartMs)
		assertChanges(t, "after the ticket job", c, before, snapshot(t, c), vals, changes)
		undo(t, cl.URL, rep.Journal, UndoOptions{})
		assertSame(t, "after undo", before, snapshot(t, c))
	})

	t.Run("InterruptAndResume", func(t *testing.T) {
		state := t.TempDir()
		job := loadJob(t, ticketJob)
		// Interrupted (as by Ctrl-C) once 1000 keys are changed: every
		// shard's walk finishes its batch in flight and stops.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		r, err := Prepare(ctx, dial(t, cl.URL), job, Options{StateDir: state, Rate: 2000})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := r.Execute(ctx, Exec{Observe: func(p Progress) {
			if p.Changed >= 1000 {
				cancel()
			}
		}})
		if !errors.Is(err, errInterrupted) {
			t.Fatalf("err = %v, want interrupted", err)
		}
		cp := loadCheckpoint(t, state, job.Name)
		if cp.Completed || rep.Completed || cp.Changes == 0 || len(cp.Nodes) != 3 {
			t.Fatalf("checkpoint after the interrupt: completed %v, changes %d, %d nodes; want a run under way on 3 nodes", cp.Completed, cp.Changes, len(cp.Nodes))
		}
		// Every batch in flight was finished and committed: what the
		// checkpoint counts is what the cluster shows.
		if d := redistest.Diff(before, snapshot(t, c)); int64(len(d.Changed)) != cp.Changes {
			t.Errorf("%d keys changed, the checkpoint says %d", len(d.Changed), cp.Changes)
		}
		rep, err = runJob(t, dial(t, cl.URL), job, Options{StateDir: state, Resume: true})
		if err != nil {
			t.Fatal(err)
		}
		checkClusterReport(t, rep, 3)
		changes := clusterTicketChanges(t, before, cp.RunStartMs)
		assertChanges(t, "after the resume", c, before, snapshot(t, c), vals, changes)
		if got, want := rep.Outcomes.Change, int64(len(changes)); got != want {
			t.Errorf("report: change = %d across the resume, want %d", got, want)
		}
		undo(t, cl.URL, rep.Journal, UndoOptions{})
		assertSame(t, "after undo", before, snapshot(t, c))
	})

	t.Run("DumpDeleteAndUndo", func(t *testing.T) {
		clusterResetStats(t, c)
		rep := mustRun(t, dial(t, cl.URL), loadJob(t, dealJob), Options{StateDir: t.TempDir()})
		checkClusterReport(t, rep, 3)
		deals := clusterDeals(before)
		if rep.Outcomes.Change != int64(len(deals)) {
			t.Fatalf("deleted %d, want %d", rep.Outcomes.Change, len(deals))
		}
		changes := map[string]int64{}
		for _, k := range deals {
			changes[k] = -2
		}
		assertChanges(t, "after the delete", c, before, snapshot(t, c), vals, changes)
		// The script deletes one key per call; Redis counts the UNLINKs
		// scripts send.
		checkOneUnlinkPerKey(t, c, len(deals))
		st, err := journal.Open(rep.Journal)
		if err != nil {
			t.Fatal(err)
		}
		stats, err := st.Stats()
		st.Close()
		if err != nil || stats.Dumps != int64(len(deals)) {
			t.Fatalf("journal: %d dumps (%v), want %d", stats.Dumps, err, len(deals))
		}
		u := undo(t, cl.URL, rep.Journal, UndoOptions{})
		if u.Recreated != int64(len(deals)) {
			t.Errorf("undo report %+v: want %d recreated", u, len(deals))
		}
		assertSame(t, "after undo of the delete", before, snapshot(t, c))
	})

	// Last: backup none cannot be undone.
	t.Run("DeleteNativeAcrossSlots", func(t *testing.T) {
		clusterResetStats(t, c)
		job := loadJob(t, strings.Replace(dealJob, "backup: dump", "backup: none", 1))
		rep := mustRun(t, dial(t, cl.URL), job, Options{StateDir: t.TempDir()})
		checkClusterReport(t, rep, 3)
		deals := clusterDeals(before)
		changes := map[string]int64{}
		for _, k := range deals {
			changes[k] = -2
		}
		assertChanges(t, "after the delete", c, before, snapshot(t, c), vals, changes)
		checkOneUnlinkPerKey(t, c, len(deals))
		if got := clusterStat(t, c, "commandstats", "cmdstat_evalsha", "calls"); got != 0 {
			t.Errorf("%d EVALSHA calls: a delete without a dump should send UNLINK itself", got)
		}
	})
}

// snapKeys are the keys of a snapshot.
func snapKeys(m map[string]redistest.KeyState) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// clusterDeals are the deal click hashes of a snapshot.
func clusterDeals(snap map[string]redistest.KeyState) []string {
	var out []string
	for k := range snap {
		if strings.HasPrefix(k, "deal:clicks:") {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		panic("no deal:clicks keys in the snapshot")
	}
	return out
}

// TestApply_ClusterFailover fails a primary over while a job runs, on a
// cluster with one replica per primary: the run still ends with every key
// right, says which shard it rescanned, and counts a restart for that
// shard only (docs/cli.md: a shard is known by its slot ranges; a change of the
// node serving them rescans the shard).
func TestApply_ClusterFailover(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t, 3, 1)
	planned := func(ctx context.Context, victim string) (string, error) {
		return cl.Failover(ctx, victim)
	}
	crash := func(ctx context.Context, victim string) (string, error) {
		replica, err := cl.ReplicaOf(ctx, victim)
		if err != nil {
			return "", err
		}
		if err := cl.KillNode(ctx, victim); err != nil {
			return "", err
		}
		return replica, cl.WaitPromoted(ctx, replica)
	}

	// Planned: CLUSTER FAILOVER on the replica. The old primary becomes
	// a replica of the new one and keeps its node id and run_id. The
	// ticket job (EXPIRE NX) reads no key on the node: its walk only
	// SCANs there, which a replica answers too, with a cursor that means
	// nothing to it.
	t.Run("Planned", func(t *testing.T) {
		failoverRun(t, cl, ticketFailover, planned)
	})
	// A delete with backup: dump reads every key on its node first: the
	// old primary answers MOVED.
	t.Run("PlannedReadsOnNode", func(t *testing.T) {
		failoverRun(t, cl, dealDumpFailover, planned)
	})
	// The replica joined after keyjob dialed: the cluster client has never
	// heard of it (clients learn the nodes from CLUSTER SLOTS, which lists
	// a replica only once it has synced), and it is promoted mid-run.
	t.Run("PlannedToReplicaUnknownAtDial", func(t *testing.T) {
		ctx := context.Background()
		victim := failoverVictim(ctx, t, cl)
		replica, err := cl.ReplicaOf(ctx, victim)
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.RemoveReplica(ctx, replica); err != nil {
			t.Fatal(err)
		}
		failoverRunWith(t, cl, dealDumpFailover, planned, victim, func(ctx context.Context) error {
			return cl.AddReplica(ctx, replica, victim)
		})
	})
	// Between an interrupted run and its --resume: the checkpoint's node
	// is a replica now, and the primary serving its slots takes its place
	// with one restart.
	t.Run("PlannedWhileStopped", func(t *testing.T) {
		ctx := context.Background()
		c := cl.Client(t)
		clusterFlush(t, c)
		clusterSeed(t, c)
		before := snapshot(t, c)
		vals := values(t, c, snapKeys(before))
		victim := failoverVictim(ctx, t, cl)
		state := t.TempDir()
		job := loadJob(t, ticketJob)

		stop, cancel := context.WithCancel(ctx)
		defer cancel()
		r, err := Prepare(stop, dial(t, cl.URL), job, Options{StateDir: state, Rate: 2000})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Execute(stop, Exec{Observe: func(p Progress) {
			if p.Changed >= 1000 {
				cancel()
			}
		}}); !errors.Is(err, errInterrupted) {
			t.Fatalf("err = %v, want interrupted", err)
		}
		cp := loadCheckpoint(t, state, job.Name)
		var victimSlots string
		for _, n := range cp.Nodes {
			if n.Addr == victim {
				victimSlots = n.Slots
			}
		}
		promoted, err := cl.Failover(ctx, victim)
		if err != nil {
			t.Fatal(err)
		}
		log := &logBuffer{}
		rep, err := execute(ctx, t, dial(t, cl.URL), job, Options{StateDir: state, Resume: true}, Exec{}, log)
		if err != nil {
			t.Fatalf("resume after the failover: %v\n%s", err, log)
		}
		checkClusterReport(t, rep, 3)
		assertChanges(t, "after the resume", c, before, snapshot(t, c), vals, clusterTicketChanges(t, before, cp.RunStartMs))
		end := loadCheckpoint(t, state, job.Name)
		for _, n := range rep.Nodes {
			cpn := checkpointNode(end, n.ID)
			switch {
			case cpn.Slots == victimSlots:
				if n.Restarts != 1 || n.Addr != promoted {
					t.Errorf("report: the failed-over shard (%s) is node %s with %d restarts; want %s with 1", victimSlots, n.Addr, n.Restarts, promoted)
				}
			case n.Restarts != 0:
				t.Errorf("report: node %s (slots %s) restarted %d times; only %s failed over", n.Addr, cpn.Slots, n.Restarts, victimSlots)
			}
		}
		if !logSays(log, "rescanning", "slots="+victimSlots, "now="+promoted) {
			t.Errorf("the log does not say that slots %s were rescanned from %s:\n%s", victimSlots, promoted, log)
		}
	})
	// Crash: the primary's process is killed; its replica takes over
	// after cluster-node-timeout, once the other primaries agree. The
	// killed node stays dead.
	t.Run("Crash", func(t *testing.T) {
		failoverRun(t, cl, ticketFailover, crash)
	})
	// A crash after the shard's walk ended, while the others go on: the
	// writes the replica had not received yet are lost, so the shard is
	// walked again at the end, from its new primary.
	t.Run("CrashAfterShardDone", func(t *testing.T) {
		crashAfterDone(t, cl, crash)
	})
}

// failoverVictim picks the primary to fail over: one with a replica, and
// not the node the run dials (cl.URL), whose loss would also be the loss
// of the address the checkpoint names.
func failoverVictim(ctx context.Context, t *testing.T, cl *redistest.Cluster) string {
	t.Helper()
	primaries, err := cl.Primaries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range primaries {
		if "redis://"+p == cl.URL {
			continue
		}
		if _, err := cl.ReplicaOf(ctx, p); err == nil {
			return p
		}
	}
	t.Fatalf("no primary but the first has a replica: %v", primaries)
	return ""
}

// failoverScenario is a job to fail a primary over under.
type failoverScenario struct {
	job  string
	seed func(t *testing.T, c rueidis.Client)
	// changes is what the job must do to the keys of before.
	changes func(t *testing.T, before map[string]redistest.KeyState, runStartMs int64) map[string]int64
	// ttlSkips is how many keys of before the job leaves for their TTL.
	ttlSkips func(before map[string]redistest.KeyState) int64
	// progress is how far the job got on a node, from its keyspace.
	progress func(keys, expires int64) int64
}

var ticketFailover = failoverScenario{
	job:     ticketJob,
	seed:    clusterSeed,
	changes: clusterTicketChanges,
	ttlSkips: func(before map[string]redistest.KeyState) int64 {
		var n int64
		for k, s := range before {
			if clusterTicketName.MatchString(k) && s.Type == "string" && s.ExpireAt != -1 {
				n++
			}
		}
		return n
	},
	progress: func(_, expires int64) int64 { return expires },
}

// dealDumpFailover deletes the deal click hashes with backup: dump, which
// reads every key on its node before the change (DUMP for the backup, the
// expiry for the journal): a read there after a planned failover meets
// MOVED.
var dealDumpFailover = failoverScenario{
	job: dealJob,
	seed: func(t *testing.T, c rueidis.Client) {
		clusterSeed(t, c)
		if err := seed.DealClicks(context.Background(), c, clusterTickets); err != nil {
			t.Fatal(err)
		}
	},
	changes: func(t *testing.T, before map[string]redistest.KeyState, _ int64) map[string]int64 {
		out := map[string]int64{}
		for _, k := range clusterDeals(before) {
			out[k] = -2
		}
		return out
	},
	progress: func(keys, _ int64) int64 { return -keys },
}

// failoverRun seeds the cluster afresh, runs the scenario's job slowly,
// fails over a primary (not the one the run dialed) with fail once its
// shard has made 150 changes, and checks the run's end.
func failoverRun(t *testing.T, cl *redistest.Cluster, sc failoverScenario, fail func(ctx context.Context, victim string) (string, error)) {
	t.Helper()
	failoverRunWith(t, cl, sc, fail, "", nil)
}

// failoverRunWith is failoverRun with a chosen victim ("" picks one) and
// afterDial, called once the run's connection is made and before it
// starts.
func failoverRunWith(t *testing.T, cl *redistest.Cluster, sc failoverScenario, fail func(ctx context.Context, victim string) (string, error), victim string, afterDial func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := cl.Client(t)
	clusterFlush(t, c)
	sc.seed(t, c)
	before := snapshot(t, c)
	vals := values(t, c, snapKeys(before))

	if victim == "" {
		victim = failoverVictim(ctx, t, cl)
	}
	conn := dial(t, cl.URL)
	nodes, err := conn.Primaries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var victimSlots string
	for _, n := range nodes {
		if n.Addr == victim {
			victimSlots = n.Slots
		}
	}
	if victimSlots == "" {
		t.Fatalf("%s is not among the primaries keyjob sees: %+v", victim, nodes)
	}
	if afterDial != nil {
		if err := afterDial(ctx); err != nil {
			t.Fatal(err)
		}
	}
	progress := func() int64 {
		keys, expires, err := clusterKeyspace(ctx, victim)
		if err != nil {
			t.Fatal(err)
		}
		return sc.progress(keys, expires)
	}
	base := progress()

	state := t.TempDir()
	job := loadJob(t, sc.job)
	log := &logBuffer{}
	type result struct {
		rep *Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		// 300 changes a second over the three shards: seconds for the
		// victim's shard, so the failover lands mid-walk.
		r, err := Prepare(ctx, conn, job, Options{StateDir: state, Rate: 300})
		if err != nil {
			done <- result{nil, err}
			return
		}
		rep, err := r.Execute(ctx, Exec{Logger: log.logger()})
		done <- result{rep, err}
	}()

	// The failover comes when the victim's shard has made 150 changes
	// (of about a thousand): counted on the server, not timed.
	for progress() < base+150 {
		select {
		case r := <-done:
			t.Fatalf("the run ended before the failover (err %v): too fast to fail over under it", r.err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	at := progress() - base
	promoted, err := fail(ctx, victim)
	if err != nil {
		t.Fatalf("failover of %s: %v", victim, err)
	}
	t.Logf("failed over %s (slots %s) to %s after %d changes on it", victim, victimSlots, promoted, at)

	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatalf("the run did not end after the failover\n%s", log)
	}
	if r.err != nil {
		t.Fatalf("run after the failover: %v\n%s", r.err, log)
	}
	rep := r.rep
	for _, line := range strings.Split(log.String(), "\n") {
		if strings.Contains(line, "level=WARN") {
			t.Log(line)
		}
	}
	checkClusterReport(t, rep, 3)

	// Every key right, read from the primaries serving the slots now.
	fresh := cl.Client(t)
	cp := loadCheckpoint(t, state, job.Name)
	changes := sc.changes(t, before, cp.RunStartMs)
	assertChanges(t, "after the failover", fresh, before, snapshot(t, fresh), vals, changes)
	// Counted once: the slots rescanned on the new primary count the keys
	// changed before the failover (journaled under the old primary's ID)
	// as changed, not again as already having a TTL.
	if rep.Outcomes.Change != int64(len(changes)) {
		t.Errorf("report: change %d, the job changed %d keys", rep.Outcomes.Change, len(changes))
	}
	if sc.ttlSkips != nil {
		if got, want := rep.Outcomes.Skip["ttl"], sc.ttlSkips(before); got != want {
			t.Errorf("report: ttl %d, want %d (the keys that had one before the run)", got, want)
		}
	}

	// The report shows the restart of the shard that failed over, on its
	// new primary, and of no other.
	wantOneRestart(t, rep, cp, log, victimSlots, promoted)
}

// wantOneRestart checks a run where the shard serving victimSlots failed
// over to promoted: that shard was restarted once, from promoted, no other
// restarted, and the log says which shard was rescanned, from where.
func wantOneRestart(t *testing.T, rep *Report, cp *checkpoint.Checkpoint, log *logBuffer, victimSlots, promoted string) {
	t.Helper()
	for _, n := range rep.Nodes {
		cpn := checkpointNode(cp, n.ID)
		switch {
		case cpn.Slots == victimSlots:
			if n.Restarts != 1 || n.Addr != promoted {
				t.Errorf("report: the failed-over shard (%s) is node %s with %d restarts; want %s with 1", victimSlots, n.Addr, n.Restarts, promoted)
			}
		case n.Restarts != 0:
			t.Errorf("report: node %s (slots %s) restarted %d times; only %s failed over", n.Addr, cpn.Slots, n.Restarts, victimSlots)
		}
	}
	// The log says which shard was rescanned, from where.
	if !logSays(log, "rescanning", "slots="+victimSlots, "now="+promoted) {
		t.Errorf("the log does not say that slots %s were rescanned from %s:\n%s", victimSlots, promoted, log)
	}
}

// logSays reports whether one line of the log holds every word.
func logSays(log *logBuffer, words ...string) bool {
	for _, line := range strings.Split(log.String(), "\n") {
		all := true
		for _, w := range words {
			all = all && strings.Contains(line, w)
		}
		if all {
			return true
		}
	}
	return false
}

func checkpointNode(cp *checkpoint.Checkpoint, id string) checkpoint.Node {
	for _, n := range cp.Nodes {
		if n.ID == id {
			return n
		}
	}
	return checkpoint.Node{}
}

// cacheJob is examples/sessions-fixed-ttl.yaml turned on the cache keys:
// every one gets a fixed TTL of a day from the run's start.
var cacheJob = examples.MustJob("sessions-fixed-ttl.yaml",
	"name: cache-ttl\n", "select:\n  match: \"cache:*\"\n", "action:\n  expire:\n    ttl: 1d\n",
	"backup: none\n", "limits:\n  rate: unlimited\n  scan_count: 50\n")

// crashAfterDone puts a few cache keys on the victim's shard and many on
// the others (hash tags pick the slots), so the victim's walk ends first;
// once the checkpoint says so, the victim crashes, while the other shards
// are still walked.
func crashAfterDone(t *testing.T, cl *redistest.Cluster, fail func(ctx context.Context, victim string) (string, error)) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := cl.Client(t)
	clusterFlush(t, c)
	victim := failoverVictim(ctx, t, cl)
	conn := dial(t, cl.URL)
	nodes, err := conn.Primaries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var cmds rueidis.Commands
	var victimSlots string
	for _, n := range nodes {
		tag := tagIn(t, c, n.Slots)
		keys := 1500
		if n.Addr == victim {
			victimSlots, keys = n.Slots, 30
		}
		for i := range keys {
			cmds = append(cmds, c.B().Set().Key("cache:{"+tag+"}:"+strconv.Itoa(i)).Value("v").Build())
		}
	}
	do(t, c, cmds...)
	before := snapshot(t, c)
	vals := values(t, c, snapKeys(before))

	state := t.TempDir()
	job := loadJob(t, cacheJob)
	log := &logBuffer{}
	done := make(chan error, 1)
	var rep *Report
	go func() {
		r, err := Prepare(ctx, conn, job, Options{StateDir: state, Rate: 200})
		if err == nil {
			rep, err = r.Execute(ctx, Exec{Logger: log.logger()})
		}
		done <- err
	}()
	// Wait until the checkpoint says the victim's shard is done.
	for {
		if cp, err := checkpoint.Load(checkpoint.Path(state, job.Name)); err == nil {
			n := checkpointNode(cp, slotsOwner(cp, victimSlots))
			if n.Done {
				if cp.Completed {
					t.Fatal("the whole run ended before the victim could fail: too fast")
				}
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("the run ended before the failover (err %v)", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	promoted, err := fail(ctx, victim)
	if err != nil {
		t.Fatalf("failover of %s: %v", victim, err)
	}
	t.Logf("failed over %s (slots %s) to %s after its walk ended", victim, victimSlots, promoted)
	select {
	case err = <-done:
	case <-ctx.Done():
		t.Fatalf("the run did not end after the failover\n%s", log)
	}
	if err != nil {
		t.Fatalf("run after the failover: %v\n%s", err, log)
	}
	for _, line := range strings.Split(log.String(), "\n") {
		if strings.Contains(line, "level=WARN") {
			t.Log(line)
		}
	}
	checkClusterReport(t, rep, 3)
	cp := loadCheckpoint(t, state, job.Name)
	if cp.Passes != 2 {
		t.Errorf("checkpoint: %d passes, want a second pass after the failover", cp.Passes)
	}
	want := map[string]int64{}
	for k := range before {
		want[k] = cp.RunStartMs + 24*time.Hour.Milliseconds()
	}
	fresh := cl.Client(t)
	assertChanges(t, "after the failover", fresh, before, snapshot(t, fresh), vals, want)
	wantOneRestart(t, rep, cp, log, victimSlots, promoted)
}

// tagIn finds a hash tag whose slot lies in slots ("5461-10922").
func tagIn(t *testing.T, c rueidis.Client, slots string) string {
	t.Helper()
	lo, hi, _ := strings.Cut(slots, "-")
	from, _ := strconv.ParseInt(lo, 10, 64)
	to, _ := strconv.ParseInt(hi, 10, 64)
	for i := range 1000 {
		tag := "t" + strconv.Itoa(i)
		slot, err := c.Do(context.Background(), c.B().ClusterKeyslot().Key(tag).Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		if slot >= from && slot <= to {
			return tag
		}
	}
	t.Fatalf("no hash tag in slots %s", slots)
	return ""
}

// slotsOwner is the id of the checkpoint node that walks slots.
func slotsOwner(cp *checkpoint.Checkpoint, slots string) string {
	for _, n := range cp.Nodes {
		if n.Slots == slots {
			return n.ID
		}
	}
	return ""
}
