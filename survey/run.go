package survey

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/internal/scan"
	"github.com/keyjob/keyjob/jobs"
)

// Options tunes a survey.
type Options struct {
	// Match is the SCAN MATCH glob; "" is every key.
	Match string
	// Sample, when above 0, stops after about that many keys (spread over
	// a cluster's primaries) and projects the figures: an estimate, and
	// the report says how good.
	Sample int64
	// ScanRate is keys read per second (--scan-rate); 0 is
	// jobs.DefaultScanRate, jobs.Unlimited does not wait.
	ScanRate jobs.Rate
	// ScanCount is the SCAN COUNT hint; 0 is jobs.DefaultScanCount.
	ScanCount int
	// MaxPatterns bounds the patterns tracked; 0 is MaxPatterns.
	MaxPatterns int
	// ShardsAtOnce bounds the primaries walked at once (--shards-at-once);
	// scan.DefaultShardsAtOnce when 0.
	ShardsAtOnce int
	// Progress, when set, is called after each SCAN batch with the keys
	// read so far (from the goroutine of the node that read them).
	Progress func(scanned int64)
}

// Run surveys the keyspace behind conn. It changes nothing: see the
// package comment for the commands it sends.
func Run(ctx context.Context, conn *redisx.Conn, o Options) (*Survey, error) {
	if o.Match == "" {
		o.Match = "*"
	}
	info, err := redisx.Info(ctx, conn.Client)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", conn.Addr, err)
	}
	if err := refuse(conn); err != nil {
		return nil, err
	}
	nodes, err := conn.Primaries(ctx)
	if err != nil {
		return nil, err
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%s: no primary to scan", conn.Addr)
	}
	start, err := redisx.ServerTime(ctx, conn.Client)
	if err != nil {
		return nil, err
	}
	s := &Survey{
		FormatVersion: FormatVersion,
		GeneratedAt:   start.UTC().Truncate(time.Millisecond),
		Target:        target(conn, info, len(nodes)),
		Match:         o.Match,
		MaxPatterns:   cmp.Or(o.MaxPatterns, MaxPatterns),
		IdleRead:      !strings.Contains(info["maxmemory_policy"], "lfu") && !conn.Caps.Lacks(redisx.CmdIdleTime),
	}
	// A survey degrades where a command is missing or denied (refuse has
	// named those it cannot do without): a figure it cannot read is
	// unknown and said so in its notes. PTTL stands in for PEXPIRETIME.
	absolute := redisx.Major(info) >= 7 && !conn.Caps.Lacks(redisx.CmdPExpireTime)
	readType := !conn.Caps.Lacks(redisx.CmdType)
	in, notRead, err := insideSetup(ctx, conn, readType)
	if err != nil {
		return nil, err
	}
	s.InsideRead = in.any()
	sizes, err := dbSizes(ctx, nodes, conn.DB)
	if err != nil {
		return nil, err
	}
	for _, n := range sizes {
		s.DBSize += n
	}

	walkers := make([]*walker, len(nodes))
	lim := limiter(o)
	var scanned atomic.Int64
	for i, n := range nodes {
		walkers[i] = &walker{
			node: n, table: newTable(o.MaxPatterns, uint64(i)+1), dbsize: sizes[i],
			lookups:  scan.Lookups{Expiry: true, ExpireTime: absolute, Type: readType},
			idle:     s.IdleRead,
			memory:   !conn.Caps.Lacks(redisx.CmdMemoryUsage),
			in:       in,
			progress: o.Progress, total: &scanned,
		}
		if o.Sample > 0 {
			walkers[i].quota = max(1, (o.Sample+int64(len(nodes))-1)/int64(len(nodes)))
		}
	}
	began := time.Now()
	if err := walkAll(ctx, walkers, scan.Options{Match: o.Match, Count: o.ScanCount, Limiter: lim}, scan.ShardsAtOnce(o.ShardsAtOnce)); err != nil {
		return nil, err
	}
	s.ScanDuration = Duration(time.Since(began))

	t := walkers[0].table
	var gone int64
	for _, w := range walkers {
		if w.table != t {
			t.merge(w.table)
		}
		s.Scanned += w.scanned
		gone += w.gone
	}
	t.finish()
	summarise(s, t, walkers, o, in)
	judge(s, gone)
	noteInside(s, in, notRead)
	if why := conn.Caps.Why(redisx.CmdMemoryUsage); why != "" {
		s.note(NoteMemoryUnknown, "The memory of a key cannot be read: %s. Every memory figure of this survey is unknown (shown as 0).", why)
	}
	if why := conn.Caps.Why(redisx.CmdType); why != "" {
		s.note(NoteTypesUnknown, "The type of a key cannot be read: %s. Every key's type is %s, and no job file written from this survey selects a type.", why, TypeUnknown)
	}
	if why := conn.Caps.Why(redisx.CmdIdleTime); why != "" {
		s.note(NoteIdleUnknown, "The idle time of a key cannot be read: %s. Idle times are unknown.", why)
	}
	return s, nil
}

