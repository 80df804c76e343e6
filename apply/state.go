package apply

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"time"

	"github.com/keyjob/keyjob/internal/checkpoint"
	"github.com/keyjob/keyjob/internal/journal"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/jobs"
)

// state reads the checkpoint, if any, and decides whether the run starts
// afresh or resumes. It writes nothing.
func (r *Run) state(ctx context.Context) error {
	cp, err := checkpoint.Load(r.cpPath)
	switch {
	case errors.Is(err, checkpoint.ErrNotExist):
		if r.o.Resume {
			return fmt.Errorf("%w for job %s in %s: start it without --resume", ErrNothingToResume, r.job.Name, r.o.StateDir)
		}
		r.startFresh = true
		return nil
	case err != nil && !(r.o.Restart && errors.Is(err, checkpoint.ErrCorrupt)):
		return err // corrupt: a clear error naming the file, never a silent restart
	case r.o.Restart:
		// --restart sets aside any checkpoint, a corrupt one too: the
		// error about it says to pass --restart.
		r.startFresh, r.discard = true, true
		return nil
	case !r.o.Resume:
		if cp.Completed {
			return completedError{fmt.Errorf("%w: %s says run %s of %s completed at %s; --restart runs the job again", ErrCheckpointExists, r.cpPath, cp.RunID, r.job.Name, cp.UpdatedAt.Format(time.RFC3339))}
		}
		return fmt.Errorf("%w: %s (run %s, %d changes so far): continue it with --resume, or discard it with --restart", ErrCheckpointExists, r.cpPath, cp.RunID, cp.Changes)
	}
	// A job file changed only in how it runs (guard levels, rate, its
	// description) resumes the run: a guard's abort is often cured by
	// raising a level. A change to what it does to keys does not.
	sha := r.job.SHA256
	if sha != cp.Job.SHA256 && cp.Job.Effect != "" && cp.Job.Effect == r.job.EffectSHA256 {
		sha, r.retuned = cp.Job.SHA256, true
	}
	if err := cp.Check(r.job.Name, sha, r.target()); err != nil {
		return err
	}
	cp.Job.SHA256 = r.job.SHA256
	if cp.Completed {
		return fmt.Errorf("%w: run %s of %s (%s): nothing to resume; --restart runs the job again", ErrAlreadyCompleted, cp.RunID, r.job.Name, r.cpPath)
	}
	r.cp, r.Resumed = cp, true
	r.runStart = time.UnixMilli(cp.RunStartMs)
	return nil
}

// open makes the state the run writes to: a fresh checkpoint and journal
// (after discarding the old checkpoint with --restart), or the resumed
// run's journal reopened for appending. Nothing is written before the
// operator confirmed.
func (r *Run) open(ctx context.Context) error {
	if r.discard {
		moved, err := checkpoint.Discard(r.cpPath)
		if err != nil {
			return err
		}
		r.log.Info("checkpoint discarded (--restart)", "moved_to", moved)
	}
	if r.startFresh {
		return r.fresh(ctx)
	}
	// Here rather than in Prepare: the run's logger is set by now, and
	// the operator must see that a node is rescanned.
	rescanned := r.rescanMoved()
	if err := r.checkCursors(ctx); err != nil {
		return err
	}
	if r.retuned {
		r.log.Warn("the job file changed since the checkpoint, but not what it does to keys (its guard levels, limits or description): resuming with the new levels")
	}
	if cp := r.cp; cp.Journal != "" {
		w, _, err := journal.OpenAppend(cp.Journal)
		if err != nil {
			return fmt.Errorf("reopen the run's journal: %w", err)
		}
		if d := w.Dropped(); d > 0 {
			r.log.Warn("journal ended in a partial record (a crash mid-write); dropped it", "bytes", d)
		}
		r.journal = w
		from := map[string]int64{}
		for i := range cp.Nodes {
			n := &cp.Nodes[i]
			if rescanned[n.ID] {
				r.forget(n)
			}
			for _, id := range n.JournalIDs() {
				from[id] = n.JournalEnd
			}
		}
		if err := r.recount(ctx, from); err != nil {
			return err
		}
		if err := r.countJournaled(cp); err != nil {
			return err
		}
	}
	return nil
}

