package apply

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/batch"
	"github.com/keyjob/keyjob/internal/checkpoint"
	"github.com/keyjob/keyjob/internal/journal"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/internal/scan"
	"github.com/keyjob/keyjob/jobs"
)

// sendTimeout bounds the batch in flight, which is finished even after an
// interrupt.
const sendTimeout = 30 * time.Second

// pending is a key decided for change, with what the journal needs.
type pending struct {
	change
	prev  int64 // previous absolute expiry, ms; -1 none
	grace bool
	dec   batch.Decision // what was read and decided
	dump  []byte
	// counted: a read-back of the journal counted the key's change
	// already (a hash of a fields job, walked again).
	counted bool
}

// A node's walk is a two-stage pipeline (batch.Walk), so the server never
// waits for keyjob between batches: prepare (the walk's goroutine) waits
// at the gates, decides a batch, journals it and sends its changes;
// finish takes the batches in SCAN order, reads their replies, counts
// them and commits their cursors. While batch N's changes are on the
// wire, batch N+1 is being decided and journaled.
//
// A decision holds only for the moment it was made (a computed expiry
// still ahead, the TTL a key had), and a pause can last hours, so the
// pause and the guards are waited for before the keys are read. The rate
// limiter is paid between the journal and the send: paid after the send,
// a SCAN batch larger than its COUNT (SCAN's COUNT is a hint) let a second
// carry the rate plus that whole batch (4,161 changes in a second at
// --rate 3000, batches of 1,000). Paid before the send, no second carries
// more than the rate plus the limiter's burst of one batch. The wait is at
// most a batch's worth of the rate (a batch is never larger than a second
// of it), and every condition is re-checked at the write anyway.

// inFlight is how many batches may be sent and not yet finished, beyond
// the one being finished: enough to keep the server busy while the next
// is decided, few enough that a failure leaves little to redo.
// Batches waiting for their journal records to be durable count too:
// while one fsync runs, the walk goes on deciding and journaling the next
// batches, and the next fsync makes them all durable at once (group
// commit), so a slow disk costs fewer fsyncs rather than a stall each.
//
// On a cluster the batches of every shard walked at once are in memory
// together: eight each on eight shards were a third of apply's peak RSS
// at 40 primaries. maxInFlight bounds them in all; a shard keeps at least
// minInFlight, one on the wire while the next is decided.
const (
	inFlight    = 8
	maxInFlight = 16
	minInFlight = 2
)

// walkDepth is the batches a shard may have in flight when shards are
// walked at once.
func walkDepth(shards int) int {
	return max(minInFlight, min(inFlight, maxInFlight/max(shards, 1)))
}

// flight is a batch whose changes were sent and whose replies are still
// to be counted.
type flight struct {
	b       scan.Batch
	todo    []pending
	counts  map[string]int64
	allowed int // changes reserved against --limit and max_changes
	partial bool
	replies <-chan sent // nil when nothing was sent
	durable int64       // the end of its journal frame; 0 without one
	changed []string    // the keys changed, once its replies are counted
}

// sent is a batch's replies, or why it was not sent (its journal records
// could not be made durable).
type sent struct {
	calls []call
	res   []rueidis.RedisResult
	err   error
}

// walkBatches runs one node's walk through the pipeline: it returns when
// every batch sent was finished, with the first error of either stage.
// Every batch sent is finished even after an interrupt (its cursor can
// then be committed); after a batch fails, the later ones are not
// committed (they are scanned again), and their reservations are given
// back.
func (r *Run) walkBatches(ctx context.Context, sc rueidis.Client, cursor uint64, opts scan.Options, node redisx.Node, st *checkpoint.Node) error {
	return batch.Walk(ctx, sc, cursor, opts, batch.Stages[*flight]{
		Prepare: func(ctx context.Context, b scan.Batch) (*flight, bool, error) {
			f, err := r.prepare(ctx, node, b)
			return f, f != nil, err
		},
		Finish: func(f *flight, drain bool) (bool, error) {
			if drain {
				if f.replies != nil {
					<-f.replies // sent (or not): nothing to count
				}
				r.release(f.allowed)
				return true, nil
			}
			committed, err := r.finishBatch(node, st, f)
			return !committed, err
		},
		Depth: walkDepth(r.walkedAtOnce()) - 1,
	})
}