// refuse names the commands a survey cannot do without, before its first
// SCAN: SCAN, TIME, the expiry (PEXPIRETIME, or PTTL in its stead) and, on
// a cluster, CLUSTER MYID and SLOTS.
func refuse(conn *redisx.Conn) error {
	e := &redisx.MissingError{Addr: conn.Addr, What: "the survey"}
	lack := func(cmd, what string) {
		if conn.Caps.Lacks(cmd) {
			e.Lacking = append(e.Lacking, redisx.Lacking{Cmd: cmd, For: what, Why: conn.Caps.Why(cmd)})
		}
	}
	lack(redisx.CmdScan, "walk the keyspace")
	lack(redisx.CmdTime, "the server's clock")
	if conn.Caps.Lacks(redisx.CmdPTTL) {
		lack(redisx.CmdPExpireTime, "a key's TTL and whether it still exists (PTTL would do)")
	}
	if conn.Cluster {
		lack(redisx.CmdClusterMyID, "a node's identity")
		lack(redisx.CmdClusterSlot, "which primary serves which slots")
	}
	if len(e.Lacking) == 0 {
		return nil
	}
	return e
}

func limiter(o Options) *rate.Limiter {
	r := o.ScanRate
	if r == 0 {
		r = jobs.DefaultScanRate
	}
	if r.IsUnlimited() || r < 0 {
		return nil
	}
	count := o.ScanCount
	if count <= 0 {
		count = jobs.DefaultScanCount
	}
	return rate.NewLimiter(rate.Limit(r), max(int(r), count, 1))
}

func target(conn *redisx.Conn, info map[string]string, nodes int) Target {
	return Target{Server: redisx.ServerOf(conn, info), Nodes: nodes, Memory: redisx.MemoryOf(info)}
}

// dbSizes reads each primary's key count in db from INFO keyspace.
func dbSizes(ctx context.Context, nodes []redisx.Node, db int) ([]int64, error) {
	out := make([]int64, len(nodes))
	for i, n := range nodes {
		info, err := redisx.Info(ctx, n.Client, "keyspace")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.Addr, err)
		}
		for _, k := range redisx.Keyspace(info) {
			if k.DB == db {
				out[i] = k.Keys
			}
		}
	}
	return out, nil
}

// walker surveys one primary into a table of its own.
type walker struct {
	node    redisx.Node
	table   *table
	dbsize  int64
	lookups scan.Lookups
	idle    bool
	memory  bool // MEMORY USAGE can be sent
	in      insideReads
	quota   int64 // keys to read before stopping; 0 for all

	scanned, gone int64
	last          uint64 // the cursor after the last batch read
	stopped       bool   // the quota stopped the walk before the end

	progress func(int64)
	total    *atomic.Int64

	infos, detailInfos []scan.KeyInfo
	names              []string
	pending            []pending
	insideKeys         []insideKey
}

type pending struct {
	e    *entry
	slot int
	typ  string
}

// errQuota stops a walk once its share of the sample is read.
var errQuota = errors.New("sample complete")

// walkAll walks the primaries, atOnce of them at a time; the first error
// cancels the rest and is the one returned.
func walkAll(ctx context.Context, ws []*walker, o scan.Options, atOnce int) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	slots := make(chan struct{}, atOnce)
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case slots <- struct{}{}:
				defer func() { <-slots }()
			case <-ctx.Done():
				return
			}
			if err := w.walk(ctx, o); err != nil {
				cancel(fmt.Errorf("scan %s: %w", w.node.Addr, err))
			}
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}

