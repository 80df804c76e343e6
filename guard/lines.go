package guard

import (
	"fmt"
	"time"

	"github.com/dustin/go-humanize"
)

// Line is one guard's figure against its levels.
type Line struct {
	Name   string
	Figure string
	Levels string
	State  string // ok | pause | abort | blind
	Note   string
	// score ranks the nodes' readings of one guard (higher is worse);
	// node is whose reading it is.
	score float64
	node  string
}

// Lines describes each guard on one node now, for the plan and the
// operator's status line.
func Lines(f Figures, base Baseline, l Levels) []Line {
	var out []Line
	mem := Line{Name: "memory", Levels: fmt.Sprintf("pause %.0f%%, abort %.0f%%", 100*l.MemoryPause, 100*l.MemoryAbort), State: "ok"}
	if share, ok := memoryShare(f, l); ok {
		mem.Figure, mem.score = fmt.Sprintf("%.0f%%", 100*share), share
		if d := memoryPause(f, l); d.Action != Continue {
			mem.State = "pause"
		}
		if d := memoryAbort(f, l); d.Action != Continue {
			mem.State = "abort"
		}
	} else {
		switch {
		case f.blind("memory"):
			mem.Figure, mem.State, mem.Note = "unknown", "blind", "INFO has no used_memory"
		case f.blind("maxmemory") && l.MemoryLimit <= 0:
			mem.Figure, mem.State, mem.Note = "unknown", "blind", "INFO has no maxmemory: set guards.memory.limit to guard memory"
		default:
			mem.Figure, mem.State, mem.Note = "no limit", "blind", "maxmemory is 0: set guards.memory.limit to guard memory"
		}
	}
	if l.MemoryNeverPauses {
		mem.Note = "a delete frees memory: never paused by it"
	}
	if l.Relative {
		mem.Note = "relative to the start (--from-high-memory)"
	}
	out = append(out, mem)
	ev := Line{Name: "evictions", Figure: humanize.Comma(f.EvictedKeys), Levels: "abort if the run makes them faster", State: "ok", score: float64(f.EvictedKeys)}
	if !l.AbortOnEvictions {
		ev.State = "off"
	}
	out = append(out, blindLine(ev, f, "evictions", "INFO has no evicted_keys"))
	fk := Line{Name: "fork", Figure: "none", Levels: "pause during BGSAVE and AOF rewrite", State: "ok"}
	if d := fork(f, l); d.Action != Continue {
		fk.Figure, fk.State = d.Reason, "pause"
	}
	out = append(out, blindLine(fk, f, "forks", "INFO has no rdb_bgsave_in_progress"))
	if f.blind("aof") {
		out = append(out, blindLine(Line{Name: "aof", Levels: "abort at +" + humanize.IBytes(uint64(l.AOFMaxGrowth))}, f, "aof", "INFO has no aof_enabled"))
	} else if f.AOFEnabled {
		grown := f.AOFSize - base.Start.AOFSize
		if base.Start.At.IsZero() {
			grown = 0
		}
		out = append(out, Line{Name: "aof", Figure: "+" + humanize.IBytes(uint64(max(grown, 0))), Levels: "abort at +" + humanize.IBytes(uint64(l.AOFMaxGrowth)), State: "ok",
			score: float64(grown) / float64(max(l.AOFMaxGrowth, 1))})
	} else {
		out = append(out, Line{Name: "aof", Figure: "off", Levels: "abort at +" + humanize.IBytes(uint64(l.AOFMaxGrowth)), State: "ok"})
	}
	dk := Line{Name: "disk", Levels: "abort below " + humanize.IBytes(uint64(l.DiskAbortBelow)) + " free", State: "ok"}
	if f.DiskFree < 0 {
		dk.Figure, dk.State, dk.Note = "unknown", "blind", "no --disk-path or --disk-free-command"
	} else {
		dk.Figure, dk.score = humanize.IBytes(uint64(f.DiskFree))+" free", -float64(f.DiskFree)
		if disk(f, l).Action == Abort {
			dk.State = "abort"
		}
	}
	out = append(out, dk)
	rp := Line{Name: "replication", Figure: fmt.Sprintf("%d replicas, lag %s", f.Replicas, humanize.IBytes(uint64(f.ReplicaLag()))), Levels: "pause above " + humanize.IBytes(uint64(l.ReplPauseLag)) + " lag", State: "ok"}
	rp.score = float64(f.ReplicaLag()) / float64(max(l.ReplPauseLag, 1))
	if replicaLag(f, l, 0).Action == Pause {
		rp.State = "pause"
	}
	out = append(out, blindLine(rp, f, "replication", "INFO has no connected_slaves"))
	lt := Line{Name: "latency", Levels: "pause above p99 " + l.LatencyPause.String(), State: "ok"}
	if f.LatencyP99 < 0 {
		lt.Figure, lt.State, lt.Note = "unknown", "blind", "no PING timed yet"
	} else {
		lt.Figure = "p99 " + f.LatencyP99.Round(10*time.Microsecond).String()
		lt.score = float64(f.LatencyP99) / float64(max(l.LatencyPause, 1))
		if latency(f, l).Action == Pause {
			lt.State = "pause"
		}
	}
	out = append(out, lt)
	return out
}

// blindLine marks ln blind when the server did not report the figure
// (FromInfo's Blind name), which no guard then decides on.
func blindLine(ln Line, f Figures, figure, note string) Line {
	if !f.blind(figure) {
		return ln
	}
	ln.Figure, ln.State, ln.Note = "unknown", "blind", note
	return ln
}

// worse says whether ln is a worse reading of its guard than o: a worse
// state, or the same state and a figure further towards its level.
func (ln Line) worse(o Line) bool {
	if r, ro := stateRank(ln.State), stateRank(o.State); r != ro {
		return r > ro
	}
	return ln.score > o.score
}

func stateRank(s string) int {
	switch s {
	case "abort":
		return 4
	case "pause":
		return 3
	case "blind":
		return 2
	case "ok":
		return 1
	}
	return 0
}
