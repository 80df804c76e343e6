package apply

import (
	"context"
	"fmt"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/journal"
)

// trimReadBack reads back the trim records a killed run journaled after
// its last commit (a members job): the members (or stream entries) they
// name that are gone now were removed by that run and count in
// members_removed; a key with nothing selected left is done, and counts as
// changed (the resumed walk, finding it trimmed, would count it
// no_members). A key with selected members left is not counted: the walk
// trims it and counts it then. Members journaled but never removed (the
// kill came before the call) are still there: the walk removes them.
func (r *Run) trimReadBack(ctx context.Context, recs []journal.Record) (done []uint64, removed int64, err error) {
	if len(recs) == 0 {
		return nil, 0, nil
	}
	c := r.conn.Client
	m := r.job.Members
	rg, srg := m.Range(r.runStart), m.StreamRange(r.runStart)
	var cmds rueidis.Commands
	var members []int // per command: the members it asks about (a stream: one ID a command)
	keys := map[string]bool{}
	// A chunk journaled by an invocation killed before its removal is
	// journaled again by the next: each member counts once.
	seen := map[string]bool{}
	fresh := func(key, m string) bool {
		k := key + "\x00" + m
		if seen[k] {
			return false
		}
		seen[k] = true
		return true
	}
	for _, rec := range recs {
		keys[rec.Key] = true
		switch {
		case rec.Action == journal.ActionTrim:
			var ms []string
			for _, mb := range rec.Members {
				if fresh(rec.Key, mb.Member) {
					ms = append(ms, mb.Member)
				}
			}
			if len(ms) > 0 {
				cmds = append(cmds, c.B().Zmscore().Key(rec.Key).Member(ms...).Build())
				members = append(members, len(ms))
			}
		case rec.Stream != nil:
			for _, id := range rec.Stream.IDs {
				if fresh(rec.Key, id) {
					cmds = append(cmds, c.B().Xrange().Key(rec.Key).Start(id).End(id).Build())
					members = append(members, -1)
				}
			}
		}
	}
	// Is anything selected left in each key?
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
		if m.Stream {
			cmds = append(cmds, c.B().Xrange().Key(k).Start("-").End(srg.Last).Count(1).Build())
		} else {
			cmds = append(cmds, c.B().Zcount().Key(k).Min(rg.Floor).Max(rg.Cutoff).Build())
		}
	}
	res := c.DoMulti(ctx, cmds...)
	for i, n := range members {
		if n < 0 { // one stream entry: gone when XRANGE id id is empty
			xs, err := res[i].AsXRange()
			if err != nil && !isWrongType(err) {
				return nil, 0, fmt.Errorf("read back the run's trims: %w", err)
			}
			if err == nil && len(xs) == 0 {
				removed++
			}
			continue
		}
		scores, err := res[i].ToArray()
		if err != nil && !isWrongType(err) && !rueidis.IsRedisNil(err) {
			return nil, 0, fmt.Errorf("read back the run's trims: %w", err)
		}
		gone := int64(n - len(scores)) // a key gone: ZMSCORE answers nils, or nothing
		for _, s := range scores {
			if s.IsNil() {
				gone++
			}
		}
		removed += gone
	}
	for j, k := range names {
		res := res[len(members)+j]
		var left bool
		if m.Stream {
			xs, err := res.AsXRange()
			if err != nil && !isWrongType(err) {
				return nil, 0, fmt.Errorf("read back the run's trims: %w", err)
			}
			left = len(xs) > 0
		} else {
			n, err := res.AsInt64()
			if err != nil && !isWrongType(err) {
				return nil, 0, fmt.Errorf("read back the run's trims: %w", err)
			}
			left = n > 0
		}
		if !left {
			done = append(done, keyHash(k))
		}
	}
	return done, removed, nil
}

func isWrongType(err error) bool {
	re, ok := rueidis.IsRedisErr(err)
	return ok && len(re.Error()) >= 9 && re.Error()[:9] == "WRONGTYPE"
}
