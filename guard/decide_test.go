package guard

import (
	"strings"
	"testing"
	"time"
)

const (
	mib = int64(1) << 20
	gib = int64(1) << 30
)

// t0 is the moment of the latest poll in the tables; the window poll is
// ten seconds earlier.
var t0 = time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)

// healthy is a primary every guard is happy with: half full, AOF on, one
// replica in step, plenty of disk, a quick PING.
func healthy() Figures {
	return Figures{
		At: t0, Node: "10.0.0.1:6379",
		UsedMemory: 50 * mib, MaxMemory: 100 * mib, Policy: "noeviction",
		EvictedKeys: 1000,
		AOFEnabled:  true, AOFSize: 10 * mib, AOFBaseSize: 8 * mib,
		Role: "master", Replicas: 1, ReplOffset: 5000, ReplicaOffsets: []int64{5000},
		ReplBacklogSize: 1 * mib,
		DiskFree:        10 * gib,
		LatencyP99:      time.Millisecond,
	}
}

// defaults are the levels for healthy() with an empty guards section.
func defaults() Levels {
	return Levels{
		MemoryPause: DefaultMemoryPause, MemoryAbort: DefaultMemoryAbort, MemoryLimit: 100 * mib,
		AbortOnEvictions: true, PauseDuringFork: true, AbortOnWriteError: true,
		AOFMaxGrowth: 64 * mib, DiskAbortBelow: 1 * gib,
		ReplPauseLag: 512 << 10, AbortOnReplicaLoss: true, LatencyPause: 10 * time.Millisecond,
	}
}

