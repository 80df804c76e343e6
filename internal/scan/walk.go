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
	"fmt"
	"math"
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
	// SlowCall is the round trip above which COUNT is halved: it bounds the
	// server's time per call, which blocks every other client. Default 2ms.
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
		count := o.Count
		cur := cursor
		var recent window
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
			// The quickest of the last calls: a round trip that waited
			// behind other clients' commands says nothing of SCAN's cost.
			count = adapt(count, o.Count, recent.min(), o.SlowCall)
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
