package apply

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/keyjob/keyjob/internal/batch"
	"github.com/keyjob/keyjob/internal/checkpoint"
	"github.com/keyjob/keyjob/internal/journal"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/internal/words"
	"github.com/keyjob/keyjob/jobs"
)

// Options are what Prepare needs: where the run's state is, how fast it
// goes, and whether it resumes. The zero value runs the job as its file
// says into .keyjob/. What Execute needs, known only once the operator
// has seen the summary (the guards, the display), is Exec.
type Options struct {
	StateDir string    // default ".keyjob"
	Rate     jobs.Rate // overrides limits.rate when not 0
	ScanRate jobs.Rate // overrides limits.scan_rate when not 0
	// Limit stops the run after this many changes in this invocation (a
	// canary); the checkpoint stays resumable. 0: no limit.
	Limit   int64
	Resume  bool // continue from the checkpoint
	Restart bool // discard the checkpoint and start again
	// Control is the operator's pause and rate; NewControl("") when nil.
	Control *Control
	// MaxDown is how long a primary may not answer before the run aborts;
	// DefaultMaxDown when 0.
	MaxDown time.Duration
	// ShardsAtOnce bounds the primaries walked at once (each walk holds a
	// connection and a few batches); DefaultShardsAtOnce when 0.
	ShardsAtOnce int
}

// Exec is what Execute needs: the guards, the display and the reviewed
// plan. The command line makes them after Prepare, once the run is known
// to be possible: the guards then measure the seconds before the first
// change while the operator reads the summary. The zero value runs
// without guards, display or log.
type Exec struct {
	Gate    Gate
	Observe func(Progress)
	Logger  *slog.Logger
	// Expected is the number of keys the walk is expected to scan in all,
	// for the progress bar's total and ETA (from the plan or the sample);
	// kept in the checkpoint, so 0 on a resume uses the first
	// invocation's.
	Expected int64
	// Resume is the command line that resumes the run, as the command
	// line prints it (its flags, no password), for the run report; ""
	// names a bare "keyjob apply --resume JOB".
	Resume string
	// Planned is the reviewed plan's change count, 0 when none: a
	// completed run that is more than 10% off says the keyspace drifted.
	Planned int64
}

// Gate is the guards, as the executor sees them: it waits at the gate
// before every batch.
type Gate interface {
	// Wait returns when the run may send a batch; it blocks while a guard
	// says pause and returns an *AbortError when one says abort.
	Wait(ctx context.Context) error
	// Sent adds the bytes of writes the run just sent, so a fast run
	// cannot outrun a guard between two polls (the AOF guard).
	Sent(bytes int64)
}

// Progress is what the operator sees, after every batch.
type Progress struct {
	Node     string
	Scanned  int64
	Expected int64
	Changed  int64
	Skips    map[string]int64
	Rate     float64 // the current change-rate limit; +Inf unlimited
	Elapsed  time.Duration
	Paused   string // why the run waits, or ""
	Done     bool
	// Nodes has one entry per primary: a cluster's shards are walked at
	// once and each has its own bar.
	Nodes []NodeProgress
}

// NodeProgress is one primary's share of a run.
type NodeProgress struct {
	Addr    string
	Slots   string
	Scanned int64
	Done    bool
}

// Errors callers test.
var (
	ErrCheckpointExists = errors.New("a checkpoint exists")
	ErrNothingToResume  = errors.New("no checkpoint to resume")
	ErrAlreadyCompleted = errors.New("the run already completed")
	errInterrupted      = errors.New("interrupted")
	errLimit            = errors.New("limit reached")
)

// AbortError is a run stopped by a guard, by max_changes or by a unit
// mistake; the checkpoint is written and the run can resume. It is the
// one abort type of keyjob (guard.AbortError is the same).
type AbortError = words.AbortError

// Aborter is an error that stops a run on purpose, naming the guard (or
// rule) and the reason: what a Gate returns to abort (an AbortError),
// wrapped or not.
type Aborter interface {
	error
	Abort() (guard, reason string)
}

