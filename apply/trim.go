package apply

import (
	"context"
	"fmt"
	"strings"

	"github.com/redis/rueidis"

	"github.com/keyjob/keyjob/internal/batch"
	"github.com/keyjob/keyjob/internal/journal"
	"github.com/keyjob/keyjob/internal/redisx"
	"github.com/keyjob/keyjob/internal/scan"
	"github.com/keyjob/keyjob/jobs"
)

// A job with members: removes the members of each selected sorted set
// whose score is a time before the cutoff (fixed at the run's start), in
// chunks, so a big key is never a big command:
//
//  1. read the next chunk: the lowest members in [floor, cutoff), at most
//     batch.MembersChunk of them, with their scores (ZRANGE BYSCORE
//     LIMIT, O(log N + chunk), in a read-only script so the scores come
//     back as the server's own text);
//  2. journal them (member and score) and make the record durable;
//  3. wait for the rate: limits.rate counts members removed;
//  4. remove exactly those members, each only while it still has the score
//     journaled (one ZMSCORE, then one ZREM of the chunk, in a script:
//     O(chunk × log N)).
//
// until a read finds none. A member added or rescored since the read is
// left alone; a resumed run, with the same cutoff, finds what is left.

// trimMembers is the counts key of the members removed: it is not an
// outcome of a key, and is kept out of the sums of keys.
const trimMembers = "members_removed"

// trimRead returns the chunk: member, score, member, score, ... or -2 when
// the key is no sorted set any more (gone, or another type).
const trimRead = `#!lua flags=no-writes,allow-oom
local t = redis.call('TYPE', KEYS[1])['ok']
if t ~= 'zset' then return -2 end
return redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[3]), 'WITHSCORES')
`

// trimRemove removes the members given (member, score, ...) that still
// have the score given, in one ZREM, and returns how many it removed, or
// -2 when the key is no sorted set any more. allow-oom: it only frees.
const trimRemove = `#!lua flags=allow-oom
local k = KEYS[1]
if redis.call('TYPE', k)['ok'] ~= 'zset' then return -2 end
local ms, rm = {}, {}
for i = 1, #ARGV, 2 do ms[#ms + 1] = ARGV[i] end
local sc = redis.call('ZMSCORE', k, unpack(ms))
for j = 1, #ms do
  local s, want = sc[j], ARGV[2 * j]
  if s and (s == want or tonumber(s) == tonumber(want)) then rm[#rm + 1] = ms[j] end
end
if #rm == 0 then return 0 end
return redis.call('ZREM', k, unpack(rm))
`

var (
	trimReadScript   = newScript(trimRead)
	trimRemoveScript = newScript(trimRemove)
)

// loadTrim loads the trim scripts on every node for a members job.
func (r *Run) loadTrim(ctx context.Context) error {
	if r.job.Members == nil {
		return nil
	}
	scripts := []*luaScript{trimReadScript, trimRemoveScript}
	if r.job.Members.Stream {
		scripts = []*luaScript{streamReadScript}
		if r.job.Backup.Mode == jobs.BackupDump {
			scripts = append(scripts, streamSnapshotScript)
		}
	}
	for _, s := range scripts {
		if err := s.load(ctx, r.nodes); err != nil {
			return err
		}
	}
	return nil
}

// trimBatch trims the keys of a batch, one after the other, each to its
// end. It counts a key changed when it removed at least one member, the
// members in trimMembers, and returns the keys it changed (a batch cut
// short by --limit puts them in the checkpoint's Ahead, so a resumed run
// does not count them again) and the end of the last journal frame.
func (r *Run) trimBatch(ctx context.Context, node redisx.Node, todo []pending, counts map[string]int64) (changed []string, durable int64, err error) {
	m := r.job.Members
	rg, srg := m.Range(r.runStart), m.StreamRange(r.runStart)
	if m.Stream {
		if todo, err = r.sizeStreams(ctx, node, todo, counts); err != nil {
			return nil, 0, err
		}
	}
	for _, p := range todo {
		var kt keyTrim
		if m.Stream {
			kt, err = r.trimStream(ctx, node, p, srg)
		} else {
			kt.removed, kt.gone, kt.durable, err = r.trimKey(ctx, node, p, rg)
		}
		durable = max(durable, kt.durable)
		if err != nil {
			return changed, durable, err
		}
		switch {
		case kt.removed > 0:
			counts[string(jobs.Change)]++
			counts[trimMembers] += kt.removed
			changed = append(changed, p.key)
		case kt.gone:
			counts[string(jobs.Gone)]++
		case kt.tooBig:
			counts[string(jobs.SkipTooBig)]++
		default:
			counts[string(jobs.ChangedSinceScan)]++ // its members went, or were rescored, since the plan's count
		}
	}
	return changed, durable, nil
}

