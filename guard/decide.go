package guard

import (
	"fmt"
	"time"

	"github.com/dustin/go-humanize"
)

// Action is what a guard says.
type Action int

const (
	Continue Action = iota
	Pause
	Abort
)

func (a Action) String() string { return [...]string{"ok", "pause", "abort"}[a] }

// Decision is a guard's verdict with the figure that crossed the level.
type Decision struct {
	Action Action
	Guard  string // "memory", "evictions", "fork", "aof", "disk", "replication", "latency", "persistence"
	Reason string
}

// Baseline is what the run compares against: the figures before its first
// change and the eviction rate of the seconds before it.
type Baseline struct {
	Start        Figures
	EvictionRate float64 // evictions per second before the first change
}

// evictionSlack tolerates noise in a busy server's eviction rate: the run
// aborts when evictions go more than 25% faster than before it (any
// eviction at all when there were none).
const evictionSlack = 1.25

// Decide is the verdict of every guard on one node: the first abort, else
// the first pause, else continue. cur is the latest poll, window the poll
// about 10 s earlier (for rates), sent the bytes of writes the run sent
// since cur was read (added to the AOF and replication figures so a fast
// run cannot outrun a poll).
func Decide(cur, window Figures, base Baseline, l Levels, sent int64) Decision {
	aborts := []Decision{writeErrors(cur, l), memoryAbort(cur, l), evictions(cur, window, base, l),
		aofGrowth(cur, base, l, sent), disk(cur, l), replicaLoss(cur, base, l)}
	pauses := []Decision{fork(cur, l), memoryPause(cur, l), replicaLag(cur, l, sent), latency(cur, l)}
	for _, list := range [][]Decision{aborts, pauses} {
		for _, d := range list {
			if d.Action != Continue {
				return d
			}
		}
	}
	return Decision{}
}

func writeErrors(f Figures, l Levels) Decision {
	if !l.AbortOnWriteError {
		return Decision{}
	}
	switch {
	case f.AOFWriteErr:
		return Decision{Abort, "persistence", "aof_last_write_status is err: the server cannot write its AOF"}
	case f.BgsaveErr:
		return Decision{Abort, "persistence", "rdb_last_bgsave_status is err: the last snapshot failed"}
	}
	return Decision{}
}

func memoryShare(f Figures, l Levels) (float64, bool) {
	limit := f.MaxMemory
	if limit == 0 {
		limit = l.MemoryLimit
	}
	if limit <= 0 || f.blind("memory") {
		return 0, false
	}
	return float64(f.UsedMemory) / float64(limit), true
}

func memoryAbort(f Figures, l Levels) Decision {
	share, ok := memoryShare(f, l)
	if !ok || l.MemoryNeverPauses || share < l.MemoryAbort {
		return Decision{}
	}
	return Decision{Abort, "memory", fmt.Sprintf("used_memory at %.1f%% of the limit, abort level %.1f%%", 100*share, 100*l.MemoryAbort)}
}

func memoryPause(f Figures, l Levels) Decision {
	share, ok := memoryShare(f, l)
	if !ok || l.MemoryNeverPauses || share < l.MemoryPause {
		return Decision{}
	}
	return Decision{Pause, "memory", fmt.Sprintf("used_memory at %.1f%% of the limit, pause level %.1f%%", 100*share, 100*l.MemoryPause)}
}

func evictions(cur, window Figures, base Baseline, l Levels) Decision {
	if !l.AbortOnEvictions || cur.blind("evictions") || window.At.IsZero() {
		return Decision{}
	}
	grew := cur.EvictedKeys - window.EvictedKeys
	secs := cur.At.Sub(window.At).Seconds()
	if grew <= 0 || secs <= 0 {
		return Decision{}
	}
	if float64(grew) <= base.EvictionRate*secs*evictionSlack {
		return Decision{}
	}
	return Decision{Abort, "evictions", fmt.Sprintf("evicted_keys grew by %d in %.0f s (%.1f/s; %.1f/s before the run)", grew, secs, float64(grew)/secs, base.EvictionRate)}
}

func aofGrowth(f Figures, base Baseline, l Levels, sent int64) Decision {
	if !f.AOFEnabled || !base.Start.AOFEnabled || l.AOFMaxGrowth <= 0 {
		return Decision{}
	}
	grown := f.AOFSize + sent - base.Start.AOFSize
	if grown <= l.AOFMaxGrowth {
		return Decision{}
	}
	return Decision{Abort, "aof", fmt.Sprintf("the AOF grew by %s since the run began, aof.max_growth is %s", humanize.IBytes(uint64(grown)), humanize.IBytes(uint64(l.AOFMaxGrowth)))}
}

func disk(f Figures, l Levels) Decision {
	if f.DiskFree < 0 || f.DiskFree >= l.DiskAbortBelow {
		return Decision{}
	}
	return Decision{Abort, "disk", fmt.Sprintf("%s free on the data disk, disk.abort_below is %s", humanize.IBytes(uint64(f.DiskFree)), humanize.IBytes(uint64(l.DiskAbortBelow)))}
}

func replicaLoss(f Figures, base Baseline, l Levels) Decision {
	if !l.AbortOnReplicaLoss || f.blind("replication") || f.Replicas >= base.Start.Replicas {
		return Decision{}
	}
	return Decision{Abort, "replication", fmt.Sprintf("connected_slaves dropped from %d to %d", base.Start.Replicas, f.Replicas)}
}

func fork(f Figures, l Levels) Decision {
	if !l.PauseDuringFork {
		return Decision{}
	}
	switch {
	case f.BgsaveRunning:
		return Decision{Pause, "fork", "BGSAVE in progress (its copy-on-write needs free memory)"}
	case f.RewriteRunning:
		return Decision{Pause, "fork", "AOF rewrite in progress (its copy-on-write needs free memory)"}
	}
	return Decision{}
}

func replicaLag(f Figures, l Levels, sent int64) Decision {
	if len(f.ReplicaOffsets) == 0 || l.ReplPauseLag <= 0 {
		return Decision{}
	}
	lag := f.ReplicaLag() + sent
	if lag <= l.ReplPauseLag {
		return Decision{}
	}
	return Decision{Pause, "replication", fmt.Sprintf("replica lag %s, pause level %s (half the backlog: past it a replica needs a full resync)", humanize.IBytes(uint64(lag)), humanize.IBytes(uint64(l.ReplPauseLag)))}
}

func latency(f Figures, l Levels) Decision {
	if f.LatencyP99 < 0 || f.LatencyP99 <= l.LatencyPause {
		return Decision{}
	}
	return Decision{Pause, "latency", fmt.Sprintf("PING p99 %s over the last 10 s, pause level %s", f.LatencyP99.Round(100*time.Microsecond), l.LatencyPause)}
}
