package apply

import (
	"cmp"
	"context"
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/checkpoint"
	"github.com/keyjob/keyjob/internal/journal"
	"github.com/keyjob/keyjob/jobs"
)

// The journal is the truth of what a run changed; the checkpoint counts
// only what was committed. Two cases part them:
//
//   - A run killed between a batch's send and its commit made changes its
//     checkpoint does not count, and the resumed walk scans those keys
//     again: under EXPIRE NX it would find them with a TTL and count them
//     as "ttl", though this run gave them that TTL.
//   - A node rescanned from the start (its server restarted) would count
//     its keys a second time, the ones changed before the restart as
//     "ttl" (or not at all: a deleted key is not scanned again).
//
// So the batches each node journaled after its last commit (Node.JournalEnd;
// from the start for a node rescanned, whose earlier counts are taken
// back) are read back: a key whose state now is the one its record says
// keyjob set counts as changed and is left out of the walk's counts. A
// key whose change was journaled but never sent is not in that state and
// is decided afresh. The keys counted are kept per node as sorted 64-bit
// hashes (8 bytes a key, only for the batches read back).

// readBack is what the journal says a node changed.
type readBack struct {
	hashes []uint64 // sorted
	grace  map[uint64]bool
	// removed is, for a members job, the members (or stream entries) the
	// records read back removed.
	removed int64
	// fields and fieldsGrace count, for a fields job, the fields in the
	// state keyjob set (each once) and those of them given the grace TTL.
	fields, fieldsGrace int64
}

// graceOf counts the keys of hs that got the grace TTL.
func (rb readBack) graceOf(hs []uint64) int64 {
	var n int64
	for _, h := range hs {
		if rb.grace[h] {
			n++
		}
	}
	return n
}

