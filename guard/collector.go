package guard

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/redisx"
)

// PollInterval is how often a collector reads its node.
const PollInterval = time.Second

// latencyWindow is what the latency p99 and the eviction rate look back on.
const latencyWindow = 10 * time.Second

// pingInterval is how often the latency PING goes. docs/safety.md says once a
// second; but the p99 of the 10 PINGs of a 10 s window is their maximum,
// so one slow PING pauses a run for 10 s, and a PING a second misses most
// short stalls. Ten a second give the window about a hundred PINGs, so its
// p99 is a p99: it takes two slow ones, or a stall (see p99). A run that
// really slows the server still pauses: six shards at an unlimited rate
// on this 2-core box did, with this rule as with the old.
const pingInterval = 100 * time.Millisecond

// pollTimeout bounds one poll: a stalled server makes the poll late, and
// a late poll is itself a figure (latency).
const pollTimeout = 5 * time.Second

// Collector polls one node once a second on a connection of its own and
// keeps the figures of the last seconds.
type Collector struct {
	Node   string
	client rueidis.Client
	probe  DiskProbe
	log    *slog.Logger

	mu      sync.Mutex
	history []Figures // oldest first, about latencyWindow+2 s of it
	pings   []ping
	err     error
	polled  chan struct{}
}

type ping struct {
	at time.Time
	d  time.Duration
}

// NewCollector watches the node at addr through client (a connection the
// collector owns: redisx.Conn.DialNode). probe may be nil.
func NewCollector(addr string, client rueidis.Client, probe DiskProbe, log *slog.Logger) *Collector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Collector{Node: addr, client: client, probe: probe, log: log, polled: make(chan struct{}, 1)}
}

// Run polls until ctx ends, then closes the collector's connection.
func (c *Collector) Run(ctx context.Context) {
	defer c.client.Close()
	go c.pingLoop(ctx)
	t := time.NewTicker(PollInterval)
	defer t.Stop()
	for {
		c.poll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pingLoop times a PING every pingInterval until ctx ends.
func (c *Collector) pingLoop(ctx context.Context) {
	t := time.NewTicker(pingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rtt := c.ping(ctx)
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		c.addPing(time.Now(), rtt)
		c.mu.Unlock()
	}
}

// ping times one PING; a server that does not answer at all counts as
// pollTimeout.
func (c *Collector) ping(ctx context.Context) time.Duration {
	ctx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	start := time.Now()
	err := c.client.Do(ctx, c.client.B().Ping().Build()).Error()
	rtt := time.Since(start)
	if ctx.Err() != nil && err != nil {
		rtt = pollTimeout // the server did not answer at all: as slow as it gets
	}
	return rtt
}

// addPing keeps a PING's round trip for the window. Called with c.mu held.
func (c *Collector) addPing(now time.Time, rtt time.Duration) {
	c.pings = append(c.pings, ping{at: now, d: rtt})
	for len(c.pings) > 0 && now.Sub(c.pings[0].at) > latencyWindow {
		c.pings = c.pings[1:]
	}
}

// Poll reads the node once now.
func (c *Collector) Poll(ctx context.Context) (Figures, error) {
	c.poll(ctx)
	cur, _, err := c.Latest()
	return cur, err
}

func (c *Collector) poll(ctx context.Context) {
	rtt := c.ping(ctx)
	ctx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	var f Figures
	// The figures are dated when INFO is asked for, not when it answers:
	// the gate adds to them the bytes the run sent from then on, and the
	// writes whose replies came in before it are in them.
	asked := time.Now()
	info, ierr := redisx.Info(ctx, c.client)
	if ierr == nil {
		f = FromInfo(info, asked)
	}
	f.Node = c.Node
	if c.probe != nil && ierr == nil {
		free, perr := c.probe.Free(ctx, c.Node)
		if perr != nil {
			c.log.Warn("disk probe failed", "node", c.Node, "probe", c.probe.String(), "err", perr)
		} else {
			f.DiskFree = free
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	c.addPing(now, rtt)
	if ierr != nil {
		c.err = ierr
		c.notify()
		return
	}
	c.err = nil
	f.LatencyP99 = p99(c.pings)
	c.history = append(c.history, f)
	for len(c.history) > 2 && now.Sub(c.history[0].At) > latencyWindow+2*PollInterval {
		c.history = c.history[1:]
	}
	c.notify()
}

func (c *Collector) notify() {
	select {
	case c.polled <- struct{}{}:
	default:
	}
}

// Latest returns the newest figures, the oldest kept (about 10 s older,
// for rates) and the last poll's error (a node that does not answer).
func (c *Collector) Latest() (cur, window Figures, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.history) == 0 {
		return Figures{DiskFree: -1, LatencyP99: -1}, Figures{}, c.err
	}
	return c.history[len(c.history)-1], c.history[0], c.err
}

// first is the oldest figures kept: the start of the eviction baseline.
func (c *Collector) first() (Figures, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.history) == 0 {
		return Figures{}, false
	}
	return c.history[0], true
}

// p99 of the PING round trips. A PING that took d stands for d /
// pingInterval of them: one PING in flight through a stall is all a
// sequential pinger sees of it, where a client sending every
// pingInterval would have seen that many delayed (the usual correction
// for coordinated omission). So a stall of a second pauses the run, and a
// single slow PING among a hundred does not.
func p99(pings []ping) time.Duration {
	if len(pings) == 0 {
		return -1
	}
	type sample struct {
		d time.Duration
		w int64
	}
	ss := make([]sample, len(pings))
	var total int64
	for i, p := range pings {
		w := min(max(int64(p.d/pingInterval), 1), int64(latencyWindow/pingInterval))
		ss[i] = sample{p.d, w}
		total += w
	}
	sort.Slice(ss, func(i, j int) bool { return ss[i].d < ss[j].d })
	rank := (total*99 + 99) / 100 // the rank of the 99th percentile, from 1
	var seen int64
	for _, s := range ss {
		if seen += s.w; seen >= rank {
			return s.d
		}
	}
	return ss[len(ss)-1].d
}
