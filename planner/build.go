package planner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/rueidis"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/keyjob/keyjob/guard"
	"github.com/keyjob/keyjob/internal/batch"
	"github.com/keyjob/keyjob/internal/commands"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/internal/scan"
	"github.com/keyjob/keyjob/jobs"
)

// Options tunes a plan.
type Options struct {
	// Sample, when above 0, stops after that many matching keys and
	// extrapolates: an estimate, and the report says how good.
	Sample int64
	// ScanRate overrides limits.scan_rate (--scan-rate); 0 keeps the job's.
	ScanRate jobs.Rate
	// Rate overrides limits.rate for the duration estimate (apply --rate).
	Rate jobs.Rate
	// Progress, when set, is called after each SCAN batch with the keys
	// scanned so far.
	Progress func(scanned int64)
	// ShardsAtOnce bounds the primaries walked at once (--shards-at-once);
	// scan.DefaultShardsAtOnce when 0.
	ShardsAtOnce int
	// DiskProbe is apply's --disk-path or --disk-free-command, for its
	// summary: the disk guard line shows the free disk it reads, and the
	// plan does not ask for one. Nil in plan.
	DiskProbe guard.DiskProbe
}

// memorySample is how many changed keys get a MEMORY USAGE for the memory
// estimates; a dump-backed job measures every changed key (too_big_to_backup
// is an outcome, counted exactly).
const memorySample = 2000

// ErrLFUIdle is a plan error: OBJECT IDLETIME is refused under an LFU policy.
var ErrLFUIdle = errors.New("select.idle needs OBJECT IDLETIME, which a server with an LFU maxmemory-policy refuses")

