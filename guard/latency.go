package guard

import (
	"sort"
	"time"
)

// The latency figure (docs/guards.md): the round trips of the PINGs (and
// INFOs) the guards send each node, from just before the request is
// written to when the kernel received the first packet of the reply, so
// keyjob's own scheduling on a busy machine is not counted; over the last
// latencyWindow; the p99, but never on fewer than minSlow round trips.
//
// Measured on 40 primaries in one container on 2 cores, idle: every node
// sees a round trip of 10–40 ms now and then (the servers' own scheduling;
// redis-cli --latency sees the same), about one in a thousand. Within the
// polling budget a node gets some twenty round trips a window, so "the
// slowest but one" read one node above 10 ms most seconds somewhere in
// the cluster; three slow ones in a window is a node that is slow.

// clientInterval is the steady client a round trip's weight stands for:
// one request every 100 ms, whatever interval the budget gives the node.
const clientInterval = 100 * time.Millisecond

// minSlow is how many round trips (weighted) at or above the figure a
// window must hold: with fewer than 100·minSlow samples the figure is the
// minSlow-th highest, not the p99 rank.
const minSlow = 3

// weight is how many requests a round trip of d stands for: one in flight
// through a stall is all a sequential pinger sees of it, where a client
// sending every clientInterval would have seen that many delayed (the
// usual correction for coordinated omission). So a stall of 300 ms pauses
// a run on its own, and a single slow round trip of a few tens of ms does
// not. It does not depend on how often the budget reads the node: a
// cluster's node read once a second weighs a stall as a standalone
// server read ten times a second does.
func weight(d time.Duration) int64 {
	return min(max(int64(d/clientInterval), 1), int64(latencyWindow/clientInterval))
}

// p99 of the weighted round trips; -1 when there are none. The rank is
// the 99th percentile's, but never above the minSlow-th highest: with the
// few samples a cluster node gets within the polling budget, one or two
// slow round trips are the machine's noise and not the p99.
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
		w := max(p.w, 1)
		ss[i] = sample{p.d, w}
		total += w
	}
	sort.Slice(ss, func(i, j int) bool { return ss[i].d > ss[j].d }) // slowest first
	// k-th highest: the p99's rank counted from the top, at least minSlow
	// (or all of them, when there are fewer).
	k := min(max(total-(total*99+99)/100+1, minSlow), total)
	var seen int64
	for _, s := range ss {
		if seen += s.w; seen >= k {
			return s.d
		}
	}
	return ss[len(ss)-1].d
}
