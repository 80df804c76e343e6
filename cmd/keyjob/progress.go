package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/keyjob/keyjob/apply"
	"github.com/keyjob/keyjob/guard"
)

// progress shows a run to the operator: bars on a terminal, a log line
// every 10 s otherwise (mpb draws nothing when stderr is not a terminal).
type progress struct {
	mode   string // bar | log | none
	log    *slog.Logger
	guards func() string
	header string

	// width is the terminal's, for the lines drawn and the log lines
	// wrapped above them.
	width int
	// out is where log lines go: above the bars, wrapped, in bar mode.
	out io.Writer

	mu          sync.Mutex
	last        apply.Progress
	pausedSince time.Time // when the operator's pause in last began
	ended       bool      // Finish was called
	// guardPause, when set, says whether a guard holds the run (the
	// operator's pauses come with the progress).
	guardPause func() (guard.PauseState, bool)
	rate       rateMeter
	bars       *mpb.Progress
	bar        *mpb.Bar
	lines      []*mpb.Bar
	// shards has a bar per primary of a cluster, under the total.
	shards map[string]*mpb.Bar
	stop   context.CancelFunc
	done   chan struct{}
}

// newProgress starts the display. out receives the log lines; in bar mode
// they are drawn above the bars.
func newProgress(ctx context.Context, mode string, out io.Writer, logFormat, header string, guards func() string) *progress {
	p := &progress{mode: mode, guards: guards, header: header, done: make(chan struct{})}
	ctx, p.stop = context.WithCancel(ctx)
	if mode == "bar" {
		p.width = termWidth(out)
		p.bars = mpb.NewWithContext(ctx, mpb.WithOutput(out), mpb.WithWidth(40), mpb.WithRefreshRate(200*time.Millisecond))
		// mpb redraws the bars by counting the lines printed above them: a
		// line longer than the terminal wraps and would leave a stale copy
		// of the bars behind, so log lines are wrapped here.
		out = &wrapWriter{w: p.bars, width: p.width}
		fmt.Fprintln(out, header)
		p.addBars()
	}
	p.out = out
	p.log = newLogger(out, logFormat)
	go p.ticker(ctx)
	return p
}

func newLogger(out io.Writer, format string) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(out, nil))
	}
	return slog.New(slog.NewTextHandler(out, nil))
}

func (p *progress) addBars() {
	p.bar = p.bars.New(0,
		mpb.BarStyle().Lbound("[").Filler("=").Tip(">").Padding("-").Rbound("]"),
		mpb.PrependDecorators(decor.Name("scanned ", decor.WC{W: 9, C: decor.DindentRight})),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return p.scanLine() })),
	)
	// The text lines sort below the shard bars a cluster adds later.
	for i, f := range []func() string{p.countLine, p.guardLine, func() string { return p.stateLine(0) }, func() string { return p.stateLine(1) }} {
		p.lines = append(p.lines, p.bars.New(0, mpb.NopStyle(),
			mpb.BarPriority(1000+i),
			mpb.BarFillerTrim(),
			mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return f() }))))
	}
}

// Update takes a new snapshot from the executor.
func (p *progress) Update(pr apply.Progress) {
	p.mu.Lock()
	switch {
	case pr.Paused == "":
		p.pausedSince = time.Time{}
	case p.last.Paused == "" || p.pausedSince.IsZero():
		p.pausedSince = time.Now()
	}
	p.last = pr
	p.rate.add(pr.Elapsed, pr.Scanned)
	p.mu.Unlock()
	if p.bar != nil {
		total := max(pr.Expected, pr.Scanned)
		p.bar.SetTotal(total, false)
		p.bar.SetCurrent(pr.Scanned)
		p.updateShards(pr)
	}
}

// updateShards draws one bar per primary when there are several, each
// against an even share of the expected total.
func (p *progress) updateShards(pr apply.Progress) {
	if len(pr.Nodes) < 2 {
		return
	}
	if p.shards == nil {
		p.shards = map[string]*mpb.Bar{}
	}
	share := max(pr.Expected/int64(len(pr.Nodes)), 1)
	for _, n := range pr.Nodes {
		b, ok := p.shards[n.Addr]
		if !ok {
			name := fmt.Sprintf("  %s %s ", n.Addr, n.Slots)
			b = p.bars.New(share, mpb.BarStyle().Lbound("[").Filler("-").Tip(">").Padding(" ").Rbound("]"),
				mpb.BarPriority(len(p.shards)+1),
				mpb.PrependDecorators(decor.Name(name, decor.WC{W: 34, C: decor.DindentRight})),
				mpb.AppendDecorators(decor.CountersNoUnit(" %d / %d")))
			p.shards[n.Addr] = b
		}
		b.SetTotal(max(share, n.Scanned), false)
		b.SetCurrent(n.Scanned)
		if n.Done {
			b.SetTotal(n.Scanned, true)
		}
	}
}