// Build makes the plan of job against the server behind conn. It changes
// nothing. An error is returned only when the plan could not be made at
// all; problems the reviewer must see (a unit mistake, max_changes) go into
// Plan.Errors.
func Build(ctx context.Context, conn *redisx.Conn, job *jobs.Job, o Options) (*Plan, error) {
	srv, err := readServer(ctx, conn)
	if err != nil {
		return nil, err
	}
	if err := redisx.NeedVersion(conn.Addr, srv.info); err != nil {
		return nil, err
	}
	if job.Needs().Idle && strings.Contains(srv.info["maxmemory_policy"], "lfu") {
		return nil, fmt.Errorf("%w (%s): drop select.idle or plan against a server with an LRU policy", ErrLFUIdle, srv.info["maxmemory_policy"])
	}
	cmds, caps, err := checkCommands(ctx, conn, job)
	if err != nil {
		return nil, err
	}
	if err := commands.RefuseFields(caps, conn.Addr, job); err != nil {
		return nil, err
	}
	nodes, err := conn.Primaries(ctx)
	if err != nil {
		return nil, err
	}
	start, err := redisx.ServerTime(ctx, conn.Client)
	if err != nil {
		return nil, err
	}
	p := &Plan{FormatVersion: FormatVersion, GeneratedAt: start.UTC().Truncate(time.Millisecond)}
	// The operator's --rate and --scan-rate in place of the file's, for
	// every figure and judgement of the plan (the file's hash is kept).
	run := *job
	run.Limits = job.Limits.With(o.Rate, o.ScanRate)
	job = &run
	p.Job = jobInfo(job)
	p.Target = srv.target(conn, len(nodes))
	p.Commands = cmds
	p.Estimates.MemoryUnknown = caps.Why(redisx.CmdMemoryUsage)
	if conn.Cluster {
		if p.Target.Keyspace, err = clusterKeyspace(ctx, nodes); err != nil {
			return nil, err
		}
	}
	p.DBSize, _ = p.Target.dbsize()

	t := newTally(job, p.GeneratedAt, o.Sample > 0)
	t.noMemory = p.Estimates.MemoryUnknown != ""
	t.fields.noSizes = caps.Lacks(redisx.CmdHStrlen)
	t.dbsizeHint = p.DBSize / int64(max(len(nodes), 1))
	scanRate, changeRate := job.Limits.ScanRate, job.Limits.Rate
	needs := job.Needs()
	step := &batch.Step{Job: job, Count: true, RunStart: p.GeneratedAt, Now: serverClock(start),
		Reads: scan.Lookups{Expiry: needs.TTL, ExpireTime: true, Idle: needs.Idle}, NoMemory: p.Estimates.MemoryUnknown}
	w := walker{job: job, tally: t, o: o, step: step, limiter: limiterFor(scanRate, job.Limits.ScanCount)}
	began := time.Now()
	// The primaries are scanned at once, up to ShardsAtOnce of them (a
	// cluster's shards are single threaded each). A sample takes an equal share from every primary;
	// the share of the keyspace it covers is the mean of the nodes' shares
	// (slots spread keys evenly over the primaries).
	fractions := make([]float64, len(nodes))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(scan.ShardsAtOnce(o.ShardsAtOnce))
	for i, n := range nodes {
		g.Go(func() error {
			// SCAN on a connection of its own, so it does not queue
			// behind the lookups of the batch before.
			sc, err := conn.DialNode(n.Addr)
			if err != nil {
				return err
			}
			defer sc.Close()
			f, err := w.node(gctx, n, sc, o.Sample/int64(len(nodes)))
			if err != nil {
				return fmt.Errorf("scan %s: %w", n.Addr, err)
			}
			fractions[i] = f
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var fraction float64
	for _, f := range fractions {
		fraction += f / float64(len(nodes))
	}
	p.ScanDuration = Duration(time.Since(began))
	t.fill(p)
	if o.Sample > 0 {
		extrapolate(p, o.Sample, fraction)
	}
	estimate(p, job, t, changeRate, scanRate)
	judge(p, job, t, o.DiskProbe != nil)
	judgeCommands(p, conn, caps, job)
	guardLines(ctx, conn, srv, p, job, o.DiskProbe)
	return p, nil
}

// serverClock returns the server's clock as now, from one TIME reading
// and the local monotonic clock, so no per-batch round trip is needed.
func serverClock(start time.Time) func() time.Time {
	local := time.Now()
	return func() time.Time { return start.Add(time.Since(local)) }
}

func limiterFor(r jobs.Rate, count int) *rate.Limiter {
	if r.IsUnlimited() || r <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(r), max(2*count, 1000))
}

type walker struct {
	job     *jobs.Job
	tally   *tally
	o       Options
	step    *batch.Step
	limiter *rate.Limiter
}

// errSampled stops a walk once the sample is complete.
var errSampled = errors.New("sample complete")

// looking is a batch whose names passed the regex and whose lookups are on
// the wire.
type looking struct {
	replies <-chan lookedUp
}

type lookedUp struct {
	read batch.Read
	err  error
}

// node walks one primary and returns the share of its keyspace covered
// (1 unless the walk stopped early for a sample).
//
// The walk is a pipeline (batch.Walk), so the server does not wait for
// keyjob between batches: the walk's goroutine applies the regex and
// sends a batch's lookups; a second goroutine takes their replies in
// turn, decides and tallies. While one batch's lookups are answered, the
// next is matched.
func (w *walker) node(ctx context.Context, n redisx.Node, scanClient rueidis.Client, sample int64) (float64, error) {
	j := w.job
	var here int64 // keys this node's walk scanned
	opts := scan.Options{Match: j.Select.Match, Type: j.Select.Type, Count: j.Limits.ScanCount, Limiter: w.limiter}
	var last uint64
	err := batch.Walk(ctx, scanClient, 0, opts, batch.Stages[looking]{
		Prepare: func(ctx context.Context, b scan.Batch) (looking, bool, error) {
			last = b.Cursor
			l := w.lookup(ctx, n, b.Keys)
			here += int64(len(b.Keys))
			if sample > 0 && here >= sample && b.Cursor != 0 {
				return l, true, errSampled
			}
			return l, true, nil
		},
		Finish: func(l looking, drain bool) (bool, error) {
			r := <-l.replies
			if drain {
				return true, nil
			}
			err := r.err
			if err == nil {
				err = w.finish(ctx, n, r.read)
			}
			return err != nil, err
		},
		Depth: 1,
	})
	if errors.Is(err, errSampled) {
		return scan.CursorFraction(last, w.tally.dbsizeHint), nil
	}
	if err != nil {
		return 0, err
	}
	return 1, nil
}

// lookup applies the regex to the names of a batch and sends the lookups
// the job's conditions need, in the background.
func (w *walker) lookup(ctx context.Context, n redisx.Node, keys []string) looking {
	m := w.step.Match(keys)
	replies := make(chan lookedUp, 1)
	go func() {
		r, err := w.step.Read(ctx, n.Client, m)
		replies <- lookedUp{read: r, err: err}
	}()
	return looking{replies: replies}
}

// finish decides and tallies a batch whose lookups came back, after the
// MEMORY USAGE its changed keys need, and reports progress.
func (w *walker) finish(ctx context.Context, n redisx.Node, r batch.Read) error {
	ds := w.step.Decide(r)
	// A stream's entries are counted by reading them: a stream too big to
	// back up is found first and not read.
	streams := w.job.Members != nil && w.job.Members.Stream
	if !streams {
		if err := w.step.Members(ctx, n.Client, ds); err != nil {
			return err
		}
	}
	if err := w.walkFields(ctx, n.Client, ds); err != nil {
		return err
	}
	var measure []int
	w.tally.mu.Lock()
	for i, d := range ds {
		if d.Outcome == jobs.Change && w.tally.wantsMemory() {
			measure = append(measure, i)
		}
	}
	w.tally.mu.Unlock()
	if len(measure) > 0 {
		if err := w.step.Measure(ctx, n.Client, ds, measure); err != nil {
			return err
		}
	}
	if streams {
		if err := w.step.Members(ctx, n.Client, ds); err != nil {
			return err
		}
	}
	w.tally.mu.Lock()
	for _, d := range ds {
		if d.Outcome == jobs.Gone {
			w.tally.gone++ // expired or deleted between SCAN and lookup: not scanned for our purposes
			continue
		}
		w.tally.add(d.Info.Name, d.Decision, d.Info)
		if d.Outcome == jobs.Change && w.job.Members != nil {
			w.tally.addMembers(d)
		}
	}
	w.tally.mu.Unlock()
	if w.o.Progress != nil {
		w.o.Progress(w.tally.total())
	}
	return nil
}
