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

// A job with members: on streams removes the entries of each selected
// stream whose ID is below the cutoff ID (fixed at the run's start), in
// chunks:
//
//  1. read the IDs of the next chunk: the oldest entries up to the
//     millisecond before the cutoff, at most batch.MembersChunk of them
//     (XRANGE - <cutoff-1> COUNT, in a read-only script that returns only
//     the IDs: O(log N + chunk));
//  2. with backup: dump, the first chunk of the key in this invocation
//     first takes the stream's DUMP and its XINFO STREAM figures
//     (last-generated-id, entries-added, length) in one script;
//  3. journal the IDs (and the dump) and make the record durable;
//  4. wait for the rate: limits.rate counts entries removed;
//  5. XDEL exactly those IDs (O(chunk × log N)).
//
// until a read finds none. The first entry at or after the cutoff is
// never read nor removed; an entry appended during the run is newer. XTRIM
// MINID is not used: without LIMIT it is one unbounded call, with LIMIT it
// trims whole radix-tree nodes only (approximately). A resumed run, with
// the same cutoff, finds what is left.

// streamRead returns the IDs of the chunk, or -2 when the key is no stream
// any more (gone, or another type). ARGV: last ID (inclusive), count.
const streamRead = `#!lua flags=no-writes,allow-oom
local k = KEYS[1]
if redis.call('TYPE', k)['ok'] ~= 'stream' then return -2 end
local xs = redis.call('XRANGE', k, '-', ARGV[1], 'COUNT', tonumber(ARGV[2]))
local ids = {}
for i = 1, #xs do ids[i] = xs[i][1] end
return ids
`

// streamSnapshot returns the stream's DUMP with its XINFO figures of the
// same moment: {dump, last-generated-id, entries-added (-1 before Redis
// 7), length, consumer groups}, or -2 when the key is no stream any more.
const streamSnapshot = `#!lua flags=no-writes,allow-oom
` + streamFigures + `
local k = KEYS[1]
if redis.call('TYPE', k)['ok'] ~= 'stream' then return -2 end
local last, added, len = figures(k)
return {redis.call('DUMP', k), last, added, len, groups(k)}
`

// streamFigures are Lua functions both the snapshot and undo's script
// use: figures, XINFO STREAM's last-generated-id, entries-added (-1 before
// Redis 7) and length; groups, each consumer group's name, last delivered
// ID, pending entries and consumers (XINFO GROUPS), which a read or an
// acknowledgement since the dump changes.
const streamFigures = `local function figures(k)
  local info = redis.call('XINFO', 'STREAM', k)
  local last, added, len = '', -1, -1
  for i = 1, #info, 2 do
    local f = info[i]
    if f == 'last-generated-id' then last = info[i + 1]
    elseif f == 'entries-added' then added = info[i + 1]
    elseif f == 'length' then len = info[i + 1] end
  end
  return last, added, len
end
local function groups(k)
  local out = {}
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', k)) do
    local f = {}
    for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
    out[#out + 1] = tostring(f['name']) .. ' ' .. tostring(f['last-delivered-id']) .. ' ' .. tostring(f['pending']) .. ' ' .. tostring(f['consumers'])
  end
  return table.concat(out, ';')
end`

var (
	streamReadScript     = newScript(streamRead)
	streamSnapshotScript = newScript(streamSnapshot)
)

// TrimScripts names the trim scripts by their SHA (EVALSHA's first
// argument), for the benchmark's and the tests' per-script figures.
func TrimScripts() map[string]string {
	return map[string]string{
		trimReadScript.sha: "zset-read", trimRemoveScript.sha: "zset-remove",
		streamReadScript.sha: "stream-read", streamSnapshotScript.sha: "stream-snapshot",
		newScript(undoTrimScript).sha: "undo-zset", newScript(undoStreamScript).sha: "undo-stream",
	}
}

// keyTrim is how one key's trim ended.
type keyTrim struct {
	removed int64
	gone    bool // the key was no stream (or sorted set) any more
	tooBig  bool // its DUMP is over backup.max_dump_size: left alone
	durable int64
}

// sizeStreams applies backup.max_dump_size to the streams of a batch
// before any is trimmed: MEMORY USAGE of each (one pipeline), a stream
// over the size is too_big_to_backup, one gone since is gone.
func (r *Run) sizeStreams(ctx context.Context, node redisx.Node, todo []pending, counts map[string]int64) ([]pending, error) {
	if r.job.Backup.Mode != jobs.BackupDump || len(todo) == 0 {
		return todo, nil
	}
	ds := make([]batch.Decision, len(todo))
	idx := make([]int, len(todo))
	for i, p := range todo {
		ds[i], idx[i] = p.dec, i
	}
	if err := r.step.Measure(ctx, node.Client, ds, idx); err != nil {
		return nil, err
	}
	kept := todo[:0]
	for i, p := range todo {
		if ds[i].Outcome != jobs.Change {
			counts[string(ds[i].Outcome)]++
			continue
		}
		kept = append(kept, p)
	}
	return kept, nil
}

