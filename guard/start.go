package guard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/jobs"
)

// StartOptions are the operator's choices for the guards of a run.
type StartOptions struct {
	Options
	// Probe reads the free disk of a node (--disk-path,
	// --disk-free-command); nil: the disk guard is blind.
	Probe DiskProbe
	// MaxDown is how long a node may not answer before an abort; 0:
	// DefaultMaxDown.
	MaxDown time.Duration
	// MaxPause is how long a pause may last before an abort; 0:
	// DefaultMaxPause, negative: no limit.
	MaxPause time.Duration
	Log      *slog.Logger
}

// ErrUnguarded refuses --unguarded against a server that is not on a
// loopback address.
var ErrUnguarded = errors.New("--unguarded is for benchmarks on a loopback address")

// CheckUnguarded allows running without guards only against a loopback
// address (a benchmark's throwaway server).
func CheckUnguarded(addr string) error {
	if loopback(addr) {
		return nil
	}
	return fmt.Errorf("%w; %s is not one: drop --unguarded", ErrUnguarded, addr)
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Start watches every primary of the target, each on a probe connection
// of its own, within the polling budget, and resolves each node's levels
// from the job file, the operator's options and the node's figures now.
// On a cluster the gate follows a failover: it watches the primaries that
// serve the slots now. The guards poll until ctx ends.
//
// A level looser than the defaults without AllowLooserGuards is an
// *ErrLooser; a node already above the memory pause level is an
// *ErrHighMemory.
func Start(ctx context.Context, conn *redisx.Conn, job *jobs.Job, o StartOptions) (*Gate, error) {
	nodes, err := conn.Primaries(ctx)
	if err != nil {
		return nil, err
	}
	watch := func(addr string) *Collector {
		return NewCollector(addr, conn.DialProbe(addr), o.Probe, o.Log)
	}
	colls := make([]*Collector, len(nodes))
	for i, n := range nodes {
		colls[i] = watch(n.Addr)
	}
	o.Delete = job.Action.Kind == jobs.ActionDelete
	g := NewGate(colls, Levels{}, o.Log)
	g.fromHighLatency = o.FromHighLatency
	if o.MaxDown > 0 {
		g.MaxDown = o.MaxDown
	}
	switch {
	case o.MaxPause > 0:
		g.MaxPause = o.MaxPause
	case o.MaxPause < 0:
		g.MaxPause = 0
	}
	if conn.Cluster {
		g.Topology = func(ctx context.Context) ([]string, error) {
			nodes, err := conn.Primaries(ctx)
			addrs := make([]string, len(nodes))
			for i, n := range nodes {
				addrs[i] = n.Addr
			}
			return addrs, err
		}
		g.Watch = func(addr string) (*Collector, error) { return watch(addr), nil }
	}
	gctx, stop := context.WithCancel(ctx)
	g.Start(gctx)
	if err := g.resolve(ctx, job.Guards, o.Options); err != nil {
		stop()
		return nil, err
	}
	// The guards run until the caller's ctx ends.
	context.AfterFunc(ctx, stop)
	return g, nil
}

// resolve waits for every node's first figures and resolves its levels.
// A node that does not answer at the start is an error.
func (g *Gate) resolve(ctx context.Context, guards jobs.Guards, o Options) error {
	ctx, cancel := context.WithTimeout(ctx, pollTimeout+time.Duration(len(g.collectorsNow()))*time.Second/infoBudget+time.Second)
	defer cancel()
	first := true
	for _, c := range g.collectorsNow() {
		var cur Figures
		for {
			var err error
			var ok bool
			cur, _, err = c.Latest()
			if _, ok = c.first(); ok {
				break
			}
			select {
			case <-ctx.Done():
				if err == nil {
					err = ctx.Err()
				}
				return fmt.Errorf("guards: read %s: %w", c.Node, err)
			case <-c.polled:
			case <-time.After(50 * time.Millisecond):
			}
		}
		l, err := Resolve(guards, cur, o)
		var high *ErrHighMemory
		if errors.As(err, &high) {
			high.Node = c.Node
		}
		if err != nil {
			return err
		}
		if first {
			g.levels, first = l, false
		}
		g.SetLevels(c.Node, l)
	}
	return nil
}

// ErrHighLatency refuses a start where a node's latency is already above
// the pause level while keyjob sends nothing: the run would pause at once
// and wait for a figure it does not cause.
type ErrHighLatency struct {
	Node  string
	P99   time.Duration
	Level time.Duration
}

func (e *ErrHighLatency) Error() string {
	return fmt.Sprintf("latency is already p99 %s on %s before the run, above the pause level %s: pass --from-high-latency to run from here (the pause level then twice the start's figure), or raise guards.latency.pause_above (with --allow-looser-guards)",
		e.P99.Round(10*time.Microsecond), e.Node, e.Level)
}

// latencySamples is how many round trips of a node the latency baseline
// wants before it judges; latencyBaselineWait bounds the wait for them.
const (
	latencySamples      = 3
	latencyBaselineWait = 5 * time.Second
)

// CheckLatency compares each node's latency before the run with its pause
// level: above it, the start is refused (*ErrHighLatency), or with
// --from-high-latency the node's level becomes relative to its start
// figure (twice it). It waits for a few round trips of every node first.
func (g *Gate) CheckLatency(ctx context.Context) error {
	wait, cancel := context.WithTimeout(ctx, latencyBaselineWait)
	defer cancel()
	for _, c := range g.collectorsNow() {
		for c.samples() < latencySamples {
			select {
			case <-wait.Done():
			case <-c.polled:
				continue
			case <-time.After(100 * time.Millisecond):
				continue
			}
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		cur, _, err := c.Latest()
		if err != nil || cur.LatencyP99 < 0 {
			continue // the node guard says it
		}
		g.mu.Lock()
		l := g.levelsOf(c.Node)
		if cur.LatencyP99 > l.LatencyPause {
			if !g.fromHighLatency {
				g.mu.Unlock()
				return &ErrHighLatency{Node: c.Node, P99: cur.LatencyP99, Level: l.LatencyPause}
			}
			l.LatencyPause, l.LatencyRelative = 2*cur.LatencyP99, true
			g.perNode[c.Node] = l
			g.log.Warn("guards: latency above the pause level at the start (--from-high-latency): pausing at twice the start's figure", "node", c.Node, "p99", cur.LatencyP99, "pause_above", l.LatencyPause)
		}
		g.mu.Unlock()
	}
	return nil
}

// samples is the round trips in the node's window.
func (c *Collector) samples() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pings)
}

