package guard

import (
	"fmt"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/keyjob/keyjob/jobs"
)

// Levels are the resolved levels of every guard for one run.
type Levels struct {
	MemoryPause float64 // share of the memory limit
	MemoryAbort float64
	// MemoryLimit is what memory is measured against when maxmemory is 0;
	// 0: none, and the memory guard is blind.
	MemoryLimit int64
	// Relative is set with --from-high-memory: the levels are the usage at
	// the start plus these shares of the limit.
	Relative           bool
	AbortOnEvictions   bool
	PauseDuringFork    bool
	AbortOnWriteError  bool
	AOFMaxGrowth       int64
	DiskAbortBelow     int64
	ReplPauseLag       int64
	AbortOnReplicaLoss bool
	LatencyPause       time.Duration
	// LatencyRelative is set with --from-high-latency on a node whose
	// latency was above the level at the start: LatencyPause is then
	// twice the start's figure.
	LatencyRelative bool
	// MemoryNeverPauses is set for delete jobs: they free memory.
	MemoryNeverPauses bool
}

// Defaults (docs/safety.md).
const (
	DefaultMemoryPause    = 0.90
	DefaultMemoryAbort    = 0.95
	DefaultAOFGrowthShare = 0.25
	DefaultAOFGrowthFloor = 64 << 20
	DefaultDiskAbortBelow = 1 << 30
	DefaultReplLagFloor   = 512 << 10 // when repl-backlog-size cannot be read: half of 1 MiB
	DefaultLatencyPause   = 10 * time.Millisecond
	// From a high start, pause at +1% and abort at +3% of the limit.
	HighMemoryPauseStep = 0.01
	HighMemoryAbortStep = 0.03
)

// Options are the operator's choices that change the levels.
type Options struct {
	FromHighMemory    bool // --from-high-memory
	FromHighLatency   bool // --from-high-latency (Gate.CheckLatency)
	AllowLooserGuards bool // --allow-looser-guards
	Delete            bool // the job deletes: memory never pauses it
}

// ErrLooser is returned when a job file loosens a level without the
// operator's --allow-looser-guards.
type ErrLooser struct{ Fields []string }

func (e *ErrLooser) Error() string {
	return fmt.Sprintf("the job file sets guard levels looser than the defaults (%s): only the operator can accept that, with --allow-looser-guards", strings.Join(e.Fields, "; "))
}

// ErrHighMemory refuses a start above a memory level.
type ErrHighMemory struct {
	Used, Limit int64
	Node        string // set by Start
}

func (e *ErrHighMemory) Error() string {
	on := ""
	if e.Node != "" {
		on = " on " + e.Node
	}
	return fmt.Sprintf("memory is already at %.1f%% of %s%s, above the pause level: pass --from-high-memory to run from here (levels then relative to the start: pause at +1%%, abort at +3%%)",
		100*float64(e.Used)/float64(e.Limit), humanize.IBytes(uint64(e.Limit)), on)
}

