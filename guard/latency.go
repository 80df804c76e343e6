package guard

import (
	"sort"
	"time"
)

// The latency figure (docs/guards.md): the round trips of the PINGs (and
// INFOs) the guards send each node, from just before the request is
// written to when the kernel received the first packet of the reply, so
// keyjob's own scheduling on a busy machine is not counted; over the last
// latencyWindow; the p99, but never a single sample alone.

// weight is how many PINGs a round trip of d stands for when PINGs go
// every interval: one PING in flight through a stall is all a sequential
// pinger sees of it, where a client sending every interval would have
// seen that many delayed (the usual correction for coordinated omission).
// So a stall of a second pauses a run, and a single slow PING does not.
func weight(d, every time.Duration) int64 {
	if every <= 0 {
		every = pingInterval
	}
	return min(max(int64(d/every), 1), int64(latencyWindow/every))
}

// p99 of the weighted round trips; -1 when there are none. The rank is
// the 99th percentile's, but at most the second highest: with a hundred
// samples the two agree, and with the few a cluster node gets within the
// polling budget one slow PING alone is not the p99.
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
	sort.Slice(ss, func(i, j int) bool { return ss[i].d < ss[j].d })
	rank := max(min((total*99+99)/100, total-1), 1) // from 1
	var seen int64
	for _, s := range ss {
		if seen += s.w; seen >= rank {
			return s.d
		}
	}
	return ss[len(ss)-1].d
}
