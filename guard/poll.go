package guard

import (
	"context"
	"time"
)

// The guards' polling is a fixed budget of commands a second over the
// whole target, whatever its number of nodes: a process that waits must
// not load a cluster of two hundred primaries with thousands of commands
// a second. One poller sends them, at most one a tick, each to a node
// with nothing else on the wire: the most overdue first.
const (
	// PollBudget is the guards' commands a second, in all.
	PollBudget = 100
	// infoBudget and pingBudget are its shares for INFO and PING; the
	// rest is headroom for reconnections and the late.
	infoBudget = 50
	pingBudget = 40
	// idleFactor: a primary that is not being walked gets its writes from
	// no one in the run, and is read this many times less often.
	idleFactor = 4
)

// schedule is how often each node is read now: every, for the nodes
// walked; every×idleFactor, for the others. When no node is walked (before
// the first batch, or a standalone server) every node counts as walked.
type schedule struct {
	info, ping time.Duration // for a walked node
}

func newSchedule(walked, others int) schedule {
	if walked == 0 {
		walked, others = others, 0
	}
	eff := float64(walked) + float64(others)/idleFactor
	per := func(budget float64, floor time.Duration) time.Duration {
		return max(floor, time.Duration(eff/budget*float64(time.Second)))
	}
	return schedule{info: per(infoBudget, PollInterval), ping: per(pingBudget, pingInterval)}
}

// of is a node's intervals.
func (s schedule) of(walked bool) (info, ping time.Duration) {
	if walked {
		return s.info, s.ping
	}
	return idleFactor * s.info, idleFactor * s.ping
}

// maxAge is how old a node's INFO figures may be for a decision: three of
// its intervals and the time a slow reply may take, at least 5 s.
func maxAge(info time.Duration) time.Duration {
	return max(3*info+2*time.Second, 5*time.Second)
}

// poll sends the guards' commands until ctx ends: one tick every
// 1/PollBudget s, the most overdue task of a node with nothing on the
// wire.
func (g *Gate) poll(ctx context.Context) {
	t := time.NewTicker(time.Second / PollBudget)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c, info := g.next(time.Now())
		if c == nil {
			continue
		}
		go func() {
			if info {
				c.readInfo(ctx)
			} else {
				c.pingOnce(ctx)
			}
			c.mu.Lock()
			c.busy = false
			c.mu.Unlock()
		}()
	}
}

// next picks the most overdue task, marks its node busy and schedules
// its next turn; nil when nothing is due.
func (g *Gate) next(now time.Time) (*Collector, bool) {
	colls := g.collectorsNow()
	g.mu.Lock()
	walking := make(map[string]bool, len(g.walking))
	for a, n := range g.walking {
		walking[a] = n > 0
	}
	g.mu.Unlock()
	var walked int
	for _, c := range colls {
		if walking[c.Node] {
			walked++
		}
	}
	s := newSchedule(walked, len(colls)-walked)
	var best *Collector
	var bestInfo bool
	var late time.Duration
	for _, c := range colls {
		c.mu.Lock()
		busy := c.busy
		infoDue, pingDue := c.infoDue, c.pingDue
		c.mu.Unlock()
		if busy {
			continue
		}
		for _, task := range []struct {
			due  time.Time
			info bool
		}{{infoDue, true}, {pingDue, false}} {
			if d := now.Sub(task.due); d >= 0 && (best == nil || d > late) {
				best, bestInfo, late = c, task.info, d
			}
		}
	}
	if best == nil {
		return nil, false
	}
	infoEvery, pingEvery := s.of(walked == 0 || walking[best.Node])
	best.mu.Lock()
	best.busy = true
	if bestInfo {
		best.infoDue = now.Add(infoEvery)
	} else {
		best.pingDue = now.Add(pingEvery)
	}
	best.mu.Unlock()
	return best, bestInfo
}

// Walking tells the gate that the run walks the node at addr (on) or no
// longer does: the nodes walked are read first and more often. Calls
// nest: each walk of a node says on once and off once.
func (g *Gate) Walking(addr string, on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if on {
		g.walking[addr]++
	} else if g.walking[addr] > 0 {
		g.walking[addr]--
	}
}

// intervalOf is a node's INFO interval now, for the age its figures may
// have.
func (g *Gate) intervalOf(addr string) time.Duration {
	colls := g.collectorsNow()
	g.mu.Lock()
	defer g.mu.Unlock()
	var walked int
	for _, c := range colls {
		if g.walking[c.Node] > 0 {
			walked++
		}
	}
	info, _ := newSchedule(walked, len(colls)-walked).of(walked == 0 || g.walking[addr] > 0)
	return info
}
