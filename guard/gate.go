package guard

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/keyjob/keyjob/internal/words"
)

// AbortError is a guard's abort: which guard and which figure crossed
// which level (keyjob's one abort type, apply.AbortError too).
type AbortError = words.AbortError

// DefaultMaxDown is how long a node may not answer before the run aborts;
// until then it pauses.
const DefaultMaxDown = 60 * time.Second

// Gate is the guards as the executor sees them: between two batches it
// waits while any node says pause and returns the first abort.
type Gate struct {
	collectors []*Collector
	levels     Levels
	log        *slog.Logger
	// OnEvent is told of every pause, resume and abort (the run report).
	OnEvent func(action, guard, reason string)
	// MaxDown is how long a node may stay silent before an abort.
	MaxDown time.Duration
	// Topology, with Watch, lets the gate follow a cluster's failover: when
	// a node stops answering or is no longer a primary, Topology lists the
	// primaries now and Watch makes a collector for each new one. Nil on a
	// standalone server.
	Topology func(ctx context.Context) ([]string, error)
	Watch    func(addr string) (*Collector, error)

	// MaxPause ends a pause that lasts longer (--max-pause) with an
	// abort: the run stops with its checkpoint. 0: wait as long as it takes.
	MaxPause time.Duration

	ctx         context.Context
	started     bool
	lastRefresh time.Time
	lossFrom    map[string]time.Time

	recordMu sync.Mutex
	mu       sync.Mutex
	base     map[string]Baseline
	// sends are the bytes of writes the run sent, with when each batch's
	// replies were in, oldest first: a node's figures hold those sent
	// before its poll was asked, and the others are added to them.
	sends    []sent
	state    Decision
	since    time.Time
	downFrom map[string]time.Time
	// perNode are each node's levels (maxmemory, the backlog, the AOF
	// differ per node); levels is for a node that has none yet.
	perNode map[string]Levels
	// walking counts the walks of each node (Walking).
	walking map[string]int
	// pausedFrom is when the run last stopped going on (any pause), and
	// lastSent when it last sent a write: a pause that outlasts the
	// latency window with nothing sent is not the run's doing.
	pausedFrom time.Time
	lastSent   time.Time
	notCause   bool // said so for this pause
	worstFig   string
	// fromHighLatency: CheckLatency makes a node's level relative
	// instead of refusing (--from-high-latency).
	fromHighLatency bool
}

// NewGate gates a run on the collectors' nodes with the given levels.
func NewGate(collectors []*Collector, l Levels, log *slog.Logger) *Gate {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Gate{collectors: collectors, levels: l, log: log, MaxDown: DefaultMaxDown, MaxPause: DefaultMaxPause,
		base: map[string]Baseline{}, downFrom: map[string]time.Time{}, lossFrom: map[string]time.Time{},
		perNode: map[string]Levels{}, walking: map[string]int{}}
}

// sent is one batch's bytes, and when its replies were in.
type sent struct {
	at    time.Time
	bytes int64
}

// Levels are the gate's levels: those of a node without levels of its own.
func (g *Gate) Levels() Levels { return g.levels }

// LevelsOf are the levels of the node at addr.
func (g *Gate) LevelsOf(addr string) Levels {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.levelsOf(addr)
}

// levelsOf: g.mu is held.
func (g *Gate) levelsOf(addr string) Levels {
	if l, ok := g.perNode[addr]; ok {
		return l
	}
	return g.levels
}

// SetLevels gives the node at addr levels of its own.
func (g *Gate) SetLevels(addr string, l Levels) {
	g.mu.Lock()
	g.perNode[addr] = l
	g.mu.Unlock()
}

// Start polls the nodes until ctx ends, within the polling budget, then
// closes the collectors' connections.
func (g *Gate) Start(ctx context.Context) {
	g.mu.Lock()
	g.ctx, g.started = ctx, true
	g.mu.Unlock()
	go func() {
		g.poll(ctx)
		for _, c := range g.collectorsNow() {
			c.close()
		}
	}()
}