// Run is a prepared run: state checked, checkpoint and journal ready, no
// change made yet.
type Run struct {
	job     *jobs.Job
	conn    *redisx.Conn
	o       Options
	x       Exec
	log     *slog.Logger
	cpPath  string
	cp      *checkpoint.Checkpoint
	journal *journal.Writer
	nodes   []redisx.Node
	writer  *writer
	step    *batch.Step
	// memoryUnknown is why MEMORY USAGE cannot be sent ("" when it can):
	// a dump-backed key is then measured by its DUMP payload.
	memoryUnknown string
	// configUnknown is why CONFIG GET cannot be sent: the save points and
	// AOF rewrite settings, so the forks the run triggers, are unknown
	// (the fork guard reads INFO and still pauses during a fork).
	configUnknown string
	limiter       *rate.Limiter
	scanLim       *rate.Limiter
	report        *Report
	// Resumed is true when the run continues a checkpoint.
	Resumed    bool
	startFresh bool
	discard    bool
	// retuned: the job file changed since the checkpoint, its effect not.
	retuned  bool
	runStart time.Time
	// badNames are the first keys of this invocation whose timestamp was
	// bad, for the unit-mistake abort to try other formats on (under mu).
	badNames []string
	lastSave time.Time
	began    time.Time
	// serverAt is the server's clock when the run (this invocation) began:
	// "now" for decisions that read no key, see serverNow.
	serverAt time.Time
	// mu guards the state the primaries' walks share: the checkpoint,
	// the counters, the report. A cluster's primaries are walked at once.
	mu          sync.Mutex
	changes     int64 // in this invocation
	reserved    int64 // allowed to batches not committed yet
	nodeScanned map[string]int64
	paused      string
	// stale is set when a node failed: the next nodeFor asks the
	// cluster who serves what.
	stale bool
	// scanCount is the SCAN COUNT hint: limits.scan_count, or less when
	// the rate is below one batch a second.
	scanCount int
}

// Prepare checks the state dir and the target and readies a run. It
// changes nothing on the server.
func Prepare(ctx context.Context, conn *redisx.Conn, job *jobs.Job, o Options) (*Run, error) {
	if o.StateDir == "" {
		o.StateDir = ".keyjob"
	}
	if o.Control == nil {
		o.Control = NewControl("")
	}
	r := &Run{job: job, conn: conn, o: o, log: slog.New(slog.DiscardHandler), writer: newWriter(job)}
	r.cpPath = checkpoint.Path(o.StateDir, job.Name)
	info, err := redisx.Info(ctx, conn.Client)
	if err != nil {
		return nil, err
	}
	// On a cluster INFO goes to any node; Primaries keeps only masters.
	if !conn.Cluster && info["role"] != "master" {
		return nil, fmt.Errorf("%s is a replica (role %s): apply changes keys and must run against the primary; plan may read a replica", conn.Addr, info["role"])
	}
	if err := redisx.NeedVersion(conn.Addr, info); err != nil {
		return nil, err
	}
	if err := r.checkCommands(ctx); err != nil {
		return nil, err
	}
	if r.nodes, err = conn.Primaries(ctx); err != nil {
		return nil, err
	}
	if err := r.state(ctx); err != nil {
		return nil, err
	}
	r.setLimits()
	return r, nil
}

func (r *Run) target() checkpoint.Target {
	return checkpoint.Target{Address: r.conn.Addr, DB: r.conn.DB, Mode: r.conn.Mode()}
}

func (r *Run) setLimits() {
	lim := r.job.Limits.With(r.o.Rate, r.o.ScanRate)
	changeRate, scanRate := lim.Rate, lim.ScanRate
	// The burst is one batch: a higher rate is reached by waiting less,
	// never by letting a second's worth of changes through at once. Below
	// a batch a second, the batches shrink to the rate (SCAN COUNT), so
	// even --rate 50 sends about 50 changes at a time.
	r.scanCount = lim.ScanCount
	burst := max(lim.ScanCount*2, 1000)
	r.limiter = rate.NewLimiter(rate.Inf, burst)
	if !changeRate.IsUnlimited() {
		perSecond := max(int(changeRate), 1)
		r.scanCount = min(r.scanCount, perSecond)
		// One batch of burst, and the bucket starts empty: a full bucket
		// let --rate 100 send 247 changes in the first half second (the
		// burst, then the batch sent before its wait). Now any second of
		// the run, the first of an invocation too, carries at most the
		// rate plus the batch sent before the wait.
		r.limiter = rate.NewLimiter(rate.Limit(changeRate), max(r.scanCount, 1))
		r.limiter.AllowN(time.Now(), r.limiter.Burst())
	}
	if !scanRate.IsUnlimited() {
		r.scanLim = rate.NewLimiter(rate.Limit(scanRate), burst)
	}
	r.o.Control.attach(r.limiter, func(msg string, args ...any) { r.log.Info(msg, args...) })
}

// CheckpointPath is where the run's checkpoint is.
func (r *Run) CheckpointPath() string { return r.cpPath }

