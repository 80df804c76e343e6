package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
	"golang.org/x/sync/errgroup"

	"github.com/keyjob/keyjob/internal/checkpoint"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/internal/scan"
)

// DefaultMaxDown is how long a primary may not answer before the run
// aborts (with its checkpoint); until then its walk waits and retries.
const DefaultMaxDown = 60 * time.Second

// DefaultShardsAtOnce is how many primaries a run walks at once: with a
// rate limit (the total over all shards) they change nothing but the
// order the shards are done in.
const DefaultShardsAtOnce = scan.DefaultShardsAtOnce

// walk scans every primary that is not done, up to ShardsAtOnce of them
// at once (each shard of a cluster is single-threaded; walking them one
// after another would leave all but one idle). The first error stops the others after their batch
// in flight. When the cluster's topology changed during the walk, the
// shards involved get a second pass: SCAN can miss keys of slots that
// moved while it ran.
func (r *Run) walk(ctx context.Context) error {
	for {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(r.shardsAtOnce())
		for i := range r.cp.Nodes {
			n := &r.cp.Nodes[i]
			if r.nodeDone(n) {
				continue
			}
			g.Go(func() error { return r.walkNode(gctx, n) })
		}
		if err := g.Wait(); err != nil {
			return err
		}
		again, err := r.topologyChanged(ctx)
		if err != nil || !again {
			return err
		}
	}
}

func (r *Run) nodeDone(n *checkpoint.Node) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return n.Done
}

// walkNode scans one primary from its checkpointed cursor to the end. A
// primary that stops answering (a restart, a failover) is waited for up to
// MaxDown, then its walk goes on from the last committed batch, or from
// the start when the process serving its slots changed.
func (r *Run) walkNode(ctx context.Context, n *checkpoint.Node) error {
	var downSince time.Time
	for {
		node, err := r.nodeFor(ctx, n)
		if err == nil {
			if err = r.scanNode(ctx, node, n); err == nil {
				var restarted bool
				if restarted, err = r.restartedDuringWalk(ctx, node, n); err == nil && !restarted {
					r.mu.Lock()
					n.Done = true
					r.mu.Unlock()
					return r.save(true)
				}
			}
		}
		if err == nil {
			continue // restarted: rescan from 0
		}
		if !transient(err) || ctx.Err() != nil {
			return err
		}
		r.mu.Lock()
		r.stale = true
		r.mu.Unlock()
		if downSince.IsZero() {
			downSince = time.Now()
			r.log.Warn("a primary does not answer: its walk waits", "node", n.Addr, "slots", n.Slots, "err", err.Error())
		}
		if down := time.Since(downSince); down > r.maxDown() {
			return &AbortError{Guard: "node", Reason: fmt.Sprintf("%s (slots %s) has not answered for %s: %v", n.Addr, n.Slots, down.Round(time.Second), err)}
		}
		select {
		case <-ctx.Done():
			return errInterrupted
		case <-time.After(time.Second):
		}
	}
}

func (r *Run) shardsAtOnce() int { return scan.ShardsAtOnce(r.o.ShardsAtOnce) }

// walkedAtOnce is how many shards are walked at once: --shards-at-once,
// or fewer when the run has fewer primaries.
func (r *Run) walkedAtOnce() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return min(r.shardsAtOnce(), len(r.cp.Nodes))
}

func (r *Run) maxDown() time.Duration {
	if r.o.MaxDown > 0 {
		return r.o.MaxDown
	}
	return DefaultMaxDown
}

func (r *Run) scanNode(ctx context.Context, node redisx.Node, n *checkpoint.Node) error {
	r.mu.Lock()
	cursor, _ := strconv.ParseUint(n.Cursor, 10, 64)
	r.mu.Unlock()
	opts := scan.Options{Match: r.job.Select.Match, Type: r.job.Select.Type, Count: r.scanCount, Limiter: r.scanLim}
	// SCAN on a connection of its own, so it does not queue behind the
	// batch's lookups and writes (and COUNT adapts to SCAN's own cost).
	sc, err := r.conn.DialNode(node.Addr)
	if err != nil {
		return err
	}
	defer sc.Close()
	// The guards read the nodes being walked first (guard.Gate.Walking).
	if w, ok := r.x.Gate.(interface{ Walking(addr string, on bool) }); ok {
		w.Walking(node.Addr, true)
		defer w.Walking(node.Addr, false)
	}
	return r.walkBatches(ctx, sc, cursor, opts, node, n)
}

