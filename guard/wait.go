package guard

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// DefaultMaxPause is how long a run may stay paused before it ends with
// its checkpoint (exit 3): long enough for a BGSAVE of a large dataset to
// finish, short enough that an operator hears of a pause that will not
// end. --max-pause changes it; 0 waits as long as it takes.
const DefaultMaxPause = 15 * time.Minute

// ErrMaxPause is the abort of a pause that lasted past MaxPause.
const guardMaxPause = "max-pause"

// Wait returns when no guard says pause; an *AbortError when one says
// abort, or when a pause outlasts MaxPause.
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
		if err := g.pausedTooLong(d); err != nil {
			g.record(Decision{Abort, err.Guard, err.Reason})
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// pausedTooLong says when a pause has lasted past MaxPause, and says once
// a pause that outlasts the latency window while the run sends nothing:
// then the run is not its cause, and waiting will not end it.
func (g *Gate) pausedTooLong(d Decision) *AbortError {
	g.mu.Lock()
	from, sent, said := g.pausedFrom, g.lastSent, g.notCause
	maxPause, fig := g.MaxPause, g.worstFig
	g.mu.Unlock()
	if from.IsZero() {
		return nil
	}
	paused := time.Since(from)
	quietFrom := from
	if sent.After(from) {
		quietFrom = sent
	}
	quiet := time.Since(quietFrom)
	if !said && quiet >= latencyWindow+PollInterval && d.Guard != "fork" {
		g.mu.Lock()
		g.notCause = true
		g.mu.Unlock()
		msg := fmt.Sprintf("%s stays at %s while keyjob sends nothing: the run is not the cause", d.Guard, fig)
		if maxPause > 0 {
			msg += fmt.Sprintf("; --max-pause %s ends the run at %s", maxPause, from.Add(maxPause).Format("15:04:05"))
		}
		g.log.Warn("guards: "+msg, "guard", d.Guard, "paused", paused.Round(time.Second))
		g.event("note", d.Guard, msg)
	}
	if maxPause <= 0 || paused < maxPause {
		return nil
	}
	return &AbortError{Guard: guardMaxPause, Reason: fmt.Sprintf("paused for %s (%s), longer than --max-pause %s: the run stops with its checkpoint; resume when the cause is gone, or raise --max-pause",
		paused.Round(time.Second), d.Reason, maxPause)}
}

// decide is the worst verdict over the nodes.
func (g *Gate) decide(ctx context.Context) Decision {
	g.follow(ctx)
	var worst Decision
	var worstOf *Collector
	var read time.Time // the oldest of the nodes' latest polls
	for i, c := range g.collectorsNow() {
		d, at := g.decideNode(c)
		if d.Action > worst.Action {
			worst, worstOf = d, c
		}
		if i == 0 || at.Before(read) {
			read = at
		}
	}
	fig := worst.Reason
	if worstOf != nil {
		fig = g.figureOf(worstOf, worst.Guard)
	}
	g.mu.Lock()
	if !read.IsZero() {
		g.forgetSent(read)
	}
	g.worstFig = fig
	g.mu.Unlock()
	return worst
}

// figureOf is a guard's figure on the node, for the operator: "p99 11ms
// on 127.0.0.1:7001".
func (g *Gate) figureOf(c *Collector, guard string) string {
	cur, _, err := c.Latest()
	if err != nil {
		return "no answer from " + c.Node
	}
	g.mu.Lock()
	base, l, many := g.base[c.Node], g.levelsOf(c.Node), len(g.collectors) > 1
	g.mu.Unlock()
	for _, ln := range Lines(cur, base, l) {
		if ln.Name == guard {
			if many {
				return ln.Figure + " on " + c.Node
			}
			return ln.Figure
		}
	}
	return guard + " on " + c.Node
}

// decideNode is one node's verdict and when its figures were asked for
// (zero when it does not answer). Its reason names the node on a cluster.
func (g *Gate) decideNode(c *Collector) (Decision, time.Time) {
	cur, window, err := c.Latest()
	limit := maxAge(g.intervalOf(c.Node))
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
	if !ok && g.started {
		// A primary that appeared during the run (a promoted replica): its
		// first figures are its baseline, the eviction rate the others'.
		base = Baseline{Start: cur, EvictionRate: g.evictionRate()}
		g.base[c.Node] = base
	}
	d := Decide(cur, window, base, g.levelsOf(c.Node), g.sentSince(cur.At))
	// A decision is made on fresh figures only: a node whose INFO is
	// late (a slow or stalled server) holds the run until it answers,
	// unless its latency already says why.
	if age := time.Since(cur.At); age > limit && d.Action != Abort && d.Guard != "latency" {
		d = Decision{Pause, "node", fmt.Sprintf("no fresh figures from %s for %s (the guards decide on figures at most %s old)", c.Node, age.Round(time.Second), limit.Round(time.Second))}
	}
	d = g.failoverGrace(c.Node, d)
	if d.Action != Continue && len(g.collectors) > 1 && !strings.Contains(d.Reason, c.Node) {
		d.Reason += " on " + c.Node
	}
	return d, cur.At
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
		switch {
		case d.Action == Continue:
			g.pausedFrom, g.notCause = time.Time{}, false
		case g.pausedFrom.IsZero():
			g.pausedFrom = time.Now()
		}
	} else {
		g.state.Reason = d.Reason
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
		if prev.Action == Pause {
			// Another guard holds the run now: the first one's pause ended.
			g.event("resume", prev.Guard, "ok again")
		}
		g.log.Warn("guards: paused", "guard", d.Guard, "reason", d.Reason, "resume", resumeWords(d.Guard, g.pausedFromNow(), g.MaxPause))
		g.event("pause", d.Guard, d.Reason)
	case Abort:
		g.log.Error("guards: abort", "guard", d.Guard, "reason", d.Reason)
	}
}