// Execute runs the job to the end, to --limit, to an abort or to an
// interrupt (the context's cancellation), and writes the run report.
// The batch in flight when the context is cancelled is finished and
// committed first.
func (r *Run) Execute(ctx context.Context, x Exec) (*Report, error) {
	r.x = x
	if x.Logger != nil {
		r.log = x.Logger
	}
	now, err := redisx.ServerTime(ctx, r.conn.Client)
	if err != nil {
		return nil, err
	}
	r.serverAt, r.began = now, time.Now()
	r.nodeScanned = map[string]int64{}
	if err := r.open(ctx); err != nil {
		return nil, err
	}
	// The total the progress counts against survives a resume: the first
	// invocation's summary or plan sets it, a resume (which has none)
	// reads it back.
	if r.x.Expected > 0 && !r.Resumed {
		r.cp.Expected = r.x.Expected
	} else if r.x.Expected == 0 {
		r.x.Expected = r.cp.Expected
	}
	r.step = r.newStep()
	r.report = newReport(r)
	r.log.Info("run started", "job", r.job.Name, "target", r.conn.Target(), "resumed", r.Resumed, "journal", r.cp.Journal)
	if err := r.loadTrim(ctx); err != nil {
		return nil, err
	}
	if err := r.loadFields(ctx); err != nil {
		return nil, err
	}
	if err := r.writer.load(ctx, r.nodes); err != nil {
		return nil, err
	}
	err = r.walk(ctx)
	// The end is written in the order that leaves every kill between two
	// steps resumable or whole: the report first (a resume rewrites it),
	// then the checkpoint (the run's commit: after it --resume says the
	// run completed), then the journal's trailer. A journal without its
	// trailer under a completed checkpoint holds every record the
	// checkpoint counts (undo checks), so undo can still be trusted.
	stopErr := r.finish(err)
	if werr := r.report.write(r.o.StateDir); werr != nil && stopErr == nil {
		stopErr = werr
	}
	if r.journal != nil {
		// Every record durable before the checkpoint counts them (the
		// unchanged marks of the last batch are not, until synced).
		if jerr := r.journal.Sync(); jerr != nil && stopErr == nil {
			stopErr = fmt.Errorf("journal: %w", jerr)
		}
	}
	if serr := r.save(true); serr != nil {
		r.log.Error("checkpoint not written", "err", serr)
		if stopErr == nil {
			stopErr = serr
		}
	}
	if r.journal != nil {
		// A trailer says the journal is whole: the run completed, or
		// stopped cleanly and may be resumed. A killed run leaves none.
		status := byte(journal.StatusStopped)
		if r.cp.Completed {
			status = journal.StatusCompleted
		}
		if cerr := r.journal.Finish(status); cerr != nil && stopErr == nil {
			stopErr = cerr
		}
		st := r.journal.SyncStats()
		r.log.Info("journal fsyncs", "syncs", st.Syncs, "total", st.Total, "max", st.Max,
			"under_1ms", st.Buckets[0], "under_4ms", st.Buckets[1], "under_16ms", st.Buckets[2],
			"under_64ms", st.Buckets[3], "under_256ms", st.Buckets[4], "longer", st.Buckets[5])
	}
	return r.report, stopErr
}

// finish turns the walk's end into the report and the error the command
// line maps to an exit code.
func (r *Run) finish(err error) error {
	rep := r.report
	rep.Finished = time.Now().UTC()
	rep.fill(r)
	var abort *AbortError
	switch {
	case err == nil:
		r.cp.Completed = true
		rep.Completed = true
		rep.Stopped = "done"
		if c := rep.Outcomes.Change; r.x.Planned > 0 && math.Abs(float64(c-r.x.Planned)) > 0.1*float64(r.x.Planned) {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("the keyspace drifted since the reviewed plan: it planned %d changes, the run made %d (more than 10%% apart)", r.x.Planned, c))
		}
	case errors.Is(err, errLimit):
		rep.Stopped = fmt.Sprintf("--limit %d reached: resume with --resume", r.o.Limit)
		err = nil
	case errors.As(err, &abort):
		rep.Stopped = abort.Error()
		rep.event("abort", abort.Guard, abort.Reason)
	case errors.Is(err, errInterrupted), errors.Is(err, context.Canceled):
		rep.Stopped = "interrupted"
		err = errInterrupted
	default:
		rep.Stopped = "error: " + err.Error()
	}
	rep.fill(r)
	r.log.Info("run ended", "stopped", rep.Stopped, "changed", rep.Outcomes.Change)
	return err
}

// save writes the checkpoint: at once when force, else at most once a
// second (a resumed run redoes at most a second of idempotent work).
func (r *Run) save(force bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !force && time.Since(r.lastSave) < time.Second {
		return nil
	}
	r.cp.UpdatedAt = time.Now().UTC()
	if r.journal != nil {
		r.cp.JournalRecords = r.journal.DurableRecords()
	}
	if err := checkpoint.Save(r.cpPath, r.cp); err != nil {
		return local("checkpoint", err)
	}
	r.lastSave = time.Now()
	return nil
}
