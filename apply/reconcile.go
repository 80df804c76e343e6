package apply

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/checkpoint"
	"github.com/keyjob/keyjob/internal/journal"
	"github.com/keyjob/keyjob/jobs"
)

// A run killed between a batch's send and its commit made changes its
// checkpoint does not count, and the resumed walk scans those keys again:
// under EXPIRE NX it would find them with a TTL and count them as "ttl",
// though this run gave them that TTL. The journal knows better. On resume
// the batches each node journaled after its last commit (Node.JournalEnd)
// are read back; a key whose state now is the one its record says keyjob
// set counts as changed (by the killed invocation) and is left out of the
// rescan's counts. A key whose change was journaled but never sent is not
// in that state and is decided afresh. The keys counted are kept as
// sorted 64-bit hashes: a second's batches at most, a few MiB.

// reconcile counts the changes of the batches the checkpoint did not
// commit, from the journal.
func (r *Run) reconcile(ctx context.Context, cp *checkpoint.Checkpoint) error {
	jr, err := journal.Open(cp.Journal)
	if err != nil {
		return fmt.Errorf("reopen the run's journal: %w", err)
	}
	defer jr.Close()
	ends := map[string]int64{}
	from := int64(-1)
	for _, n := range cp.Nodes {
		ends[n.ID] = n.JournalEnd
		if from < 0 || n.JournalEnd < from {
			from = n.JournalEnd
		}
	}
	var recs []journal.Record
	err = jr.Forward(max(from, 0), func(b journal.Batch) error {
		if end, ok := ends[b.Node]; !ok || b.End <= end {
			return nil // committed, or a node this run no longer walks
		}
		for _, rec := range b.Records {
			if rec.Action != journal.ActionUnchanged {
				recs = append(recs, rec)
			}
		}
		return nil
	})
	if err != nil || len(recs) == 0 {
		return err
	}
	c := r.conn.Client
	var changed, grace int64
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
				return fmt.Errorf("read back the killed run's changes: %w", err)
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
			if !done {
				continue
			}
			changed++
			r.counted = append(r.counted, keyHash(rec.Key))
			if rec.Action == journal.ActionExpire && r.graceFor(rec.Key) {
				grace++
			}
		}
	}
	slices.Sort(r.counted)
	r.counted = slices.Compact(r.counted)
	cp.Counts[string(jobs.Change)] += changed
	cp.Counts[changeGrace] += grace
	cp.Changes = max(cp.Changes, cp.Counts[string(jobs.Change)])
	r.log.Info("counted the changes a killed invocation made after its last checkpoint, from the journal", "changes", changed)
	return nil
}

// graceFor says whether the job gives key the grace TTL (its own expiry
// already past) rather than the one computed from it.
func (r *Run) graceFor(key string) bool {
	d := r.job.DecideMatch(jobs.Key{Name: key}, jobs.Clock{Now: r.serverNow(), RunStart: r.runStart}, r.job.Match(key))
	return d.Grace
}

// uncounted is keys without those reconcile counted already.
func (r *Run) uncounted(keys []string) []string {
	if len(r.counted) == 0 {
		return keys
	}
	out := keys[:0:0]
	for _, k := range keys {
		if _, found := slices.BinarySearch(r.counted, keyHash(k)); !found {
			out = append(out, k)
		}
	}
	return out
}

func keyHash(k string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(k))
	return h.Sum64()
}