// follow asks for the primaries when a node is away or was demoted (a
// failover), stops watching nodes that are no longer primaries and starts
// watching the new ones, whose figures then become their baseline. At most
// once a second.
func (g *Gate) follow(ctx context.Context) {
	if g.Topology == nil || g.Watch == nil || !g.started {
		return
	}
	moved := false
	for _, c := range g.collectorsNow() {
		cur, _, err := c.Latest()
		if err != nil || (cur.Role != "" && cur.Role != "master") {
			moved = true
		}
		g.mu.Lock()
		_, lost := g.lossFrom[c.Node]
		g.mu.Unlock()
		moved = moved || lost
	}
	g.mu.Lock()
	due := time.Since(g.lastRefresh) >= time.Second
	if moved && due {
		g.lastRefresh = time.Now()
	}
	g.mu.Unlock()
	if !moved || !due {
		return
	}
	addrs, err := g.Topology(ctx)
	if err != nil {
		return // the cluster has not settled yet: the node stays paused
	}
	want := map[string]bool{}
	for _, a := range addrs {
		want[a] = true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	kept := g.collectors[:0]
	for _, c := range g.collectors {
		if want[c.Node] {
			kept = append(kept, c)
			delete(want, c.Node)
			continue
		}
		c.close()
		delete(g.base, c.Node)
		delete(g.perNode, c.Node)
		delete(g.downFrom, c.Node)
		delete(g.lossFrom, c.Node)
		g.log.Warn("guards: no longer a primary (a failover): not watched any more", "node", c.Node)
	}
	g.collectors = kept
	for a := range want {
		c, err := g.Watch(a)
		if err != nil {
			continue
		}
		g.collectors = append(g.collectors, c)
		g.log.Warn("guards: a new primary (a failover): watching it", "node", a)
	}
}

func (g *Gate) collectorsNow() []*Collector {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*Collector(nil), g.collectors...)
}

// Begin waits until every node has been polled over at least minBaseline
// and fixes the baselines: the figures before the first change and the
// eviction rate of the seconds before it (up to 10 s).
func (g *Gate) Begin(ctx context.Context, minBaseline time.Duration) error {
	for _, c := range g.collectorsNow() {
		for {
			first, ok := c.first()
			cur, _, err := c.Latest()
			// A server that cannot evict (no maxmemory, or noeviction)
			// has no eviction rate to measure: no need to wait for one.
			enough := cur.At.Sub(first.At) >= minBaseline || !canEvict(cur)
			if ok && err == nil && enough {
				rate := 0.0
				if secs := cur.At.Sub(first.At).Seconds(); secs > 0 {
					rate = float64(cur.EvictedKeys-first.EvictedKeys) / secs
				}
				g.mu.Lock()
				g.base[c.Node] = Baseline{Start: cur, EvictionRate: rate}
				g.mu.Unlock()
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-c.polled:
			case <-time.After(PollInterval):
			}
		}
	}
	return nil
}

// failoverWait is how long a cluster primary that lost its replica is
// paused before the abort: in a planned failover the replica leaves a
// moment before the primary is demoted, and follow then stops watching it.
const failoverWait = 5 * time.Second

// failoverGrace turns a replica-loss abort on a cluster into a pause for
// failoverWait; g.mu is held.
func (g *Gate) failoverGrace(node string, d Decision) Decision {
	if g.Topology == nil || d.Action != Abort || d.Guard != "replication" {
		delete(g.lossFrom, node)
		return d
	}
	from, ok := g.lossFrom[node]
	if !ok {
		from = time.Now()
		g.lossFrom[node] = from
	}
	if time.Since(from) >= failoverWait {
		return d
	}
	g.lastRefresh = time.Time{} // ask the cluster at the next decision
	return Decision{Pause, "replication", d.Reason + "; waiting to tell a failover from a lost replica"}
}

// evictionRate is the highest baseline eviction rate of the nodes; g.mu
// is held.
func (g *Gate) evictionRate() float64 {
	var r float64
	for _, b := range g.base {
		r = max(r, b.EvictionRate)
	}
	return r
}

// canEvict says whether the server may evict keys at all.
func canEvict(f Figures) bool {
	return f.MaxMemory > 0 && f.Policy != "noeviction" && !f.blind("maxmemory")
}

// Sent adds bytes of writes the run just sent (their replies are in): they
// count towards the AOF and replication figures of every node until a
// poll asked after them has read them.
func (g *Gate) Sent(n int64) {
	g.mu.Lock()
	g.sends = append(g.sends, sent{at: time.Now(), bytes: n})
	g.lastSent = time.Now()
	g.mu.Unlock()
}

// sentSince is the bytes sent at or after t. Called with g.mu held.
func (g *Gate) sentSince(t time.Time) int64 {
	var n int64
	for i := len(g.sends) - 1; i >= 0 && !g.sends[i].at.Before(t); i-- {
		n += g.sends[i].bytes
	}
	return n
}

// forgetSent drops the sends every node's latest poll has read. Called
// with g.mu held.
func (g *Gate) forgetSent(read time.Time) {
	i := 0
	for i < len(g.sends) && g.sends[i].at.Before(read) {
		i++
	}
	g.sends = g.sends[i:]
}
