// Package scan walks a keyspace: SCAN with MATCH, TYPE and an adaptive
// COUNT over one node, streaming batches to the caller (the key list is
// never held whole), and pipelined per-key lookups (PTTL or PEXPIRETIME,
// OBJECT IDLETIME, MEMORY USAGE, TYPE) that read without touching a key's
// value, TTL or LRU clock.
//
// It knows nothing of jobs: callers say what to match and what to look up.
// One walk covers one node; a cluster is walked node by node by the caller,
// each with its own cursor.
package scan

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
	"golang.org/x/time/rate"
)

// Options says what to scan and how fast.
type Options struct {
	Match string
	Type  string // "" for any type
	// Count is the COUNT hint and its ceiling; COUNT is halved when a call
	// is slow and grows back when calls are fast. Default 1000.
	Count int
	// Limiter paces keys scanned per second; nil scans as fast as the
	// server answers.
	Limiter *rate.Limiter
	// SlowCall bounds the server's time per SCAN call, which blocks every
	// other client. Default 2ms. COUNT is steered so that the server's mean
	// time per call stays at a third of it (the calls of one walk vary
	// around their mean), read from INFO commandstats; where INFO is not
	// allowed, COUNT is halved when the quickest recent round trip passes
	// SlowCall.
	SlowCall time.Duration
}

// CallTimeout bounds one SCAN call and one pipeline of lookups.
const CallTimeout = 15 * time.Second

// Batch is the keys of one SCAN call.
type Batch struct {
	Keys []string
	// Cursor resumes the walk after this batch; 0 when the node is done.
	Cursor uint64
	// Elapsed is the SCAN call's round trip.
	Elapsed time.Duration
}

// Stats describes a finished or stopped walk.
type Stats struct {
	Calls   int64
	Keys    int64
	Slowest time.Duration
}

// Walk SCANs the node from cursor until the server returns 0, and calls fn
// with each batch in order. client should be a connection of the walk's
// own (redisx.Conn.DialNode), so SCAN does not queue behind the batch's
// lookups and writes. The next SCAN is in flight while fn runs, so a
// caller that pipelines its own work per batch overlaps the two. A batch's
// Cursor is only safe to record once fn has finished with it.
func Walk(ctx context.Context, client rueidis.Client, cursor uint64, o Options, fn func(context.Context, Batch) error) (Stats, error) {
	o = o.withDefaults()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type result struct {
		b   Batch
		err error
	}
	results := make(chan result, 1)
	go func() {
		defer close(results)
		// Start at a quarter of the ceiling and let the server's figures
		// raise it: COUNT 1000 with TYPE already passes 2 ms on a busy
		// server, and the first figures come only after a few calls.
		count := max(o.Count/4, min(o.Count, 10))
		cur := cursor
		var recent window
		cost := serverCost{client: client}
		for {
			start := time.Now()
			// Bounded: the client retries a read on a lost connection
			// until its context ends, and a node that died would hold the
			// walk for ever; the caller decides what an error means.
			cctx, cancel := context.WithTimeout(ctx, CallTimeout)
			e, err := client.Do(cctx, scanCmd(client, cur, o.Match, o.Type, count)).AsScanEntry()
			cancel()
			elapsed := time.Since(start)
			recent.add(elapsed)
			if err != nil {
				select {
				case results <- result{err: fmt.Errorf("SCAN %d: %w", cur, err)}:
				case <-ctx.Done():
				}
				return
			}
			if mean, ok := cost.poll(ctx); ok {
				count = steer(count, o.Count, mean, o.SlowCall/3)
			} else if !cost.known() {
				// The quickest of the last calls: a round trip that waited
				// behind other clients' commands says nothing of SCAN's cost.
				count = adapt(count, o.Count, recent.min(), o.SlowCall)
			}
			if err := Wait(ctx, o.Limiter, len(e.Elements)); err != nil {
				return
			}
			select {
			case results <- result{b: Batch{Keys: e.Elements, Cursor: e.Cursor, Elapsed: elapsed}}:
			case <-ctx.Done():
				return
			}
			if e.Cursor == 0 {
				return
			}
			cur = e.Cursor
		}
	}()

	var st Stats
	for r := range results {
		if r.err != nil {
			return st, r.err
		}
		st.Calls++
		st.Keys += int64(len(r.b.Keys))
		st.Slowest = max(st.Slowest, r.b.Elapsed)
		if err := fn(ctx, r.b); err != nil {
			return st, err
		}
	}
	return st, ctx.Err()
}

func scanCmd(client rueidis.Client, cursor uint64, match, typ string, count int) rueidis.Completed {
	c := client.B().Scan().Cursor(cursor).Match(match).Count(int64(count))
	if typ != "" {
		return c.Type(typ).Build()
	}
	return c.Build()
}

// steer sets COUNT so the server's mean time per SCAN call comes near
// target: proportional to how far the last mean was from it, at most
// doubling at once, never above the ceiling nor below 10.
func steer(count, ceiling int, mean, target time.Duration) int {
	if mean <= 0 {
		return min(count*2, ceiling)
	}
	next := int(float64(count) * float64(target) / float64(mean))
	return max(10, min(next, count*2, ceiling))
}