// prepare waits at the gates, decides the batch, journals it and sends its
// changes. A flight comes back with the error when the run must stop
// after it (--limit, max_changes).
func (r *Run) prepare(ctx context.Context, node redisx.Node, b scan.Batch) (*flight, error) {
	if ctx.Err() != nil {
		return nil, errInterrupted
	}
	if err := r.gates(ctx); err != nil {
		return nil, err
	}
	counts := map[string]int64{}
	fresh, counted := r.uncounted(node.ID, b.Keys)
	todo, err := r.decide(ctx, node, fresh, counts)
	if err != nil {
		return nil, err
	}
	allowed, stop := r.allowance(len(todo))
	f := &flight{b: b, counts: counts, allowed: allowed, partial: allowed < len(todo)}
	if inside := r.insideKeys(); inside != nil {
		// Members are trimmed, fields changed, chunk by chunk, each
		// journaled before it goes: the batch is done when it returns.
		// A key decided "change" may turn out to have nothing to change
		// (a hash with no field selected), so under --limit the keys are
		// walked until allowed of them changed, not only the first
		// allowed: else a batch that began with such keys stopped every
		// invocation on them, and --resume never got past it.
		//
		// Hashes counted from the journal (a fields job) are walked again
		// first, outside the limit: a kill may have left one half done.
		// Their own outcome is not counted again.
		if err := r.walkAgain(ctx, node, counted, counts, f, inside); err != nil {
			r.release(allowed)
			return nil, err
		}
		walked := 0
		for walked < len(todo) && len(f.changed) < allowed {
			next := todo[walked:min(len(todo), walked+allowed-len(f.changed))]
			changed, durable, err := inside(ctx, node, next, counts)
			f.durable = max(f.durable, durable)
			if err != nil {
				r.release(allowed)
				return nil, err
			}
			walked += len(next)
			f.changed = append(f.changed, changed...)
		}
		f.partial = walked < len(todo)
		if !f.partial && len(f.changed) < allowed {
			stop = nil // the whole batch made fewer changes than the limit left
		}
		return f, stop
	}
	todo = todo[:allowed]
	var durable int64
	if todo, err = r.backup(ctx, node, todo, counts); err == nil {
		durable, err = r.journalBatch(node, todo)
	}
	if err != nil {
		r.release(allowed)
		return nil, err
	}
	if err := scan.Wait(ctx, r.limiter, len(todo)); err != nil {
		// Journaled, never sent: the journal's record of a change not made
		// is harmless to undo (it puts back the state the key still has).
		r.release(allowed)
		return nil, errInterrupted
	}
	if testHookBeforeSend != nil {
		testHookBeforeSend(keysOf(todo))
	}
	f.todo, f.durable = todo, durable
	f.replies = r.dispatch(todo, durable)
	return f, stop
}

// finishBatch counts a flight's replies and commits it. committed says whether
// its cursor and counts were recorded (an error after that is a reason to
// stop, not a failed batch).
func (r *Run) finishBatch(node redisx.Node, st *checkpoint.Node, f *flight) (committed bool, err error) {
	// The batch was sent: it is finished even when the run is interrupted.
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	if f.replies != nil {
		s := <-f.replies
		err := s.err
		if err == nil {
			f.changed, err = r.tally(ctx, f.todo, s.calls, s.res, f.counts)
		}
		if err != nil {
			r.release(f.allowed)
			return false, err
		}
	}
	r.commit(st, f, f.allowed, f.durable)
	r.observe(node, false)
	if err := r.save(false); err != nil {
		return true, err
	}
	return true, r.unitMistake()
}

