package guard

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/dustin/go-humanize"
)

// AbortError is a guard's abort: which guard and which figure crossed
// which level.
type AbortError struct {
	Guard  string
	Reason string
}

func (e *AbortError) Error() string { return "guard " + e.Guard + ": " + e.Reason }

// Abort names the guard and the reason, for callers that do not import
// this package's types (the executor).
func (e *AbortError) Abort() (guard, reason string) { return e.Guard, e.Reason }

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

	ctx         context.Context
	cancels     map[*Collector]context.CancelFunc
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
}

// NewGate gates a run on the collectors' nodes with the given levels.
func NewGate(collectors []*Collector, l Levels, log *slog.Logger) *Gate {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Gate{collectors: collectors, levels: l, log: log, MaxDown: DefaultMaxDown,
		base: map[string]Baseline{}, downFrom: map[string]time.Time{}, lossFrom: map[string]time.Time{}}
}

// sent is one batch's bytes, and when its replies were in.
type sent struct {
	at    time.Time
	bytes int64
}

// Levels are the gate's levels.
func (g *Gate) Levels() Levels { return g.levels }

// Start runs the collectors until ctx ends.
func (g *Gate) Start(ctx context.Context) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ctx, g.cancels = ctx, map[*Collector]context.CancelFunc{}
	for _, c := range g.collectors {
		g.run(c)
	}
}

// run starts a collector; g.mu is held.
func (g *Gate) run(c *Collector) {
	cctx, cancel := context.WithCancel(g.ctx)
	g.cancels[c] = cancel
	go c.Run(cctx)
}