// transient says whether an error is the node being away (a connection
// refused or reset, a timeout, a server loading or a cluster failing
// over), worth waiting for, rather than a reply that will not change.
func transient(err error) bool {
	var abort *AbortError
	switch {
	case errors.As(err, &abort), errors.Is(err, errLimit), errors.Is(err, errInterrupted), errors.Is(err, context.Canceled):
		return false
	}
	// An error reply (NOPERM, WRONGTYPE, OOM, READONLY, MISCONF…) will
	// not change by waiting, except a server loading or a cluster failing
	// over. Writes wrap the reply, so unwrap it. MOVED or ASK from a
	// node's own client (a read of the walk) means the node no longer
	// serves the slots: after a planned failover it is a replica now, and
	// nodeFor finds the primary that serves them.
	var re *rueidis.RedisError
	if errors.As(err, &re) {
		_, moved := re.IsMoved()
		_, ask := re.IsAsk()
		return re.IsLoading() || re.IsClusterDown() || re.IsTryAgain() || moved || ask
	}
	var perm interface{ Permanent() bool }
	if errors.As(err, &perm) && perm.Permanent() {
		return false
	}
	return true
}

// nodeFor is the client of the primary a checkpoint node stands for: the
// same node when it is still there; after a failover the primary that now
// serves its slots, which is then rescanned from the start (its cursor
// meant something only to the old process).
func (r *Run) nodeFor(ctx context.Context, n *checkpoint.Node) (redisx.Node, error) {
	node, from, err := r.locate(ctx, n)
	if err != nil || from == nil {
		return node, err
	}
	// The rescan counts the slots' keys afresh: the entry's counts were
	// taken back, and what was changed before the failover (journaled
	// under the old primary's ID) is read back from the journal.
	if err := r.recount(ctx, from); err != nil {
		return redisx.Node{}, err
	}
	return node, r.save(true)
}

