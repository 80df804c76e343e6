package guard

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keyjob/keyjob/jobs"
)

func ptr[T any](v T) *T { return &v }

// server is the start figures of a server using used of maxmemory bytes,
// with a replication backlog of backlog bytes (0: not reported).
func server(used, maxmemory, backlog int64) Figures {
	f := healthy()
	f.UsedMemory, f.MaxMemory, f.ReplBacklogSize = used, maxmemory, backlog
	return f
}

func TestResolve_Defaults(t *testing.T) {
	cases := []struct {
		name  string
		start Figures
		want  Levels
	}{
		{
			name:  "small server: AOF growth floor 64MiB, lag half of a 1MiB backlog",
			start: server(100*mib, 200*mib, mib),
			want: Levels{
				MemoryPause: 0.90, MemoryAbort: 0.95, MemoryLimit: 200 * mib,
				AbortOnEvictions: true, PauseDuringFork: true, AbortOnWriteError: true,
				AOFMaxGrowth: 64 * mib, DiskAbortBelow: gib, ReplPauseLag: 512 << 10,
				AbortOnReplicaLoss: true, LatencyPause: 10 * time.Millisecond,
			},
		},
		{
			name:  "big server: AOF growth 25% of used_memory, lag half of a 64MiB backlog",
			start: server(4*gib, 8*gib, 64*mib),
			want: Levels{
				MemoryPause: 0.90, MemoryAbort: 0.95, MemoryLimit: 8 * gib,
				AbortOnEvictions: true, PauseDuringFork: true, AbortOnWriteError: true,
				AOFMaxGrowth: gib, DiskAbortBelow: gib, ReplPauseLag: 32 * mib,
				AbortOnReplicaLoss: true, LatencyPause: 10 * time.Millisecond,
			},
		},
		{
			name:  "256MiB used is exactly the floor",
			start: server(256*mib, 0, mib),
			want: Levels{
				MemoryPause: 0.90, MemoryAbort: 0.95,
				AbortOnEvictions: true, PauseDuringFork: true, AbortOnWriteError: true,
				AOFMaxGrowth: 64 * mib, DiskAbortBelow: gib, ReplPauseLag: 512 << 10,
				AbortOnReplicaLoss: true, LatencyPause: 10 * time.Millisecond,
			},
		},
		{
			name:  "backlog not readable: 512KiB",
			start: server(mib, 0, 0),
			want: Levels{
				MemoryPause: 0.90, MemoryAbort: 0.95,
				AbortOnEvictions: true, PauseDuringFork: true, AbortOnWriteError: true,
				AOFMaxGrowth: 64 * mib, DiskAbortBelow: gib, ReplPauseLag: 512 << 10,
				AbortOnReplicaLoss: true, LatencyPause: 10 * time.Millisecond,
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Resolve(jobs.Guards{}, c.start, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Resolve =\n%+v\nwant\n%+v", got, c.want)
			}
		})
	}
}

func TestResolve_MemoryLimit(t *testing.T) {
	g := jobs.Guards{Memory: jobs.MemoryGuards{Limit: ptr(10 * gib)}}
	l, err := Resolve(g, server(gib, 0, mib), Options{})
	if err != nil || l.MemoryLimit != 10*gib {
		t.Fatalf("maxmemory 0: MemoryLimit %d, %v; want memory.limit %d", l.MemoryLimit, err, 10*gib)
	}
	l, err = Resolve(g, server(gib, 4*gib, mib), Options{})
	if err != nil || l.MemoryLimit != 4*gib {
		t.Fatalf("maxmemory set: MemoryLimit %d, %v; want maxmemory %d", l.MemoryLimit, err, 4*gib)
	}
}