func TestDecide(t *testing.T) {
	base := Baseline{Start: healthy()}
	window := healthy()
	window.At = t0.Add(-10 * time.Second)

	type tc struct {
		name   string
		cur    func(*Figures)
		window func(*Figures)
		base   func(*Baseline)
		levels func(*Levels)
		sent   int64
		want   Action
		guard  string
		reason string // a substring of the reason, when set
	}
	mem := func(share float64) func(*Figures) {
		return func(f *Figures) { f.UsedMemory = int64(share * float64(f.MaxMemory)) }
	}
	cases := []tc{
		{name: "healthy", want: Continue},

		// memory: the share of maxmemory, at the level is past it.
		{name: "memory just below pause", cur: func(f *Figures) { f.UsedMemory = 90*mib - 1 }, want: Continue},
		{name: "memory at pause", cur: mem(0.90), want: Pause, guard: "memory", reason: "pause level 90.0%"},
		{name: "memory between pause and abort", cur: mem(0.94), want: Pause, guard: "memory"},
		{name: "memory just below abort", cur: func(f *Figures) { f.UsedMemory = 95*mib - 1 }, want: Pause, guard: "memory"},
		{name: "memory at abort", cur: mem(0.95), want: Abort, guard: "memory", reason: "abort level 95.0%"},
		{name: "memory over maxmemory", cur: mem(1.02), want: Abort, guard: "memory"},
		{name: "delete: memory never pauses", cur: mem(0.93), levels: func(l *Levels) { l.MemoryNeverPauses = true }, want: Continue},
		{name: "delete: memory never aborts", cur: mem(0.99), levels: func(l *Levels) { l.MemoryNeverPauses = true }, want: Continue},
		{name: "no maxmemory, no limit: blind", cur: func(f *Figures) { f.MaxMemory, f.UsedMemory = 0, 99*gib }, levels: func(l *Levels) { l.MemoryLimit = 0 }, want: Continue},
		{name: "no maxmemory: memory.limit", cur: func(f *Figures) { f.MaxMemory, f.UsedMemory = 0, 91*mib }, want: Pause, guard: "memory"},
		{name: "no maxmemory: memory.limit abort", cur: func(f *Figures) { f.MaxMemory, f.UsedMemory = 0, 96*mib }, want: Abort, guard: "memory"},
		{name: "memory blind", cur: func(f *Figures) { mem(0.99)(f); f.Blind = []string{"memory"} }, want: Continue},

		// evictions: against the rate before the run, over the window.
		{name: "no evictions", want: Continue},
		{name: "one eviction when there were none", cur: func(f *Figures) { f.EvictedKeys++ }, want: Abort, guard: "evictions", reason: "grew by 1"},
		{name: "evictions off", cur: func(f *Figures) { f.EvictedKeys += 500 }, levels: func(l *Levels) { l.AbortOnEvictions = false }, want: Continue},
		{name: "evictions at the baseline rate plus slack", cur: func(f *Figures) { f.EvictedKeys += 125 }, base: func(b *Baseline) { b.EvictionRate = 10 }, want: Continue},
		{name: "evictions faster than the baseline", cur: func(f *Figures) { f.EvictedKeys += 126 }, base: func(b *Baseline) { b.EvictionRate = 10 }, want: Abort, guard: "evictions", reason: "10.0/s before the run"},
		{name: "evictions at the baseline rate", cur: func(f *Figures) { f.EvictedKeys += 100 }, base: func(b *Baseline) { b.EvictionRate = 10 }, want: Continue},
		{name: "evictions without a window", cur: func(f *Figures) { f.EvictedKeys += 100 }, window: func(w *Figures) { *w = Figures{} }, want: Continue},
		{name: "evictions counter reset (restart)", cur: func(f *Figures) { f.EvictedKeys = 0 }, want: Continue},
		{name: "evictions blind", cur: func(f *Figures) { f.EvictedKeys += 100; f.Blind = []string{"evictions"} }, want: Continue},

		// forks.
		{name: "BGSAVE", cur: func(f *Figures) { f.BgsaveRunning = true }, want: Pause, guard: "fork", reason: "BGSAVE"},
		{name: "AOF rewrite", cur: func(f *Figures) { f.RewriteRunning = true }, want: Pause, guard: "fork", reason: "AOF rewrite"},
		{name: "fork, pause_during_fork false", cur: func(f *Figures) { f.BgsaveRunning = true }, levels: func(l *Levels) { l.PauseDuringFork = false }, want: Continue},

		// write errors.
		{name: "AOF write error", cur: func(f *Figures) { f.AOFWriteErr = true }, want: Abort, guard: "persistence", reason: "aof_last_write_status"},
		{name: "BGSAVE error", cur: func(f *Figures) { f.BgsaveErr = true }, want: Abort, guard: "persistence", reason: "rdb_last_bgsave_status"},
		{name: "write error, abort_on_write_error false", cur: func(f *Figures) { f.AOFWriteErr = true }, levels: func(l *Levels) { l.AbortOnWriteError = false }, want: Continue},

		// AOF growth since the run began, plus the bytes sent since the poll.
		{name: "AOF grew to the limit", cur: func(f *Figures) { f.AOFSize += 64 * mib }, want: Continue},
		{name: "AOF grew past the limit", cur: func(f *Figures) { f.AOFSize += 64*mib + 1 }, want: Abort, guard: "aof", reason: "aof.max_growth is 64 MiB"},
		{name: "sent bytes push AOF growth over", cur: func(f *Figures) { f.AOFSize += 63 * mib }, sent: mib + 1, want: Abort, guard: "aof"},
		{name: "sent bytes up to the limit", cur: func(f *Figures) { f.AOFSize += 63 * mib }, levels: func(l *Levels) { l.ReplPauseLag = 2 * mib }, sent: mib, want: Continue},
		{name: "AOF off at the start", cur: func(f *Figures) { f.AOFSize += gib }, base: func(b *Baseline) { b.Start.AOFEnabled = false }, want: Continue},
		{name: "AOF off now", cur: func(f *Figures) { f.AOFEnabled = false; f.AOFSize += gib }, want: Continue},
		{name: "AOF shrank (rewrite)", cur: func(f *Figures) { f.AOFSize = mib }, want: Continue},

		// disk.
		{name: "disk at the level", cur: func(f *Figures) { f.DiskFree = gib }, want: Continue},
		{name: "disk below the level", cur: func(f *Figures) { f.DiskFree = gib - 1 }, want: Abort, guard: "disk", reason: "disk.abort_below is 1.0 GiB"},
		{name: "disk unknown", cur: func(f *Figures) { f.DiskFree = -1 }, want: Continue},
		{name: "disk full", cur: func(f *Figures) { f.DiskFree = 0 }, want: Abort, guard: "disk"},

		// replicas.
		{name: "replica lost", cur: func(f *Figures) { f.Replicas, f.ReplicaOffsets = 0, nil }, want: Abort, guard: "replication", reason: "from 1 to 0"},
		{name: "replica added", cur: func(f *Figures) { f.Replicas = 2; f.ReplicaOffsets = []int64{5000, 5000} }, want: Continue},
		{name: "replica lost, abort_on_replica_loss false", cur: func(f *Figures) { f.Replicas, f.ReplicaOffsets = 0, nil }, levels: func(l *Levels) { l.AbortOnReplicaLoss = false }, want: Continue},
		{name: "replication blind", cur: func(f *Figures) { f.Replicas, f.ReplicaOffsets = 0, nil; f.Blind = []string{"replication"} }, want: Continue},
		{name: "replica lag at the level", cur: func(f *Figures) { f.ReplOffset = 5000 + 512<<10 }, want: Continue},
		{name: "replica lag past the level", cur: func(f *Figures) { f.ReplOffset = 5000 + 512<<10 + 1 }, want: Pause, guard: "replication", reason: "pause level 512 KiB"},
		{name: "sent bytes push replica lag over", cur: func(f *Figures) { f.ReplOffset = 5000 + 500<<10 }, sent: 12<<10 + 1, want: Pause, guard: "replication"},
		{name: "the slowest replica counts", cur: func(f *Figures) {
			f.Replicas, f.ReplOffset, f.ReplicaOffsets = 2, 5000+600<<10, []int64{5000 + 600<<10, 5000}
		}, want: Pause, guard: "replication"},
		{name: "no online replica: no lag", cur: func(f *Figures) { f.ReplOffset += gib; f.ReplicaOffsets = nil }, want: Continue},

		// latency.
		{name: "latency at the level", cur: func(f *Figures) { f.LatencyP99 = 10 * time.Millisecond }, want: Continue},
		{name: "latency past the level", cur: func(f *Figures) { f.LatencyP99 = 11 * time.Millisecond }, want: Pause, guard: "latency", reason: "pause level 10ms"},
		{name: "latency unknown", cur: func(f *Figures) { f.LatencyP99 = -1 }, want: Continue},

		// the first abort wins over pauses, and over later aborts.
		{name: "abort wins over pauses", cur: func(f *Figures) {
			f.BgsaveRunning, f.LatencyP99, f.ReplOffset = true, time.Second, gib
			f.DiskFree = 0
		}, want: Abort, guard: "disk"},
		{name: "write error before memory", cur: func(f *Figures) { f.AOFWriteErr = true; mem(0.99)(f) }, want: Abort, guard: "persistence"},
		{name: "memory abort before evictions", cur: func(f *Figures) { mem(0.99)(f); f.EvictedKeys += 50 }, want: Abort, guard: "memory"},
		{name: "fork before memory pause", cur: func(f *Figures) { f.RewriteRunning = true; mem(0.91)(f) }, want: Pause, guard: "fork"},
		{name: "delete: evictions still abort", cur: func(f *Figures) { mem(0.99)(f); f.EvictedKeys += 50 }, levels: func(l *Levels) { l.MemoryNeverPauses = true }, want: Abort, guard: "evictions"},
		{name: "delete: forks still pause", cur: func(f *Figures) { mem(0.99)(f); f.BgsaveRunning = true }, levels: func(l *Levels) { l.MemoryNeverPauses = true }, want: Pause, guard: "fork"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cur, win, b, l := healthy(), window, base, defaults()
			b.Start.ReplicaOffsets = append([]int64(nil), b.Start.ReplicaOffsets...)
			if c.cur != nil {
				c.cur(&cur)
			}
			if c.window != nil {
				c.window(&win)
			}
			if c.base != nil {
				c.base(&b)
			}
			if c.levels != nil {
				c.levels(&l)
			}
			got := Decide(cur, win, b, l, c.sent)
			if got.Action != c.want || (c.guard != "" && got.Guard != c.guard) {
				t.Fatalf("Decide = %s %q (%s), want %s %q", got.Action, got.Guard, got.Reason, c.want, c.guard)
			}
			if c.want == Continue && (got.Guard != "" || got.Reason != "") {
				t.Errorf("continue with a guard or reason: %+v", got)
			}
			if c.want != Continue && got.Reason == "" {
				t.Errorf("%s without a reason", got.Action)
			}
			if c.reason != "" && !strings.Contains(got.Reason, c.reason) {
				t.Errorf("reason %q, want it to contain %q", got.Reason, c.reason)
			}
		})
	}
}