// walkAgain walks, for a fields job, the hashes of a batch a read-back
// counted already.
func (r *Run) walkAgain(ctx context.Context, node redisx.Node, counted []string, counts map[string]int64, f *flight, inside insideFunc) error {
	if r.job.Fields == nil || len(counted) == 0 {
		return nil
	}
	again, err := r.decide(ctx, node, counted, map[string]int64{})
	if err != nil {
		return err
	}
	for i := range again {
		again[i].counted = true
	}
	_, durable, err := inside(ctx, node, again, counts)
	f.durable = max(f.durable, durable)
	return err
}

// release gives back a batch's reservation when it is not committed.
func (r *Run) release(reserved int) {
	r.mu.Lock()
	r.reserved -= int64(reserved)
	r.mu.Unlock()
}

// testHookBeforeSend, when set by a test, is called with the keys of a
// batch after they were decided and journaled and before their changes are
// sent: a test changes keys there to play someone else writing between
// SCAN and the change.
var testHookBeforeSend func(keys []string)

func keysOf(todo []pending) []string {
	keys := make([]string, len(todo))
	for i, p := range todo {
		keys[i] = p.key
	}
	return keys
}

// decide runs the job's rule over the batch's keys (batch.Step), with
// only the lookups the rule and the journal need.
func (r *Run) decide(ctx context.Context, node redisx.Node, keys []string, counts map[string]int64) ([]pending, error) {
	ds, err := r.step.Keys(ctx, node.Client, keys)
	if err != nil {
		return nil, err
	}
	todo := make([]pending, 0, len(ds))
	for _, d := range ds {
		if d.Outcome != jobs.Change {
			counts[string(d.Outcome)]++
			if d.Outcome == jobs.SkipBadTimestamp {
				r.noteBad(d.Info.Name)
			}
			continue
		}
		p := pending{change: change{key: d.Info.Name}, prev: d.Info.ExpireAt, grace: d.Grace, dec: d}
		if !d.ExpireAt.IsZero() {
			p.expireAt = d.ExpireAt.UnixMilli()
		}
		todo = append(todo, p)
	}
	return todo, nil
}

// newStep is the batch step of this invocation: the run's start is known
// once the checkpoint is open.
func (r *Run) newStep() *batch.Step {
	return &batch.Step{Job: r.job, Reads: r.lookups(), RunStart: r.runStart, Now: r.serverNow, NoMemory: r.memoryUnknown}
}

// lookups are the per-key reads a batch needs: the rule's (TTL, idle) and
// the journal's previous expiry, unless `when: no_ttl` already says there
// was none. An expire NX job with a journal thus sends one write per key
// and nothing else.
func (r *Run) lookups() scan.Lookups {
	needs := r.job.Needs()
	if r.nxUnread() {
		// EXPIRE NX is the TTL check, made by the server at the moment of
		// the change: no read before it. A key NX leaves alone counts as
		// ttl, and the journal says it was left unchanged.
		return scan.Lookups{Idle: needs.Idle}
	}
	prevKnown := r.writer.flag == "NX" || r.job.Backup.Mode == jobs.BackupNone
	// A dump-backed delete measures every key it will DUMP: in the same
	// round trip as the other reads, not one of its own.
	return scan.Lookups{Expiry: needs.TTL || !prevKnown, ExpireTime: true, Idle: needs.Idle, Memory: r.dumpsAll() && r.memoryUnknown == ""}
}

// insideFunc changes the keys of a batch inside (their members, their
// fields) and returns the keys it changed and the end of the last journal
// frame.
type insideFunc func(context.Context, redisx.Node, []pending, map[string]int64) ([]string, int64, error)

// insideKeys is how a job that acts inside its keys (members:, fields:)
// changes a batch's keys; nil for a job on whole keys.
func (r *Run) insideKeys() insideFunc {
	switch {
	case r.job.Members != nil:
		return r.trimBatch
	case r.job.Fields != nil:
		return r.fieldsBatch
	}
	return nil
}