func (p *progress) ticker(ctx context.Context) {
	defer close(p.done)
	if p.mode != "log" {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.logLine()
		}
	}
}

func (p *progress) logLine() {
	p.mu.Lock()
	pr, rate := p.last, p.rate.perSecond()
	p.mu.Unlock()
	args := []any{"scanned", pr.Scanned, "expected", pr.Expected, "changed", pr.Changed,
		"skipped", sum(pr.Skips), "keys_per_s", int(rate), "eta", eta(pr, rate).String()}
	if st := p.stateText(); st != "" {
		args = append(args, "paused", strings.TrimSpace(strings.TrimPrefix(st, "PAUSED")))
	}
	if p.guards != nil {
		args = append(args, "guards", p.guards())
	}
	p.log.Info("progress", args...)
}

// Finish stops the display, leaving the final figures on screen.
func (p *progress) Finish() {
	p.mu.Lock()
	p.ended, p.last.Paused = true, ""
	p.mu.Unlock()
	p.setGuardPause(nil)
	if p.bars != nil {
		p.bar.SetTotal(-1, true)
		for _, b := range p.shards {
			b.SetTotal(-1, true)
		}
		for _, l := range p.lines {
			l.SetTotal(-1, true)
		}
		p.bars.Wait()
	}
	p.stop()
	<-p.done
	if p.mode == "log" {
		p.logLine()
	}
}

func (p *progress) scanLine() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr, rate := p.last, p.rate.perSecond()
	pct := 0.0
	if pr.Expected > 0 {
		pct = 100 * float64(pr.Scanned) / float64(pr.Expected)
	}
	return fmt.Sprintf(" %s / %s  %3.0f%%  %s/s  ETA %s", humanize.Comma(pr.Scanned), humanize.Comma(pr.Expected),
		math.Min(pct, 100), humanize.Comma(int64(rate)), eta(pr, rate))
}

func (p *progress) countLine() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr := p.last
	var parts []string
	for _, k := range []string{"regex", "ttl", "idle", "bad_timestamp", "too_big_to_backup"} {
		if n := pr.Skips[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %s", strings.ReplaceAll(k, "_", " "), humanize.Comma(n)))
		}
	}
	rate := "unlimited"
	if !math.IsInf(pr.Rate, 1) && pr.Rate > 0 {
		rate = humanize.Comma(int64(pr.Rate)) + "/s"
	}
	return p.fit(fmt.Sprintf("changed  %s   skipped %s (%s)   gone %s   changed since scan %s   rate limit %s",
		humanize.Comma(pr.Changed), humanize.Comma(sum(pr.Skips)-pr.Skips["gone"]-pr.Skips["changed_since_scan"]), strings.Join(parts, ", "),
		humanize.Comma(pr.Skips["gone"]), humanize.Comma(pr.Skips["changed_since_scan"]), rate))
}

func (p *progress) guardLine() string {
	g := "ok"
	if p.guards != nil {
		g = p.guards()
	}
	return p.fit("guards   " + g)
}

// stateLine is line i (0 or 1) of the run's state: running, with the
// operator's keys, or PAUSED in full: by whom, since when, why and how
// the run resumes, wrapped over both lines.
func (p *progress) stateLine(i int) string {
	text := p.stateText()
	if text == "" {
		p.mu.Lock()
		ended := p.ended
		p.mu.Unlock()
		switch {
		case i == 0 && ended:
			return "state    ended"
		case i == 0:
			return "state    running"
		case ended:
			return ""
		}
		return p.fit("keys: p pause · + / - rate · Ctrl-C stop and keep a checkpoint")
	}
	lines := wrapText(text, p.lineWidth(), "         ")
	switch {
	case i >= len(lines):
		return ""
	case i == 1 && len(lines) > 2:
		return p.fit(lines[1] + strings.Join(lines[2:], ""))
	}
	return lines[i]
}