func TestResolve_Looser(t *testing.T) {
	start := server(gib, 4*gib, mib) // defaults: AOF 256MiB, lag 512KiB
	cases := []struct {
		name   string
		g      jobs.Guards
		field  string
		levels func(*Levels)
	}{
		{"memory.pause_above", jobs.Guards{Memory: jobs.MemoryGuards{PauseAbove: ptr(0.92), AbortAbove: ptr(0.95)}}, "memory.pause_above 92% > 90%",
			func(l *Levels) { l.MemoryPause = 0.92 }},
		{"memory.abort_above", jobs.Guards{Memory: jobs.MemoryGuards{AbortAbove: ptr(0.99)}}, "memory.abort_above 99% > 95%",
			func(l *Levels) { l.MemoryAbort = 0.99 }},
		{"memory.abort_on_evictions", jobs.Guards{Memory: jobs.MemoryGuards{AbortOnEvictions: ptr(false)}}, "memory.abort_on_evictions false",
			func(l *Levels) { l.AbortOnEvictions = false }},
		{"persistence.pause_during_fork", jobs.Guards{Persistence: jobs.PersistenceGuards{PauseDuringFork: ptr(false)}}, "persistence.pause_during_fork false",
			func(l *Levels) { l.PauseDuringFork = false }},
		{"persistence.abort_on_write_error", jobs.Guards{Persistence: jobs.PersistenceGuards{AbortOnWriteError: ptr(false)}}, "persistence.abort_on_write_error false",
			func(l *Levels) { l.AbortOnWriteError = false }},
		{"aof.max_growth bytes", jobs.Guards{AOF: jobs.AOFGuards{MaxGrowth: &jobs.SizeOrShare{Bytes: 512 * mib}}}, "aof.max_growth 512 MiB > 256 MiB",
			func(l *Levels) { l.AOFMaxGrowth = 512 * mib }},
		{"aof.max_growth share", jobs.Guards{AOF: jobs.AOFGuards{MaxGrowth: &jobs.SizeOrShare{Share: 0.5}}}, "aof.max_growth 512 MiB > 256 MiB",
			func(l *Levels) { l.AOFMaxGrowth = 512 * mib }},
		{"disk.abort_below", jobs.Guards{Disk: jobs.DiskGuards{AbortBelow: ptr(100 * mib)}}, "disk.abort_below 100 MiB < 1.0 GiB",
			func(l *Levels) { l.DiskAbortBelow = 100 * mib }},
		{"replication.pause_lag_above", jobs.Guards{Replication: jobs.ReplicationGuards{PauseLagAbove: ptr(mib)}}, "replication.pause_lag_above 1.0 MiB > 512 KiB",
			func(l *Levels) { l.ReplPauseLag = mib }},
		{"replication.abort_on_replica_loss", jobs.Guards{Replication: jobs.ReplicationGuards{AbortOnReplicaLoss: ptr(false)}}, "replication.abort_on_replica_loss false",
			func(l *Levels) { l.AbortOnReplicaLoss = false }},
		{"latency.pause_above", jobs.Guards{Latency: jobs.LatencyGuards{PauseAbove: ptr(50 * time.Millisecond)}}, "latency.pause_above 50ms > 10ms",
			func(l *Levels) { l.LatencyPause = 50 * time.Millisecond }},
	}
	defaults, err := Resolve(jobs.Guards{}, start, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Resolve(c.g, start, Options{})
			var looser *ErrLooser
			if !errors.As(err, &looser) {
				t.Fatalf("Resolve: %v, want *ErrLooser", err)
			}
			if len(looser.Fields) != 1 || looser.Fields[0] != c.field {
				t.Errorf("Fields = %q, want [%q]", looser.Fields, c.field)
			}
			if !strings.Contains(err.Error(), "--allow-looser-guards") || !strings.Contains(err.Error(), c.field) {
				t.Errorf("message %q does not name the field and the flag", err)
			}
			got, err := Resolve(c.g, start, Options{AllowLooserGuards: true})
			if err != nil {
				t.Fatalf("with --allow-looser-guards: %v", err)
			}
			want := defaults
			c.levels(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("with --allow-looser-guards:\n%+v\nwant\n%+v", got, want)
			}
		})
	}
	t.Run("every looser field is listed", func(t *testing.T) {
		var all jobs.Guards
		all.Memory = jobs.MemoryGuards{PauseAbove: ptr(0.92), AbortAbove: ptr(0.99), AbortOnEvictions: ptr(false)}
		all.Persistence = jobs.PersistenceGuards{PauseDuringFork: ptr(false), AbortOnWriteError: ptr(false)}
		all.AOF.MaxGrowth = &jobs.SizeOrShare{Bytes: gib}
		all.Disk.AbortBelow = ptr(int64(0))
		all.Replication = jobs.ReplicationGuards{PauseLagAbove: ptr(mib), AbortOnReplicaLoss: ptr(false)}
		all.Latency.PauseAbove = ptr(time.Second)
		_, err := Resolve(all, start, Options{})
		var looser *ErrLooser
		if !errors.As(err, &looser) || len(looser.Fields) != len(cases)-1 { // aof.max_growth is in the table twice
			t.Fatalf("Resolve: %v, want all %d fields", err, len(cases)-1)
		}
	})
}

