package guard

import (
	"math"
	"time"
)

// Reading is one guard on one node as a status page and a metrics
// scrape show it: the words of Lines and the same figure and levels as
// numbers, in the guard's unit (a share of the memory limit, bytes,
// seconds, keys, 1 for a fork running). A figure the server does not give
// and a level the guard does not have are NaN.
type Reading struct {
	Node   string
	Guard  string
	State  string // ok | pause | abort | blind | off
	Figure string
	Levels string
	Note   string
	Unit   string // ratio | bytes | seconds | keys | running
	Value  float64
	Pause  float64
	Abort  float64
}

// Verdict is what the gate says now: the guard holding the run (an empty
// Guard when none), its reason, and since when.
type Verdict struct {
	Action string // ok | pause | abort
	Guard  string
	Reason string
	Since  time.Time
	// NotCause: the pause outlasted the latency window with nothing sent,
	// so the run is not what slows the server.
	NotCause bool
}

// Verdict is the gate's current decision, for a status page.
func (g *Gate) Verdict() Verdict {
	g.mu.Lock()
	defer g.mu.Unlock()
	return Verdict{Action: g.state.Action.String(), Guard: g.state.Guard, Reason: g.state.Reason, Since: g.since, NotCause: g.notCause}
}

// Readings is every guard on every node now, from each node's latest
// poll; the error of the first node that does not answer (its readings
// are left out).
func (g *Gate) Readings() ([]Reading, error) {
	var out []Reading
	var firstErr error
	for _, c := range g.collectorsNow() {
		cur, _, err := c.Latest()
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		g.mu.Lock()
		base, l := g.base[c.Node], g.levelsOf(c.Node)
		g.mu.Unlock()
		out = append(out, NodeReadings(c.Node, cur, base, l)...)
	}
	return out, firstErr
}

// NodeReadings are the readings of one node's figures against its
// baseline and levels: Lines with numbers.
func NodeReadings(node string, f Figures, base Baseline, l Levels) []Reading {
	nan := math.NaN()
	var out []Reading
	for _, ln := range Lines(f, base, l) {
		r := Reading{Node: node, Guard: ln.Name, State: ln.State, Figure: ln.Figure, Levels: ln.Levels, Note: ln.Note,
			Value: nan, Pause: nan, Abort: nan}
		switch ln.Name {
		case "memory":
			r.Unit = "ratio"
			if share, ok := memoryShare(f, l); ok {
				r.Value = share
			}
			if !l.MemoryNeverPauses {
				r.Pause, r.Abort = l.MemoryPause, l.MemoryAbort
			}
		case "evictions":
			r.Unit = "keys"
			r.Value = float64(f.EvictedKeys)
		case "fork":
			r.Unit = "running"
			r.Value = 0
			if f.BgsaveRunning || f.RewriteRunning {
				r.Value = 1
			}
			if l.PauseDuringFork {
				r.Pause = 1
			}
		case "aof":
			r.Unit = "bytes"
			if f.AOFEnabled {
				grown := f.AOFSize - base.Start.AOFSize
				if base.Start.At.IsZero() {
					grown = 0
				}
				r.Value = float64(max(grown, 0))
			}
			r.Abort = float64(l.AOFMaxGrowth)
		case "disk":
			r.Unit = "bytes"
			if f.DiskFree >= 0 {
				r.Value = float64(f.DiskFree)
			}
			r.Abort = float64(l.DiskAbortBelow)
		case "replication":
			r.Unit = "bytes"
			r.Value = float64(f.ReplicaLag())
			r.Pause = float64(l.ReplPauseLag)
		case "latency":
			r.Unit = "seconds"
			if f.LatencyP99 >= 0 {
				r.Value = f.LatencyP99.Seconds()
			}
			r.Pause = l.LatencyPause.Seconds()
		}
		if ln.State == "blind" {
			r.Value = nan
		}
		out = append(out, r)
	}
	return out
}
