package guard

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// The gate without a server: collectors fed with figures by the test.

func fakeCollector(node string, figs ...Figures) *Collector {
	c := &Collector{Node: node, polled: make(chan struct{}, 1)}
	for _, f := range figs {
		c.push(f)
	}
	return c
}

// push stores f as the newest poll, as poll does.
func (c *Collector) push(f Figures) {
	c.mu.Lock()
	f.Node = c.Node
	c.history = append(c.history, f)
	c.err = nil
	c.mu.Unlock()
	c.notify()
}

func (c *Collector) fail(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
	c.notify()
}

// at is healthy() polled at a given moment.
func at(when time.Time, edit ...func(*Figures)) Figures {
	f := healthy()
	f.At = when
	for _, e := range edit {
		e(&f)
	}
	return f
}

type events struct {
	mu   sync.Mutex
	list []string
	// on, when set, is called with each event after it is recorded.
	on func(action, guard string)
}

func (e *events) record(action, guard, reason string) {
	e.mu.Lock()
	e.list = append(e.list, action+" "+guard)
	on := e.on
	e.mu.Unlock()
	if on != nil {
		on(action, guard)
	}
}

func (e *events) get() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.list...)
}

// begun is a gate on the collectors whose baselines are fixed.
func begun(t *testing.T, l Levels, cs ...*Collector) (*Gate, *events) {
	t.Helper()
	g := NewGate(cs, l, nil)
	ev := &events{}
	g.OnEvent = ev.record
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Begin(ctx, time.Second); err != nil {
		t.Fatalf("Begin: %v", err)
	}
	return g, ev
}