// countJournaled makes max_changes hold across a crash. The checkpoint is
// saved at most once a second, so a crash loses the count of the changes
// made since; the journal loses none (each change is journaled and synced
// before it is sent). Its records bound the changes made from above, and
// max_changes counts them when they are more.
func (r *Run) countJournaled(cp *checkpoint.Checkpoint) error {
	if r.job.Limits.MaxChanges == 0 {
		return nil
	}
	jr, err := journal.Open(cp.Journal)
	if err != nil {
		return fmt.Errorf("reopen the run's journal: %w", err)
	}
	defer jr.Close()
	st, err := jr.Stats()
	if err != nil {
		return fmt.Errorf("read the run's journal: %w", err)
	}
	if st.Records > cp.Changes {
		r.log.Info("max_changes counts the journal's records: the checkpoint was saved before the last changes (a crash?)",
			"checkpoint_changes", cp.Changes, "journal_records", st.Records)
		cp.Changes = st.Records
	}
	return nil
}

// rescanMoved restarts from cursor 0 every node whose server restarted or
// failed over: its SCAN cursor means nothing any more. Safe, because every
// action is an absolute expiry or a delete and every condition is
// re-checked.
func (r *Run) rescanMoved() (rescanned map[string]bool) {
	rescanned = map[string]bool{}
	for i := range r.cp.Nodes {
		n := &r.cp.Nodes[i]
		cur, ok := r.findNode(n.ID)
		switch {
		case !ok:
			// A failover since: the primary that serves the same slots
			// now takes the node's place, so that the walk (nodeFor)
			// does not count the same failover again.
			if cur, ok = r.findSlots(n.Slots); ok {
				r.log.Warn("failover since the checkpoint: another primary serves these slots now; rescanning them from the start",
					"slots", n.Slots, "was", n.Addr, "now", cur.Addr)
				n.ID = cur.ID
			} else {
				r.log.Warn("node no longer serves these slots; rescanning them from the start", "node", n.ID, "addr", n.Addr, "slots", n.Slots)
			}
		case cur.RunID != n.ServerRunID:
			r.log.Warn("server restarted or failed over since the checkpoint (run_id changed): rescanning it from the start",
				"node", n.Addr, "was", n.ServerRunID, "now", cur.RunID)
		default:
			continue
		}
		if ok {
			n.Addr, n.ServerRunID = cur.Addr, cur.RunID
		}
		n.Cursor, n.Done = "0", false
		n.Restarts++
		rescanned[n.ID] = true
	}
	return rescanned
}

// checkCursors refuses a checkpoint whose SCAN cursor no table of its node
// could have returned: a SCAN cursor is below the size of the node's hash
// table, a power of two that grows with its keys (Redis shrinks a table
// only once it is nine-tenths empty; a cluster's per-slot tables add 14
// bits). The bound is generous: it catches an edited or foreign cursor,
// which would otherwise end the walk at once and call the run completed.
func (r *Run) checkCursors(ctx context.Context) error {
	var scanned int64
	for _, v := range r.cp.Counts {
		scanned += v
	}
	for i, n := range r.cp.Nodes {
		cursor, _ := strconv.ParseUint(n.Cursor, 10, 64)
		node, ok := r.findNode(n.ID)
		if cursor == 0 || n.Done || !ok || node.RunID != n.ServerRunID {
			continue
		}
		size, err := node.Client.Do(ctx, node.Client.B().Dbsize().Build()).AsInt64()
		if err != nil {
			return fmt.Errorf("DBSIZE on %s: %w", node.Addr, err)
		}
		bits := bitsFor(max(size, scanned, 1)) + 8
		if r.conn.Cluster {
			bits += 14
		}
		if bits < 64 && cursor >= 1<<bits {
			return &checkpoint.CorruptError{Path: r.cpPath, Reason: fmt.Sprintf(
				"nodes[%d].cursor %d is out of range for node %s: it holds %d keys, and its SCAN cursors stay below %d", i, cursor, node.Addr, size, uint64(1)<<bits)}
		}
	}
	return nil
}