// pausedFromNow is when the current pause began.
func (g *Gate) pausedFromNow() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.pausedFrom
}

func (g *Gate) event(action, guard, reason string) {
	if g.OnEvent != nil {
		g.OnEvent(action, guard, reason)
	}
}

// Status is one line per guard for the operator: its figure and state,
// "memory 39% ok · fork paused 12s (BGSAVE) · …". On a cluster each
// guard shows its worst node, named.
func (g *Gate) Status() string {
	colls := g.collectorsNow()
	if len(colls) == 0 {
		return "off (--unguarded)"
	}
	worst, err := g.worstLines()
	g.mu.Lock()
	st, since, notCause := g.state, g.since, g.notCause
	g.mu.Unlock()
	if worst == nil {
		return "node not answering: " + err.Error()
	}
	var parts []string
	for _, l := range worst {
		s := l.Name + " " + l.Figure
		if st.Action != Continue && st.Guard == l.Name {
			s += fmt.Sprintf(" %s %s", st.Action, time.Since(since).Round(time.Second))
			if notCause {
				s += " (not the run's doing)"
			}
		} else {
			s += " " + l.State
			if l.State == "blind" && l.Note != "" {
				// The reason with the figure: "disk unknown blind
				// (no --disk-path or --disk-free-command)".
				s += " (" + l.Note + ")"
			}
		}
		if len(colls) > 1 && l.node != "" {
			s += " (" + l.node + ")"
		}
		parts = append(parts, s)
	}
	if len(colls) > 1 {
		parts = append(parts, fmt.Sprintf("(%d nodes; each guard's worst)", len(colls)))
	}
	if err != nil {
		parts = append(parts, "a node not answering: "+err.Error())
	}
	return strings.Join(parts, " · ")
}

// worstLines is, per guard, the line of its worst node; the error of a
// node that does not answer.
func (g *Gate) worstLines() ([]Line, error) {
	var worst []Line
	var firstErr error
	for _, c := range g.collectorsNow() {
		cur, _, err := c.Latest()
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", c.Node, err)
			}
			continue
		}
		g.mu.Lock()
		base, l := g.base[c.Node], g.levelsOf(c.Node)
		g.mu.Unlock()
		lines := Lines(cur, base, l)
		for i := range lines {
			lines[i].node = c.Node
		}
		if worst == nil {
			worst = lines
			continue
		}
		for i, ln := range lines {
			if ln.worse(worst[i]) {
				worst[i] = ln
			}
		}
	}
	return worst, firstErr
}

// Blind lists the guards that cannot be evaluated on some node, with why.
func (g *Gate) Blind() []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range g.collectorsNow() {
		cur, _, err := c.Latest()
		if err != nil {
			continue
		}
		for _, l := range Lines(cur, Baseline{}, g.LevelsOf(c.Node)) {
			if l.State == "blind" && !seen[l.Name] {
				seen[l.Name] = true
				out = append(out, l.Name+" ("+l.Note+")")
			}
		}
	}
	return out
}

// Pause is the guards' pause while one holds the run: which guard, why,
// since when, and how it ends. ok is false while no guard pauses it.
func (g *Gate) Pause() (p PauseState, ok bool) {
	g.mu.Lock()
	st, from, maxPause := g.state, g.pausedFrom, g.MaxPause
	g.mu.Unlock()
	if st.Action != Pause {
		return PauseState{}, false
	}
	return PauseState{Guard: st.Guard, Reason: st.Reason, Since: from, Resume: resumeWords(st.Guard, from, maxPause)}, true
}

// PauseState is a guard's pause, for the operator's screen and log.
type PauseState struct {
	Guard, Reason string
	Since         time.Time
	// Resume says how the pause ends: by itself when the guard is ok
	// again, or with the run's end at --max-pause.
	Resume string
}

// resumeWords is how a guard's pause ends.
func resumeWords(guard string, from time.Time, maxPause time.Duration) string {
	s := "resumes by itself once " + guard + " is ok again"
	if maxPause > 0 && !from.IsZero() {
		s += fmt.Sprintf("; at %s (--max-pause %s) the run stops with its checkpoint", from.Add(maxPause).Format("15:04:05"), maxPause)
	}
	return s
}