func (w *walker) walk(ctx context.Context, o scan.Options) error {
	// A walker's buffers hold the last batch (its key names and lookups)
	// and are reused batch after batch; every walker lives until the
	// survey ends, so a finished walk lets go of them: on 100 primaries
	// they were what made a survey's memory grow with the node count.
	defer func() { w.infos, w.detailInfos, w.names, w.pending = nil, nil, nil, nil }()
	_, err := scan.Walk(ctx, w.node.Client, 0, o, func(ctx context.Context, b scan.Batch) error {
		w.last = b.Cursor
		if err := w.batch(ctx, b.Keys); err != nil {
			return err
		}
		n := w.total.Add(int64(len(b.Keys)))
		if w.progress != nil {
			w.progress(n)
		}
		if w.quota > 0 && w.scanned >= w.quota && b.Cursor != 0 {
			w.stopped = true
			return errQuota
		}
		return nil
	})
	if errors.Is(err, errQuota) {
		return nil
	}
	return err
}

// batch reads the keys of one SCAN call: TYPE and the expiry of every key
// in one pipeline, then idle time and MEMORY USAGE of the keys that enter
// their pattern's sample in a second.
func (w *walker) batch(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	now, infos, err := scan.Lookup(ctx, w.node.Client, keys, w.lookups, w.infos)
	if err != nil {
		return err
	}
	w.infos = infos
	nowMS := now.UnixMilli()
	w.names, w.pending = w.names[:0], w.pending[:0]
	for _, ki := range infos {
		if !ki.Exists {
			w.gone++ // expired or deleted since SCAN returned it
			continue
		}
		w.scanned++
		e := w.table.lookup(ki.Name)
		typ := ki.Type
		if !w.lookups.Type {
			typ = TypeUnknown
		}
		if slot := w.table.count(e, typ, ki.ExpireAt, nowMS); slot >= 0 {
			w.names = append(w.names, ki.Name)
			w.pending = append(w.pending, pending{e, slot, typ})
		}
	}
	if len(w.names) > 0 {
		if err := w.lookDetails(ctx, nowMS); err != nil {
			return err
		}
	}
	w.table.compact()
	return nil
}

// lookDetails reads the idle time and size of the keys that took a slot
// of their pattern's sample, and what the hashes, sorted sets and
// streams among them hold inside.
func (w *walker) lookDetails(ctx context.Context, nowMS int64) error {
	_, ds, err := scan.Lookup(ctx, w.node.Client, w.names, scan.Lookups{Idle: w.idle, Memory: w.memory}, w.detailInfos)
	if err != nil {
		return err
	}
	w.detailInfos = ds
	w.insideKeys = w.insideKeys[:0]
	for i, d := range ds {
		if !d.Exists {
			continue // the slot keeps -1: not read
		}
		p := w.pending[i]
		if w.in.reads(p.typ) {
			w.insideKeys = append(w.insideKeys, insideKey{p.e, d.Name, p.typ})
		}
		det := detail{idle: -1, mem: d.Memory}
		if w.idle {
			det.idle = int64(d.Idle / time.Second)
		}
		p.e.detail.fill(p.slot, det)
		if d.Memory > BigKeyBytes {
			p.e.addBig(BigKey{Key: cut(d.Name, maxExample), MemoryBytes: d.Memory})
		}
	}
	return w.lookInside(ctx, w.insideKeys, nowMS)
}

// count adds one existing key of type typ, expiring at expireAt (unix
// ms, -1 for none), to e. It returns the slot of e's detail sample the
// key takes (to fill once its idle time and size are read), or -1.
func (t *table) count(e *entry, typ string, expireAt, nowMS int64) int {
	e.keys++
	e.types[typ]++
	if expireAt >= 0 {
		e.withTTL++
		e.ttl.add(t.rng, ttlSample, max(0, (expireAt-nowMS)/1000))
	}
	slot := e.detail.slot(t.rng, detailSample)
	e.detail.fill(slot, detail{idle: -1, mem: -1}) // reserved until read
	return slot
}

// summarise turns the table into the survey's patterns, projected when
// the walk stopped early.
func summarise(s *Survey, t *table, ws []*walker, o Options, in insideReads) {
	scale := 1.0
	if o.Sample > 0 {
		scale = sampleScale(s, ws, o)
	}
	up := func(n int64) int64 { return int64(math.Round(float64(n) * scale)) }
	n := float64(s.Scanned)
	for _, e := range t.entries {
		p := e.report(s.IdleRead, up)
		p.Inside = e.inside.report(in.fieldTTL)
		if s.Sample != nil && e.keys > 0 {
			p.Margin = margin(float64(e.keys)/n, n, o.Match != "*")
		}
		s.Patterns = append(s.Patterns, p)
		s.Keys += p.Keys
		s.WithTTL += p.WithTTL
		s.MemoryBytes += p.MemoryBytes
	}
	sortPatterns(s.Patterns)
	if t.other != nil {
		p := t.other.report(s.IdleRead, up)
		pats, atLeast := t.collapsedPatterns()
		s.Other = &Other{Patterns: pats, AtLeast: atLeast, Keys: p.Keys, WithTTL: p.WithTTL,
			Types: p.Types, MemoryBytes: p.MemoryBytes, Examples: p.Examples}
		s.Keys += p.Keys
		s.WithTTL += p.WithTTL
		s.MemoryBytes += p.MemoryBytes
	}
}