// TestDecide_BlindNeverDecides reads the figures of a server that hides
// every section but memory's used_memory (a managed service, say): no
// guard decides on a figure it did not get, whatever the baseline says.
func TestDecide_BlindNeverDecides(t *testing.T) {
	cur := FromInfo(map[string]string{"used_memory": "1000"}, t0)
	want := []string{"maxmemory", "evictions", "forks", "aof", "replication"}
	if strings.Join(cur.Blind, ",") != strings.Join(want, ",") {
		t.Fatalf("Blind = %v, want %v", cur.Blind, want)
	}
	window := cur
	window.At = t0.Add(-10 * time.Second)
	base := Baseline{Start: healthy(), EvictionRate: 0}
	l := defaults()
	l.MemoryLimit = 0
	if d := Decide(cur, window, base, l, 0); d.Action != Continue {
		t.Fatalf("Decide on blind figures = %+v, want continue", d)
	}
	// Nothing at all: the INFO the server refused.
	if d := Decide(FromInfo(map[string]string{}, t0), window, base, l, 0); d.Action != Continue {
		t.Fatalf("Decide on no figures = %+v, want continue", d)
	}
}

func TestAction_String(t *testing.T) {
	for a, want := range map[Action]string{Continue: "ok", Pause: "pause", Abort: "abort"} {
		if got := a.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", a, got, want)
		}
	}
}