// setGuardPause makes the guards' pause show.
func (p *progress) setGuardPause(f func() (guard.PauseState, bool)) {
	p.mu.Lock()
	p.guardPause = f
	p.mu.Unlock()
}

// stateText is the pause in words, "" while the run goes on.
func (p *progress) stateText() string {
	p.mu.Lock()
	reason, since, guardPause := p.last.Paused, p.pausedSince, p.guardPause
	p.mu.Unlock()
	if reason != "" {
		by, resume := apply.PauseWords(reason)
		return fmt.Sprintf("PAUSED   by %s%s. To resume: %s; Ctrl-C stops and keeps a checkpoint.", by, sinceWords(since), resume)
	}
	if guardPause != nil {
		if g, ok := guardPause(); ok {
			return fmt.Sprintf("PAUSED   by the %s guard%s: %s. It %s.", g.Guard, sinceWords(g.Since), g.Reason, g.Resume)
		}
	}
	return ""
}

// sinceWords is " since 15:04:05 (12s)", or "" without a time.
func sinceWords(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return fmt.Sprintf(" since %s (%s)", t.Format("15:04:05"), time.Since(t).Round(time.Second))
}

// lineWidth is how wide a drawn line may be: the terminal's less one
// column (a line that fills the last column wraps on some terminals).
func (p *progress) lineWidth() int {
	return max(p.width-1, 20)
}

// fit cuts a line to the terminal's width with "…".
func (p *progress) fit(s string) string {
	r := []rune(s)
	if w := p.lineWidth(); len(r) > w {
		return string(r[:w-1]) + "…"
	}
	return s
}

// wrapText breaks s at spaces into lines of at most width runes, the
// lines after the first indented.
func wrapText(s string, width int, indent string) []string {
	var lines []string
	line := ""
	for _, word := range strings.Split(s, " ") {
		switch {
		case line == "":
			line = word
		case len([]rune(line))+1+len([]rune(word)) <= width:
			line += " " + word
		default:
			lines = append(lines, line)
			line = indent + word
		}
	}
	return append(lines, line)
}

// termWidth is the width of the terminal out is, 80 when it is none.
func termWidth(out io.Writer) int {
	if f, ok := out.(interface{ Fd() uintptr }); ok {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			return w
		}
	}
	return 80
}

// wrapWriter breaks every line written longer than width into lines of
// width runes, so that what mpb prints above the bars takes the lines it
// counts.
type wrapWriter struct {
	w     io.Writer
	width int
}

func (ww *wrapWriter) Write(b []byte) (int, error) {
	var out strings.Builder
	for i, line := range strings.Split(string(b), "\n") {
		if i > 0 {
			out.WriteByte('\n')
		}
		r := []rune(line)
		for len(r) > ww.width {
			out.WriteString(string(r[:ww.width]))
			out.WriteByte('\n')
			r = r[ww.width:]
		}
		out.WriteString(string(r))
	}
	if _, err := io.WriteString(ww.w, out.String()); err != nil {
		return 0, err
	}
	return len(b), nil
}

// switchWriter is a writer whose destination changes: the guards log to
// stderr before the run and above the bars during it.
type switchWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *switchWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func (s *switchWriter) set(w io.Writer) {
	s.mu.Lock()
	s.w = w
	s.mu.Unlock()
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func eta(pr apply.Progress, rate float64) time.Duration {
	if rate <= 0 || pr.Expected <= pr.Scanned {
		return 0
	}
	return (time.Duration(float64(pr.Expected-pr.Scanned)/rate) * time.Second).Round(time.Second)
}

// rateMeter is keys per second over the last few seconds.
type rateMeter struct {
	points []struct {
		at time.Duration
		n  int64
	}
}

func (m *rateMeter) add(at time.Duration, n int64) {
	m.points = append(m.points, struct {
		at time.Duration
		n  int64
	}{at, n})
	for len(m.points) > 2 && at-m.points[0].at > 5*time.Second {
		m.points = m.points[1:]
	}
}

func (m *rateMeter) perSecond() float64 {
	if len(m.points) < 2 {
		return 0
	}
	a, b := m.points[0], m.points[len(m.points)-1]
	if b.at <= a.at {
		return 0
	}
	return float64(b.n-a.n) / (b.at - a.at).Seconds()
}