// ErrDiskShort refuses a start where a node's free disk cannot hold the
// AOF the run appends plus the room a rewrite needs (yipit: the rewrite
// filled the disk and Redis died).
type ErrDiskShort struct {
	Node               string
	Free, AOF, Rewrite int64
}

func (e *ErrDiskShort) Error() string {
	return fmt.Sprintf("refusing to start: %s free on the data disk of %s, and the run needs about %s (%s of AOF it appends plus %s for a rewrite)",
		humanize.IBytes(uint64(e.Free)), e.Node, humanize.IBytes(uint64(e.AOF+e.Rewrite)),
		humanize.IBytes(uint64(e.AOF)), humanize.IBytes(uint64(e.Rewrite)))
}

// CheckDisk is the disk pre-flight: every node whose free disk is known
// must hold its share of the AOF the run appends (aofBytes, spread evenly
// over the primaries as the slots spread the keys; nothing without AOF)
// plus rewriteBytes, the room one rewrite or snapshot needs. nil on a
// gate without nodes.
func (g *Gate) CheckDisk(aofBytes, rewriteBytes int64) error {
	if g == nil {
		return nil
	}
	colls := g.collectorsNow()
	for _, c := range colls {
		cur, _, err := c.Latest()
		if err != nil || cur.DiskFree < 0 {
			continue
		}
		// Without AOF the run appends nothing to the disk; a snapshot its
		// writes trigger still needs the room.
		var aof int64
		if cur.AOFEnabled {
			aof = aofBytes / int64(len(colls))
		}
		if cur.DiskFree < aof+rewriteBytes {
			return &ErrDiskShort{Node: c.Node, Free: cur.DiskFree, AOF: aof, Rewrite: rewriteBytes}
		}
	}
	return nil
}