// sampleScale is how many keys match for each key read, and fills
// s.Sample. When every node was read to the end the survey is exact.
func sampleScale(s *Survey, ws []*walker, o Options) float64 {
	var estimate float64
	stopped := false
	for _, w := range ws {
		if !w.stopped {
			estimate += float64(w.scanned)
			continue
		}
		stopped = true
		var f float64
		if o.Match == "*" && w.dbsize > 0 {
			f = min(1, float64(w.scanned)/float64(w.dbsize))
		} else {
			f = scan.CursorFraction(w.last, w.dbsize)
		}
		estimate += float64(w.scanned) / f
	}
	if !stopped || s.Scanned == 0 {
		return 1
	}
	s.Sampled = true
	s.Sample = &Sample{Requested: o.Sample, Fraction: float64(s.Scanned) / estimate}
	if o.Match != "*" {
		s.Sample.Margin = 1.96 * math.Sqrt(1/float64(s.Scanned))
	}
	return estimate / float64(s.Scanned)
}

// sortPatterns orders patterns by memory, largest first, then by keys
// and name, so that reports are stable.
func sortPatterns(ps []Pattern) {
	slices.SortFunc(ps, func(a, b Pattern) int {
		return cmp.Or(cmp.Compare(b.MemoryBytes, a.MemoryBytes), cmp.Compare(b.Keys, a.Keys), strings.Compare(a.Pattern, b.Pattern))
	})
}

// margin is the relative 95% margin of error of a pattern's projected
// count: the share p of the n keys read is binomial, and with a glob
// other than * the total it is applied to comes from the SCAN cursor,
// whose error is about 1/n (bucket occupancy) on top.
func margin(p, n float64, cursorTotal bool) float64 {
	if p <= 0 || n <= 0 {
		return 0
	}
	v := (1 - p) / (n * p)
	if cursorTotal {
		v += 1 / n
	}
	return 1.96 * math.Sqrt(v)
}

// report is the entry as the survey shows it, counts scaled by up.
func (e *entry) report(idleRead bool, up func(int64) int64) Pattern {
	p := Pattern{Pattern: e.pattern, Keys: up(e.keys), WithTTL: up(e.withTTL),
		Types: map[string]int64{}, Examples: e.examples, BigKeys: e.big}
	for k, n := range e.types {
		p.Types[k] = up(n)
	}
	mems := make([]int64, len(e.detail.vals))
	idles := make([]int64, len(e.detail.vals))
	for i, d := range e.detail.vals {
		mems[i], idles[i] = d.mem, d.idle
	}
	if m, ok := mean(mems); ok {
		p.MemoryBytes = int64(math.Round(m * float64(p.Keys)))
	}
	if p50, ok := quantile(e.ttl.vals, 0.5); ok {
		p90, _ := quantile(e.ttl.vals, 0.9)
		p.TTLSeconds = &TTLSpread{P50: p50, P90: p90}
	}
	if p50, ok := quantile(idles, 0.5); ok && idleRead {
		p.IdleSeconds = &IdleSpread{P50: p50}
	}
	if e.pieces != nil {
		x := express(e.pieces, e.timeFormats(), e.lens)
		p.Match, p.Regex, p.TimestampParts = x.glob, x.regex, x.times
	}
	return p
}

// timeFormats is the format of each time piece: the one nearly all of its
// keys share (95%), else "" (mixed formats, not offered as a time).
func (e *entry) timeFormats() []string {
	out := make([]string, len(e.pieces))
	for i, m := range e.formats {
		var total, best int64
		for f, n := range m {
			total += n
			if n > best || n == best && f < out[i] {
				best, out[i] = n, f
			}
		}
		if total == 0 || float64(best) < 0.95*float64(total) {
			out[i] = ""
		}
	}
	return out
}
