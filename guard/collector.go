package guard

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/keyjob/keyjob/internal/redisx"
)

// PollInterval is how often a node is read at most: INFO once a second.
// On a cluster the reads are spread within the polling budget (poll.go),
// so a node may be read less often.
const PollInterval = time.Second

// latencyWindow is what the latency figure and the eviction rate look
// back on.
const latencyWindow = 10 * time.Second

// pingInterval is how often a node is PINGed at most: ten a second give a
// standalone server's window about a hundred PINGs, so its p99 is a p99.
// A cluster's nodes share the budget and are PINGed less often each.
const pingInterval = 100 * time.Millisecond

// pollTimeout bounds one command: a stalled server makes it late, and a
// late command is itself a figure (latency).
const pollTimeout = 5 * time.Second

// infoSections are the INFO sections the guards read (Redis 7 answers
// several in one call): not the default set, whose clients, CPU and
// keyspace sections nobody reads here.
var infoSections = []string{"INFO", "memory", "persistence", "stats", "replication"}

// NodeConn is what a collector reads its node through: a *redisx.Probe,
// one command at a time, with the round trip as the kernel saw it.
type NodeConn interface {
	Do(ctx context.Context, args ...string) (string, time.Duration, error)
	Close()
}

// Collector reads one node and keeps its figures of the last seconds:
// INFO's, and the round trips of the PINGs. The gate's poller decides when
// it reads (poll.go); Poll reads at once.
type Collector struct {
	Node  string
	conn  NodeConn
	probe DiskProbe
	log   *slog.Logger

	mu      sync.Mutex
	history []Figures // oldest first, about latencyWindow+2 s of it
	pings   []ping
	err     error
	polled  chan struct{}
	// open is when the command in flight was sent (zero when none): a
	// node that does not answer is slow, and its latency grows with it.
	open time.Time
	// multi is false when the server refused INFO with several sections
	// (before Redis 7): INFO alone then.
	single bool
	// scheduling, for the poller: when INFO and PING are due, and whether
	// a command is on the wire.
	infoDue, pingDue time.Time
	busy             bool
	closed           bool
}

type ping struct {
	at time.Time
	d  time.Duration
	w  int64 // how many PINGs it stands for (p99)
}

// NewCollector watches the node at addr through conn (a connection the
// collector owns: redisx.Conn.DialProbe). probe may be nil.
func NewCollector(addr string, conn NodeConn, probe DiskProbe, log *slog.Logger) *Collector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Collector{Node: addr, conn: conn, probe: probe, log: log, polled: make(chan struct{}, 1)}
}

// close ends the collector's connection; it sends nothing more.
func (c *Collector) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	if c.conn != nil {
		c.conn.Close()
	}
}

// errClosed is what a closed collector's commands return.
var errClosed = errors.New("collector closed")

// Poll reads the node once now: a PING, then INFO.
func (c *Collector) Poll(ctx context.Context) (Figures, error) {
	c.pingOnce(ctx)
	c.readInfo(ctx)
	cur, _, err := c.Latest()
	return cur, err
}

// do sends one command, with the time it is on the wire marked open.
func (c *Collector) do(ctx context.Context, args ...string) (string, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return "", 0, errClosed
	}
	c.open = time.Now()
	c.mu.Unlock()
	reply, rtt, err := c.conn.Do(ctx, args...)
	c.mu.Lock()
	c.open = time.Time{}
	closed := c.closed
	c.mu.Unlock()
	if closed {
		c.conn.Close() // closed while this command was on the wire
	}
	return reply, rtt, err
}

// pingOnce times one PING; a server that does not answer at all counts as
// pollTimeout.
func (c *Collector) pingOnce(ctx context.Context) {
	_, rtt, err := c.do(ctx, "PING")
	if ctx.Err() != nil {
		return
	}
	if err != nil && !isReply(err) {
		rtt = pollTimeout // no answer: as slow as it gets
	}
	c.mu.Lock()
	c.addPing(time.Now(), rtt)
	c.mu.Unlock()
}

func isReply(err error) bool {
	var re *redisx.ErrReply
	return errors.As(err, &re)
}

// addPing keeps a PING's round trip for the window. Called with c.mu held.
func (c *Collector) addPing(now time.Time, rtt time.Duration) {
	c.pings = append(c.pings, ping{at: now, d: rtt, w: weight(rtt)})
	for len(c.pings) > 0 && now.Sub(c.pings[0].at) > latencyWindow {
		c.pings = c.pings[1:]
	}
}

// readInfo reads the guards' INFO sections (and the disk probe).
func (c *Collector) readInfo(ctx context.Context) {
	// The figures are dated when INFO is asked for, not when it answers:
	// the gate adds to them the bytes the run sent from then on, and the
	// writes whose replies came in before it are in them.
	asked := time.Now()
	c.mu.Lock()
	args := infoSections
	if c.single {
		args = args[:1]
	}
	c.mu.Unlock()
	text, rtt, err := c.do(ctx, args...)
	if isReply(err) && len(args) > 1 {
		c.mu.Lock()
		c.single = true // before Redis 7: one section a call, or the default ones
		c.mu.Unlock()
		asked = time.Now()
		text, rtt, err = c.do(ctx, args[:1]...)
	}
	if ctx.Err() != nil {
		return
	}
	var f Figures
	if err == nil {
		f = FromInfo(redisx.ParseInfo(text), asked)
	}
	f.Node = c.Node
	if c.probe != nil && err == nil {
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
	// INFO's round trip is a latency sample too: a node busy with a slow
	// command is seen whichever command waits on it.
	if err == nil || !isReply(err) {
		if err != nil {
			rtt = pollTimeout
		}
		c.addPing(now, rtt)
	}
	if err != nil {
		c.err = err
		c.notify()
		return
	}
	c.err = nil
	f.LatencyP99 = c.latency(now)
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

// latency is the node's latency figure now: the p99 of the round trips of
// the window, the command on the wire counted as if it answered now.
// Called with c.mu held.
func (c *Collector) latency(now time.Time) time.Duration {
	// Only the window's: a node not read for a while has no old figure.
	i := 0
	for i < len(c.pings) && now.Sub(c.pings[i].at) > latencyWindow {
		i++
	}
	pings := c.pings[i:]
	if !c.open.IsZero() {
		d := now.Sub(c.open)
		pings = append(pings[:len(pings):len(pings)], ping{at: now, d: d, w: weight(d)})
	}
	return p99(pings)
}

// Latest returns the newest figures, the oldest kept (about 10 s older,
// for rates) and the last poll's error (a node that does not answer). The
// latency figure is the one of now.
func (c *Collector) Latest() (cur, window Figures, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.history) == 0 {
		return Figures{DiskFree: -1, LatencyP99: -1}, Figures{}, c.err
	}
	cur = c.history[len(c.history)-1]
	if len(c.pings) > 0 || !c.open.IsZero() {
		cur.LatencyP99 = c.latency(time.Now())
	}
	return cur, c.history[0], c.err
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