// trimStream removes one stream's selected entries, a chunk at a time.
func (r *Run) trimStream(ctx context.Context, node redisx.Node, p pending, rg jobs.StreamRange) (kt keyTrim, err error) {
	c := r.conn.Client // routes by slot in a cluster
	chunk := fmt.Sprint(batch.MembersChunk)
	prev := p.prev
	if prev < 0 {
		prev = journal.NoExpire
	}
	dumped := r.job.Backup.Mode != jobs.BackupDump
	zeroes := 0
	for first := true; ; first = false {
		if !first {
			if err := r.gates(ctx); err != nil {
				return kt, err
			}
		}
		if ctx.Err() != nil {
			return kt, errInterrupted
		}
		rctx, cancel := context.WithTimeout(ctx, scan.CallTimeout)
		res := streamReadScript.run(rctx, c, p.key, rg.Last, chunk)
		cancel()
		if n, err := res.AsInt64(); err == nil && n == -2 {
			kt.gone = kt.removed == 0
			return kt, nil
		}
		ids, err := res.AsStrSlice()
		if err != nil {
			return kt, fmt.Errorf("read the entries of %q: %w", p.key, err)
		}
		if len(ids) == 0 {
			return kt, nil
		}
		rec := journal.Record{Key: p.key, Type: "stream", PrevExpireMs: prev, Action: journal.ActionStreamTrim, Stream: &journal.StreamTrim{IDs: ids}}
		if !dumped {
			ok, err := r.snapshotStream(ctx, c, &rec, &kt)
			if err != nil || !ok {
				return kt, err
			}
			dumped = true
		}
		if r.journal != nil {
			pos, err := r.journal.AppendBatch(node.ID, rec)
			if err == nil {
				err = r.journal.SyncTo(pos)
			}
			if err != nil {
				return kt, local("journal", err)
			}
			kt.durable = pos
		}
		if err := scan.Wait(ctx, r.limiter, len(ids)); err != nil {
			// Journaled, never sent: undo restores a stream still as it was.
			return kt, errInterrupted
		}
		if testHookBeforeSend != nil {
			testHookBeforeSend([]string{p.key})
		}
		wctx, cancel := context.WithTimeout(context.Background(), sendTimeout) // a chunk sent is finished
		n, err := c.Do(wctx, c.B().Xdel().Key(p.key).Id(ids...).Build()).AsInt64()
		cancel()
		if re, ok := rueidis.IsRedisErr(err); ok && strings.HasPrefix(re.Error(), "WRONGTYPE") {
			kt.gone = kt.removed == 0
			return kt, nil
		}
		if err != nil {
			return kt, fmt.Errorf("remove %d entries of %q: %w", len(ids), p.key, err)
		}
		kt.removed += n
		if r.x.Gate != nil {
			r.x.Gate.Sent(int64(len(p.key)+24) + int64(len(strings.Join(ids, ""))+8*len(ids)))
		}
		if n == 0 {
			// Every entry of the chunk was removed by someone else since
			// the read: read again, but not for ever.
			if zeroes++; zeroes == 2 {
				return kt, nil
			}
		} else {
			zeroes = 0
		}
	}
}

// snapshotStream puts the stream's DUMP and XINFO figures in rec, the
// first record of the key in this invocation. ok is false when the key
// is to be left alone: gone, or (without MEMORY USAGE to measure it
// first) its DUMP is over backup.max_dump_size.
func (r *Run) snapshotStream(ctx context.Context, c rueidis.Client, rec *journal.Record, kt *keyTrim) (ok bool, err error) {
	rctx, cancel := context.WithTimeout(ctx, scan.CallTimeout)
	defer cancel()
	res := streamSnapshotScript.run(rctx, c, rec.Key)
	if n, err := res.AsInt64(); err == nil && n == -2 {
		kt.gone = true
		return false, nil
	}
	vs, err := res.ToArray()
	if err == nil && len(vs) != 5 {
		err = fmt.Errorf("%d values, want 5", len(vs))
	}
	if err != nil {
		return false, fmt.Errorf("DUMP %q: %w", rec.Key, err)
	}
	dump, err := vs[0].AsBytes()
	if err != nil {
		return false, fmt.Errorf("DUMP %q: %w", rec.Key, err)
	}
	if int64(len(dump)) > r.job.Backup.MaxDumpSize {
		// Measured by MEMORY USAGE first, unless it cannot be sent: the
		// payload is then the only measure.
		kt.tooBig = true
		return false, nil
	}
	st := rec.Stream
	st.LastID, err = vs[1].ToString()
	if err == nil {
		st.EntriesAdded, err = vs[2].AsInt64()
	}
	if err == nil {
		st.Length, err = vs[3].AsInt64()
	}
	if err == nil {
		st.Groups, err = vs[4].ToString()
	}
	if err != nil {
		return false, fmt.Errorf("XINFO STREAM %q: %w", rec.Key, err)
	}
	rec.Dump = dump
	return true, nil
}
