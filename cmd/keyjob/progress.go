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

	"github.com/keyjob/keyjob/apply"
)

// progress shows a run to the operator: bars on a terminal, a log line
// every 10 s otherwise (mpb draws nothing when stderr is not a terminal).
type progress struct {
	mode   string // bar | log | none
	log    *slog.Logger
	guards func() string
	header string

	mu    sync.Mutex
	last  apply.Progress
	rate  rateMeter
	bars  *mpb.Progress
	bar   *mpb.Bar
	lines []*mpb.Bar
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
		p.bars = mpb.NewWithContext(ctx, mpb.WithOutput(out), mpb.WithWidth(40), mpb.WithRefreshRate(200*time.Millisecond))
		out = p.bars
		fmt.Fprintln(out, header)
		p.addBars()
	}
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
	for i, f := range []func() string{p.countLine, p.guardLine, p.keysLine} {
		p.lines = append(p.lines, p.bars.New(0, mpb.NopStyle(),
			mpb.BarPriority(1000+i),
			mpb.BarFillerTrim(),
			mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return f() }))))
	}
}

// Update takes a new snapshot from the executor.
func (p *progress) Update(pr apply.Progress) {
	p.mu.Lock()
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
	if pr.Paused != "" {
		args = append(args, "paused", pr.Paused)
	}
	if p.guards != nil {
		args = append(args, "guards", p.guards())
	}
	p.log.Info("progress", args...)
}

// Finish stops the display, leaving the final figures on screen.
func (p *progress) Finish() {
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
	return fmt.Sprintf("changed  %s   skipped %s (%s)   gone %s   changed since scan %s   rate limit %s",
		humanize.Comma(pr.Changed), humanize.Comma(sum(pr.Skips)-pr.Skips["gone"]-pr.Skips["changed_since_scan"]), strings.Join(parts, ", "),
		humanize.Comma(pr.Skips["gone"]), humanize.Comma(pr.Skips["changed_since_scan"]), rate)
}

func (p *progress) guardLine() string {
	p.mu.Lock()
	paused := p.last.Paused
	p.mu.Unlock()
	g := "ok"
	if p.guards != nil {
		g = p.guards()
	}
	if paused != "" {
		return "guards   " + g + "   PAUSED: " + paused
	}
	return "guards   " + g
}

func (p *progress) keysLine() string {
	return "keys: p pause · + / - rate · Ctrl-C stop and keep a checkpoint"
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