// locate is nodeFor's search; after a failover it returns the journal
// positions to recount from.
func (r *Run) locate(ctx context.Context, n *checkpoint.Node) (redisx.Node, map[string]int64, error) {
	r.mu.Lock()
	id, slots, stale := n.ID, n.Slots, r.stale
	if !stale {
		for _, node := range r.nodes {
			if node.ID == id {
				r.mu.Unlock()
				return node, nil, nil
			}
		}
	}
	r.mu.Unlock()
	nodes, err := r.conn.Primaries(ctx)
	if err != nil {
		return redisx.Node{}, nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nodes, r.stale = nodes, false
	for _, node := range nodes {
		if node.ID == id {
			return node, nil, nil
		}
	}
	for _, node := range nodes {
		if node.Slots == slots && slots != "" {
			r.log.Warn("failover: another primary serves these slots now; rescanning them from the start",
				"slots", slots, "was", n.Addr, "now", node.Addr)
			from := r.forget(n)
			if !slices.Contains(n.Former, n.ID) {
				n.Former = append(n.Former, n.ID)
			}
			n.ID, n.Addr, n.ServerRunID, n.Cursor = node.ID, node.Addr, node.RunID, "0"
			n.Restarts++
			return node, from, nil
		}
	}
	return redisx.Node{}, nil, fmt.Errorf("no primary serves slots %s yet", slots)
}

// restartedDuringWalk reports whether the node's server restarted (or
// failed over) while the walk went on: the client reconnects at once, and
// the walk carried on with a cursor that means nothing to the new process,
// so it may have missed keys. The node is then rescanned from 0, which is
// safe for the same reason a resume after a restart is. A planned failover
// (CLUSTER FAILOVER) keeps the process and its run_id but makes it a
// replica, which answers SCAN with its own table: the walk then goes on
// from the primary that serves the slots now, from 0 (nodeFor).
func (r *Run) restartedDuringWalk(ctx context.Context, node redisx.Node, n *checkpoint.Node) (bool, error) {
	info, err := redisx.Info(ctx, node.Client, "server", "replication")
	if err != nil {
		return false, err
	}
	id := info["run_id"]
	r.mu.Lock()
	if r.conn.Cluster && info["role"] != "master" {
		r.stale, n.Done = true, false
		r.mu.Unlock()
		r.log.Warn("the node became a replica during the run (a failover): finding the primary that serves its slots now",
			"node", n.Addr, "slots", n.Slots)
		return true, nil
	}
	if id == n.ServerRunID {
		r.mu.Unlock()
		return false, nil
	}
	r.log.Warn("server restarted or failed over during the run (run_id changed): rescanning it from the start",
		"node", n.Addr, "was", n.ServerRunID, "now", id)
	n.ServerRunID, n.Cursor, n.Done = id, "0", false
	n.Restarts++
	from := r.forget(n)
	r.mu.Unlock()
	// The rescan counts the node's keys afresh: its earlier counts are
	// taken back, and what it changed before the restart is read back
	// from the journal.
	if err := r.recount(ctx, from); err != nil {
		return false, err
	}
	return true, r.save(true)
}

// topologyChanged compares the primaries and their slots after a walk
// with those the walk began with. When they differ, slots moved while SCAN
// ran and keys may have been missed on both sides: every primary whose
// slots changed (and every new one) gets a second pass, once. Slots that
// another node serves now (a failover after their walk ended; a crash may
// have lost its last writes before they reached the replica) are that
// shard's restart; nodes that serve nothing any more leave the list.
func (r *Run) topologyChanged(ctx context.Context) (bool, error) {
	if !r.conn.Cluster {
		return false, nil
	}
	nodes, err := r.conn.Primaries(ctx)
	if err != nil {
		return false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	known := map[string]string{}
	for _, n := range r.cp.Nodes {
		known[n.ID] = n.Slots
	}
	current := map[string]bool{}
	for _, node := range nodes {
		current[node.ID] = true
	}
	var moved []checkpoint.Node
	var slots []string
	for _, node := range nodes {
		if s, ok := known[node.ID]; !ok || s != node.Slots {
			m := checkpoint.Node{ID: node.ID, Addr: node.Addr, ServerRunID: node.RunID, Slots: node.Slots, Cursor: "0"}
			for _, old := range r.cp.Nodes {
				if !current[old.ID] && old.Slots == node.Slots {
					m.Restarts = old.Restarts + 1
					r.log.Warn("failover: another primary serves these slots now; rescanning them from the start",
						"slots", node.Slots, "was", old.Addr, "now", node.Addr)
				}
			}
			moved = append(moved, m)
			slots = append(slots, node.Slots)
		}
	}
	if len(moved) == 0 {
		return false, nil
	}
	if r.cp.Passes >= 2 {
		r.log.Warn("the topology changed again during the second pass; not starting a third", "primaries", len(nodes))
		return false, nil
	}
	r.cp.Passes++
	r.log.Warn("the cluster's topology changed during the run: a second pass over the shards involved", "shards", len(moved), "slots", strings.Join(slots, " "))
	keep := r.cp.Nodes[:0]
	for _, n := range r.cp.Nodes {
		if current[n.ID] && !containsID(moved, n.ID) {
			keep = append(keep, n)
		}
	}
	r.cp.Nodes = append(keep, moved...)
	r.nodes = nodes
	return true, nil
}

func containsID(nodes []checkpoint.Node, id string) bool {
	for _, n := range nodes {
		if n.ID == id {
			return true
		}
	}
	return false
}

// localError is a failure of keyjob's own files (the checkpoint, the
// journal): waiting for a node does not cure it, so the run stops at once
// rather than wait for a node that is not the cause.
type localError struct{ err error }

func local(what string, err error) error { return localError{fmt.Errorf("%s: %w", what, err)} }

func (e localError) Error() string   { return e.err.Error() }
func (e localError) Unwrap() error   { return e.err }
func (e localError) Permanent() bool { return true }