// bitsFor is the bits of the smallest power of two at least n.
func bitsFor(n int64) int {
	b := 0
	for int64(1)<<b < n && b < 62 {
		b++
	}
	return b
}

// findSlots is the primary that serves exactly slots, on a cluster.
func (r *Run) findSlots(slots string) (redisx.Node, bool) {
	for _, n := range r.nodes {
		if slots != "" && n.Slots == slots {
			return n, true
		}
	}
	return redisx.Node{}, false
}

func (r *Run) findNode(id string) (redisx.Node, bool) {
	for _, n := range r.nodes {
		if n.ID == id {
			return n, true
		}
	}
	return redisx.Node{}, false
}

// fresh starts a new run: the server's clock fixes the run's start (fixed
// TTLs and grace count from it, in every resume), the journal is created,
// and the checkpoint is written before the first change.
func (r *Run) fresh(ctx context.Context) error {
	start, err := redisx.ServerTime(ctx, r.conn.Client)
	if err != nil {
		return err
	}
	r.runStart = start.Truncate(time.Millisecond)
	runID := r.newRunID(start)
	cp := checkpoint.New(checkpoint.JobRef{Name: r.job.Name, SHA256: r.job.SHA256, Effect: r.job.EffectSHA256}, r.target(), runID, r.runStart.UnixMilli())
	for _, n := range r.nodes {
		cp.Nodes = append(cp.Nodes, checkpoint.Node{ID: n.ID, Addr: n.Addr, ServerRunID: n.RunID, Slots: n.Slots, Cursor: "0"})
	}
	cp.CreatedAt = time.Now().UTC()
	if r.job.Backup.Mode != jobs.BackupNone {
		path := journal.Path(r.o.StateDir, r.job.Name, runID)
		mode := journal.BackupJournal
		if r.job.Backup.Mode == jobs.BackupDump {
			mode = journal.BackupDump
		}
		w, err := journal.Create(path, journal.Header{
			Version: journal.Version, Job: r.job.Name, SHA256: r.job.SHA256,
			Target: r.conn.Target(), RunID: runID, Backup: mode, Created: time.Now().UTC(),
		})
		if err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		r.journal = w
		cp.Journal = path
	}
	r.cp = cp
	if err := os.MkdirAll(r.o.StateDir, 0o700); err != nil {
		return err
	}
	return r.save(true)
}

// newRunID names a run after its start, to the second. A run started
// again within the same second (--restart right after a run, a canary and
// its rerun) gets a suffix: its journal and report must not meet the
// earlier run's, and journals are never overwritten.
func (r *Run) newRunID(start time.Time) string {
	base := start.UTC().Format("2006-01-02T15-04-05Z")
	id := base
	for i := 2; r.runIDTaken(id); i++ {
		id = base + "-" + strconv.Itoa(i)
	}
	return id
}

func (r *Run) runIDTaken(id string) bool {
	rep := Report{RunID: id, Job: ReportJob{Name: r.job.Name}}
	jp, _ := rep.Paths(r.o.StateDir)
	for _, p := range []string{journal.Path(r.o.StateDir, r.job.Name, id), jp} {
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			return true
		}
	}
	return false
}

// completedError is ErrCheckpointExists for a run that completed: it is
// also ErrAlreadyCompleted, so that the command line offers --restart
// only, not a --resume that would be refused.
type completedError struct{ error }

func (e completedError) Unwrap() error        { return e.error }
func (e completedError) Is(target error) bool { return target == ErrAlreadyCompleted }