func TestResolve_Tighter(t *testing.T) {
	start := server(gib, 4*gib, mib)
	g := jobs.Guards{
		Memory:      jobs.MemoryGuards{PauseAbove: ptr(0.70), AbortAbove: ptr(0.80), AbortOnEvictions: ptr(true)},
		Persistence: jobs.PersistenceGuards{PauseDuringFork: ptr(true), AbortOnWriteError: ptr(true)},
		AOF:         jobs.AOFGuards{MaxGrowth: &jobs.SizeOrShare{Bytes: mib}},
		Disk:        jobs.DiskGuards{AbortBelow: ptr(10 * gib)},
		Replication: jobs.ReplicationGuards{PauseLagAbove: ptr(int64(64 << 10)), AbortOnReplicaLoss: ptr(true)},
		Latency:     jobs.LatencyGuards{PauseAbove: ptr(2 * time.Millisecond)},
	}
	got, err := Resolve(g, start, Options{})
	if err != nil {
		t.Fatalf("tighter levels refused: %v", err)
	}
	want := Levels{
		MemoryPause: 0.70, MemoryAbort: 0.80, MemoryLimit: 4 * gib,
		AbortOnEvictions: true, PauseDuringFork: true, AbortOnWriteError: true,
		AOFMaxGrowth: mib, DiskAbortBelow: 10 * gib, ReplPauseLag: 64 << 10,
		AbortOnReplicaLoss: true, LatencyPause: 2 * time.Millisecond,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Resolve =\n%+v\nwant\n%+v", got, want)
	}
	// A share: 10% of 1GiB.
	got, err = Resolve(jobs.Guards{AOF: jobs.AOFGuards{MaxGrowth: &jobs.SizeOrShare{Share: 0.10}}}, start, Options{})
	tenth := gib / 10
	if err != nil || got.AOFMaxGrowth != tenth {
		t.Fatalf("aof.max_growth 10%%: %d, %v; want %d", got.AOFMaxGrowth, err, tenth)
	}
	// The defaults written out are not looser.
	same := jobs.Guards{
		Memory: jobs.MemoryGuards{PauseAbove: ptr(0.90), AbortAbove: ptr(0.95)},
		AOF:    jobs.AOFGuards{MaxGrowth: &jobs.SizeOrShare{Share: 0.25}},
		Disk:   jobs.DiskGuards{AbortBelow: ptr(gib)}, Replication: jobs.ReplicationGuards{PauseLagAbove: ptr(int64(512 << 10))},
		Latency: jobs.LatencyGuards{PauseAbove: ptr(10 * time.Millisecond)},
	}
	if _, err := Resolve(same, start, Options{}); err != nil {
		t.Fatalf("the defaults written out: %v", err)
	}
}