// trimKey removes one key's selected members, a chunk at a time.
func (r *Run) trimKey(ctx context.Context, node redisx.Node, p pending, rg jobs.ScoreRange) (removed int64, gone bool, durable int64, err error) {
	c := r.conn.Client // routes by slot in a cluster
	chunk := fmt.Sprint(batch.MembersChunk)
	prev := p.prev
	if prev < 0 {
		prev = journal.NoExpire
	}
	zeroes := 0
	for first := true; ; first = false {
		if !first {
			// A big key takes many chunks: the pause and the guards are
			// waited for between them as between batches.
			if err := r.gates(ctx); err != nil {
				return removed, false, durable, err
			}
		}
		if ctx.Err() != nil {
			return removed, false, durable, errInterrupted
		}
		rctx, cancel := context.WithTimeout(ctx, scan.CallTimeout)
		res := trimReadScript.run(rctx, c, p.key, rg.Floor, rg.Cutoff, chunk)
		cancel()
		if n, err := res.AsInt64(); err == nil && n == -2 {
			return removed, removed == 0, durable, nil
		}
		flat, err := res.AsStrSlice()
		if err != nil {
			return removed, false, durable, fmt.Errorf("read the members of %q: %w", p.key, err)
		}
		if len(flat) == 0 {
			return removed, false, durable, nil
		}
		ms := make([]journal.Member, len(flat)/2)
		for i := range ms {
			ms[i] = journal.Member{Member: flat[2*i], Score: flat[2*i+1]}
		}
		if r.journal != nil {
			pos, err := r.journal.AppendBatch(node.ID, journal.Record{Key: p.key, Type: "zset", PrevExpireMs: prev, Action: journal.ActionTrim, Members: ms})
			if err == nil {
				err = r.journal.SyncTo(pos)
			}
			if err != nil {
				return removed, false, durable, local("journal", err)
			}
			durable = pos
		}
		if err := scan.Wait(ctx, r.limiter, len(ms)); err != nil {
			// Journaled, never sent: undo puts back members still there.
			return removed, false, durable, errInterrupted
		}
		if testHookBeforeSend != nil {
			testHookBeforeSend([]string{p.key})
		}
		wctx, cancel := context.WithTimeout(context.Background(), sendTimeout) // a chunk sent is finished
		n, err := trimRemoveScript.run(wctx, c, p.key, flat...).AsInt64()
		cancel()
		if err != nil {
			return removed, false, durable, fmt.Errorf("remove %d members of %q: %w", len(ms), p.key, err)
		}
		if n == -2 {
			return removed, removed == 0, durable, nil
		}
		removed += n
		if r.x.Gate != nil {
			r.x.Gate.Sent(int64(len(p.key)+24) + int64(len(strings.Join(flat, ""))))
		}
		if n == 0 {
			// Every member of the chunk was rescored or removed by someone
			// else since the read: read again, but not for ever.
			if zeroes++; zeroes == 2 {
				return removed, false, durable, nil
			}
		} else {
			zeroes = 0
		}
	}
}

// run sends the script as EVALSHA, and as EVAL on a node that lost it.
func (s *luaScript) run(ctx context.Context, c rueidis.Client, key string, args ...string) rueidis.RedisResult {
	res := c.Do(ctx, s.cmd(c, key, args...))
	if err := res.Error(); err != nil && isNoScript(err) {
		return s.eval(ctx, c, key, args...)
	}
	return res
}