// dumpsAll says whether every key the run changes is dumped first: a
// delete with backup: dump (an expire dumps only its grace keys).
func (r *Run) dumpsAll() bool {
	return r.job.Backup.Mode == jobs.BackupDump && r.job.Action.Kind == jobs.ActionDelete && r.job.Members == nil && r.job.Fields == nil
}

// nxUnread says whether the run sends EXPIRE NX without reading the TTL
// first. Not with --limit or max_changes: their counts must be exact, and
// a key NX leaves alone would take a change of the allowance.
func (r *Run) nxUnread() bool {
	return r.writer.ttlByServer && r.o.Limit == 0 && r.job.Limits.MaxChanges == 0
}

// serverNow is the server's clock without a round trip: its time when
// this invocation began plus the time elapsed here. Not the run's start:
// a resumed run may have begun days ago.
func (r *Run) serverNow() time.Time {
	return r.serverAt.Add(time.Since(r.began))
}

// allowance is how many of n changes this batch may make before --limit
// or max_changes; stop says why the run ends after them (nil: it goes on).
func (r *Run) allowance(n int) (allowed int, stop error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	allowed = n
	if r.o.Limit > 0 {
		if left := r.o.Limit - r.changes - r.reserved; int64(n) >= left {
			allowed, stop = int(max(0, left)), errLimit
		}
	}
	if m := r.job.Limits.MaxChanges; m > 0 {
		if left := m - r.cp.Changes - r.reserved; int64(allowed) > left {
			allowed = int(max(0, left))
			stop = &AbortError{Guard: "max_changes", Reason: fmt.Sprintf("%d changes made; limits.max_changes is %d and this batch would pass it", r.cp.Changes, m)}
		}
	}
	// Reserved until the batch commits, so the primaries of a cluster,
	// walked at once, cannot pass a limit together.
	r.reserved += int64(allowed)
	return allowed, stop
}

// gates waits for the operator's pause and the guards.
func (r *Run) gates(ctx context.Context) error {
	onPause := func(reason string, paused bool) {
		r.mu.Lock()
		// Every node's walk waits at the same gate: report a pause once.
		changed := (r.paused == "") == paused
		switch {
		case changed && paused:
			r.paused = reason
			r.report.pause(reason)
		case changed:
			r.paused = ""
			r.report.resume()
		}
		r.mu.Unlock()
		if changed && paused {
			by, resume := PauseWords(reason)
			r.log.Warn("paused", "by", by, "resume", resume)
		} else if changed {
			r.log.Info("resumed", "after", reason)
		}
		r.observe(redisx.Node{}, false)
	}
	if err := r.o.Control.wait(ctx, onPause); err != nil {
		return errInterrupted
	}
	if r.x.Gate != nil {
		if err := r.x.Gate.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return errInterrupted
			}
			var g Aborter
			if errors.As(err, &g) {
				guard, reason := g.Abort()
				return &AbortError{Guard: guard, Reason: reason}
			}
			return err
		}
	}
	return nil
}