func TestResolve_HighMemory(t *testing.T) {
	limit := 1000 * mib
	at := func(share float64) Figures { return server(int64(share*float64(limit)), limit, mib) }
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

	t.Run("below the pause level", func(t *testing.T) {
		l, err := Resolve(jobs.Guards{}, at(0.899), Options{})
		if err != nil || l.Relative {
			t.Fatalf("Resolve: %+v, %v", l, err)
		}
	})
	for _, share := range []float64{0.90, 0.93, 0.99, 1.01} {
		_, err := Resolve(jobs.Guards{}, at(share), Options{})
		var high *ErrHighMemory
		if !errors.As(err, &high) {
			t.Fatalf("at %.0f%%: %v, want *ErrHighMemory", 100*share, err)
		}
		if !strings.Contains(err.Error(), "--from-high-memory") {
			t.Errorf("message %q does not name --from-high-memory", err)
		}
	}
	t.Run("--from-high-memory: start + 1%, start + 3%", func(t *testing.T) {
		l, err := Resolve(jobs.Guards{}, at(0.93), Options{FromHighMemory: true})
		if err != nil {
			t.Fatal(err)
		}
		if !l.Relative || !near(l.MemoryPause, 0.94) || !near(l.MemoryAbort, 0.96) {
			t.Fatalf("levels %+v, want relative pause 94%% abort 96%%", l)
		}
		cur := at(0.93)
		if d := Decide(cur, Figures{}, Baseline{Start: cur}, l, 0); d.Action != Continue {
			t.Errorf("at the start: %+v, want continue", d)
		}
		cur = at(0.945)
		if d := Decide(cur, Figures{}, Baseline{Start: cur}, l, 0); d.Action != Pause || d.Guard != "memory" {
			t.Errorf("start + 1.5%%: %+v, want pause", d)
		}
		cur = at(0.961)
		if d := Decide(cur, Figures{}, Baseline{Start: cur}, l, 0); d.Action != Abort || d.Guard != "memory" {
			t.Errorf("start + 3.1%%: %+v, want abort", d)
		}
	})
	t.Run("a tighter pause level counts", func(t *testing.T) {
		_, err := Resolve(jobs.Guards{Memory: jobs.MemoryGuards{PauseAbove: ptr(0.5), AbortAbove: ptr(0.7)}}, at(0.6), Options{})
		var high *ErrHighMemory
		if !errors.As(err, &high) {
			t.Fatalf("60%% with pause_above 50%%: %v, want *ErrHighMemory", err)
		}
	})
	t.Run("memory.limit when maxmemory is 0", func(t *testing.T) {
		start := server(95*mib, 0, mib)
		_, err := Resolve(jobs.Guards{Memory: jobs.MemoryGuards{Limit: ptr(100 * mib)}}, start, Options{})
		var high *ErrHighMemory
		if !errors.As(err, &high) || high.Limit != 100*mib {
			t.Fatalf("95MiB of a 100MiB memory.limit: %v, want *ErrHighMemory", err)
		}
	})
	t.Run("no limit: never refused", func(t *testing.T) {
		if _, err := Resolve(jobs.Guards{}, server(100*gib, 0, mib), Options{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("delete jobs are never refused for memory", func(t *testing.T) {
		l, err := Resolve(jobs.Guards{}, at(0.99), Options{Delete: true})
		if err != nil {
			t.Fatal(err)
		}
		if l.Relative || !l.MemoryNeverPauses {
			t.Fatalf("levels %+v, want absolute levels that never pause", l)
		}
	})
	t.Run("looser levels are refused first", func(t *testing.T) {
		_, err := Resolve(jobs.Guards{Latency: jobs.LatencyGuards{PauseAbove: ptr(time.Second)}}, at(0.99), Options{})
		var looser *ErrLooser
		if !errors.As(err, &looser) {
			t.Fatalf("%v, want *ErrLooser", err)
		}
	})
}