func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestGate_Begin(t *testing.T) {
	now := time.Now()
	c := fakeCollector("a:6379",
		at(now.Add(-4*time.Second), func(f *Figures) { f.EvictedKeys = 100 }),
		at(now.Add(-2*time.Second), func(f *Figures) { f.EvictedKeys = 110 }),
		at(now, func(f *Figures) { f.EvictedKeys = 140; f.AOFSize = 12345 }),
	)
	g, _ := begun(t, defaults(), c)
	b := g.base["a:6379"]
	if b.EvictionRate != 10 || b.Start.AOFSize != 12345 || !b.Start.At.Equal(now) {
		t.Fatalf("baseline %+v, want 10 evictions/s from the oldest poll and the newest figures as the start", b)
	}

	evicting := func(f *Figures) { f.MaxMemory, f.Policy = 1<<30, "allkeys-lru" }
	t.Run("no wait when nothing can be evicted", func(t *testing.T) {
		for _, f := range []func(*Figures){
			func(f *Figures) {}, // maxmemory 0
			func(f *Figures) { f.MaxMemory, f.Policy = 1<<30, "noeviction" },
		} {
			c := fakeCollector("n:6379", at(now, f))
			if err := NewGate([]*Collector{c}, defaults(), nil).Begin(waitCtx(t), time.Second); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("waits for a second of polls", func(t *testing.T) {
		c := fakeCollector("b:6379", at(now, evicting))
		g := NewGate([]*Collector{c}, defaults(), nil)
		done := make(chan error, 1)
		go func() { done <- g.Begin(waitCtx(t), time.Second) }()
		select {
		case err := <-done:
			t.Fatalf("Begin returned %v after one poll", err)
		case <-time.After(100 * time.Millisecond):
		}
		c.push(at(now.Add(time.Second), evicting))
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ends with its context", func(t *testing.T) {
		c := fakeCollector("c:6379")
		g := NewGate([]*Collector{c}, defaults(), nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := g.Begin(ctx, time.Second); !errors.Is(err, context.Canceled) {
			t.Fatalf("Begin = %v, want context.Canceled", err)
		}
	})
}

func TestGate_Continue(t *testing.T) {
	now := time.Now()
	g, ev := begun(t, defaults(), fakeCollector("a:6379", at(now.Add(-time.Second)), at(now)))
	if err := g.Wait(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	if got := ev.get(); len(got) != 0 {
		t.Errorf("events %v, want none", got)
	}
}

func TestGate_Abort(t *testing.T) {
	now := time.Now()
	c := fakeCollector("a:6379", at(now.Add(-time.Second)), at(now))
	g, _ := begun(t, defaults(), c)
	c.push(at(now.Add(time.Second), func(f *Figures) { f.DiskFree = 100 * mib }))
	err := g.Wait(waitCtx(t))
	var abort *AbortError
	if !errors.As(err, &abort) || abort.Guard != "disk" || !strings.Contains(abort.Reason, "100 MiB free") {
		t.Fatalf("Wait = %v, want a disk abort", err)
	}
	// The executor reads it through an interface, not the type.
	var named interface{ Abort() (string, string) }
	if !errors.As(err, &named) {
		t.Fatal("AbortError has no Abort() (guard, reason)")
	}
	if guard, _ := named.Abort(); guard != "disk" {
		t.Errorf("Abort() guard %q", guard)
	}
}

// TestGate_PauseThenContinue: a BGSAVE pauses the run; when a poll says
// it is over, Wait returns, and both changes of state are reported.
func TestGate_PauseThenContinue(t *testing.T) {
	now := time.Now()
	c := fakeCollector("a:6379", at(now.Add(-time.Second)), at(now, func(f *Figures) { f.BgsaveRunning = true }))
	g, ev := begun(t, defaults(), c)
	ev.on = func(action, guard string) {
		if action == "pause" {
			go c.push(at(now.Add(time.Second)))
		}
	}
	if err := g.Wait(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	if got, want := ev.get(), []string{"pause fork", "resume fork"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if !strings.Contains(g.Status(), "fork none ok") {
		t.Errorf("status after the fork: %q", g.Status())
	}
}

// TestGate_PauseEndsWithContext: an interrupt ends a pause.
func TestGate_PauseEndsWithContext(t *testing.T) {
	now := time.Now()
	c := fakeCollector("a:6379", at(now.Add(-time.Second)), at(now, func(f *Figures) { f.LatencyP99 = time.Second }))
	g, ev := begun(t, defaults(), c)
	ctx, cancel := context.WithCancel(waitCtx(t))
	ev.on = func(action, guard string) { cancel() }
	if err := g.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
	if got := ev.get(); !reflect.DeepEqual(got, []string{"pause latency"}) {
		t.Errorf("events %v", got)
	}
	if !strings.Contains(g.Status(), "latency p99 1s pause") {
		t.Errorf("status: %q", g.Status())
	}
}

// TestGate_WorstNodeWins: over the nodes of a cluster, an abort on one
// wins over pauses on the others.
func TestGate_WorstNodeWins(t *testing.T) {
	now := time.Now()
	a := fakeCollector("a:6379", at(now.Add(-time.Second)), at(now))
	b := fakeCollector("b:6379", at(now.Add(-time.Second)), at(now))
	c := fakeCollector("c:6379", at(now.Add(-time.Second)), at(now))
	g, _ := begun(t, defaults(), a, b, c)
	a.push(at(now.Add(time.Second), func(f *Figures) { f.RewriteRunning = true }))
	b.push(at(now.Add(time.Second), func(f *Figures) { f.AOFWriteErr = true }))
	c.push(at(now.Add(time.Second), func(f *Figures) { f.LatencyP99 = time.Second }))
	var abort *AbortError
	if err := g.Wait(waitCtx(t)); !errors.As(err, &abort) || abort.Guard != "persistence" {
		t.Fatalf("Wait = %v, want the persistence abort of b", err)
	}
	// Each guard shows its worst node, named.
	st := g.Status()
	for _, want := range []string{"latency p99 1s pause (c:6379)", "pause (a:6379) · aof", "(3 nodes; each guard's worst)"} {
		if !strings.Contains(st, want) {
			t.Errorf("status %q: no %q", st, want)
		}
	}
}

// TestGate_NodeDown: a node that does not answer pauses the run, and
// aborts it after MaxDown.
func TestGate_NodeDown(t *testing.T) {
	now := time.Now()
	c := fakeCollector("a:6379", at(now.Add(-time.Second)), at(now))
	g, ev := begun(t, defaults(), c)
	c.fail(errors.New("i/o timeout"))
	ctx, cancel := context.WithCancel(waitCtx(t))
	ev.on = func(action, guard string) { cancel() }
	if err := g.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want a pause (ended by the context)", err)
	}
	if got := ev.get(); !reflect.DeepEqual(got, []string{"pause node"}) {
		t.Fatalf("events %v, want a node pause", got)
	}
	g.mu.Lock()
	g.downFrom["a:6379"] = time.Now().Add(-2 * DefaultMaxDown)
	g.mu.Unlock()
	var abort *AbortError
	if err := g.Wait(waitCtx(t)); !errors.As(err, &abort) || abort.Guard != "node" || !strings.Contains(abort.Reason, "i/o timeout") {
		t.Fatalf("Wait = %v, want a node abort", err)
	}
	// It answers again: the clock of its silence starts over.
	c.push(at(now.Add(time.Second)))
	if err := g.Wait(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	if _, down := g.downFrom["a:6379"]; down {
		t.Error("downFrom kept after the node answered")
	}
}

// TestGate_SentBytes: the bytes the run sends between two polls count
// towards the AOF and replication guards until a poll has read them, and
// not after: a fast run cannot outrun its AOF guard.
func TestGate_SentBytes(t *testing.T) {
	l := defaults()
	l.AOFMaxGrowth = 1000
	l.ReplPauseLag = 1 << 40
	now := time.Now()
	start := at(now.Add(-10*time.Second), func(f *Figures) { f.AOFSize = 0 })
	aof := func(when time.Time, size int64) Figures {
		return at(when, func(f *Figures) { f.AOFSize = size })
	}

	t.Run("sent since the poll counts", func(t *testing.T) {
		c := fakeCollector("a:6379", aof(start.At.Add(-time.Second), 0), start)
		g, _ := begun(t, l, c)
		c.push(aof(time.Now(), 500))
		if err := g.Wait(waitCtx(t)); err != nil {
			t.Fatal(err)
		}
		g.Sent(400)
		if err := g.Wait(waitCtx(t)); err != nil {
			t.Fatalf("500 + 400 sent: %v", err)
		}
		g.Sent(101)
		var abort *AbortError
		if err := g.Wait(waitCtx(t)); !errors.As(err, &abort) || abort.Guard != "aof" {
			t.Fatalf("500 + 501 sent: %v, want an aof abort", err)
		}
	})
	t.Run("a poll that read them replaces them", func(t *testing.T) {
		c := fakeCollector("a:6379", aof(start.At.Add(-time.Second), 0), start)
		g, _ := begun(t, l, c)
		c.push(aof(time.Now(), 500))
		g.Sent(400)
		if err := g.Wait(waitCtx(t)); err != nil {
			t.Fatal(err)
		}
		// The next poll was asked after the send: it holds the 400.
		c.push(aof(time.Now(), 900))
		g.Sent(100)
		if err := g.Wait(waitCtx(t)); err != nil {
			t.Fatalf("900 read + 100 sent since: %v (counted twice?)", err)
		}
	})
	t.Run("a poll asked before the send does not hold them", func(t *testing.T) {
		c := fakeCollector("a:6379", aof(start.At.Add(-time.Second), 0), start)
		g, _ := begun(t, l, c)
		asked := time.Now()
		c.push(aof(asked.Add(-500*time.Millisecond), 500))
		if err := g.Wait(waitCtx(t)); err != nil {
			t.Fatal(err)
		}
		g.Sent(600)
		// A poll asked before the 600 were sent arrives after them: the
		// AOF it read does not have them yet.
		c.push(aof(asked, 500))
		var abort *AbortError
		if err := g.Wait(waitCtx(t)); !errors.As(err, &abort) || abort.Guard != "aof" {
			t.Fatalf("500 read + 600 sent after the poll was asked: %v, want an aof abort", err)
		}
	})
	t.Run("every node counts them", func(t *testing.T) {
		a := fakeCollector("a:6379", aof(start.At.Add(-time.Second), 0), start)
		b := fakeCollector("b:6379", aof(start.At.Add(-time.Second), 0), start)
		g, _ := begun(t, l, a, b)
		a.push(aof(time.Now(), 0))
		b.push(aof(time.Now(), 900))
		g.Sent(200)
		// a's new poll must not drop what b has not read.
		a.push(aof(time.Now(), 200))
		var abort *AbortError
		if err := g.Wait(waitCtx(t)); !errors.As(err, &abort) || abort.Guard != "aof" {
			t.Fatalf("b: 900 read + 200 sent: %v, want an aof abort", err)
		}
	})
}

func TestLines(t *testing.T) {
	l := defaults()
	get := func(lines []Line, name string) Line {
		for _, ln := range lines {
			if ln.Name == name {
				return ln
			}
		}
		t.Fatalf("no line %q in %+v", name, lines)
		return Line{}
	}
	f := healthy()
	lines := Lines(f, Baseline{Start: f}, l)
	var names []string
	for _, ln := range lines {
		names = append(names, ln.Name+":"+ln.State)
	}
	want := "memory:ok evictions:ok fork:ok aof:ok disk:ok replication:ok latency:ok"
	if strings.Join(names, " ") != want {
		t.Fatalf("lines %v, want %s", names, want)
	}

	f.DiskFree, f.LatencyP99, f.MaxMemory = -1, -1, 0
	l.MemoryLimit = 0
	for _, name := range []string{"memory", "disk", "latency"} {
		if ln := get(Lines(f, Baseline{}, l), name); ln.State != "blind" {
			t.Errorf("%s: %+v, want blind", name, ln)
		}
	}
	// Figures the server did not report are blind too.
	blind := FromInfo(map[string]string{"used_memory": "1", "maxmemory": "100"}, t0)
	for _, name := range []string{"evictions", "fork", "aof", "replication"} {
		if ln := get(Lines(blind, Baseline{}, defaults()), name); ln.State != "blind" {
			t.Errorf("%s without its INFO field: %+v, want blind", name, ln)
		}
	}
	// A memory figure INFO does not give is unknown, with that reason, not
	// "no limit".
	noLimit := defaults()
	noLimit.MemoryLimit = 0
	if ln := get(Lines(FromInfo(map[string]string{"used_memory": "1"}, t0), Baseline{}, noLimit), "memory"); ln.Figure != "unknown" || !strings.Contains(ln.Note, "INFO has no maxmemory") {
		t.Errorf("memory without maxmemory in INFO: %+v", ln)
	}
	if ln := get(Lines(FromInfo(map[string]string{"maxmemory": "100"}, t0), Baseline{}, defaults()), "memory"); ln.Figure != "unknown" || !strings.Contains(ln.Note, "INFO has no used_memory") {
		t.Errorf("memory without used_memory in INFO: %+v", ln)
	}
	f = healthy()
	f.UsedMemory = 99 * mib
	if ln := get(Lines(f, Baseline{}, defaults()), "memory"); ln.State != "abort" {
		t.Errorf("memory at 99%%: %+v", ln)
	}
	l = defaults()
	l.MemoryNeverPauses = true
	if ln := get(Lines(f, Baseline{}, l), "memory"); ln.State != "ok" || !strings.Contains(ln.Note, "delete") {
		t.Errorf("delete job at 99%%: %+v", ln)
	}
	_ = fmt.Sprint
}