// backup reads what backup: dump keeps of a key before it is deleted (or
// gets the grace TTL): MEMORY USAGE first, unless the lookups read it, so
// no huge key is dumped (DUMP of a huge key blocks the server), then DUMP.
func (r *Run) backup(ctx context.Context, node redisx.Node, todo []pending, counts map[string]int64) ([]pending, error) {
	var idx []int
	for i, p := range todo {
		if r.step.Dumps(p.dec) {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return todo, nil
	}
	c := node.Client
	ds := make([]batch.Decision, len(idx))
	all := make([]int, len(idx))
	for n, i := range idx {
		ds[n], all[n] = todo[i].dec, n
	}
	if err := r.step.Measure(ctx, c, ds, all); err != nil {
		return nil, err
	}
	// Bounded, like every read of the walk: a node that died is the
	// walk's to wait for, not a read retried for ever.
	ctx, cancel := context.WithTimeout(ctx, scan.CallTimeout)
	defer cancel()
	drop := map[int]string{}
	cmds := make(rueidis.Commands, 0, len(idx))
	var dumped []int
	for n, i := range idx {
		if ds[n].Outcome != jobs.Change {
			drop[i] = string(ds[n].Outcome)
			continue
		}
		dumped = append(dumped, i)
		cmds = append(cmds, c.B().Dump().Key(todo[i].key).Build())
	}
	deleting := r.job.Action.Kind == jobs.ActionDelete
	for n, res := range c.DoMulti(ctx, cmds...) {
		i := dumped[n]
		payload, err := res.AsBytes()
		if rueidis.IsRedisNil(err) {
			drop[i] = string(jobs.Gone)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("DUMP: %w", err)
		}
		if r.memoryUnknown != "" && int64(len(payload)) > r.job.Backup.MaxDumpSize {
			// Without MEMORY USAGE the payload is the only measure: the
			// key was dumped once, but is not kept nor changed.
			drop[i] = string(jobs.SkipTooBig)
			continue
		}
		todo[i].dump = payload
		if deleting {
			sum := sha1.Sum(payload)
			todo[i].digest = hex.EncodeToString(sum[:])
		}
	}
	if len(drop) == 0 {
		return todo, nil
	}
	kept := todo[:0]
	for i, p := range todo {
		if why, ok := drop[i]; ok {
			counts[why]++
			continue
		}
		kept = append(kept, p)
	}
	return kept, nil
}

// journalBatch appends the batch's previous states to the journal and
// returns the position dispatch makes durable before a single change is
// sent.
func (r *Run) journalBatch(node redisx.Node, todo []pending) (int64, error) {
	if r.journal == nil || len(todo) == 0 {
		return 0, nil
	}
	action := map[jobs.ActionKind]string{jobs.ActionExpire: journal.ActionExpire, jobs.ActionDelete: journal.ActionDelete, jobs.ActionPersist: journal.ActionPersist}[r.job.Action.Kind]
	recs := make([]journal.Record, len(todo))
	for i, p := range todo {
		recs[i] = journal.Record{Key: p.key, PrevExpireMs: p.prev, Action: action, NewExpireMs: p.expireAt, Dump: p.dump}
		if recs[i].PrevExpireMs < 0 {
			recs[i].PrevExpireMs = journal.NoExpire
		}
	}
	pos, err := r.journal.AppendBatch(node.ID, recs...)
	if err != nil {
		return 0, local("journal", err)
	}
	return pos, nil
}

// dispatch sends the batch's changes in one pipeline, in the background,
// once the journal is durable up to durable (its records); the replies
// arrive on the channel. The pipeline is not cancelled by an interrupt: a
// batch sent is finished.
func (r *Run) dispatch(todo []pending, durable int64) <-chan sent {
	if len(todo) == 0 {
		return nil
	}
	c := r.conn.Client // routes by slot in a cluster
	calls := r.writer.calls(c, todo, r.conn.Cluster)
	cmds := make(rueidis.Commands, len(calls))
	for i, cl := range calls {
		cmds[i] = cl.cmd
	}
	var bytes int64
	for _, p := range todo {
		bytes += int64(len(p.key)) + 48
	}
	replies := make(chan sent, 1)
	go func() {
		if r.journal != nil {
			if err := r.journal.SyncTo(durable); err != nil {
				replies <- sent{err: local("journal", err)}
				return
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
		defer cancel()
		replies <- sent{calls: calls, res: c.DoMulti(ctx, cmds...)}
	}()
	if r.x.Gate != nil {
		r.x.Gate.Sent(bytes)
	}
	return replies
}

// tally counts the replies of a batch's changes. The script's replies are
// exact (changed, gone, has a TTL under NX, a condition no longer holds).
// A native command's 0 means "gone" or "condition no longer holds"; the
// few such keys are told apart with EXISTS after the batch. Under EXPIRE
// NX with no TTL read before the write (the job's whole TTL check is the
// NX), a key that exists counts as ttl: its TTL was there when the run
// came to change it, and with no read there is no earlier moment to
// compare with. A key deleted in the moment between SCAN and the write
// counts as gone, for real: the EXISTS costs one command per key left
// alone, pipelined after the batch (2% of the tickets in the bench).
func (r *Run) tally(ctx context.Context, todo []pending, calls []call, res []rueidis.RedisResult, counts map[string]int64) (changed []string, err error) {
	c := r.conn.Client
	replies, err := r.writer.replies(ctx, c, calls, res, len(todo))
	if err != nil {
		return nil, err
	}
	var ambiguous, unchanged []string
	for i, n := range replies {
		if n != replyChanged {
			unchanged = append(unchanged, todo[i].key)
		}
		switch {
		case n == replyChanged:
			changed = append(changed, todo[i].key)
			counts[string(jobs.Change)]++
			if todo[i].grace {
				counts[changeGrace]++
			}
		case n == replyGone:
			counts[string(jobs.Gone)]++
		case n == replyHasTTL && r.nxUnread():
			counts[string(jobs.SkipTTL)]++ // the job's own ttl skip
		case r.writer.form == formScript:
			counts[string(jobs.ChangedSinceScan)]++
		default:
			ambiguous = append(ambiguous, todo[i].key)
		}
	}
	if err := r.journalUnchanged(unchanged); err != nil {
		return nil, err
	}
	return changed, r.tellApart(ctx, c, ambiguous, counts)
}

// tellApart counts the keys a native command left alone: gone, or (the
// key exists) the condition that no longer held.
func (r *Run) tellApart(ctx context.Context, c rueidis.Client, keys []string, counts map[string]int64) error {
	if len(keys) == 0 {
		return nil
	}
	exists := string(jobs.ChangedSinceScan)
	if r.nxUnread() {
		exists = string(jobs.SkipTTL)
	}
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = c.B().Exists().Key(k).Build()
	}
	for i, rr := range c.DoMulti(ctx, cmds...) {
		n, err := rr.AsInt64()
		if err != nil {
			return fmt.Errorf("EXISTS %q: %w", keys[i], err)
		}
		if n == 0 {
			counts[string(jobs.Gone)]++
		} else {
			counts[exists]++
		}
	}
	return nil
}

// journalUnchanged records the keys whose change the server did not make,
// after their batch: the records written before it claimed a previous
// state (no TTL, under NX) that undo must not put back. Synced with the
// next batch's records, or at Close.
func (r *Run) journalUnchanged(keys []string) error {
	if r.journal == nil || !r.nxUnread() || len(keys) == 0 {
		return nil
	}
	recs := make([]journal.Record, len(keys))
	for i, k := range keys {
		recs[i] = journal.Record{Key: k, PrevExpireMs: journal.NoExpire, Action: journal.ActionUnchanged}
	}
	if _, err := r.journal.Append(recs...); err != nil {
		return local("journal", err)
	}
	return nil
}

// changeGrace counts the changes that got the grace TTL.
const changeGrace = "change_grace"

// commit records a finished batch: its counts and, unless only part of it
// was applied (--limit, max_changes), its cursor. A partial batch is
// scanned again on resume: its changed keys go to the node's Ahead, so
// that they are not counted again, and the rest are decided then.
func (r *Run) commit(st *checkpoint.Node, f *flight, reserved int, durable int64) {
	b, counts, partial := f.b, f.counts, f.partial
	r.mu.Lock()
	defer r.mu.Unlock()
	st.JournalEnd = max(st.JournalEnd, durable)
	r.reserved -= int64(reserved)
	changed := counts[string(jobs.Change)]
	r.changes += changed
	r.cp.Changes += changed
	if partial {
		for k := range counts {
			if k != string(jobs.Change) && k != changeGrace && k != trimMembers && !fieldCount(k) {
				delete(counts, k)
			}
		}
	}
	if st.Counts == nil {
		st.Counts = map[string]int64{}
	}
	for k, v := range counts {
		r.cp.Counts[k] += v
		st.Counts[k] += v
	}
	r.nodeScanned[st.ID] += int64(len(b.Keys))
	if !partial {
		st.Cursor = strconv.FormatUint(b.Cursor, 10)
		passed(st, b.Keys)
		// The walk's last batch (SCAN answered cursor 0): the node is done
		// even when the run stops right after it (--limit reached on it, a
		// kill), or a resume would read cursor 0 as the start and scan,
		// and count, the node's keys again.
		st.Done = b.Cursor == 0
	} else {
		ahead(st, f.changed)
	}
}

// unitMistake aborts a run whose timestamps turn out to be in the wrong
// unit: more than 1% bad timestamps among the keys it would change.
func (r *Run) unitMistake() error {
	r.mu.Lock()
	bad, changes := r.cp.Counts[string(jobs.SkipBadTimestamp)], r.cp.Changes
	r.mu.Unlock()
	if bad < 100 || float64(bad) <= 0.01*float64(changes) {
		return nil
	}
	r.mu.Lock()
	names := slices.Clone(r.badNames)
	r.mu.Unlock()
	if r.job.Members != nil && r.job.Members.Stream {
		return &AbortError{Guard: "bad_timestamp", Reason: fmt.Sprintf("%d of the %d streams (%.1f%%) have entries whose ID lies before 2000, more than 1%% of those trimmed: their IDs are no times (written by hand), so older_than cannot select by age",
			bad, bad+changes, 100*float64(bad)/float64(bad+changes))}
	}
	if r.job.Members != nil {
		return &AbortError{Guard: "bad_timestamp", Reason: fmt.Sprintf("%d of the %d sorted sets (%.1f%%) have members scored before 2000, more than 1%% of those trimmed: members.score.format is probably wrong (seconds read as milliseconds)",
			bad, bad+changes, 100*float64(bad)/float64(bad+changes))}
	}
	reason := fmt.Sprintf("%d of the %d keys with a timestamp (%.1f%%) have one that format: %s cannot read or that lies too far in the future, more than 1%% of the keys changed: the format is probably wrong",
		bad, bad+changes, 100*float64(bad)/float64(bad+changes), r.job.Action.Expire.From.Format)
	if g := r.job.GuessFormat(names, jobs.Clock{Now: time.Now(), RunStart: r.runStart}); g != nil {
		reason += ". " + g.Words()
	}
	return &AbortError{Guard: "bad_timestamp", Reason: reason}
}

// badSamples is how many bad_timestamp keys a run keeps for the
// unit-mistake abort's guess.
const badSamples = 10

// noteBad keeps the name of a key whose timestamp was bad.
func (r *Run) noteBad(name string) {
	r.mu.Lock()
	if len(r.badNames) < badSamples {
		r.badNames = append(r.badNames, name)
	}
	r.mu.Unlock()
}

func (r *Run) observe(node redisx.Node, done bool) {
	if r.x.Observe == nil {
		return
	}
	r.mu.Lock()
	skips := map[string]int64{}
	var scanned int64
	for k, v := range r.cp.Counts {
		if k == changeGrace || k == trimMembers || fieldCount(k) {
			continue
		}
		scanned += v
		if k != string(jobs.Change) {
			skips[k] = v
		}
	}
	nodes := make([]NodeProgress, 0, len(r.cp.Nodes))
	for _, n := range r.cp.Nodes {
		nodes = append(nodes, NodeProgress{Addr: n.Addr, Slots: n.Slots, Scanned: r.nodeScanned[n.ID], Done: n.Done})
	}
	p := Progress{
		Node: node.Addr, Scanned: scanned, Expected: r.x.Expected, Changed: r.cp.Counts[string(jobs.Change)],
		Skips: skips, Rate: float64(r.limiter.Limit()), Elapsed: time.Since(r.began), Paused: r.paused, Done: done,
		Nodes: nodes,
	}
	r.mu.Unlock()
	r.x.Observe(p)
}