// Resolve turns a job file's guard fields into levels for a server whose
// figures at the start are start. It refuses looser levels without the
// operator's flag and a start above the memory pause level without
// --from-high-memory (never for a delete job).
func Resolve(g jobs.Guards, start Figures, o Options) (Levels, error) {
	l := Levels{
		MemoryPause: DefaultMemoryPause, MemoryAbort: DefaultMemoryAbort,
		AbortOnEvictions: true, PauseDuringFork: true, AbortOnWriteError: true,
		AOFMaxGrowth:   max(int64(DefaultAOFGrowthShare*float64(start.UsedMemory)), DefaultAOFGrowthFloor),
		DiskAbortBelow: DefaultDiskAbortBelow, AbortOnReplicaLoss: true, LatencyPause: DefaultLatencyPause,
		ReplPauseLag:      DefaultReplLagFloor,
		MemoryNeverPauses: o.Delete,
		MemoryLimit:       start.MaxMemory,
	}
	if start.ReplBacklogSize > 0 {
		l.ReplPauseLag = start.ReplBacklogSize / 2
	}
	defaults := l
	var looser []string
	loose := func(cond bool, format string, a ...any) {
		if cond {
			looser = append(looser, fmt.Sprintf(format, a...))
		}
	}
	m := g.Memory
	if m.PauseAbove != nil {
		l.MemoryPause = *m.PauseAbove
		loose(l.MemoryPause > defaults.MemoryPause, "memory.pause_above %.0f%% > %.0f%%", 100*l.MemoryPause, 100*defaults.MemoryPause)
	}
	if m.AbortAbove != nil {
		l.MemoryAbort = *m.AbortAbove
		loose(l.MemoryAbort > defaults.MemoryAbort, "memory.abort_above %.0f%% > %.0f%%", 100*l.MemoryAbort, 100*defaults.MemoryAbort)
	}
	if m.Limit != nil && start.MaxMemory == 0 {
		l.MemoryLimit = *m.Limit
	}
	if m.AbortOnEvictions != nil {
		l.AbortOnEvictions = *m.AbortOnEvictions
		loose(!l.AbortOnEvictions, "memory.abort_on_evictions false")
	}
	if p := g.Persistence.PauseDuringFork; p != nil {
		l.PauseDuringFork = *p
		loose(!*p, "persistence.pause_during_fork false")
	}
	if p := g.Persistence.AbortOnWriteError; p != nil {
		l.AbortOnWriteError = *p
		loose(!*p, "persistence.abort_on_write_error false")
	}
	if a := g.AOF.MaxGrowth; a != nil {
		l.AOFMaxGrowth = a.Bytes
		if a.Share > 0 {
			l.AOFMaxGrowth = int64(a.Share * float64(start.UsedMemory))
		}
		loose(l.AOFMaxGrowth > defaults.AOFMaxGrowth, "aof.max_growth %s > %s", humanize.IBytes(uint64(l.AOFMaxGrowth)), humanize.IBytes(uint64(defaults.AOFMaxGrowth)))
	}
	if d := g.Disk.AbortBelow; d != nil {
		l.DiskAbortBelow = *d
		loose(l.DiskAbortBelow < defaults.DiskAbortBelow, "disk.abort_below %s < %s", humanize.IBytes(uint64(l.DiskAbortBelow)), humanize.IBytes(uint64(defaults.DiskAbortBelow)))
	}
	if r := g.Replication.PauseLagAbove; r != nil {
		l.ReplPauseLag = *r
		loose(l.ReplPauseLag > defaults.ReplPauseLag, "replication.pause_lag_above %s > %s", humanize.IBytes(uint64(l.ReplPauseLag)), humanize.IBytes(uint64(defaults.ReplPauseLag)))
	}
	if r := g.Replication.AbortOnReplicaLoss; r != nil {
		l.AbortOnReplicaLoss = *r
		loose(!*r, "replication.abort_on_replica_loss false")
	}
	if p := g.Latency.PauseAbove; p != nil {
		l.LatencyPause = *p
		loose(l.LatencyPause > defaults.LatencyPause, "latency.pause_above %s > %s", l.LatencyPause, defaults.LatencyPause)
	}
	if len(looser) > 0 && !o.AllowLooserGuards {
		return l, &ErrLooser{Fields: looser}
	}
	return l.fromHigh(start, o)
}

// fromHigh handles a server already above the pause level at the start.
func (l Levels) fromHigh(start Figures, o Options) (Levels, error) {
	if l.MemoryLimit <= 0 || o.Delete {
		return l, nil
	}
	used := float64(start.UsedMemory) / float64(l.MemoryLimit)
	if used < l.MemoryPause {
		return l, nil
	}
	if !o.FromHighMemory {
		return l, &ErrHighMemory{Used: start.UsedMemory, Limit: l.MemoryLimit}
	}
	l.Relative = true
	l.MemoryPause = used + HighMemoryPauseStep
	l.MemoryAbort = used + HighMemoryAbortStep
	return l, nil
}