// follow asks for the primaries when a node is away or was demoted (a
// failover), stops watching nodes that are no longer primaries and starts
// watching the new ones, whose figures then become their baseline. At most
// once a second.
func (g *Gate) follow(ctx context.Context) {
	if g.Topology == nil || g.Watch == nil || g.ctx == nil {
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
		g.cancels[c]()
		delete(g.cancels, c)
		delete(g.base, c.Node)
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
		g.run(c)
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

// Wait returns when no guard says pause; an *AbortError when one says
// abort.
func (g *Gate) Wait(ctx context.Context) error {
	for {
		d := g.decide(ctx)
		g.record(d)
		switch d.Action {
		case Continue:
			return nil
		case Abort:
			return &AbortError{Guard: d.Guard, Reason: d.Reason}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// decide is the worst verdict over the nodes.
func (g *Gate) decide(ctx context.Context) Decision {
	g.follow(ctx)
	var worst Decision
	var read time.Time // the oldest of the nodes' latest polls
	for i, c := range g.collectorsNow() {
		d, at := g.decideNode(c)
		if d.Action > worst.Action {
			worst = d
		}
		if i == 0 || at.Before(read) {
			read = at
		}
	}
	if !read.IsZero() {
		g.mu.Lock()
		g.forgetSent(read)
		g.mu.Unlock()
	}
	return worst
}

// decideNode is one node's verdict and when its figures were asked for
// (zero when it does not answer).
func (g *Gate) decideNode(c *Collector) (Decision, time.Time) {
	cur, window, err := c.Latest()
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		from, ok := g.downFrom[c.Node]
		if !ok {
			from = time.Now()
			g.downFrom[c.Node] = from
		}
		if down := time.Since(from); down > g.MaxDown {
			return Decision{Abort, "node", fmt.Sprintf("%s has not answered for %s: %v", c.Node, down.Round(time.Second), err)}, time.Time{}
		}
		return Decision{Pause, "node", fmt.Sprintf("%s does not answer: %v", c.Node, err)}, time.Time{}
	}
	delete(g.downFrom, c.Node)
	base, ok := g.base[c.Node]
	if !ok && g.cancels != nil {
		// A primary that appeared during the run (a promoted replica): its
		// first figures are its baseline, the eviction rate the others'.
		base = Baseline{Start: cur, EvictionRate: g.evictionRate()}
		g.base[c.Node] = base
	}
	d := Decide(cur, window, base, g.levels, g.sentSince(cur.At))
	return g.failoverGrace(c.Node, d), cur.At
}

// record logs and reports every change of verdict. The nodes of a
// cluster are walked at once, each waiting at the gate: recordMu keeps
// the changes and their events in one order, one at a time.
func (g *Gate) record(d Decision) {
	g.recordMu.Lock()
	defer g.recordMu.Unlock()
	g.mu.Lock()
	prev := g.state
	changed := d.Action != prev.Action || d.Guard != prev.Guard
	if changed {
		g.state, g.since = d, time.Now()
	}
	g.mu.Unlock()
	if !changed {
		return
	}
	switch d.Action {
	case Continue:
		g.log.Info("guards: continuing", "after", prev.Guard)
		g.event("resume", prev.Guard, "ok again")
	case Pause:
		g.log.Warn("guards: paused", "guard", d.Guard, "reason", d.Reason)
		g.event("pause", d.Guard, d.Reason)
	case Abort:
		g.log.Error("guards: abort", "guard", d.Guard, "reason", d.Reason)
	}
}

func (g *Gate) event(action, guard, reason string) {
	if g.OnEvent != nil {
		g.OnEvent(action, guard, reason)
	}
}

// Status is one line per guard for the operator: its figure and state,
// "memory 39% ok · fork paused 12s (BGSAVE) · …".
func (g *Gate) Status() string {
	colls := g.collectorsNow()
	if len(colls) == 0 {
		return "off (--unguarded)"
	}
	cur, _, err := colls[0].Latest()
	g.mu.Lock()
	st, since := g.state, g.since
	base := g.base[colls[0].Node]
	g.mu.Unlock()
	if err != nil {
		return "node not answering: " + err.Error()
	}
	var parts []string
	for _, l := range Lines(cur, base, g.levels) {
		s := l.Name + " " + l.Figure
		if st.Action != Continue && st.Guard == l.Name {
			s += fmt.Sprintf(" %s %s", st.Action, time.Since(since).Round(time.Second))
		} else {
			s += " " + l.State
		}
		parts = append(parts, s)
	}
	if len(colls) > 1 {
		parts = append(parts, fmt.Sprintf("(%d nodes; figures of %s)", len(colls), colls[0].Node))
	}
	return strings.Join(parts, " · ")
}

// Line is one guard's figure against its levels.
type Line struct {
	Name   string
	Figure string
	Levels string
	State  string // ok | pause | abort | blind
	Note   string
}

// Lines describes each guard on one node now, for the plan and the
// operator's status line.
func Lines(f Figures, base Baseline, l Levels) []Line {
	var out []Line
	mem := Line{Name: "memory", Levels: fmt.Sprintf("pause %.0f%%, abort %.0f%%", 100*l.MemoryPause, 100*l.MemoryAbort), State: "ok"}
	if share, ok := memoryShare(f, l); ok {
		mem.Figure = fmt.Sprintf("%.0f%%", 100*share)
		if d := memoryPause(f, l); d.Action != Continue {
			mem.State = "pause"
		}
		if d := memoryAbort(f, l); d.Action != Continue {
			mem.State = "abort"
		}
	} else {
		mem.Figure, mem.State, mem.Note = "no limit", "blind", "maxmemory is 0: set guards.memory.limit to guard memory"
	}
	if l.MemoryNeverPauses {
		mem.Note = "a delete frees memory: never paused by it"
	}
	if l.Relative {
		mem.Note = "relative to the start (--from-high-memory)"
	}
	out = append(out, mem)
	ev := Line{Name: "evictions", Figure: humanize.Comma(f.EvictedKeys), Levels: "abort if the run makes them faster", State: "ok"}
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
		out = append(out, Line{Name: "aof", Figure: "+" + humanize.IBytes(uint64(max(grown, 0))), Levels: "abort at +" + humanize.IBytes(uint64(l.AOFMaxGrowth)), State: "ok"})
	} else {
		out = append(out, Line{Name: "aof", Figure: "off", Levels: "abort at +" + humanize.IBytes(uint64(l.AOFMaxGrowth)), State: "ok"})
	}
	dk := Line{Name: "disk", Levels: "abort below " + humanize.IBytes(uint64(l.DiskAbortBelow)) + " free", State: "ok"}
	if f.DiskFree < 0 {
		dk.Figure, dk.State, dk.Note = "unknown", "blind", "no --disk-path or --disk-free-command"
	} else {
		dk.Figure = humanize.IBytes(uint64(f.DiskFree)) + " free"
		if disk(f, l).Action == Abort {
			dk.State = "abort"
		}
	}
	out = append(out, dk)
	rp := Line{Name: "replication", Figure: fmt.Sprintf("%d replicas, lag %s", f.Replicas, humanize.IBytes(uint64(f.ReplicaLag()))), Levels: "pause above " + humanize.IBytes(uint64(l.ReplPauseLag)) + " lag", State: "ok"}
	if replicaLag(f, l, 0).Action == Pause {
		rp.State = "pause"
	}
	out = append(out, blindLine(rp, f, "replication", "INFO has no connected_slaves"))
	lt := Line{Name: "latency", Levels: "pause above p99 " + l.LatencyPause.String(), State: "ok"}
	if f.LatencyP99 < 0 {
		lt.Figure, lt.State = "unknown", "blind"
	} else {
		lt.Figure = "p99 " + f.LatencyP99.Round(10*time.Microsecond).String()
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

// Figures is the newest poll of the first node.
func (g *Gate) Figures() (Figures, error) {
	cur, _, err := g.collectorsNow()[0].Latest()
	return cur, err
}