// serverCost reads the server's own time for SCAN calls (INFO
// commandstats) about twice a second, on the walk's connection. It is the
// signal COUNT adapts on: a round trip also holds the time the call queued
// behind other commands, which with this run's own writes always in flight
// would shrink COUNT for nothing. It counts every client's SCANs, which is
// the cost that matters to the server.
type serverCost struct {
	client      rueidis.Client
	last        time.Time
	every       time.Duration // doubles from costFirst up to costEvery
	calls, usec int64
	read        bool // INFO answered at least once
	refused     bool // INFO is not allowed (ACL, renamed): use round trips
}

// The server's SCAN figures are read costFirst after the walk's first
// call, then ever less often, up to every costEvery: COUNT finds its level
// within a few tens of milliseconds, then holds it at a cost of two INFO
// calls a second. Tests read them at every call.
var (
	costFirst = 20 * time.Millisecond
	costEvery = 500 * time.Millisecond
)

func (c *serverCost) known() bool { return c.read }

// poll returns the mean server time per SCAN call since the last reading,
// when a new reading was due and there were calls in between.
func (c *serverCost) poll(ctx context.Context) (time.Duration, bool) {
	if c.refused || time.Since(c.last) < min(c.every, costEvery) {
		return 0, false
	}
	c.last = time.Now()
	c.every = max(2*c.every, costFirst)
	cctx, cancel := context.WithTimeout(ctx, CallTimeout)
	text, err := c.client.Do(cctx, c.client.B().Info().Section("commandstats").Build()).ToString()
	cancel()
	if err != nil {
		// A reply error (NOPERM, unknown command) will not change; a lost
		// connection is the walk's SCAN to notice.
		var re *rueidis.RedisError
		c.refused = errors.As(err, &re)
		return 0, false
	}
	calls, usec, ok := scanStat(text)
	if !ok {
		return 0, false
	}
	dc, du := calls-c.calls, usec-c.usec
	first := !c.read
	c.calls, c.usec, c.read = calls, usec, true
	if first || dc <= 0 || du < 0 { // the first reading, or the stats were reset
		return 0, false
	}
	return time.Duration(du) * time.Microsecond / time.Duration(dc), true
}

// scanStat reads calls and usec from the cmdstat_scan line of INFO
// commandstats.
func scanStat(info string) (calls, usec int64, ok bool) {
	i := strings.Index(info, "cmdstat_scan:")
	if i < 0 {
		return 0, 0, false
	}
	line := info[i+len("cmdstat_scan:"):]
	if j := strings.IndexAny(line, "\r\n"); j >= 0 {
		line = line[:j]
	}
	var got int
	for _, f := range strings.Split(line, ",") {
		k, v, _ := strings.Cut(f, "=")
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "calls":
			calls, got = n, got+1
		case "usec":
			usec, got = n, got+1
		}
	}
	return calls, usec, got == 2
}

// adapt halves COUNT after a slow call and doubles it back, up to the
// ceiling, after a fast one.
func adapt(count, ceiling int, elapsed, slow time.Duration) int {
	switch {
	case elapsed > slow && count > 10:
		return count / 2
	case elapsed < slow/4 && count < ceiling:
		return min(count*2, ceiling)
	}
	return count
}

func (o Options) withDefaults() Options {
	if o.Count <= 0 {
		o.Count = 1000
	}
	if o.SlowCall <= 0 {
		o.SlowCall = 2 * time.Millisecond
	}
	return o
}

// Wait takes n tokens from lim, in pieces no larger than its burst
// (rate.Limiter.WaitN refuses more than the burst). A nil or infinite
// limiter never waits.
func Wait(ctx context.Context, lim *rate.Limiter, n int) error {
	if lim == nil || lim.Limit() == rate.Inf {
		return ctx.Err()
	}
	for n > 0 {
		k := min(n, max(lim.Burst(), 1))
		if err := lim.WaitN(ctx, k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// window keeps the last few SCAN round trips.
type window struct {
	d [4]time.Duration
	n int
}

func (w *window) add(d time.Duration) {
	w.d[w.n%len(w.d)] = d
	w.n++
}

func (w *window) min() time.Duration {
	m := w.d[0]
	for i := 1; i < min(w.n, len(w.d)); i++ {
		m = min(m, w.d[i])
	}
	return m
}

// CursorFraction estimates the share of a table a SCAN cursor has covered,
// for a walk stopped early (a sample). SCAN walks buckets in
// reverse-binary order, so the cursor's bits read backwards, over the
// table's size (the power of two at or above dbsize), are the share of
// buckets visited.
func CursorFraction(cursor uint64, dbsize int64) float64 {
	if cursor == 0 {
		return 1
	}
	bits := 1
	for int64(1)<<bits < dbsize {
		bits++
	}
	var rev uint64
	for i := 0; i < bits; i++ {
		rev = rev<<1 | (cursor>>i)&1
	}
	return math.Max(float64(rev)/math.Exp2(float64(bits)), 1e-6)
}