// recount reads back, from the journal, the changes of the nodes in from
// (node ID -> the journal position after which its batches are not
// counted) and counts them.
func (r *Run) recount(ctx context.Context, from map[string]int64) error {
	if r.cp.Journal == "" || len(from) == 0 {
		return nil
	}
	jr, err := journal.Open(r.cp.Journal)
	if err != nil {
		return fmt.Errorf("reopen the run's journal: %w", err)
	}
	defer jr.Close()
	if !jr.Integrity().Whole() {
		jr.AllowDamaged() // a torn tail: its changes were never sent
	}
	low := int64(-1)
	for _, end := range from {
		if low < 0 || end < low {
			low = end
		}
	}
	recs := map[string][]journal.Record{}
	ends := map[string]int64{}
	err = jr.Forward(low, func(b journal.Batch) error {
		if end, ok := from[b.Node]; ok && b.End > end {
			ends[b.Node] = max(ends[b.Node], b.End)
			for _, rec := range b.Records {
				if rec.Action != journal.ActionUnchanged {
					recs[b.Node] = append(recs[b.Node], rec)
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for id, rs := range recs {
		rb, err := r.readBack(ctx, rs)
		if err != nil {
			return err
		}
		r.mu.Lock()
		for i := range r.cp.Nodes {
			if n := &r.cp.Nodes[i]; slices.Contains(n.JournalIDs(), id) {
				if n.Counts == nil {
					n.Counts = map[string]int64{}
				}
				// A key the walk counted from an earlier read-back is
				// not counted again (Ahead keeps it until the walk
				// passes it).
				fresh := rb.hashes[:0:0]
				for _, h := range rb.hashes {
					if _, found := slices.BinarySearch(n.Ahead, h); !found {
						fresh = append(fresh, h)
					}
				}
				changed, grace := int64(len(fresh)), rb.graceOf(fresh)
				n.Counts[string(jobs.Change)] += changed
				n.Counts[changeGrace] += grace
				r.cp.Counts[string(jobs.Change)] += changed
				r.cp.Counts[changeGrace] += grace
				if rb.removed > 0 {
					n.Counts[trimMembers] += rb.removed
					r.cp.Counts[trimMembers] += rb.removed
				}
				if rb.fields > 0 {
					// Fields are counted whether or not their hash was:
					// a hash counted before, walked again, may have had
					// more of its fields changed since.
					n.Counts[fieldsChanged] += rb.fields
					n.Counts[fieldsGrace] += rb.fieldsGrace
					r.cp.Counts[fieldsChanged] += rb.fields
					r.cp.Counts[fieldsGrace] += rb.fieldsGrace
				}
				n.Ahead = append(n.Ahead, fresh...)
				slices.Sort(n.Ahead)
				// What was read back is counted: a later resume reads on
				// from here, with Ahead saved beside it.
				n.JournalEnd = max(n.JournalEnd, ends[id])
			}
		}
		r.cp.Changes = max(r.cp.Changes, r.cp.Counts[string(jobs.Change)])
		r.mu.Unlock()
		r.log.Info("counted, from the journal, the changes the checkpoint had not counted (a kill, or a node rescanned)", "node", id, "changes", len(rb.hashes), "fields", rb.fields)
	}
	return nil
}

// forget takes back a node's counts before it is rescanned from the
// start, and returns the recount it needs. Called with r.mu held.
func (r *Run) forget(n *checkpoint.Node) map[string]int64 {
	for k, v := range n.Counts {
		r.cp.Counts[k] -= v
	}
	n.Counts, n.JournalEnd, n.Ahead = nil, 0, nil
	from := map[string]int64{}
	for _, id := range n.JournalIDs() {
		from[id] = 0
	}
	return from
}

// readBack reads the keys of recs and counts those in the state keyjob
// set, each once (SCAN may return a key twice, and a node walked on after
// a restart journals its keys again).
func (r *Run) readBack(ctx context.Context, recs []journal.Record) (readBack, error) {
	if r.job.Fields != nil {
		return r.readBackFields(ctx, recs)
	}
	type found struct {
		h     uint64
		grace bool
	}
	var keys []found
	c := r.conn.Client
	var trims []journal.Record
	recs = slices.DeleteFunc(slices.Clone(recs), func(rec journal.Record) bool {
		trim := rec.Action == journal.ActionTrim || rec.Action == journal.ActionStreamTrim
		if trim {
			trims = append(trims, rec)
		}
		return trim
	})
	done, removed, err := r.trimReadBack(ctx, trims)
	if err != nil {
		return readBack{}, err
	}
	for _, h := range done {
		keys = append(keys, found{h: h})
	}
	for len(recs) > 0 {
		chunk := recs[:min(len(recs), 1000)]
		recs = recs[len(chunk):]
		cmds := make(rueidis.Commands, len(chunk))
		for i, rec := range chunk {
			if rec.Action == journal.ActionDelete {
				cmds[i] = c.B().Exists().Key(rec.Key).Build()
			} else {
				cmds[i] = c.B().Pexpiretime().Key(rec.Key).Build()
			}
		}
		for i, res := range c.DoMulti(ctx, cmds...) {
			n, err := res.AsInt64()
			if err != nil {
				return readBack{}, fmt.Errorf("read back the run's changes: %w", err)
			}
			rec := chunk[i]
			var done bool
			switch rec.Action {
			case journal.ActionDelete:
				done = n == 0
			case journal.ActionPersist:
				done = n == -1
			default:
				done = n == rec.NewExpireMs
			}
			if done {
				keys = append(keys, found{keyHash(rec.Key), rec.Action == journal.ActionExpire && r.graceFor(rec.Key)})
			}
		}
	}
	slices.SortFunc(keys, func(a, b found) int { return cmp.Compare(a.h, b.h) })
	keys = slices.CompactFunc(keys, func(a, b found) bool { return a.h == b.h })
	rb := readBack{hashes: make([]uint64, len(keys)), grace: map[uint64]bool{}, removed: removed}
	for i, k := range keys {
		rb.hashes[i] = k.h
		if k.grace {
			rb.grace[k.h] = true
		}
	}
	return rb, nil
}

// graceFor says whether the job gives key the grace TTL (its own expiry
// already past) rather than the one computed from it.
func (r *Run) graceFor(key string) bool {
	d := r.job.DecideMatch(jobs.Key{Name: key}, jobs.Clock{Now: r.serverNow(), RunStart: r.runStart}, r.job.Match(key))
	return d.Grace
}

// uncounted is keys without those a read-back counted already, and
// those (Ahead: counted).
func (r *Run) uncounted(node string, keys []string) (fresh, counted []string) {
	r.mu.Lock()
	var ahead []uint64
	for i := range r.cp.Nodes {
		if r.cp.Nodes[i].ID == node {
			ahead = r.cp.Nodes[i].Ahead
		}
	}
	r.mu.Unlock()
	if len(ahead) == 0 {
		return keys, nil
	}
	fresh = keys[:0:0]
	for _, k := range keys {
		if _, found := slices.BinarySearch(ahead, keyHash(k)); found {
			counted = append(counted, k)
		} else {
			fresh = append(fresh, k)
		}
	}
	return fresh, counted
}

// passed drops from a node's Ahead the keys of a batch the walk has
// committed: it has come to them, and did not count them. Called with
// r.mu held.
func passed(st *checkpoint.Node, keys []string) {
	if len(st.Ahead) == 0 {
		return
	}
	seen := map[uint64]bool{}
	for _, k := range keys {
		seen[keyHash(k)] = true
	}
	st.Ahead = slices.DeleteFunc(slices.Clone(st.Ahead), func(h uint64) bool { return seen[h] })
	if len(st.Ahead) == 0 {
		st.Ahead = nil
	}
}

// ahead adds to a node's Ahead keys changed beyond its cursor (a batch
// applied in part). Called with r.mu held.
func ahead(st *checkpoint.Node, keys []string) {
	if len(keys) == 0 {
		return
	}
	next := slices.Clone(st.Ahead)
	for _, k := range keys {
		next = append(next, keyHash(k))
	}
	slices.Sort(next)
	st.Ahead = slices.Compact(next)
}

func keyHash(k string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(k))
	return h.Sum64()
}
