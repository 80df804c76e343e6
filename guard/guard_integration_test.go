package guard

// The collector against real servers: the figures each guard reads,
// pushed past their levels by the server itself.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/redistest"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/jobs"
)

// newTestCollector watches srv on a connection of its own.
func newTestCollector(t *testing.T, srv *redistest.Server, probe DiskProbe) *Collector {
	t.Helper()
	conn, err := redisx.Dial(context.Background(), redisx.Options{URL: "redis://" + srv.Addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	p := conn.DialProbe(srv.Addr)
	t.Cleanup(p.Close)
	return NewCollector(srv.Addr, p, probe, nil)
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func do(t *testing.T, c rueidis.Client, args ...string) rueidis.RedisResult {
	t.Helper()
	r := c.Do(context.Background(), c.B().Arbitrary(args...).Build())
	if err := r.Error(); err != nil {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	return r
}

// pollUntil polls until ok says the figures are what the test waits for.
func pollUntil(t *testing.T, c *Collector, what string, ok func(Figures) bool) Figures {
	t.Helper()
	ctx := testCtx(t)
	for {
		f, err := c.Poll(ctx)
		if err == nil && ok(f) {
			return f
		}
		select {
		case <-ctx.Done():
			t.Fatalf("never %s: last figures %+v, %v", what, f, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestCollector_Figures reads a primary with AOF, maxmemory, a replica
// and a disk probe: every figure is there, none blind.
func TestCollector_Figures(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AOF: true, MaxMemory: "64mb", Policy: "allkeys-lru",
		Args: []string{"--repl-backlog-size", "2mb"}})
	replica := redistest.StartReplica(t, srv)
	c := srv.Client(t)
	for i := range 100 {
		do(t, c, "SET", fmt.Sprintf("k:%d", i), strings.Repeat("v", 100))
	}
	coll := newTestCollector(t, srv, CommandProbe("echo 98765432100"))
	f := pollUntil(t, coll, "in step with its replica", func(f Figures) bool {
		return len(f.ReplicaOffsets) == 1 && f.ReplicaLag() == 0
	})
	if len(f.Blind) != 0 {
		t.Errorf("blind: %v", f.Blind)
	}
	if f.UsedMemory <= 0 || f.MaxMemory != 64<<20 || f.Policy != "allkeys-lru" {
		t.Errorf("memory: used %d max %d policy %q", f.UsedMemory, f.MaxMemory, f.Policy)
	}
	if !f.AOFEnabled || f.AOFSize <= 0 || f.AOFWriteErr || f.BgsaveErr || f.BgsaveRunning || f.RewriteRunning {
		t.Errorf("persistence: %+v", f)
	}
	if f.Role != "master" || f.Replicas != 1 || f.ReplBacklogSize != 2<<20 || f.ReplOffset <= 0 {
		t.Errorf("replication: %+v", f)
	}
	if f.DiskFree != 98765432100 {
		t.Errorf("DiskFree = %d, want what the probe printed", f.DiskFree)
	}
	if f.LatencyP99 < 0 {
		t.Errorf("LatencyP99 = %s, want a PING timed", f.LatencyP99)
	}
	l, err := Resolve(jobs.Guards{}, f, Options{})
	if err != nil || l.ReplPauseLag != 1<<20 {
		t.Fatalf("levels %+v, %v; want a lag level of half the 2mb backlog", l, err)
	}
	l.LatencyPause = time.Minute // a busy test machine's PING is not this test's business

	// A paused replica acknowledges nothing: its lag grows with every
	// write, and the guard pauses past half the backlog.
	ctx := testCtx(t)
	if err := replica.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	defer replica.Unpause(context.Background())
	value := strings.Repeat("x", 64<<10)
	for i := range 20 { // 1.25 MiB
		do(t, c, "SET", fmt.Sprintf("big:%d", i), value)
	}
	f = pollUntil(t, coll, "lagging", func(f Figures) bool { return f.ReplicaLag() > 20*64<<10 })
	if d := Decide(f, Figures{}, Baseline{Start: f}, l, 0); d.Action != Pause || d.Guard != "replication" {
		t.Errorf("a replica 1.25MiB behind: %+v, want a replication pause", d)
	}
	if err := replica.Unpause(ctx); err != nil {
		t.Fatal(err)
	}
	f = pollUntil(t, coll, "caught up", func(f Figures) bool { return len(f.ReplicaOffsets) == 1 && f.ReplicaLag() == 0 })
	if d := Decide(f, Figures{}, Baseline{Start: f}, l, 0); d.Action != Continue {
		t.Errorf("caught up: %+v", d)
	}

	// The replica gone: connected_slaves drops, the run aborts.
	start := f
	if err := replica.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	f = pollUntil(t, coll, "without its replica", func(f Figures) bool { return f.Replicas == 0 })
	if d := Decide(f, Figures{}, Baseline{Start: start}, l, 0); d.Action != Abort || d.Guard != "replication" {
		t.Errorf("replica lost: %+v, want a replication abort", d)
	}
}

// TestCollector_Forks: a BGSAVE and an AOF rewrite, each made slow with
// rdb-key-save-delay (microseconds a key, in the forked child), are seen
// while they run and pause the run.
func TestCollector_Forks(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{AOF: true})
	c := srv.Client(t)
	do(t, c, "DEBUG", "POPULATE", "200")
	coll := newTestCollector(t, srv, nil)
	l, err := Resolve(jobs.Guards{}, pollUntil(t, coll, "read", func(Figures) bool { return true }), Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A fork stalls the server for a moment (and a busy test machine
	// too): the PING it delays is the latency guard's, not this test's.
	l.LatencyPause = time.Minute
	// 200 keys × 5ms: a second of fork.
	do(t, c, "CONFIG", "SET", "rdb-key-save-delay", "5000")
	for _, fork := range []struct {
		cmd     string
		running func(Figures) bool
	}{
		{"BGSAVE", func(f Figures) bool { return f.BgsaveRunning }},
		{"BGREWRITEAOF", func(f Figures) bool { return f.RewriteRunning }},
	} {
		do(t, c, fork.cmd)
		f := pollUntil(t, coll, fork.cmd+" in progress", fork.running)
		if d := Decide(f, Figures{}, Baseline{Start: f}, l, 0); d.Action != Pause || d.Guard != "fork" {
			t.Errorf("%s: %+v, want a fork pause", fork.cmd, d)
		}
		f = pollUntil(t, coll, fork.cmd+" done", func(f Figures) bool { return !f.BgsaveRunning && !f.RewriteRunning })
		if d := Decide(f, Figures{}, Baseline{Start: f}, l, 0); d.Action != Continue {
			t.Errorf("after %s: %+v", fork.cmd, d)
		}
	}
}

// TestCollector_NoAnswer: a paused server makes the poll fail (after its
// timeout), which the gate turns into a pause.
func TestCollector_NoAnswer(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the poll timeout")
	}
	srv := redistest.Start(t, redistest.Options{})
	coll := newTestCollector(t, srv, nil)
	pollUntil(t, coll, "read", func(Figures) bool { return true })
	ctx := testCtx(t)
	if err := srv.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	defer srv.Unpause(context.Background())
	if _, err := coll.Poll(ctx); err == nil {
		t.Fatal("Poll of a paused server: no error")
	}
	g := NewGate([]*Collector{coll}, defaults(), nil)
	if d := g.decide(context.Background()); d.Action != Pause || d.Guard != "node" {
		t.Fatalf("gate on a silent node: %+v, want a node pause", d)
	}
	if err := srv.Unpause(ctx); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, coll, "answering again", func(Figures) bool { return true })
	// It answers, but the poll that timed out is a PING of 5 s in the
	// last 10 s: the latency guard holds the run a while longer.
	if d := g.decide(context.Background()); d.Action != Pause || d.Guard != "latency" {
		t.Fatalf("gate after the node answered: %+v, want a latency pause", d)
	}
}
